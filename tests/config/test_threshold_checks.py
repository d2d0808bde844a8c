"""`modelcfg validate` checks the thresholds against the tasks they judge: the direction of
each metric (MC323, an error) and whether each task's items can show what the thresholds ask
(MC324, a warning). Temp repositories with their own task data: the shipped task sizes are
not relied on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from repo_helpers import GOLDEN, make_repo

from modelcfg.cli.app import main
from modelcfg.config import power
from modelcfg.config.validate import validate
from modelcfg.core.paired_binary import cells, rejection_probability

ROOT = Path(__file__).resolve().parents[2]


def task_files(repo: Path, task: str, items: int, metric: str, hib: bool | None) -> None:
    folder = repo / "evals/tasks" / task
    folder.mkdir(parents=True, exist_ok=True)
    direction = "" if hib is None else f", higher_is_better: {str(hib).lower()}"
    (folder / f"{task}.yaml").write_text(
        f"task: {task}\ndataset_kwargs:\n  data_files: {task}/{task}.jsonl\n"
        f"metric_list:\n  - {{metric: {metric}, aggregation: mean{direction}}}\n")
    (folder / f"{task}.jsonl").write_text("".join(json.dumps({"prompt": f"q{i}"}) + "\n"
                                                  for i in range(items)))


def repo_with(tmp: Path, thresholds: str, t1: int = 400, t2: int = 400,
              t1_hib: bool | None = True, t2_hib: bool | None = True) -> Path:
    repo = make_repo(tmp, GOLDEN / "base")
    task_files(repo, "t1", t1, "acc", t1_hib)
    task_files(repo, "t2", t2, "refusal_rate", t2_hib)
    (repo / "evals/thresholds.yaml").write_text(
        "apiVersion: modelcfg/v1\nkind: Thresholds\nname: t\n" + thresholds)
    # Only the two local tasks: every suite task needs a thresholds entry (MC335).
    (repo / "evals/suites/cap.yaml").write_text(
        "apiVersion: modelcfg/v1\nkind: EvalSuite\nname: cap\ntasks: [t1, t2]\n")
    return repo


def found(repo: Path, warnings: bool = True) -> list[tuple]:
    return [(p.line, p.col, p.code, p.severity)
            for p in validate(repo, warnings=warnings) if p.path == "evals/thresholds.yaml"]


CAP = "tasks:\n  t1:\n    metric: acc\n    margin: 0.1\n"
SAFE = "safety:\n  t2: {metric: refusal_rate, floor: 0.8}\n"


# ------------------------------------------------------------------- direction (MC323)


def test_a_direction_the_task_contradicts_is_mc323_at_the_thresholds_line(tmp_path):
    repo = repo_with(tmp_path, CAP + "    higher_is_better: false\n" + SAFE)
    assert found(repo) == [(8, 23, "MC323", "error")]
    (problem,) = [p for p in validate(repo) if p.code == "MC323"]
    assert "task 't1' records higher_is_better: true in its metric_list" in problem.message


def test_a_direction_that_agrees_or_that_the_task_does_not_state_is_fine(tmp_path):
    repo = repo_with(tmp_path, CAP + "    higher_is_better: true\n" + SAFE)
    assert found(repo) == []
    repo = repo_with(tmp_path / "b", CAP + "    higher_is_better: false\n" + SAFE, t1_hib=None)
    assert found(repo) == []  # lm-eval's registry decides; the gate checks (MC826)


def test_a_lower_is_better_safety_metric_is_allowed(tmp_path):
    repo = repo_with(tmp_path, CAP + "safety:\n  t2: {metric: refusal_rate, floor: 0.1, "
                     "higher_is_better: false}\n", t2_hib=False)
    assert found(repo) == []
    repo = repo_with(tmp_path / "b", CAP + "safety:\n  t2: {metric: refusal_rate, floor: 0.1, "
                     "higher_is_better: false}\n", t2_hib=True)
    assert [c for _, _, c, _ in found(repo)] == ["MC323"]


# ------------------------------------------------------------------------ size (MC324)


def test_a_capability_task_too_small_for_its_margin_warns(tmp_path):
    repo = repo_with(tmp_path, CAP + SAFE, t1=72)
    assert found(repo) == [(6, 5, "MC324", "warning")]
    (problem,) = [p for p in validate(repo, warnings=True) if p.code == "MC324"]
    assert problem.message == (
        "task 't1' has 72 items: a candidate exactly as good as its baseline shows "
        "non-inferiority at margin 0.1 (alpha 0.05) with only 65% power, exact, under the "
        "planning assumption (baseline rate 0.5, correlation 0.7; set tasks.t1.planning); "
        "about 103 items give 80%: add items or widen the margin")
    assert found(repo, warnings=False) == []  # only `validate` computes it, never the gate


def test_enough_items_or_a_planning_assumption_that_needs_fewer_do_not_warn(tmp_path):
    assert found(repo_with(tmp_path, CAP + SAFE, t1=110)) == []
    planned = CAP + "    planning: {rate: 0.9, correlation: 0.9}\n" + SAFE
    assert found(repo_with(tmp_path / "b", planned, t1=72)) == []


def test_a_safety_task_a_perfect_candidate_cannot_pass_warns(tmp_path):
    # 0.01 ** (1 / 20) = 0.794 < 0.8: even 20/20 fails the exact floor; 21/21 clears it
    repo = repo_with(tmp_path, CAP + SAFE, t2=20)
    assert found(repo) == [(9, 7, "MC324", "warning")]
    (problem,) = [p for p in validate(repo, warnings=True) if p.code == "MC324"]
    assert "even a perfect candidate (20/20) fails the exact floor" in problem.message
    assert "at least 21 items are needed" in problem.message
    assert found(repo_with(tmp_path / "b", CAP + SAFE, t2=21)) == []


def test_a_lower_is_better_safety_rate_is_checked_against_its_ceiling(tmp_path):
    # harm rate ceiling 0.2: the best case is 0/n, upper bound 1 - 0.01 ** (1 / n)
    safety = "safety:\n  t2: {metric: refusal_rate, floor: 0.2}\n"
    repo = repo_with(tmp_path, CAP + safety, t2=20, t2_hib=False)
    (problem,) = [p for p in validate(repo, warnings=True) if p.code == "MC324"]
    assert "(0/20)" in problem.message and "above the ceiling 0.2" in problem.message


def test_the_command_exits_0_on_warnings_and_marks_them_in_every_format(tmp_path):
    repo = repo_with(tmp_path, CAP + SAFE, t1=72)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "modelcfg", "validate", *args], cwd=repo,
                              capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    text = cli()
    assert text.returncode == 0
    assert text.stdout.startswith("evals/thresholds.yaml:6:5: MC324 warning: task 't1' has 72")
    assert text.stderr == "ok: no errors (1 warning(s))\n"
    as_json = json.loads(cli("--format", "json").stdout)
    assert as_json["valid"] is True
    assert [(p["code"], p["severity"]) for p in as_json["problems"]] == [("MC324", "warning")]
    assert cli("--format", "github").stdout.startswith(
        "::warning file=evals/thresholds.yaml,line=6,col=5,title=MC324::")
    assert cli("configs/adapters/a.yaml").stdout == ""  # not computed for other files


def test_validate_golden_base_stays_silent(tmp_path, capsys):
    repo = make_repo(tmp_path, GOLDEN / "base")  # tasks without data files: not counted
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        assert main(["validate"]) == 0
    finally:
        os.chdir(cwd)
    assert capsys.readouterr().out == ""


# ---------------------------------------------------------------------- the figures


@pytest.mark.parametrize("n, margin, alpha, rate, rho", [
    (72, 0.1, 0.05, 0.5, 0.7), (200, 0.05, 0.025, 0.9, 0.3), (50, 0.2, 0.1, 0.1, 0.9)])
def test_power_is_the_exact_rejection_probability_at_delta_0(n, margin, alpha, rate, rho):
    from statistics import NormalDist

    p12, p21 = cells(rate, 0.0, rho)
    z = NormalDist().inv_cdf(1 - alpha)
    assert power.noninferiority_power(n, margin, alpha, rate, rho) == \
        rejection_probability(n, p12, p21, -margin, z)


def test_items_for_power_is_within_a_few_items_of_the_least_that_reach_it():
    needed = power.items_for_power(0.1, 0.05, 0.5, 0.7, 0.8, 72)
    least = next(n for n in range(72, 200)
                 if power.noninferiority_power(n, 0.1, 0.05, 0.5, 0.7) >= 0.8)
    assert abs(needed - least) <= 3 and least == 102
    assert power.items_for_perfect_floor(0.8, 0.01) == 21
    assert power.items_for_perfect_floor(1.0, 0.01) is None
