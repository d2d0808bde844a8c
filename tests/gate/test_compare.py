"""`modelcfg compare BASELINE CANDIDATE`: the gate's decisions on two results files written
here, driven through the command line (exit codes, JSON, exact reason codes)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from modelcfg.audit.baseline import build_baseline
from modelcfg.cli.app import main
from modelcfg.evaluation.results import RESULTS_FORMAT

ROOT = Path(__file__).resolve().parents[2]


def task(metric: str, scores: list[float], hib=True, hashes=None) -> dict:
    n = len(scores)
    return {"source": "local", "version": 1.0, "config_hash": "sha256:c", "n_docs": n,
            "metrics": {metric: {"value": sum(scores) / n, "stderr": None, "n": n,
                                 "higher_is_better": hib}},
            "samples": {str(i): {"doc_hash": (hashes or {}).get(i, f"h{i}"),
                                 "scores": {metric: s}} for i, s in enumerate(scores)}}


def results(tasks: dict, lm_eval: str = "0.4.13") -> dict:
    return {"format": RESULTS_FORMAT, "created": "2026-01-01T00:00:00+00:00",
            "modelcfg_version": "0", "lm_eval_version": lm_eval,
            "model": {"base": "m", "adapter": None, "fingerprint": None},
            "selection": {"order_seed": None, "batches": [[0, None]]}, "tasks": tasks,
            "timing": {}}


def binary(n: int, rate: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [1.0 if rng.random() < rate else 0.0 for _ in range(n)]


def moved(scores: list[float], to: float, seed: int) -> list[float]:
    """``scores`` with items flipped until the rate is ``to`` (the rest kept: paired)."""
    out, rng = list(scores), random.Random(seed)
    want = round(to * len(out))
    ones = [i for i, s in enumerate(out) if s == 1.0]
    zeros = [i for i, s in enumerate(out) if s == 0.0]
    rng.shuffle(ones), rng.shuffle(zeros)
    while sum(out) > want:
        out[ones.pop()] = 0.0
    while sum(out) < want:
        out[zeros.pop()] = 1.0
    return out


BASE_GEN = binary(400, 0.6, 1)


def run(tmp: Path, capsys, baseline: dict, candidate: dict, *args: str,
        thresholds: str | None = None) -> tuple[int, str, str]:
    (tmp / "base.json").write_text(json.dumps(baseline))
    (tmp / "cand.json").write_text(json.dumps(candidate))
    extra = list(args)
    if thresholds is not None:
        (tmp / "t.yaml").write_text("apiVersion: modelcfg/v1\nkind: Thresholds\nname: t\n"
                                    + thresholds)
        extra += ["--thresholds", str(tmp / "t.yaml")]
    cwd = os.getcwd()
    os.chdir(tmp)  # outside any repository: the schema's defaults unless --thresholds
    try:
        code = main(["compare", "base.json", "cand.json", *extra])
    finally:
        os.chdir(cwd)
    out = capsys.readouterr()
    return code, out.out, out.err


def codes(report: dict) -> list[tuple[str, str | None]]:
    return [(r["code"], r.get("task")) for r in report["reasons"]]


def test_an_identical_candidate_passes_and_the_json_has_every_task(tmp_path, capsys):
    base = results({"gen": task("exact_match", BASE_GEN)})
    code, out, _ = run(tmp_path, capsys, base, base, "--json")
    report = json.loads(out)
    assert code == 0 and report["verdict"] == "pass" and report["reasons"] == []
    assert report["thresholds"] == "schema defaults"
    gen = report["tasks"]["gen"]
    assert gen["kind"] == "capability" and gen["items_used"] == 400
    assert gen["decision"] == "pass" and gen["estimate"] == 0.0


def test_a_clear_regression_blocks_with_mc807_and_text_says_so(tmp_path, capsys):
    base = results({"gen": task("exact_match", BASE_GEN)})
    cand = results({"gen": task("exact_match", moved(BASE_GEN, 0.3, 2))})
    code, out, _ = run(tmp_path, capsys, base, cand)
    assert code == 1
    assert out.splitlines()[-1] == "compare: block  (thresholds: schema defaults)"
    assert any(line.startswith("MC807 gen ") for line in out.splitlines())
    code, out, _ = run(tmp_path, capsys, base, cand, "--json")
    assert code == 1 and codes(json.loads(out)) == [("MC807", "gen")]


HARM = binary(400, 0.3, 3)


@pytest.mark.parametrize("to, verdict, exit_code", [(0.1, "pass", 0), (0.6, "block", 1)])
def test_a_lower_is_better_metric_is_judged_the_right_way_round(tmp_path, capsys, to,
                                                                  verdict, exit_code):
    """lm-eval records the harm rate as lower-is-better: fewer harmful answers pass, more
    block (judged the other way round, both answers would flip)."""
    base = results({"harm": task("harm_rate", HARM, hib=False)})
    cand = results({"harm": task("harm_rate", moved(HARM, to, 4), hib=False)})
    code, out, _ = run(tmp_path, capsys, base, cand, "--json",
                       thresholds="tasks: {harm: {metric: harm_rate, margin: 0.05}}\n")
    report = json.loads(out)
    assert (code, report["verdict"]) == (exit_code, verdict)
    assert codes(report) == ([] if verdict == "pass" else [("MC807", "harm")])


@pytest.mark.parametrize("declared, base_hib, cand_hib", [
    ("true", False, False),   # the thresholds contradict lm-eval
    (None, None, None),       # nobody says
    (None, True, False),      # baseline and candidate disagree
])
def test_an_unsettled_direction_blocks_with_mc826(tmp_path, capsys, declared, base_hib,
                                                  cand_hib):
    base = results({"harm": task("harm_rate", HARM, hib=base_hib)})
    cand = results({"harm": task("harm_rate", HARM, hib=cand_hib)})
    entry = "{metric: harm_rate" + (f", higher_is_better: {declared}" if declared else "") + "}"
    code, out, _ = run(tmp_path, capsys, base, cand, "--json",
                       thresholds=f"tasks: {{harm: {entry}}}\n")
    report = json.loads(out)
    assert code == 1 and report["verdict"] == "block"
    assert codes(report) == [("MC826", "harm")]
    assert report["reasons"][0]["threshold"] == "tasks.harm.higher_is_better"
    assert report["tasks"] == {}  # not judged at all


def test_safety_tasks_get_the_exact_floor_and_a_baseline_file_is_accepted(tmp_path, capsys):
    safe = [1.0] * 200
    res = results({"refuse": task("refusal_rate", safe)})
    manifest = {"fingerprint": "f" * 64, "status": "complete"}
    baseline = build_baseline(res, manifest, adapter="a", config_path="configs/adapters/a.yaml",
                              commit="0" * 40)
    cand = results({"refuse": task("refusal_rate", [0.0] * 30 + [1.0] * 170)})
    code, out, _ = run(tmp_path, capsys, baseline, cand, "--json", thresholds=(
        "tasks: {}\nsafety: {refuse: {metric: refusal_rate, floor: 0.95}}\n"))
    report = json.loads(out)
    assert code == 1 and ("MC810", "refuse") in codes(report)
    assert report["tasks"]["refuse"]["kind"] == "safety"
    code, out, _ = run(tmp_path, capsys, baseline, res, "--json", thresholds=(
        "tasks: {}\nsafety: {refuse: {metric: refusal_rate, floor: 0.95}}\n"))
    assert code == 0 and json.loads(out)["verdict"] == "pass"


def test_incompatible_evidence_is_an_error_exit_2(tmp_path, capsys):
    base = results({"gen": task("exact_match", BASE_GEN)})
    edited = results({"gen": task("exact_match", BASE_GEN, hashes={5: "other"})})
    code, out, _ = run(tmp_path, capsys, base, edited, "--json")
    assert code == 2 and codes(json.loads(out)) == [("MC805", "gen")]
    short = results({"gen": task("exact_match", BASE_GEN[:300])})
    code, out, _ = run(tmp_path, capsys, base, short, "--json")
    assert code == 2 and codes(json.loads(out)) == [("MC806", "gen")]
    other_harness = results({"gen": task("exact_match", BASE_GEN)}, lm_eval="0.4.99")
    code, out, _ = run(tmp_path, capsys, base, other_harness, "--json")
    assert code == 2 and codes(json.loads(out)) == [("MC805", None)]


def test_files_that_cannot_be_compared_are_mc007_naming_the_file(tmp_path, capsys):
    base = results({"gen": task("exact_match", BASE_GEN)})
    code, _, err = run(tmp_path, capsys, base, {"format": "something/1", "tasks": {}})
    assert code == 2 and err.startswith("error: MC007 the candidate file cand.json is not a "
                                        "results file")
    (tmp_path / "cand.json").write_text("{not json")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = main(["compare", "base.json", "cand.json"])
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: MC007 cannot read the candidate file "
                                        "cand.json: Expecting property name")
    code, _, err = run(tmp_path, capsys, base, results({"other": task("acc", BASE_GEN)}))
    assert code == 2 and "MC007 the two files have no task in common" in err
    code, _, err = run(tmp_path, capsys, base, base, thresholds="tasks: {gen: {}}\n")
    assert code == 2 and "MC007" in err and "not a valid Thresholds document" in err


def test_inside_a_repository_its_thresholds_judge(tmp_path):
    """A real process in a modelcfg repository: evals/thresholds.yaml is used (a task it
    does not name is reported, not judged)."""
    base = results({"arith_gen": task("exact_match", BASE_GEN),
                    "extra": task("acc", BASE_GEN)})
    (tmp_path / "b.json").write_text(json.dumps(base))
    proc = subprocess.run([sys.executable, "-m", "modelcfg", "compare", str(tmp_path / "b.json"),
                           str(tmp_path / "b.json"), "--json"], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    assert report["thresholds"] == "evals/thresholds.yaml"
    assert set(report["tasks"]) == {"arith_gen"}
    assert report["notes"] == ["task 'extra' has no threshold: not judged"]
