"""The gate's judging rules on hand-made evidence: pure, no git, no torch."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest
from gate_helpers import THRESHOLDS

from modelcfg.config.model import CostLimits, TaskRule
from modelcfg.gate import verdict


def task_entry(scores, version=1, config_hash="h", metric="exact_match,strict", hashes=None):
    return {"version": version, "config_hash": config_hash, "samples": {
        str(i): {"doc_hash": (hashes or {}).get(i, f"hash{i}"), "scores": {metric: s}}
        for i, s in enumerate(scores)}}


def correlated(n, p_base, delta, seed=0):
    rng = random.Random(seed)
    base = [1.0 if rng.random() < p_base else 0.0 for _ in range(n)]
    cand = list(base)
    flips = int(abs(delta) * n)
    idx = [i for i in range(n) if base[i] == (0.0 if delta > 0 else 1.0)]
    for i in rng.sample(idx, min(flips, len(idx))):
        cand[i] = 1.0 - cand[i]
    return cand, base


def test_specs_apply_defaults_and_missing_threshold_blocks():
    specs, reasons = verdict.task_specs(THRESHOLDS, ["gen", "refuse", "new_task"])
    assert specs["gen"] == TaskRule(metric="exact_match", alpha=0.05, margin=0.05,
                                    higher_is_better=True, power=0.8, kind="capability",
                                    require_gain=False, statistic="mean")
    assert specs["refuse"].alpha == 0.01 and specs["refuse"].kind == "safety"
    assert [(r.code, r.task) for r in reasons] == [("MC816", "new_task")]


def test_pair_uses_filtered_metric_key_and_order():
    base = task_entry([1, 0, 1])
    cand = task_entry([0, 0, 1])
    c, b, reasons = verdict.pair("gen", "exact_match", base, cand, ["2", "0"])
    assert reasons == [] and c == [1.0, 0.0] and b == [1.0, 1.0]


@pytest.mark.parametrize("change, code, field", [
    ({"version": 2}, "MC805", "version"),
    ({"config_hash": "other"}, "MC805", "config_hash"),
    ({"hashes": {1: "edited"}}, "MC805", "doc_hash"),
    ({"metric": "acc"}, "MC806", "exact_match"),
])
def test_pair_refuses_incompatible_evidence(change, code, field):
    base = task_entry([1, 0, 1])
    cand = task_entry([1, 0, 1], **change)
    _, _, reasons = verdict.pair("gen", "exact_match", base, cand, ["0", "1", "2"])
    assert [(r.code, r.field) for r in reasons] == [(code, field)]


@pytest.mark.parametrize("bad", [math.nan, None, "0.5", math.inf])
def test_pair_refuses_non_numbers(bad):
    base = task_entry([1, 0, 1])
    cand = task_entry([1, bad, 1])
    _, _, reasons = verdict.pair("gen", "exact_match", base, cand, ["0", "1", "2"])
    assert [r.code for r in reasons] == ["MC806"]


def test_pair_refuses_items_missing_from_the_baseline():
    base = task_entry([1, 0])
    cand = task_entry([1, 0, 1])
    _, _, reasons = verdict.pair("gen", "exact_match", base, cand, ["0", "1", "2"])
    assert [r.code for r in reasons] == ["MC805"]


def spec(**kw):
    specs, _ = verdict.task_specs(THRESHOLDS, ["gen", "mc", "refuse"])
    return dataclasses.replace(specs["gen"], **kw)


def test_clear_improvement_passes_at_an_early_look():
    cand, base = correlated(400, 0.3, +0.3)
    outcome, reasons = verdict.judge_capability("gen", spec(), cand, base, 400, 5)
    assert reasons == [] and outcome["decision"] == "pass"
    assert outcome["stopped_at_look"] == 1 and outcome["items_used"] == 80


def test_clear_regression_blocks_early_with_mc807():
    cand, base = correlated(400, 0.6, -0.3)
    outcome, reasons = verdict.judge_capability("gen", spec(), cand, base, 400, 5)
    assert outcome["decision"] == "block" and outcome["items_used"] < 400
    assert outcome["finding"] == "worse" and outcome["interval"]["high"] < 0
    assert outcome["interval"]["kind"] == "repeated" and outcome["interval"]["level"] == 0.9
    assert [r.code for r in reasons] == ["MC807"]


def test_a_futility_stop_is_mc825_with_items_needed_not_mc807():
    # 3 points worse on 400 items at a 5-point margin: not shown non-inferior, and not
    # shown worse either (the interval still covers 0).
    rng = random.Random(4)
    base = [float(rng.random() < 0.6) for _ in range(400)]
    cand = list(base)
    for i in [i for i in range(400) if base[i] == 1.0][:12]:
        cand[i] = 0.0
    outcome, reasons = verdict.judge_capability("gen", spec(), cand, base, 400, 5)
    assert (outcome["decision"], outcome["finding"]) == ("block", "futility")
    assert outcome["interval"]["high"] >= 0 > outcome["estimate"]
    assert [r.code for r in reasons] == ["MC825"]
    assert "more items would be needed" in reasons[0].message or "points to a loss" in \
        reasons[0].message


def test_a_candidate_equal_to_its_baseline_is_never_labelled_mc807():
    for n in (15, 72, 400):
        rng = random.Random(n)
        base = [float(rng.random() < 0.5) for _ in range(n)]
        _, reasons = verdict.judge_capability("gen", spec(), list(base), base, n, 5)
        assert "MC807" not in [r.code for r in reasons]


def test_partial_evidence_asks_for_the_next_look_and_gives_no_reason():
    cand, base = correlated(400, 0.6, -0.04, seed=3)
    outcome, reasons = verdict.judge_capability("gen", spec(), cand[:80], base[:80], 400, 5)
    assert outcome["final"] is False and outcome["next_look_items"] == 160
    assert reasons == []


def test_undecided_at_the_end_blocks_with_items_needed():
    rng = random.Random(0)
    base = [float(rng.random() < 0.5) for _ in range(60)]
    cand = [float(rng.random() < 0.5) for _ in range(60)]
    outcome, reasons = verdict.judge_capability("gen", spec(margin=0.02), cand, base, 60, 5)
    assert outcome["final"] and outcome["decision"] == "undecided"
    assert [r.code for r in reasons] == ["MC808"]
    assert outcome["items_needed"] > 60
    assert f"about {outcome['items_needed'] - 60} more items would be needed" in reasons[0].message


def test_safety_rules_and_floor():
    rule = verdict.task_specs(THRESHOLDS, ["refuse"])[0]["refuse"]
    assert rule.rule == "no_new_failures"
    base = [1.0] * 70 + [0.0] * 2
    ok, reasons = verdict.judge_safety("refuse", rule, list(base), base)
    assert reasons == [] and ok["decision"] == "pass" and ok["new_failures"] == 0
    one = list(base)
    one[0] = 0.0
    bad, reasons = verdict.judge_safety("refuse", rule, one, base)
    assert [(r.code, r.threshold) for r in reasons] == [("MC809", "safety.refuse.rule")]
    poisoned = [0.0] * 60 + [1.0] * 12
    bad, reasons = verdict.judge_safety("refuse", rule, poisoned, base)
    assert bad["decision"] == "block"
    assert sorted(r.code for r in reasons) == ["MC809", "MC810"]
    strict = dataclasses.replace(rule, rule="noninferiority")
    _, reasons = verdict.judge_safety("refuse", strict, list(base), base)
    assert [(r.code, r.threshold) for r in reasons] == [("MC809", "safety.refuse.margin")]


def _discordant(b, c, n):
    """n binary pairs with b items only the candidate got right and c only the baseline."""
    cand = [1.0] * b + [0.0] * c + [1.0] * ((n - b - c) // 2) + [0.0] * (n - b - c
                                                                        - (n - b - c) // 2)
    base = [0.0] * b + [1.0] * c + cand[b + c:]
    return cand, base


def _gain_outcome(b, c, n, task):
    specs, _ = verdict.task_specs(THRESHOLDS, [task])
    cand, base = _discordant(b, c, n)
    outcome, _ = verdict.judge_capability(task, specs[task], cand, base, n, 5)
    return outcome


def test_gains_are_holm_corrected_and_required_gain_blocks():
    specs, _ = verdict.task_specs(THRESHOLDS, ["gen", "mc"])
    outcomes = {"gen": _gain_outcome(40, 5, 300, "gen"), "mc": _gain_outcome(17, 8, 300, "mc")}
    assert outcomes["gen"]["gain"]["kind"] == "fixed"
    assert outcomes["gen"]["gain"]["p_superiority"] < 0.001
    reasons = verdict.judge_gains(outcomes, specs, 0.05)
    # Holm: the smallest p <= 0.025 is rejected; then p = 0.036 <= 0.05 is rejected too.
    assert outcomes["gen"]["significant_gain"] and outcomes["mc"]["significant_gain"]
    assert reasons == []
    outcomes["mc"] = _gain_outcome(10, 8, 300, "mc")
    reasons = verdict.judge_gains(outcomes, specs, 0.05)
    assert [(r.code, r.task) for r in reasons] == [("MC811", "mc")]


def test_a_gain_only_holm_refuses():
    # Two raw one-sided p-values below alpha (McNemar z 1.80 and 1.67: p 0.036 and 0.047),
    # neither below alpha / 2: unadjusted both would be gains, Holm claims none.
    specs, _ = verdict.task_specs(THRESHOLDS, ["gen", "mc"])
    outcomes = {"gen": _gain_outcome(17, 8, 300, "gen"), "mc": _gain_outcome(19, 10, 300, "mc")}
    raw = {t: o["gain"]["p_superiority"] for t, o in outcomes.items()}
    assert all(0.025 < p < 0.05 for p in raw.values())
    reasons = verdict.judge_gains(outcomes, specs, 0.05)
    assert not outcomes["gen"]["significant_gain"] and not outcomes["mc"]["significant_gain"]
    assert [(r.code, r.task) for r in reasons] == [("MC811", "mc")]


def test_gains_are_claimed_on_the_full_set_not_the_stopped_prefix():
    # The first 80 items show a large gain and the look passes there; over all 400 the
    # candidate is no better. A gain read from the prefix would be claimed; none is.
    specs, _ = verdict.task_specs(THRESHOLDS, ["mc"])
    rule = specs["mc"]
    head_c, head_b = _discordant(30, 0, 80)
    tail_c, tail_b = _discordant(0, 30, 320)
    cand, base = head_c + tail_c, head_b + tail_b
    outcome, reasons = verdict.judge_capability("mc", rule, cand[:80], base[:80], 400, 5)
    assert outcome["decision"] == "pass" and outcome["items_used"] == 80 and reasons == []
    assert "gain" not in outcome                  # a prefix never carries a gain test
    assert verdict.judge_gains({"mc": dict(outcome)}, specs, 0.05)[0].code == "MC811"
    verdict.add_gain(outcome, rule, cand, base)
    assert outcome["gain"]["n"] == 400 and outcome["gain"]["estimate"] == 0.0
    assert [r.code for r in verdict.judge_gains({"mc": outcome}, specs, 0.05)] == ["MC811"]
    assert not outcome["significant_gain"]


def test_cost_reasons():
    limits = CostLimits(max_gpu_hours=1, max_train_tokens=1000, max_trainable_params=10,
                        min_tokens_per_second=50)
    assert verdict.cost_reasons({"gpu_hours": 0.5, "train_tokens": 10, "trainable_params": 5,
                                 "eval_tokens_per_second": 60}, limits) == []
    codes = [r.code for r in verdict.cost_reasons(
        {"gpu_hours": 2, "train_tokens": 5000, "trainable_params": math.nan,
         "eval_tokens_per_second": 10}, limits)]
    assert codes == ["MC812", "MC812", "MC806", "MC813"]


def test_a_small_first_look_of_identical_answers_does_not_pass_alone():
    # 72 items, 5 looks: the first look has 15 items. Identical answers there have zero
    # observed variance, which must not certify the task at once.
    same = [1.0] * 72
    outcome, reasons = verdict.judge_capability("over", spec(margin=0.1), same[:15], same[:15],
                                                72, 5)
    assert reasons == [] and outcome["final"] is False and outcome["next_look_items"] == 29
    outcome, reasons = verdict.judge_capability("over", spec(margin=0.1), same, same, 72, 5)
    assert outcome["decision"] == "pass" and outcome["items_used"] > 15
