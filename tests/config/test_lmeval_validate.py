"""`modelcfg validate` checks standard `lm-eval:` names against the committed index of the
pinned lm-eval (MC333), the metrics thresholds name for them (MC334) and their direction
(MC323), and refuses a suite task the thresholds do not judge (MC335). No lm-eval here: the
index is read from package data, and only when an `lm-eval:` name is checked."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from repo_helpers import GOLDEN, make_repo

from modelcfg.config import lmeval_index
from modelcfg.config.validate import validate

ROOT = Path(__file__).resolve().parents[2]
SUITE = "apiVersion: modelcfg/v1\nkind: EvalSuite\nname: cap\ntasks: [t2, {}]\n"
THRESHOLDS = ("apiVersion: modelcfg/v1\nkind: Thresholds\nname: t\ntasks:\n  t1: {{metric: acc}}\n"
              "{}safety:\n  t2: {{metric: refusal_rate, floor: 0.9}}\n")


def repo_with(tmp: Path, tasks: str, extra_thresholds: str = "") -> Path:
    repo = make_repo(tmp, GOLDEN / "base")
    (repo / "evals/suites/cap.yaml").write_text(SUITE.format(tasks))
    (repo / "evals/thresholds.yaml").write_text(THRESHOLDS.format(extra_thresholds))
    return repo


def found(repo: Path) -> list[tuple]:
    return [(p.path, p.line, p.col, p.code, p.message) for p in validate(repo)]


def test_the_index_is_of_the_installed_lm_eval():
    """Upgrading lm-eval without regenerating the index fails here, cheaply (the full
    regeneration is tests/evaluation/test_lmeval_index.py)."""
    index = lmeval_index.load()
    assert index["format"] == lmeval_index.INDEX_FORMAT
    assert index["lm_eval_version"] == version("lm_eval")
    assert lmeval_index.kind("arc_easy") == "task"
    assert lmeval_index.kind("mmlu") == "group"
    assert lmeval_index.kind("ai2_arc") == "tag"
    assert lmeval_index.metrics("arc_easy") == {"acc": True, "acc_norm": True}
    assert lmeval_index.folder("arc_easy") == "arc"
    assert "/" not in json.dumps(index["metric_sets"]), "no machine paths in the index"
    data = (ROOT / "modelcfg/config/data" / lmeval_index.INDEX_FILE).read_bytes()
    assert data[4:8] == b"\0\0\0\0"  # gzip without a timestamp: regenerating is byte-stable
    assert json.loads(gzip.decompress(data)) == index


def test_a_typo_is_mc333_at_the_suite_entry_with_the_closest_name(tmp_path):
    repo = repo_with(tmp_path, 't1, "lm-eval:arc_esay"', '  "lm-eval:arc_easy": {metric: acc}\n')
    problems = found(repo)
    assert [p[:4] for p in problems] == [
        ("evals/suites/cap.yaml", 4, 17, "MC333"),
        # The threshold names a task no suite runs now (the typo's fix is in the suite).
        ("evals/thresholds.yaml", 6, 23, "MC307")]
    assert problems[0][4] == ("lm-eval 0.4.13 has no task, group or tag named 'arc_esay' (did "
                              "you mean 'arc_easy'?); check the name with `lm_eval ls tasks`")


def test_a_group_or_tag_is_mc333_asking_for_its_tasks(tmp_path):
    repo = repo_with(tmp_path, 't1, "lm-eval:ai2_arc"', '  "lm-eval:ai2_arc": {metric: acc}\n')
    assert found(repo) == [(
        "evals/suites/cap.yaml", 4, 17, "MC333",
        "'ai2_arc' is an lm-eval tag, not a task: the gate judges each task on its own per-item "
        "scores, so list its tasks in the suite instead (lm-eval:arc_challenge, "
        "lm-eval:arc_easy, ...)")]


def test_a_metric_the_task_does_not_report_is_mc334_listing_its_metrics(tmp_path):
    repo = repo_with(tmp_path, 't1, "lm-eval:arc_easy", "lm-eval:gsm8k"',
                     '  "lm-eval:arc_easy": {metric: accuracy}\n'
                     '  "lm-eval:gsm8k": {metric: "exact_match,flexible-extract"}\n')
    assert found(repo) == [(
        "evals/thresholds.yaml", 6, 32, "MC334",
        "lm-eval task 'arc_easy' has no metric 'accuracy'; its metrics are: acc, acc_norm")]
    (repo / "evals/thresholds.yaml").write_text(THRESHOLDS.format(
        '  "lm-eval:arc_easy": {metric: acc_norm}\n'
        '  "lm-eval:gsm8k": {metric: "exact_match,loose"}\n'))
    assert found(repo) == [(
        "evals/thresholds.yaml", 7, 29, "MC334",
        "lm-eval task 'gsm8k' has no filter 'loose'; its filters are: strict-match, "
        "flexible-extract")]


def test_a_direction_contradicting_lm_eval_is_mc323(tmp_path):
    repo = repo_with(tmp_path, 't1, "lm-eval:arc_easy"',
                     '  "lm-eval:arc_easy": {metric: acc, higher_is_better: false}\n')
    assert [p[:4] for p in found(repo)] == [("evals/thresholds.yaml", 6, 55, "MC323")]
    assert "records higher_is_better: true in lm-eval's metric_list" in found(repo)[0][4]


def test_a_suite_task_without_thresholds_is_mc335_local_or_standard(tmp_path):
    repo = repo_with(tmp_path, 't1, "lm-eval:arc_easy"')
    (repo / "evals/thresholds.yaml").write_text(
        "apiVersion: modelcfg/v1\nkind: Thresholds\nname: t\ntasks: {}\n"
        "safety:\n  t2: {metric: refusal_rate, floor: 0.9}\n")
    assert found(repo) == [
        ("evals/suites/cap.yaml", 4, 13, "MC335",
         "task 't1' has no entry in the thresholds (evals/thresholds.yaml); the gate judges no "
         "task without a rule (MC816): add one under tasks: or safety: naming its metric"),
        ("evals/suites/cap.yaml", 4, 17, "MC335",
         "task 'lm-eval:arc_easy' has no entry in the thresholds (evals/thresholds.yaml); the "
         "gate judges no task without a rule (MC816): add one under tasks: or safety: naming "
         "its metric (lm-eval's metrics for it: acc, acc_norm)")]


def test_the_shipped_repository_validates_with_its_standard_suite():
    proc = subprocess.run([sys.executable, "-m", "modelcfg", "validate"], cwd=ROOT,
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stdout


def test_the_index_is_not_read_without_an_lm_eval_name(tmp_path):
    repo = repo_with(tmp_path, "t1")
    lmeval_index.load.cache_clear()
    assert found(repo) == []
    assert lmeval_index.load.cache_info().currsize == 0
    (repo / "evals/suites/cap.yaml").write_text(SUITE.format('t1, "lm-eval:arc_esay"'))
    assert [p[3] for p in found(repo)] == ["MC333"]
    assert lmeval_index.load.cache_info().currsize == 1
