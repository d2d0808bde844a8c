"""The latency SLO's decision (modelcfg/gate/latency.py): the order-statistic interval's
coverage is exact (binomial enumeration), the decision fails closed, and the codes."""

from __future__ import annotations

import math
import random

import pytest

from modelcfg.core.order_statistics import binom_half_cdf, min_pairs, order_k
from modelcfg.gate.latency import judge_latency, ratio_interval


@pytest.mark.parametrize("alpha", [0.05, 0.025, 0.01])
def test_the_interval_keeps_each_tail_at_most_alpha_and_is_the_narrowest_that_does(alpha):
    for n in range(1, 61):
        k = order_k(n, alpha)
        if k:
            assert binom_half_cdf(k - 1, n) <= alpha  # P(median below r_(k)) <= alpha
        assert k == (n + 1) // 2 or binom_half_cdf(k, n) > alpha  # k + 1 would not keep it
    assert order_k(min_pairs(alpha), alpha) == 1 and order_k(min_pairs(alpha) - 1, alpha) == 0


def test_coverage_holds_for_skewed_timings_with_outliers():
    """The median ratio of heavy-tailed, skewed timings is covered at least at the stated
    level: 3,000 simulated runs of 12 pairs, true median ratio 1.25 (bench/bench_latency.py
    runs 200,000)."""
    rng = random.Random(7)
    n, runs, alpha, true = 12, 3_000, 0.05, 1.25
    covered = 0
    level = None
    for _ in range(runs):
        base, cand = [], []
        for _ in range(n):
            noise = math.exp(rng.gauss(0, 0.3)) * (5.0 if rng.random() < 0.1 else 1.0)
            b = 0.01 * math.exp(rng.gauss(0, 0.2))
            base.append(b)
            cand.append(b * true * noise / _median_noise())
        interval = ratio_interval(cand, base, alpha)
        level = interval.level
        covered += interval.low <= true <= interval.high
    assert level >= 1 - 2 * alpha
    assert covered / runs >= level - 0.015  # three standard errors of 3,000 runs


def _median_noise() -> float:
    """The median of exp(N(0, 0.3)) * (5 with probability 0.1, else 1), by bisection."""
    def cdf(x: float) -> float:
        def phi(z):
            return 0.5 * (1 + math.erf(z / math.sqrt(2)))
        return 0.9 * phi(math.log(x) / 0.3) + 0.1 * phi(math.log(x / 5) / 0.3)
    lo, hi = 0.1, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) < 0.5 else (lo, mid)
    return lo


def test_a_ratio_within_the_slo_passes_and_one_beyond_it_is_mc850():
    base = [0.010, 0.011, 0.010, 0.012, 0.010, 0.011, 0.010, 0.011]
    same = [b * f for b, f in zip(base, (1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0))]
    outcome, reasons = judge_latency({"candidate": same, "baseline": base},
                                     max_regression=0.10, alpha=0.05)
    assert reasons == [] and outcome["decision"] == "pass"
    assert outcome["interval"]["low"] <= 1.0 <= outcome["interval"]["high"]
    slow = [b * 1.5 for b in base]
    outcome, reasons = judge_latency({"candidate": slow, "baseline": base},
                                     max_regression=0.10, alpha=0.05)
    assert [r.code for r in reasons] == ["MC850"] and outcome["decision"] == "block"
    assert reasons[0].threshold == "latency.max_regression"
    assert "1.500" in reasons[0].message and "at most 1.100" in reasons[0].message


def test_noisy_timings_that_cannot_rule_out_a_slowdown_block():
    base = [0.01] * 8
    noisy = [0.01 * f for f in (0.8, 1.3, 0.9, 1.25, 1.0, 1.2, 0.85, 1.15)]
    _, reasons = judge_latency({"candidate": noisy, "baseline": base},
                               max_regression=0.10, alpha=0.05)
    assert [r.code for r in reasons] == ["MC850"]


def test_the_absolute_limit_is_mc851():
    base = [0.01] * 8
    _, reasons = judge_latency({"candidate": base, "baseline": base}, max_regression=None,
                               alpha=0.05, max_seconds_per_token=0.005)
    assert [r.code for r in reasons] == ["MC851"]


@pytest.mark.parametrize("timings", [
    {"candidate": [0.01] * 4, "baseline": [0.01] * 4},  # too few pairs for alpha 0.05
    {"candidate": [0.01] * 7 + [float("nan")], "baseline": [0.01] * 8},
    {"candidate": [0.01] * 7 + [0.0], "baseline": [0.01] * 8},
    {"candidate": [], "baseline": []},
])
def test_timings_that_cannot_be_judged_fail_closed_with_mc852(timings):
    outcome, reasons = judge_latency(timings, max_regression=0.10, alpha=0.05)
    assert [r.code for r in reasons] == ["MC852"] and outcome["decision"] == "block"
