"""Tango's score statistic and its exact rejection probability, checked against first principles:
the restricted MLE against a direct maximisation of the likelihood, the exact probability against
a full enumeration of the (b, c) outcomes."""

import math

import pytest

from modelcfg.core.paired_binary import (
    binom_logpmf,
    cells,
    max_correlation,
    rejection_probability,
    restricted_p21,
    tango_z,
)


def _loglik(b, c, n, p21, delta0):
    """The trinomial log-likelihood of (b, c, rest) at p21 with p12 = p21 + delta0."""
    total = 0.0
    for k, p in ((b, p21 + delta0), (c, p21), (n - b - c, 1.0 - 2 * p21 - delta0)):
        if p < 0 or (k and p == 0):
            return -math.inf
        total += k * math.log(p) if k else 0.0
    return total


@pytest.mark.parametrize("b,c,n,delta0", [(3, 9, 40, -0.05), (0, 0, 72, -0.05), (10, 2, 50, -0.1),
                                          (0, 5, 30, -0.2), (7, 7, 25, 0.0), (1, 0, 10, -0.3)])
def test_restricted_mle_maximises_the_likelihood(b, c, n, delta0):
    got = restricted_p21(b, c, n, delta0)
    lo, hi = max(0.0, -delta0), (1.0 - delta0) / 2.0
    grid = [lo + (hi - lo) * i / 20000 for i in range(20001)]
    best = max(grid, key=lambda p: _loglik(b, c, n, p, delta0))
    assert got == pytest.approx(best, abs=1e-4)


def test_statistic_is_the_score_formula_and_orients_with_the_candidate():
    n, b, c, d0 = 40, 3, 9, -0.05
    p21 = restricted_p21(b, c, n, d0)
    assert tango_z(b, c, n, d0) == pytest.approx((b - c - n * d0) / math.sqrt(
        n * (2 * p21 + d0 * (1 - d0))))
    assert tango_z(9, 3, n, d0) > tango_z(3, 9, n, d0)
    # Identical answers on 72 items at a 5-point margin: sqrt(n m / (1 - m)).
    assert tango_z(0, 0, 72, -0.05) == pytest.approx(math.sqrt(72 * 0.05 / 0.95))
    assert tango_z(0, 0, 10, 0.0) == 0.0


@pytest.mark.parametrize("bad", [(-1, 0, 5), (3, 3, 5), (0, 0, 0)])
def test_counts_are_checked(bad):
    with pytest.raises(ValueError):
        tango_z(*bad, -0.05)


def _enumerated(n, p12, p21, d0, z):
    total = 0.0
    for b in range(n + 1):
        for c in range(n - b + 1):
            if tango_z(b, c, n, d0) >= z:
                logp = (math.lgamma(n + 1) - math.lgamma(b + 1) - math.lgamma(c + 1)
                        - math.lgamma(n - b - c + 1))
                for k, p in ((b, p12), (c, p21), (n - b - c, 1 - p12 - p21)):
                    if k:
                        logp += k * math.log(p)
                total += math.exp(logp)
    return total


@pytest.mark.parametrize("n,p12,p21,d0,z", [(25, 0.05, 0.10, -0.05, 1.645),
                                            (30, 0.02, 0.07, -0.05, 1.645),
                                            (40, 0.15, 0.20, -0.05, 2.326),
                                            (20, 0.10, 0.10, 0.0, -1.645)])
def test_exact_probability_matches_full_enumeration(n, p12, p21, d0, z):
    assert rejection_probability(n, p12, p21, d0, z) == pytest.approx(
        _enumerated(n, p12, p21, d0, z), abs=1e-12)


def test_cells_keep_the_rates_and_cap_the_correlation():
    p12, p21 = cells(0.6, -0.05, 0.7)
    assert p12 - p21 == pytest.approx(-0.05)
    # A 10% baseline and a 5% candidate cannot correlate at 0.7: capped at the maximum.
    p12, p21 = cells(0.1, -0.05, 0.7)
    assert p12 == pytest.approx(0.0) and p21 == pytest.approx(0.05)
    assert max_correlation(0.05, 0.1) == pytest.approx(0.6882, abs=1e-4)
    assert math.exp(binom_logpmf(2, 4, 0.5)) == pytest.approx(0.375)
