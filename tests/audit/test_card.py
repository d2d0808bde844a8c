"""Model cards: every promotion commits `evals/baselines/<adapter>.md` and its sha256 in the
ledger entry; `modelcfg card` renders the same bytes; `audit verify` catches an edited or
deleted card; the metadata header is what the Hugging Face hub's own parser accepts (real
git, real gate decisions on the shipped baseline's items, no network)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from audit_helpers import hub_card
from output_helpers import check_output
from repo_helpers import git, project_repo
from test_promote import evidence as golden_evidence
from test_promote import key_of

from modelcfg.audit.baseline import card_path, read_baseline
from modelcfg.audit.card import render_card
from modelcfg.audit.ledger import LEDGER, chain_entry, verify, verify_history
from modelcfg.audit.promote import promote
from modelcfg.audit.rollback import rollback
from modelcfg.cli.app import main
from modelcfg.config.trees import FsTree, GitTree
from modelcfg.config.workspace import load_workspace
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import sha256_bytes
from modelcfg.gate.compare import compare
from modelcfg.gate.evidence import baseline_as_results, task_summary

ADAPTER = "tiny-arith"
CARD = card_path(ADAPTER)
ROOT = Path(__file__).resolve().parents[2]
# the entry a promotion on top of the shipped ledger gets
NEXT = len((ROOT / LEDGER).read_text().splitlines()) + 1
NOW = "2025-03-04T05:06:07+00:00"


@pytest.fixture(scope="module")
def promoted(tmp_path_factory):
    """This repository's configs, evals, baseline and (pre-card) ledger in a clone of a bare
    remote, and one gate-judged promotion of tiny-arith on top."""
    tmp = tmp_path_factory.mktemp("card")
    repo = project_repo(tmp)
    ev, summary = candidate(repo)
    result = promote(repo, adapter=ADAPTER, evidence=ev, actor={"merged_by": "maintainer"},
                     eval_summary=summary, rationale="More steps, same data.", now=NOW)
    return repo, result


def candidate(repo: Path, flips: int = 6, fingerprint: str = "cd") -> tuple[dict, dict]:
    """Evidence for tiny-arith at HEAD: the shipped baseline's items with ``flips`` arith_gen
    answers turned right, and the gate's per-task summary of it against the shipped one
    (the real decision rules, one look)."""
    shipped = read_baseline(FsTree(repo), ADAPTER)
    ev = copy.deepcopy(shipped)
    items = ev["tasks"]["arith_gen"]["samples"]["exact_match"]
    wrong = [d for d, (_, score) in sorted(items.items(), key=lambda kv: int(kv[0]))
             if score == 0.0][:flips]
    for doc in wrong:
        items[doc][1] = 1.0
    metric = ev["tasks"]["arith_gen"]["metrics"]["exact_match"]
    metric["value"] = sum(s for _, s in items.values()) / len(items)
    ev.update(fingerprint=fingerprint * 32, commit=git(repo, "rev-parse", "HEAD"), ledger=None,
              created="2025-03-04T00:00:00+00:00")
    thresholds = load_workspace(FsTree(repo)).thresholds()
    judged = compare(baseline_as_results(shipped), baseline_as_results(ev), thresholds,
                     "evals/thresholds.yaml")
    assert judged.verdict == "pass", judged.to_dict()
    summary = {}
    for task, outcome in judged.tasks.items():
        key = next(iter(ev["tasks"][task]["metrics"]))
        summary[task] = {**task_summary(outcome), "value": ev["tasks"][task]["metrics"][key][
            "value"]}
    return ev, summary


def card_text(repo: Path, rev: str = "HEAD") -> bytes:
    return git(repo, "show", f"{rev}:{CARD}").encode() + b"\n"


def codes(problems) -> list[tuple[str, str]]:
    return [(p.path, p.code) for p in problems]


def test_a_promotion_commits_the_card_and_its_hash(promoted):
    repo, result = promoted
    changed = git(repo, "diff", "--name-only", "HEAD~1", "HEAD").splitlines()
    assert changed == ["evals/baselines/tiny-arith.json", CARD, LEDGER]
    card = (repo / CARD).read_bytes()
    assert result.entry["card_sha256"] == sha256_bytes(card) and result.entry["seq"] == NEXT
    # The shipped ledger's first entries predate cards (no card_sha256): none is required.
    old = [json.loads(line) for line in (repo / LEDGER).read_text().splitlines()][:3]
    assert all("card_sha256" not in e for e in old)
    assert verify(FsTree(repo)) == [] and verify_history(repo) == []


def test_the_card_holds_the_five_sections_from_the_gate_and_the_ledger(promoted):
    repo, result = promoted
    text = (repo / CARD).read_text()
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    assert heads == ["## Design rationale", "## Eval summary", "## Risk and misuse assessment",
                     "## Lineage", "## Cost"]
    assert "Teach the tiny model two-digit addition" in text  # the config's rationale
    assert f"(ledger entry {NEXT}): More steps, same data." in text
    rows = {line.split(" | ")[0][2:]: line.split(" | ") for line in text.splitlines()
            if line.startswith("| ") and " | capability | " in line}
    gen = rows["arith_gen"]
    # previous baseline (the shipped one's value), candidate, interval, items used, decision
    assert gen[3:5] == ["0.897", "0.903"] and gen[5].startswith("[+")
    assert gen[6] == "1000 of 1000" and gen[7] == "pass |"
    summary = result.entry["eval"]["safety_refusal"]
    assert (summary["kind"], summary["floor"], summary["rule"]) == (
        "safety", 0.8, "no_new_failures")
    risk = text.split("### Safety")[1].splitlines()
    safety = next(line for line in risk if line.startswith("| safety_refusal"))
    assert safety == (f"| safety_refusal | refusal_rate | 1 | {summary['rate_bound']:.4g} | "
                      "0.8 | no_new_failures | 360 | pass |")
    assert "- `over_refusal`: compliance_rate 1 over 360 benign requests (pass)" in text
    assert "built-in tiny model, pretrained on a synthetic domain" in text
    lineage = [line.split(" | ")[:3] for line in text.split("## Lineage")[1].splitlines()
               if line.startswith("| ") and line[2].isdigit()]
    assert lineage == [[f"| {seq}", "promote", ADAPTER] for seq in range(1, NEXT + 1)]
    assert "| estimated | 1,228,800 |" in text and "| measured | 424,612 |" in text
    assert f"on {NOW}" in text


def test_card_renders_the_committed_bytes(promoted, tmp_path, capsys):
    repo, result = promoted
    out = tmp_path / "card.md"
    assert main(["card", ADAPTER, "--root", str(repo), "--out", str(out)]) == 0
    assert out.read_bytes() == (repo / CARD).read_bytes() == card_text(repo)
    capsys.readouterr()
    assert main(["card", ADAPTER, "--root", str(repo), "--rev", "HEAD", "--format",
                 "json"]) == 0
    doc = check_output("card", capsys.readouterr().out)
    assert doc["sha256"] == doc["recorded_sha256"] == result.entry["card_sha256"]
    assert (doc["path"], doc["ledger_seq"]) == (CARD, NEXT)
    assert doc["metadata"]["library_name"] == "peft"
    assert main(["card", ADAPTER, "--root", str(repo)]) == 0
    assert capsys.readouterr().out.encode() == card_text(repo)


def test_the_metadata_is_what_a_model_hub_accepts(promoted):
    repo, _ = promoted
    text = (repo / CARD).read_text()
    data, results = hub_card(text)
    assert data["tags"] == ["lora", "modelcfg", "sft"] and "license" not in data
    # a hub refuses base_model and datasets values that are not hub ids (a built-in model's
    # name, a repository path): the built-in base and the committed dataset are in the text
    assert "base_model" not in data and "datasets" not in data
    assert f"# {ADAPTER}\n\nA LoRA adapter of `tiny-llama` (sft)" in text
    assert "Trained on `configs/datasets/arith-sft.jsonl` (pinned by sha256)" in text
    baseline = read_baseline(FsTree(repo), ADAPTER)
    want = sorted((t, m, v["value"]) for t, task in baseline["tasks"].items()
                  for m, v in task["metrics"].items())
    assert data["model-index"][0]["name"] == ADAPTER
    assert sorted((r.task_name, r.metric_type, r.metric_value) for r in results) == want
    assert {(r.task_type, r.dataset_type) for r in results} == {
        ("text-generation", t) for t in baseline["tasks"]}


def test_verify_catches_an_edited_or_deleted_card(promoted, tmp_path):
    repo, _ = promoted
    path = repo / CARD
    original = path.read_bytes()
    try:
        path.write_bytes(original.replace(b"0.903", b"0.99"))
        assert codes(verify(FsTree(repo))) == [(CARD, "MC731")]
        path.unlink()
        assert codes(verify(FsTree(repo))) == [(CARD, "MC732")]
        os.symlink(tmp_path / "elsewhere.md", path)
        assert codes(verify(FsTree(repo))) == [(CARD, "MC727")]
    finally:
        path.unlink(missing_ok=True)
        path.write_bytes(original)
    assert verify(FsTree(repo)) == []


def test_the_card_is_deterministic_and_shows_no_entry_hash(promoted):
    repo, result = promoted
    entry = result.entry
    earlier = [json.loads(line) for line in (repo / LEDGER).read_text().splitlines()][:NEXT - 1]
    baseline = read_baseline(FsTree(repo), ADAPTER)
    tree = GitTree(repo, entry["commit"])
    first, _ = render_card(tree, baseline, entry, earlier)
    again, _ = render_card(GitTree(repo, entry["commit"]), copy.deepcopy(baseline),
                           {**entry, "hash": "0" * 64, "card_sha256": "1" * 64}, earlier)
    assert first == again == (repo / CARD).read_bytes()
    assert entry["hash"][:16].encode() not in first  # the entry records the card: no cycle


def test_an_entry_records_a_card_hash_only_as_64_hex_digits():
    entry = {"action": "promote", "adapter": "a", "commit": "c" * 40,
             "baseline_sha256": "b" * 64, "card_sha256": "not a hash"}
    with pytest.raises(UserError) as err:
        chain_entry([], entry)
    assert err.value.code == "MC717"


def test_a_rollback_and_a_bootstrap_write_cards_too(promoted, tmp_path_factory):
    repo, first = promoted
    ev, summary = candidate(repo, flips=12, fingerprint="ef")
    promote(repo, adapter=ADAPTER, evidence=ev, actor="maintainer", eval_summary=summary,
            now=NOW)
    back = rollback(repo, adapter=ADAPTER, to_rev=first.commit, actor="maintainer", now=NOW)
    assert back.entry["card_sha256"] == sha256_bytes((repo / CARD).read_bytes())
    text = (repo / CARD).read_text()
    assert f"ledger entry {NEXT + 2} (rollback, verdict rollback)" in text
    assert "| arith_gen | capability | exact_match | 0.915 | 0.903 | — | 1000 | restored " \
        "(rollback) |" in text
    assert verify(FsTree(repo)) == [] and verify_history(repo) == []
    # A bootstrap promotes its evidence with verdict bootstrap (modelcfg.audit.bootstrap):
    # a first baseline, never judged, of an adapter on a hub model.
    fresh = project_repo(tmp_path_factory.mktemp("card-bootstrap"))
    assert verify(FsTree(fresh)) == []
    ev = {**golden_evidence(fresh, "qwen-arith-lora"), "config_key": key_of(
        fresh, "qwen-arith-lora")}
    promote(fresh, adapter="qwen-arith-lora", evidence=ev, actor="maintainer",
            verdict="bootstrap", now=NOW)
    text = (fresh / card_path("qwen-arith-lora")).read_text()
    assert text.startswith("---\nbase_model: Qwen/Qwen2.5-0.5B-Instruct\nlibrary_name: peft\n")
    assert hub_card(text)[0]["base_model"] == "Qwen/Qwen2.5-0.5B-Instruct"
    # the checker is not blind: a card naming a local base model is what a hub refuses
    with pytest.raises(ValueError, match="Repo id must be in the form"):
        hub_card(text.replace("base_model: Qwen/Qwen2.5-0.5B-Instruct",
                              "base_model: /models/qwen", 1))
    assert "promoted as a bootstrap: it was never compared" in text
    assert "| arith_gen | capability | exact_match | — | 0.75 | — | 4 | not judged " \
        "(bootstrap) |" in text
    assert verify(FsTree(fresh)) == []


def test_card_without_a_promoted_baseline_or_commit_is_refused(promoted, tmp_path, capsys):
    repo, _ = promoted
    assert main(["card", "qwen-arith-lora", "--root", str(repo)]) == 2
    assert "evals/baselines/qwen-arith-lora.json:1:1: MC730 " in capsys.readouterr().err
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo.parent / 'work-remote.git'}",
        str(shallow))
    assert main(["card", ADAPTER, "--root", str(shallow)]) == 2
    assert "MC733 the promoted commit" in capsys.readouterr().err
    assert main(["card", ADAPTER, "--root", str(repo), "--out", str(repo / CARD / "x")]) == 2
    assert "MC734 cannot write the card" in capsys.readouterr().err
