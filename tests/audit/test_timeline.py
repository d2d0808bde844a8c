"""`modelcfg history` on real git repositories: a bootstrap, two promotions, a rollback and
a re-anchoring landed through the real promotion code (no training: the evidence is a
made-up baseline), this repository itself, and a copy of it without its history."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from audit_helpers import append_entry, make_baseline, write_baseline
from output_helpers import check_output
from repo_helpers import GOLDEN, ROOT, commit_all, git, make_repo, project_repo

from modelcfg.audit.anchor import reanchor
from modelcfg.audit.baseline import baseline_sha256, dumps_baseline
from modelcfg.audit.ledger import LEDGER, read_entries
from modelcfg.audit.promote import promote
from modelcfg.audit.rollback import rollback
from modelcfg.audit.timeline import history
from modelcfg.cli.app import main
from modelcfg.config.model import config_key
from modelcfg.config.resolve import resolve_adapter
from modelcfg.config.trees import GitTree
from modelcfg.config.workspace import load_workspace
from modelcfg.gate.report import history as gate_history
from modelcfg.gate.report import latency_history, write_report

ADAPTER = "configs/adapters/a.yaml"
TIMES = [f"2025-03-0{d}T1{d}:00:00+00:00" for d in range(1, 6)]


def evidence(repo: Path, fp: str, gen: list, speed: float, tokens: int) -> dict:
    ev = make_baseline("a", commit=git(repo, "rev-parse", "HEAD"), fingerprint=fp * 32,
                       scores={"arith_gen": gen, "safety_refusal": [1, 1, 1, 1]})
    ev["latency"] = {"tokens_per_second": speed, "generation_seconds": 2.5,
                     "generated_tokens": 100}
    ev["cost"]["train_tokens"] = tokens
    ev["config_key"] = config_key(resolve_adapter(load_workspace(GitTree(repo, "HEAD")), "a"))
    return ev


def edit(repo: Path, old: str, new: str, message: str) -> None:
    path = repo / ADAPTER
    path.write_text(path.read_text().replace(old, new))
    commit_all(repo, message)
    git(repo, "push", "-q", "origin", "main")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Adapter ``a``: bootstrapped (arith_gen 0.75, 50 tokens/s), promoted at 20 steps
    (1.0, 40 tokens/s), promoted at rank 16 (0.5, 30 tokens/s), rolled back to the second
    promotion, re-anchored there."""
    tmp = tmp_path_factory.mktemp("timeline")
    repo = make_repo(tmp, GOLDEN / "base")
    done = [promote(repo, adapter="a", evidence=evidence(repo, "a1", [1, 0, 1, 1], 50.0, 1000),
                    actor="ci", verdict="bootstrap", now=TIMES[0])]
    edit(repo, "max_steps: 10", "max_steps: 20", "twenty steps")
    done.append(promote(repo, adapter="a", evidence=evidence(repo, "b2", [1, 1, 1, 1], 40.0,
                                                             2000), actor="ci", now=TIMES[1]))
    edit(repo, "r: 8", "r: 16", "rank 16")
    done.append(promote(repo, adapter="a", evidence=evidence(repo, "c3", [1, 0, 0, 1], 30.0,
                                                             3000), actor="ci", now=TIMES[2]))
    done.append(rollback(repo, adapter="a", to_rev=done[1].commit, actor="maintainer",
                         now=TIMES[3]))
    done.append(reanchor(repo, adapter="a", actor="maintainer", now=TIMES[4]))
    assert all(r.commit and r.local_updated for r in done)
    return repo, done


