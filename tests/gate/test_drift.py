"""No creep: a chain of promotions, each within its margin, is stopped once the total drift
from the lineage's anchor passes the task's max_drift (MC829). The anchor is read from a
real ledger, written by real promotions to a bare remote."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest
from audit_helpers import make_baseline, make_results
from repo_helpers import GOLDEN, commit_all, git, make_repo

from modelcfg.audit.anchor import reanchor
from modelcfg.audit.history import anchor_entry, lineage
from modelcfg.audit.ledger import audit, read_entries
from modelcfg.audit.promote import promote
from modelcfg.audit.scores import results_scores
from modelcfg.config.checks import check_workspace
from modelcfg.config.model import Thresholds, config_key
from modelcfg.config.resolve import resolve_adapter
from modelcfg.config.trees import FsTree, GitTree
from modelcfg.config.workspace import load_workspace
from modelcfg.gate.drift import drift_reasons

THRESHOLDS = Thresholds.from_document({
    "apiVersion": "modelcfg/v1", "kind": "Thresholds", "name": "t",
    "defaults": {"margin": 0.05},
    "tasks": {"arith_gen": {"metric": "exact_match", "max_drift": 0.08}},
    "safety": {"safety_refusal": {"metric": "refusal_rate", "floor": 0.5, "max_drift": 0.1}}})
# The gate settles each direction from lm-eval before the drift check (gate/direction.py).
SPECS = {t: replace(THRESHOLDS.rule(t), higher_is_better=True)
         for t in ("arith_gen", "safety_refusal")}
ACTOR = {"merged_by": "maintainer"}


def head(repo) -> str:
    return git(repo, "rev-parse", "HEAD")


def key_of(repo, adapter: str) -> str:
    return config_key(resolve_adapter(load_workspace(GitTree(repo, "HEAD")), adapter))


def scores(arith: float, refusal: float = 0.9, n: int = 100) -> dict[str, list[int]]:
    """Per-item scores of ``n`` items per task with the given means (the same items)."""
    def items(rate):
        k = round(rate * n)
        return [1] * k + [0] * (n - k)
    return {"arith_gen": items(arith), "safety_refusal": items(refusal)}


def results(arith: float, refusal: float = 0.9) -> dict:
    return make_results(scores(arith, refusal))


def anchor_on(remote, adapter: str = "a") -> dict | None:
    entries = read_entries(GitTree(remote, "main"))
    return anchor_entry(entries, lineage(entries, {adapter}))


def judge(remote, candidate: dict, adapter: str = "a"):
    info, reasons = drift_reasons(adapter, anchor_on(remote, adapter), SPECS,
                                  results_scores(candidate))
    return info, [(r.code, r.task) for r in reasons], reasons


def land(repo, values: dict, fp: str, adapter: str = "a", **kw) -> None:
    """Promote evidence of ``values`` (:func:`scores`) as the next baseline, from a new
    commit each time, as merges do."""
    (repo / "NOTES").write_text(fp)
    commit_all(repo, f"merge {fp}")
    git(repo, "push", "-q", "origin", "main")
    ev = {**make_baseline(adapter, commit=head(repo), fingerprint=fp * 32, scores=values),
          "config_key": key_of(repo, adapter)}
    promote(repo, adapter=adapter, evidence=ev, actor=ACTOR, **kw)


@pytest.fixture
def world(tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    return repo, tmp_path / "work-remote.git"


def test_a_chain_of_promotions_each_within_the_margin_is_stopped_at_the_cap(world):
    repo, remote = world
    assert judge(remote, results(0.5))[1] == []  # nothing promoted: nothing to drift from
    land(repo, scores(0.80), "a1")  # the first promotion: the anchor
    steps = {"a2": 0.76, "a3": 0.72}  # each 0.04 below the last: within the 0.05 margin
    for fp, value in steps.items():
        info, found, _ = judge(remote, results(value))
        assert found == [], (fp, info)
        land(repo, scores(value), fp)
    info, found, [reason] = judge(remote, results(0.68))  # 0.12 below the anchor
    assert found == [("MC829", "arith_gen")]
    assert info["arith_gen"] == {"anchor_ledger_seq": 1, "max_drift": 0.08, "anchor": 0.8,
                                 "candidate": 0.68, "drift": pytest.approx(0.12)}
    for part in ("drifted 0.1200", "ledger entry 1: 0.8000 -> candidate 0.6800",
                 "over max_drift 0.08", "modelcfg promote --anchor"):
        assert part in reason.message
    assert info["safety_refusal"]["drift"] == pytest.approx(0.0)
    # Exactly at the cap is within it (0.80 - 0.72 is 0.08000000000000007 in floats).
    assert judge(remote, results(0.72))[1] == []
    # A maintainer re-anchors at the current baseline (0.72): the next step is judged from it.
    reanchor(repo, adapter="a", actor="maintainer", rationale="accept 0.72")
    assert judge(remote, results(0.68))[1] == []
    assert judge(remote, results(0.62))[1] == [("MC829", "arith_gen")]
    assert audit(repo, "main") == []


def test_safety_drift_and_a_renamed_lineage_keep_their_anchor(world):
    repo, remote = world
    land(repo, scores(0.8, refusal=1.0), "a1")
    shutil.copy(repo / "configs/adapters/a.yaml", repo / "configs/adapters/b.yaml")
    text = (repo / "configs/adapters/b.yaml").read_text().replace("name: a", "name: b", 1)
    (repo / "configs/adapters/b.yaml").write_text(text)
    land(repo, scores(0.8, refusal=0.95), "b1", adapter="b", replaces="a")
    # b continues a: drift is measured from a's first promotion, not from b's.
    assert anchor_on(remote, "b")["adapter"] == "a"
    info, found, _ = judge(remote, results(0.8, refusal=0.89), adapter="b")
    assert found == [("MC829", "safety_refusal")]
    assert info["safety_refusal"]["drift"] == pytest.approx(0.11)


def test_lower_is_better_metrics_drift_upwards():
    rules = Thresholds.from_document({
        "apiVersion": "modelcfg/v1", "kind": "Thresholds", "name": "t",
        "tasks": {"arith_gen": {"metric": "exact_match", "higher_is_better": False,
                                "max_drift": 0.05}}})
    spec = {"arith_gen": rules.rule("arith_gen")}
    anchor = {"seq": 4, "scores": results_scores(results(0.20))}
    anchor["scores"]["arith_gen"]["metrics"]["exact_match"]["higher_is_better"] = False
    better = results_scores(results(0.10))
    worse = results_scores(results(0.30))
    assert drift_reasons("a", anchor, spec, better)[1] == []
    info, [reason] = drift_reasons("a", anchor, spec, worse)
    assert reason.code == "MC829" and info["arith_gen"]["drift"] == pytest.approx(0.10)


@pytest.mark.parametrize("spoil, why", [
    (lambda a: a.pop("scores"), "records no exact_match score"),  # promoted before caps
    (lambda a: a["scores"]["arith_gen"].update(items_sha256="0" * 64), "other items"),
    (lambda a: a["scores"]["arith_gen"]["metrics"]["exact_match"].update(
        higher_is_better=False), "lower-is-better"),
])
def test_a_drift_that_cannot_be_checked_blocks(spoil, why):
    anchor = {"seq": 1, "scores": results_scores(results(0.8))}
    spoil(anchor)
    _, reasons = drift_reasons("a", anchor, SPECS, results_scores(results(0.8)))
    assert [r.code for r in reasons if r.task == "arith_gen"] == ["MC829"]
    assert why in reasons[0].message


def test_validate_refuses_a_cap_below_the_margin(tmp_path):
    root = tmp_path / "ws"
    shutil.copytree(GOLDEN / "base", root)
    path = root / "evals/thresholds.yaml"
    path.write_text(path.read_text().replace(
        "t1: {metric: acc}", "t1: {metric: acc, margin: 0.05, max_drift: 0.03}").replace(
        "floor: 0.9}", "floor: 0.9, max_drift: 0.01}"))
    lines = path.read_text().splitlines()
    t1, t2 = (next(i for i, text in enumerate(lines, 1) if text.startswith(f"  {task}:"))
              for task in ("t1", "t2"))
    found = [(p.code, p.line) for p in check_workspace(load_workspace(FsTree(root)))
             if p.code == "MC325"]
    assert found == [("MC325", t1), ("MC325", t2)]  # the safety task: below the default 0.02
    path.write_text(path.read_text().replace("max_drift: 0.01", "max_drift: 0.02"))
    assert [(p.code, p.line) for p in check_workspace(load_workspace(FsTree(root)))
            if p.code == "MC325"] == [("MC325", t1)]  # at the margin: enough room
