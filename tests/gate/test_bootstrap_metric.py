"""Metrics that are not means (here lm-eval's corpus-level F1) go through the gate's paired
bootstrap with lm-eval's own aggregation function."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from modelcfg.config.model import TaskRule
from modelcfg.gate import verdict

ROOT = Path(__file__).resolve().parents[2]


def f1(items):
    """Binary F1 over (gold, pred) pairs, as lm-eval's f1 aggregation computes it."""
    tp = sum(1 for g, p in items if g == 1 and p == 1)
    fp = sum(1 for g, p in items if g == 0 and p == 1)
    fn = sum(1 for g, p in items if g == 1 and p == 0)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


SPEC = TaskRule(kind="capability", metric="f1", margin=0.05, alpha=0.05, power=0.8,
                higher_is_better=True, require_gain=False, statistic="bootstrap",
                bootstrap_iters=500)


def pairs(n, accuracy, seed):
    rng = random.Random(seed)
    gold = [rng.randint(0, 1) for _ in range(n)]
    return [[g, g if rng.random() < accuracy else 1 - g] for g in gold]


def test_bootstrap_passes_an_equal_candidate_and_blocks_a_worse_one():
    base = pairs(300, 0.9, 1)
    same, reasons = verdict.judge_bootstrap("t", SPEC, list(base), base, f1)
    assert reasons == [] and same["decision"] == "pass" and same["estimate"] == 0.0
    worse = [[g, 1 - p] if i % 3 == 0 else [g, p] for i, (g, p) in enumerate(base)]
    bad, reasons = verdict.judge_bootstrap("t", SPEC, worse, base, f1)
    assert bad["decision"] == "block" and [r.code for r in reasons] == ["MC807"]
    assert bad["estimate"] == pytest.approx(f1(worse) - f1(base))
    assert bad["ci_high"] < -0.05


def test_an_aggregation_that_fails_is_missing_evidence():
    _, reasons = verdict.judge_bootstrap("t", SPEC, [["x"]] * 5, [["y"]] * 5,
                                         lambda items: sum(i[0] for i in items))
    assert [r.code for r in reasons] == ["MC806"]


def test_pair_keeps_non_numeric_items_but_not_missing_ones():
    entry = {"version": 1, "config_hash": "h", "samples": {
        "0": {"doc_hash": "a", "scores": {"f1": [1, 1]}},
        "1": {"doc_hash": "b", "scores": {"f1": None}}}}
    c, b, reasons = verdict.pair("t", "f1", entry, entry, ["0"], numeric=False)
    assert (c, b, reasons) == ([[1, 1]], [[1, 1]], [])
    _, _, reasons = verdict.pair("t", "f1", entry, entry, ["0", "1"], numeric=False)
    assert [r.code for r in reasons] == ["MC806"]


@pytest.mark.e2e
def test_lm_eval_f1_per_item_values_and_aggregation_round_trip(tiny_model, tmp_path):
    from modelcfg.evaluation.harness import evaluate, task_facts

    tasks = tmp_path / "tasks"
    tasks.mkdir()
    for name in ("utils.py", "_local_jsonl.yaml", "arith_mc"):
        source = ROOT / "evals/tasks" / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tasks / name)
    (tasks / "arith_f1").mkdir()
    # Binary F1 needs two classes: the right sum against one near miss, in either order.
    import json

    docs = [json.loads(line) for line in
            (tasks / "arith_mc/arith_mc.jsonl").read_text().splitlines()[:60]]
    with (tasks / "arith_f1/arith_f1.jsonl").open("w") as fh:
        for i, doc in enumerate(docs):
            right = doc["choices"][doc["label"]]
            wrong = next(c for c in doc["choices"] if c != right)
            choices = [right, wrong] if i % 2 else [wrong, right]
            fh.write(json.dumps({"prompt": doc["prompt"], "choices": choices,
                                 "label": choices.index(right)}) + "\n")
    (tasks / "arith_f1/arith_f1.yaml").write_text(
        (tasks / "arith_mc/arith_mc.yaml").read_text()
        .replace("task: arith_mc", "task: arith_f1")
        .replace("arith_mc/arith_mc.jsonl", "arith_f1/arith_f1.jsonl")
        .replace("metric: acc\n    aggregation: mean", "metric: f1\n    aggregation: f1"))
    results = evaluate(tiny_model, ["arith_f1"], tasks, tmp_path / "r.json", limit=60,
                       order_seed=0)
    entry = results["tasks"]["arith_f1"]
    items = [s["scores"]["f1"] for s in entry["samples"].values()]
    assert len(items) == 60 and all(isinstance(i, list) and len(i) == 2 for i in items)
    aggregate = task_facts(["arith_f1"], tasks)["arith_f1"]["aggregations"]["f1"]
    assert aggregate(items) == pytest.approx(entry["metrics"]["f1"]["value"])
    c, b, reasons = verdict.pair("arith_f1", "f1", entry, entry,
                                 [str(d) for d in sorted(map(int, entry["samples"]))],
                                 numeric=False)
    outcome, reasons = verdict.judge_bootstrap("arith_f1", SPEC, c, b, aggregate)
    assert reasons == [] and outcome["decision"] == "pass"
