"""Paired statistics: known values, edge cases, and properties that must hold for any data."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from modelcfg.core.paired_binary import cells, tango_z
from modelcfg.gate import sequential
from modelcfg.gate.safety import safety_check
from modelcfg.gate.stats import (
    benjamini_hochberg,
    betainc,
    clopper_pearson,
    clopper_pearson_lower,
    clopper_pearson_upper,
    floored_sd,
    holm,
    paired_bootstrap,
    paired_test,
    sample_size,
    sample_size_for_sd,
    score_interval,
    sd_binary_difference,
    simulate_binary_pairs,
    z_quantile,
)

Z95 = 1.6448536269514722


# --------------------------------------------------------------------------- sample size

def test_sample_size_reproduces_design_values():
    assert sample_size(0.6, 0.6, 0.7, 0.05, 0.8, 0.05) == 357
    assert sample_size(0.6, 0.6, 0.7, alpha=0.05, power=0.8, margin=0.02) == 2226


def test_sample_size_rounds_up():
    # 356.1 items is not enough; 357 is.
    raw = (Z95 + z_quantile(0.8)) ** 2 * 0.144 / 0.05 ** 2
    assert 356 < raw < 357
    assert sample_size_for_sd(math.sqrt(0.144), 0.05) == 357


def test_sd_binary_difference_formula():
    assert sd_binary_difference(0.6, 0.6, 0.7) ** 2 == pytest.approx(0.144)
    assert sd_binary_difference(0.6, 0.6, 1.0) == 0.0
    # Independent pairs: variances add.
    assert sd_binary_difference(0.5, 0.2, 0.0) ** 2 == pytest.approx(0.25 + 0.16)


def test_sample_size_rejects_bad_input():
    with pytest.raises(ValueError):
        sample_size(0.6, 0.6, 0.7, 0.05, 0.8, 0.0)
    with pytest.raises(ValueError):
        sample_size(1.2, 0.6, 0.7, 0.05, 0.8, 0.02)
    with pytest.raises(ValueError):
        sample_size(0.6, 0.6, 1.5, 0.05, 0.8, 0.02)


# --------------------------------------------------------------------------- paired test

def test_paired_test_binary_uses_tangos_score_test():
    r = paired_test([1, 1, 0, 1], [1, 0, 0, 0], margin=0.02)
    assert (r.n, r.n01, r.n10, r.statistic) == (4, 2, 0, "tango")
    assert (r.candidate_mean, r.baseline_mean, r.estimate) == (0.75, 0.25, 0.5)
    # Hand-computed: restricted p21 = 0.265, Z = 2.08 / sqrt(4 (0.53 - 0.0204)) = 1.4568.
    assert tango_z(2, 0, 4, -0.02) == pytest.approx(2.08 / math.sqrt(4 * (0.53 - 0.0204)))
    assert r.p_noninferiority == pytest.approx(1 - _cdf(1.4568), abs=1e-4)
    assert r.p_superiority == pytest.approx(1 - _cdf(tango_z(2, 0, 4, 0.0)))
    # Two discordant items of four do not show non-inferiority (the Wald z said they did).
    assert not r.passed
    assert tango_z(2, 0, 4, r.lower_bound) == pytest.approx(Z95, abs=1e-6)
    assert tango_z(2, 0, 4, r.ci_high) == pytest.approx(-Z95, abs=1e-6)
    assert r.ci_low < r.estimate < r.ci_high


def _cdf(z):
    return 0.5 * math.erfc(-z / math.sqrt(2))


def test_score_interval_inverts_the_statistic():
    low, high = score_interval(30, 10, 200, Z95)
    assert tango_z(30, 10, 200, low) == pytest.approx(Z95, abs=1e-6)
    assert tango_z(30, 10, 200, high) == pytest.approx(-Z95, abs=1e-6)
    assert low < 0.1 < high


def test_paired_test_blocks_a_clear_regression():
    cand = [1] * 500 + [0] * 500
    base = [1] * 600 + [0] * 400
    r = paired_test(cand, base, margin=0.02)
    assert r.estimate == pytest.approx(-0.1)
    assert not r.passed
    assert r.p_noninferiority > 0.5
    assert (r.n01, r.n10) == (0, 100)


def test_non_binary_scores_use_the_paired_z_and_have_no_discordant_counts():
    r = paired_test([0.5, 0.7, 0.9], [0.4, 0.7, 1.0], margin=0.1)
    assert r.n01 is None and r.n10 is None and r.statistic == "paired-z"


def test_identical_binary_scores_need_enough_items():
    # No discordant pair: Tango's variance under H0 is not zero, so 4 items do not pass
    # and 1,000 do.
    small = paired_test([1, 0, 1, 1], [1, 0, 1, 1], margin=0.02)
    assert not small.passed and 0 < small.p_noninferiority < 1
    big = paired_test([1, 0] * 500, [1, 0] * 500, margin=0.02)
    assert big.passed and big.p_superiority == 0.5


def test_variance_floor_scales_with_the_score_range():
    # Scores in [0, 1]: sd never below 1 / sqrt(n).
    worse = paired_test([0.5, 0.5, 0.5], [0.6, 0.6, 0.6], margin=0.02)
    assert worse.sd == pytest.approx(1 / math.sqrt(3)) and not worse.passed
    # Scores on a 0-100 scale: the floor is the observed range / sqrt(n).
    wide = paired_test([50.0, 50.0, 70.0, 70.0], [50.0, 50.0, 70.0, 70.0], margin=2.0)
    assert wide.sd == pytest.approx(20 / 2) and wide.se == pytest.approx(5.0)
    assert not wide.passed
    # Every score the same value outside [0, 1]: no range, one unit is taken.
    flat = paired_test([5.0] * 4, [5.0] * 4, margin=0.5)
    assert flat.sd == pytest.approx(0.5) and flat.se == pytest.approx(0.25)
    assert floored_sd(0.0, 4, [5.0] * 8) == 0.5


def test_one_item_never_passes_and_serialises_to_json():
    r = paired_test([1], [0], margin=0.02)
    assert not r.passed
    assert math.isinf(r.se) and r.items_needed is None
    d = r.to_dict()
    assert d["se"] is None and d["lower_bound"] is None and d["passed"] is False
    json.dumps(d, allow_nan=False)


@pytest.mark.parametrize("cand, base", [
    ([], []),
    ([1, 0], [1]),
    ([1, float("nan")], [1, 0]),
    ([1, 0], [float("inf"), 0]),
])
def test_paired_test_rejects_missing_unaligned_or_nan(cand, base):
    with pytest.raises(ValueError):
        paired_test(cand, base, margin=0.02)


def test_lower_is_better_flips_sign():
    cand, base = [0.2, 0.3, 0.25, 0.1], [0.3, 0.3, 0.35, 0.2]   # candidate has lower loss
    r = paired_test(cand, base, margin=0.01, higher_is_better=False)
    assert r.estimate == pytest.approx(0.075)
    assert r.candidate_mean == pytest.approx(0.2125)   # means stay in the metric's own scale
    flipped = paired_test(base, cand, margin=0.01)
    assert r.estimate == pytest.approx(flipped.estimate) and r.se == pytest.approx(flipped.se)
    harm = paired_test([0, 0, 1, 0], [1, 0, 1, 1], margin=0.01, higher_is_better=False)
    assert (harm.n01, harm.n10) == (2, 0)


scores = st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=2, max_size=60)
binary = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=2, max_size=80)


@settings(max_examples=150, deadline=None)
@given(st.one_of(scores, binary), st.floats(0.001, 0.2), st.floats(0.001, 0.4))
def test_interval_properties(pairs, margin, alpha):
    cand, base = [c for c, _ in pairs], [b for _, b in pairs]
    r = paired_test(cand, base, margin=margin, alpha=alpha)
    assert r.ci_low <= r.estimate + 1e-9 and r.estimate <= r.ci_high + 1e-9
    assert r.lower_bound == r.ci_low
    # The bound and the p-value are the same test.
    assert r.passed == (r.p_noninferiority <= alpha) or abs(r.lower_bound + margin) < 1e-6
    assert r.passed == (r.lower_bound >= -margin) or abs(r.lower_bound + margin) < 1e-6
    assert r.p_noninferiority <= r.p_superiority
    swapped = paired_test(base, cand, margin=margin, alpha=alpha)
    assert swapped.estimate == pytest.approx(-r.estimate, abs=1e-12)
    assert swapped.se == pytest.approx(r.se, abs=1e-12)
    json.dumps(r.to_dict(), allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.one_of(scores, binary), st.floats(0.001, 0.2), st.floats(0.001, 0.2),
       st.floats(0.2, 0.45))
def test_lower_bound_is_monotone_in_alpha(pairs, margin, a1, a2):
    cand, base = [c for c, _ in pairs], [b for _, b in pairs]
    strict = paired_test(cand, base, margin=margin, alpha=min(a1, a2))
    loose = paired_test(cand, base, margin=margin, alpha=max(a1, a2))
    assert strict.lower_bound <= loose.lower_bound + 1e-9
    assert loose.passed or not strict.passed


@pytest.mark.parametrize("n, p_base, rho", [(25, 0.6, 0.7), (50, 0.6, 0.7), (40, 0.95, 0.3),
                                            (60, 0.1, 0.3)])
def test_exact_false_pass_of_the_fixed_n_test_is_at_most_alpha(n, p_base, rho):
    # Every (b, c) outcome of n items through paired_test itself, weighted by its exact
    # multinomial probability at Delta = -margin: the product's decisions, enumerated.
    margin = 0.05
    p12, p21 = cells(p_base, -margin, rho)
    size = 0.0
    for b in range(n + 1):
        for c in range(n + 1 - b):
            cand = [1] * b + [0] * c + [1] * (n - b - c)
            base = [0] * b + [1] * c + [1] * (n - b - c)
            if paired_test(cand, base, margin=margin).passed:
                size += math.exp(math.lgamma(n + 1) - math.lgamma(b + 1) - math.lgamma(c + 1)
                                 - math.lgamma(n - b - c + 1) + _log(b, p12) + _log(c, p21)
                                 + _log(n - b - c, 1 - p12 - p21))
    assert size <= 0.05 + 1e-9


def _log(k, p):
    return 0.0 if k == 0 else (-math.inf if p <= 0 else k * math.log(p))


def test_false_pass_rate_at_the_margin_is_alpha():
    # The fixed-n test, simulated at Delta = -m with correlated binary pairs.
    rng = random.Random(7)
    reps, passes = 2000, 0
    for _ in range(reps):
        cand, base = simulate_binary_pairs(0.5, 0.6, 0.7, 400, rng)
        passes += paired_test(cand, base, margin=0.1).passed
    assert passes / reps < 0.05 + 3 * math.sqrt(0.05 * 0.95 / reps)
    assert passes / reps > 0.05 - 3 * math.sqrt(0.05 * 0.95 / reps)


# --------------------------------------------------------------------------- multiplicity

WIKI = {"H1": 0.01, "H2": 0.04, "H3": 0.03, "H4": 0.005}


def test_holm_textbook_example():
    # Holm-Bonferroni on Wikipedia: 0.005 <= .05/4, 0.01 <= .05/3, 0.03 > .05/2 -> stop.
    assert holm(WIKI, 0.05) == {"H1": True, "H2": False, "H3": False, "H4": True}


def test_benjamini_hochberg_example():
    # 0.04 <= 4 * 0.05 / 4, so the step-up rejects everything ranked at or below it.
    assert benjamini_hochberg(WIKI, 0.05) == {k: True for k in WIKI}
    assert benjamini_hochberg({"a": 0.02, "b": 0.9}, 0.05) == {"a": True, "b": False}


def test_multiplicity_rejects_nan_and_handles_empty():
    with pytest.raises(ValueError):
        holm({"a": float("nan")})
    with pytest.raises(ValueError):
        benjamini_hochberg({"a": 1.5})
    assert holm({}) == {} and benjamini_hochberg({}) == {}


pvals = st.dictionaries(st.text(min_size=1, max_size=4), st.floats(0, 1), max_size=12)


@settings(max_examples=200, deadline=None)
@given(pvals, st.floats(0.001, 0.5))
def test_holm_sits_between_bonferroni_and_unadjusted(p, alpha):
    h = holm(p, alpha)
    bh = benjamini_hochberg(p, alpha)
    m = len(p)
    for name, value in p.items():
        if h[name]:
            assert value <= alpha          # a subset of the unadjusted rejections
            assert bh[name]                # BH is never more conservative than Holm
        if value <= alpha / m:
            assert h[name]                 # and a superset of Bonferroni's


# --------------------------------------------------------------------------- exact binomial

def _binom_upper_tail(k, n, p):   # P(X >= k)
    return math.fsum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k, n + 1))


def test_clopper_pearson_known_values():
    assert clopper_pearson_upper(0, 10, 0.05) == pytest.approx(1 - 0.05 ** 0.1, abs=1e-12)
    assert clopper_pearson_lower(0, 10, 0.05) == 0.0
    assert clopper_pearson_lower(10, 10, 0.05) == pytest.approx(0.05 ** 0.1, abs=1e-12)
    assert clopper_pearson_upper(10, 10, 0.05) == 1.0
    # R: binom.test(5, 10)$conf.int and binom.test(7, 20)$conf.int
    assert clopper_pearson(5, 10) == pytest.approx((0.1870860, 0.8129140), abs=1e-7)
    assert clopper_pearson(7, 20) == pytest.approx((0.1539092, 0.5921885), abs=1e-7)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.floats(0.001, 0.3))
def test_clopper_pearson_bounds_solve_the_exact_tail_equations(kn, alpha):
    k, n = kn
    lo, hi = clopper_pearson_lower(k, n, alpha), clopper_pearson_upper(k, n, alpha)
    assert lo <= k / n <= hi
    if k > 0:
        assert _binom_upper_tail(k, n, lo) == pytest.approx(alpha, abs=1e-9)
    if k < n:
        assert 1 - _binom_upper_tail(k + 1, n, hi) == pytest.approx(alpha, abs=1e-9)
    two = clopper_pearson(k, n, alpha)
    assert two[0] <= lo and two[1] >= hi


def test_betainc_matches_binomial_sums_and_large_n():
    for n, k, p in [(30, 4, 0.1), (30, 25, 0.9), (200, 120, 0.6)]:
        assert betainc(k, n - k + 1, p) == pytest.approx(_binom_upper_tail(k, n, p), abs=1e-12)
    # Large n converges (normal approximation is close here) and stays fast.
    lo = clopper_pearson_lower(99_000, 100_000, 0.01)
    assert 0.98 < lo < 0.99


def test_clopper_pearson_rejects_bad_counts():
    with pytest.raises(ValueError):
        clopper_pearson(5, 4)
    with pytest.raises(ValueError):
        clopper_pearson_lower(0, 0)


# --------------------------------------------------------------------------- bootstrap

def _mean_diff(c, b):
    return sum(c) / len(c) - sum(b) / len(b)


def _f1(items):
    tp = sum(1 for pred, gold in items if pred and gold)
    fp = sum(1 for pred, gold in items if pred and not gold)
    fn = sum(1 for pred, gold in items if not pred and gold)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def test_bootstrap_of_a_mean_agrees_with_the_paired_test():
    rng = random.Random(3)
    cand, base = simulate_binary_pairs(0.6, 0.6, 0.7, 800, rng)
    boot = paired_bootstrap(cand, base, _mean_diff, margin=0.02, iters=2000, seed=1)
    paired = paired_test(cand, base, margin=0.02)
    assert boot.estimate == pytest.approx(paired.estimate)
    assert boot.lower_bound == pytest.approx(paired.lower_bound, abs=0.006)
    assert boot.ci_low <= boot.estimate <= boot.ci_high


def test_bootstrap_is_deterministic_and_keeps_pairs():
    rng = random.Random(5)
    gold = [rng.random() < 0.4 for _ in range(300)]
    base = [(g if rng.random() < 0.8 else not g, g) for g in gold]
    cand = [(p if rng.random() < 0.95 else not p, g) for p, g in base]
    stat = lambda c, b: _f1(c) - _f1(b)  # noqa: E731
    a = paired_bootstrap(cand, base, stat, margin=0.05, iters=300, seed=9)
    b = paired_bootstrap(cand, base, stat, margin=0.05, iters=300, seed=9)
    assert a == b
    # Identical systems: every resample gives exactly 0, which pairing must preserve.
    same = paired_bootstrap(base, base, stat, margin=0.01, iters=200)
    assert same.lower_bound == 0.0 == same.ci_high and same.passed


def test_bootstrap_blocks_clear_regression_and_flips_for_lower_is_better():
    cand, base = [0] * 50 + [1] * 50, [1] * 100
    r = paired_bootstrap(cand, base, _mean_diff, margin=0.02, iters=200)
    assert not r.passed and r.ci_high < 0
    loss = paired_bootstrap(cand, base, _mean_diff, margin=0.02, iters=200,
                            higher_is_better=False)
    assert loss.estimate == pytest.approx(0.5) and loss.passed


def test_bootstrap_edge_cases():
    with pytest.raises(ValueError):
        paired_bootstrap([], [], _mean_diff, margin=0.02)
    with pytest.raises(ValueError):
        paired_bootstrap([1, 0], [1, 1], lambda c, b: float("nan"), margin=0.02)
    one = paired_bootstrap([1], [0], _mean_diff, margin=0.02)
    assert not one.passed


# --------------------------------------------------------------------------- simulation

def test_simulated_pairs_have_the_requested_marginals_and_correlation():
    a, b = simulate_binary_pairs(0.55, 0.6, 0.7, 40_000, random.Random(11))
    n = len(a)
    pa, pb = sum(a) / n, sum(b) / n
    p11 = sum(x * y for x, y in zip(a, b)) / n
    rho = (p11 - pa * pb) / math.sqrt(pa * (1 - pa) * pb * (1 - pb))
    assert pa == pytest.approx(0.55, abs=0.01) and pb == pytest.approx(0.6, abs=0.01)
    assert rho == pytest.approx(0.7, abs=0.02)
    with pytest.raises(ValueError):
        simulate_binary_pairs(0.1, 0.9, 0.9, 10, random.Random(0))


@given(st.floats(0.05, 0.95), st.floats(0.05, 0.95), st.floats(-0.2, 0.9))
def test_sd_of_simulated_difference_matches_formula_domain(pa, pb, rho):
    # Wherever a joint distribution exists, sigma_D^2 is a valid variance.
    p11 = pa * pb + rho * math.sqrt(pa * (1 - pa) * pb * (1 - pb))
    assume(max(0.0, pa + pb - 1) <= p11 <= min(pa, pb))
    sd = sd_binary_difference(pa, pb, rho)
    var = pa + pb - 2 * p11 - (pa - pb) ** 2   # Var(a - b) from the joint distribution
    assert sd ** 2 == pytest.approx(var, abs=1e-12)


@pytest.mark.parametrize("call", [
    lambda d: paired_test([1, 0], [0, 1], margin=0.05, higher_is_better=d),
    lambda d: safety_check([1, 1], [1, 1], floor=0.1, margin=0.05, higher_is_better=d),
    lambda d: sequential.decide(sequential.design(), [1, 0], [0, 1], higher_is_better=d),
])
def test_an_unsettled_direction_is_refused_never_read_as_lower_is_better(call):
    with pytest.raises(ValueError, match="higher_is_better must be True or False"):
        call(None)