def run(capsys, *args) -> tuple[int, str, str]:
    rc = main(["history", *map(str, args)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_has_every_entry_from_the_baseline_at_its_commit(world, capsys):
    repo, done = world
    rc, out, _ = run(capsys, "--format", "json", "--root", repo)
    doc = check_output("history", out)
    assert rc == 0 and list(doc["adapters"]) == ["a"]
    rows = doc["adapters"]["a"]
    evidence_commits = [r.entry["commit"] for r in done]
    assert [(r["seq"], r["action"], r["verdict"]) for r in rows] == [
        (1, "bootstrap", "bootstrap"), (2, "promote", "pass"), (3, "promote", "pass"),
        (4, "rollback", "rollback"), (5, "anchor", None)]
    assert [r["landed"] for r in rows] == [r.commit for r in done]
    assert [r["commit"] for r in rows] == evidence_commits
    assert evidence_commits[3] == evidence_commits[4] == evidence_commits[1]
    assert {r["source"] for r in rows} == {"baseline"}
    assert [r["tasks"]["arith_gen"] for r in rows] == [{"exact_match": v} for v in (
        0.75, 1.0, 0.5, 1.0, 1.0)]
    assert [r["latency"]["tokens_per_second"] for r in rows] == [50.0, 40.0, 30.0, 40.0, 40.0]
    assert [r["cost"]["measured"]["train_tokens"] for r in rows] == [1000, 2000, 3000, 2000,
                                                                     2000]
    # The estimate is the config's at the evidence commit: 10 or 20 steps x 4 x 32 tokens.
    assert [r["cost"]["estimate"]["train_tokens"] for r in rows] == [1280, 2560, 2560, 2560,
                                                                     2560]
    assert rows[3]["to_rev"] == done[1].commit and rows[0]["time"] == TIMES[0]
    assert [r["hash"] for r in rows] == [r.entry["hash"] for r in done]
    # The adapter named: the same rows.
    rc, named, _ = run(capsys, "a", "--format", "json", "--root", repo)
    assert rc == 0 and json.loads(named) == doc


def test_text_and_markdown_tables(world, capsys):
    repo, done = world
    commit = [r.entry["commit"][:12] for r in done]
    rc, out, _ = run(capsys, "--root", repo)
    assert rc == 0
    lines = out.splitlines()
    assert lines[0] == "a: 5 entries"
    assert lines[2].split() == ["seq", "action", "commit", "date", "arith_gen",
                                "safety_refusal", "tokens/s", "gen", "s", "train", "tokens",
                                "est.", "tokens", "GPU-hours", "est.", "GPU-hours"]
    hours = lines[3].split()[-1]  # the estimate: 6 x parameters x tokens / assumed FLOP/s
    assert [line.split()[:-1] for line in lines[3:8]] == [
        ["1", "bootstrap", commit[0], "2025-03-01", "11:00", "0.750", "1.000", "50.0",
         "2.50", "1,000", "1,280", "0.001"],
        ["2", "promote", commit[1], "2025-03-02", "12:00", "1.000", "1.000", "40.0", "2.50",
         "2,000", "2,560", "0.001"],
        ["3", "promote", commit[2], "2025-03-03", "13:00", "0.500", "1.000", "30.0", "2.50",
         "3,000", "2,560", "0.001"],
        ["4", "rollback", commit[3], "2025-03-04", "14:00", "1.000", "1.000", "40.0", "2.50",
         "2,000", "2,560", "0.001"],
        ["5", "anchor", commit[4], "2025-03-05", "15:00", "1.000", "1.000", "40.0", "2.50",
         "2,000", "2,560", "0.001"]]
    assert float(hours) > 0
    rc, md, _ = run(capsys, "a", "--format", "md", "--root", repo)
    assert rc == 0 and md.startswith("# Promotion history\n\n## `a`\n\n| seq | action |")
    assert f"| 4 | rollback | `{commit[3]}` | 2025-03-04 14:00 | 1.000 | 1.000 | 40.0 | " \
           "2.50 | 2,000 | 2,560 | 0.001 |" in md


def test_png_is_written_atomically_and_needs_out(world, capsys, tmp_path):
    repo, _ = world
    target = tmp_path / "plots" / "history.png"
    rc, _, err = run(capsys, "--format", "png", "--out", target, "--root", repo)
    assert rc == 0 and f"wrote {target}" in err
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert [p.name for p in target.parent.iterdir()] == ["history.png"]  # no temp left
    rc, out, err = run(capsys, "--format", "png", "--root", repo)
    assert rc == 2 and out == "" and err.startswith("error: MC741 --format png writes an image")
    (tmp_path / "file").write_text("")
    rc, _, err = run(capsys, "--format", "md", "--out", tmp_path / "file" / "h.md", "--root",
                     repo)
    assert rc == 2 and err.startswith(f"error: {tmp_path / 'file' / 'h.md'}:0:0: MC744 cannot "
                                      "write")


def test_an_unknown_adapter_and_a_broken_ledger_are_refused(world, capsys, tmp_path):
    repo, _ = world
    rc, out, err = run(capsys, "nope", "--root", repo)
    assert rc == 2 and out == ""
    assert err == ("error: evals/ledger.jsonl:1:1: MC740 the ledger has no promotion, rollback "
                   "or anchor entry of 'nope' (5 entries; adapters with entries: a); name one "
                   "of those, or run `modelcfg history` for all\n")
    copy = tmp_path / "copy"
    shutil.copytree(repo, copy)
    ledger = copy / LEDGER
    lines = ledger.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace('"verdict":"pass"', '"verdict":"PASS"')
    ledger.write_text("".join(lines))
    rc, _, err = run(capsys, "--root", copy)
    assert rc == 1 and err.startswith("error: evals/ledger.jsonl:3:1: MC716 the ledger does "
                                      "not verify")


def landed_by_hand(tmp_path: Path, baseline_edit) -> Path:
    """A repository whose one commit appends a promotion entry of ``a`` and writes (or not)
    its baseline, as ``baseline_edit(root, baseline)`` does."""
    repo = make_repo(tmp_path, GOLDEN / "base", "hand")
    baseline = make_baseline("a", commit=git(repo, "rev-parse", "HEAD"))
    entry = append_entry(repo, {"action": "promote", "adapter": "a", "commit": baseline["commit"],
                                "baseline_sha256": baseline_sha256(baseline), "verdict": "pass",
                                "eval": {}, "cost": {}})
    baseline_edit(repo, {**baseline, "ledger": {"seq": 1, "hash": entry["hash"]}})
    commit_all(repo, "by hand")
    return repo


def test_a_baseline_missing_or_changed_at_its_commit_is_refused(tmp_path, capsys):
    repo = landed_by_hand(tmp_path / "missing", lambda root, b: None)
    rc, _, err = run(capsys, "--root", repo)
    sha = git(repo, "rev-parse", "HEAD")[:12]
    assert rc == 1 and err == (
        f"error: evals/ledger.jsonl:1:1: MC742 entry 1 (promote of a) was appended by commit "
        f"{sha}, which has no evals/baselines/a.json: the promotion did not commit its "
        f"baseline; run `modelcfg audit verify --rev {sha}`\n")

    def edited(root, baseline):
        baseline["tasks"]["arith_gen"]["metrics"]["exact_match"]["value"] = 0.99
        write_baseline(root, baseline)
    repo = landed_by_hand(tmp_path / "edited", edited)
    rc, _, err = run(capsys, "--root", repo)
    assert rc == 1 and err.startswith("error: evals/ledger.jsonl:1:1: MC743 entry 1 (promote "
                                      "of a): evals/baselines/a.json at commit")
    assert "baseline_sha256 differs" in err

    def garbled(root, baseline):
        (root / "evals/baselines").mkdir(parents=True, exist_ok=True)
        (root / "evals/baselines/a.json").write_text(dumps_baseline(baseline)[:-40])
    repo = landed_by_hand(tmp_path / "garbled", garbled)
    rc, _, err = run(capsys, "--root", repo)
    assert rc == 1 and "MC743" in err and "(MC701 baseline is not valid JSON" in err


def test_a_history_without_the_promotion_commits_reads_the_entries(world, tmp_path):
    """Copied into a one-commit repository: every entry lands in one commit, whose baseline
    is only the newest's; the older rows come from the entries, with the same numbers."""
    repo, _ = world
    source = tmp_path / "source"
    shutil.copytree(repo, source, ignore=shutil.ignore_patterns(".git"))
    copy = make_repo(tmp_path, source, "copy")
    real, copied = history(repo)["adapters"]["a"], history(copy)["adapters"]["a"]
    assert [r["source"] for r in copied] == ["ledger"] * 4 + ["baseline"]
    assert [r["landed"] for r in copied] == [git(copy, "rev-parse", "HEAD")] * 5
    keep = ("seq", "action", "commit", "tasks", "latency")
    assert [{k: r[k] for k in keep} for r in copied] == [{k: r[k] for k in keep} for r in real]
    assert [r["cost"]["measured"] for r in copied] == [r["cost"]["measured"] for r in real]
    assert {r["cost"]["estimate"] is None for r in copied} == {True}  # no evidence commits


def test_the_gate_report_plots_the_same_history(world, tmp_path):
    repo, _ = world
    report = {"verdict": "pass", "base": "b" * 40, "head": "h" * 40, "merge_base": "b" * 40,
              "reasons": [], "diff": {"changes": []},
              "configs": [{"adapter": "a", "path": ADAPTER, "verdict": "pass",
                           "impact": "retrain", "reasons": [],
                           "tasks": {"arith_gen": {"candidate_mean": 0.25}},
                           "cost": {"measured": {"eval_tokens_per_second": 45.0}}}]}
    entries = read_entries(GitTree(repo, "HEAD"))
    assert gate_history(entries, report)["a/arith_gen"] == [
        ("#1", 0.75), ("#2", 1.0), ("#3", 0.5), ("#4", 1.0), ("candidate", 0.25)]
    assert latency_history(entries, report) == {"a": [
        ("#1", 50.0), ("#2", 40.0), ("#3", 30.0), ("#4", 40.0), ("candidate", 45.0)]}
    out = tmp_path / "gate"
    write_report(out, report, repo, git(repo, "rev-parse", "HEAD"))
    assert report["plot"] == "history.png"
    assert (out / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![metric history](history.png)" in (out / "report.md").read_text()


THIS = {"arith_gen": [0.775, 0.9075, 0.897], "arith_mc": [0.8675, 0.92, 0.951],
        "tokens_per_second": [4582.5, 394.3, 657.4], "train_tokens": [212463, 424612, 424612]}


def numbers(rows: list[dict]) -> dict:
    return {"arith_gen": [r["tasks"]["arith_gen"]["exact_match"] for r in rows],
            "arith_mc": [r["tasks"]["arith_mc"]["acc"] for r in rows],
            "tokens_per_second": [r["latency"]["tokens_per_second"] for r in rows],
            "train_tokens": [r["cost"]["measured"]["train_tokens"] for r in rows]}


def test_history_of_this_repository(tmp_path, capsys):
    """At the repository root, with its real git history; and on a one-commit copy of its
    configs and evals (the numbers of the older entries then come from the ledger)."""
    first3 = [e for e in read_entries(ROOT) if e["adapter"] == "tiny-arith"][:3]
    rc, out, _ = run(capsys, "tiny-arith", "--format", "json", "--root", ROOT)
    rows = check_output("history", out)["adapters"]["tiny-arith"]
    assert rc == 0 and [r["hash"] for r in rows[:3]] == [e["hash"] for e in first3]
    assert numbers(rows[:3]) == THIS
    assert [r["action"] for r in rows[:3]] == ["bootstrap"] * 3
    copy = project_repo(tmp_path)
    rc, out, _ = run(capsys, "--root", copy)
    assert rc == 0 and out.startswith("tiny-arith: ")
    rows = history(copy)["adapters"]["tiny-arith"]
    assert numbers(rows[:3]) == THIS
    assert [r["source"] for r in rows][-1] == "baseline"
