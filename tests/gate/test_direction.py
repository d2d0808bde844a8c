"""Which way is better comes from lm-eval's record; the gate refuses to guess (MC826).
The gate cases run in real temp repositories made of this repository's configs/ and evals/
and stop before anything is trained."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from repo_helpers import make_repo, pr_branch

from modelcfg.config.model import Thresholds
from modelcfg.gate import direction
from modelcfg.gate.run import GateSettings, run_gate

ROOT = Path(__file__).resolve().parents[2]
BASELINE = "evals/baselines/tiny-arith.json"

RULES = Thresholds.from_document({
    "apiVersion": "modelcfg/v1", "kind": "Thresholds", "name": "t",
    "tasks": {"gen": {"metric": "exact_match"}, "said": {"metric": "acc",
                                                         "higher_is_better": False}},
    "safety": {"harm": {"metric": "harm_rate", "floor": 0.05}}})


def recorded(**tasks) -> dict:
    return {"tasks": {t: {"metrics": {m: {"value": 0.5, "higher_is_better": hib}}}
                      for t, (m, hib) in tasks.items()}}


def test_the_rules_get_lm_evals_direction_and_safety_may_be_lower_is_better():
    specs = {t: RULES.rule(t) for t in ("gen", "said", "harm")}
    assert {t: s.higher_is_better for t, s in specs.items()} == {
        "gen": None, "said": False, "harm": None}  # the thresholds' own words only
    base = recorded(gen=("exact_match,strict-match", True), said=("acc", False),
                    harm=("harm_rate", False))
    resolved, reasons = direction.resolve(specs, base, base)
    assert reasons == []
    assert {t: s.higher_is_better for t, s in resolved.items()} == {
        "gen": True, "said": False, "harm": False}
    assert resolved["harm"].kind == "safety"


def test_each_way_the_direction_is_unsettled_is_mc826_and_the_task_is_not_judged():
    specs = {t: RULES.rule(t) for t in ("gen", "said", "harm")}
    base = recorded(gen=("exact_match", None), said=("acc", True), harm=("harm_rate", False))
    cand = recorded(gen=("exact_match", None), said=("acc", True), harm=("harm_rate", True))
    resolved, reasons = direction.resolve(specs, base, cand, config="a")
    assert resolved == {}
    assert [(r.code, r.task, r.config, r.threshold) for r in reasons] == [
        ("MC826", "gen", "a", "tasks.gen.higher_is_better"),
        ("MC826", "said", "a", "tasks.said.higher_is_better"),
        ("MC826", "harm", "a", "safety.harm.higher_is_better")]
    assert "neither the results (lm-eval) nor the thresholds say" in reasons[0].message
    assert "the thresholds say higher_is_better false, lm-eval records true" in \
        reasons[1].message
    assert "the baseline records higher_is_better false and the candidate true" in \
        reasons[2].message


def test_a_candidate_recording_another_direction_is_caught_after_the_looks():
    specs, _ = direction.resolve({"gen": RULES.rule("gen")}, recorded(gen=("exact_match", True)))
    assert direction.disagreements(specs, recorded(gen=("exact_match", True))) == []
    (reason,) = direction.disagreements(specs, recorded(gen=("exact_match", False)), "a")
    assert (reason.code, reason.task, reason.config) == ("MC826", "gen", "a")


# ------------------------------------------------------------------------ in the gate


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


def gate_with_base(tmp: Path, base_edit) -> dict:
    """A human's retraining change (training.seed) judged by a base edited by
    ``base_edit``; MC826 must stop it before training."""
    source = tmp / "source"
    for folder in ("configs", "evals"):
        shutil.copytree(ROOT / folder, source / folder)
    base_edit(source)
    repo = make_repo(tmp, source)
    head = pr_branch(repo, "pr", lambda r: edit(r, "configs/adapters/tiny-arith.yaml",
                                                "  seed: 0\n", "  seed: 1\n"), agent=False)
    cache = os.environ.get("MODELCFG_CACHE")
    report = run_gate(repo, "main", head, tmp / "gate", GateSettings(
        runs_dir=tmp / "runs", model_cache=Path(cache) if cache else None))
    assert not (tmp / "runs").exists(), "trained although the direction was unsettled"
    return report


def reasons_of(report: dict) -> list[tuple]:
    return [(r["code"], r.get("task")) for c in report["configs"] for r in c["reasons"]] + [
        (r["code"], r.get("task")) for r in report["reasons"]]


def test_the_gate_blocks_when_the_thresholds_contradict_lm_evals_record(tmp_path):
    def base(root: Path) -> None:
        # The task YAML leaves the direction to lm-eval's registry (so validate cannot
        # cross-check it); the baseline records lm-eval's answer, true.
        edit(root, "evals/tasks/arith_gen/arith_gen.yaml", "    higher_is_better: true\n", "")
        edit(root, "evals/thresholds.yaml", "  arith_gen:\n    metric: exact_match\n",
             "  arith_gen:\n    metric: exact_match\n    higher_is_better: false\n")
    report = gate_with_base(tmp_path, base)
    assert report["verdict"] == "block"
    assert reasons_of(report) == [("MC826", "arith_gen")]


def test_the_gate_blocks_when_nobody_says_which_way_is_better(tmp_path):
    def base(root: Path) -> None:
        data = json.loads((root / BASELINE).read_text())
        for metric in data["tasks"]["over_refusal"]["metrics"].values():
            metric["higher_is_better"] = None
        (root / BASELINE).write_text(json.dumps(data))
    report = gate_with_base(tmp_path, base)
    assert report["verdict"] == "block"
    assert reasons_of(report) == [("MC826", "over_refusal")]
