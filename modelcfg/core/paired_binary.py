"""Paired binary scores: Tango's score statistic and its exact rejection probability.

Pure standard library. Two models answer the same n items; each item is right (1) or wrong (0)
for each. Only the discordant items carry information about the difference:

* ``b``: items only the candidate got right, ``c``: items only the baseline got right;
* Delta = p_candidate - p_baseline = p12 - p21 (p12 = P(candidate right, baseline wrong)).

Tango (1998, Stat. Med. 17) tests H0: Delta = delta0 with the score statistic

    Z = (b - c - n delta0) / sqrt(n (2 p21~ + delta0 (1 - delta0)))

where p21~ is the maximum-likelihood estimate of p21 restricted to Delta = delta0 (a closed-form
root of a quadratic). Unlike the Wald statistic it does not estimate the variance at the observed
difference, which is what makes Wald run hot at small n and near 0 or 1.

:func:`rejection_probability` is exact: conditional on the number of discordant items D, ``b`` is
binomial(D, p12 / (p12 + p21)) and the statistic increases in ``b``, so the rejection region is
``b >= t_D`` and the probability is a sum of n + 1 binomial tails. The benchmark and ``validate``'s
power check use it; the gate uses :func:`tango_z`.
"""

from __future__ import annotations

import math


def restricted_p21(b: int, c: int, n: int, delta0: float) -> float:
    """The MLE of p21 under Delta = delta0 (Tango 1998, eq. 3)."""
    a_ = 2.0 * n
    b_ = -b - c + (2.0 * n - b + c) * delta0
    c_ = -c * delta0 * (1.0 - delta0)
    root = math.sqrt(max(b_ * b_ - 4.0 * a_ * c_, 0.0))
    return (-b_ + root) / (2.0 * a_)


def tango_z(b: int, c: int, n: int, delta0: float) -> float:
    """Tango's score statistic for H0: Delta = delta0; large values favour Delta > delta0.

    ``delta0`` must lie in (-1, 1). With no variance left under H0 (e.g. delta0 = 0 and no
    discordant item) the statistic is 0 when the observed difference equals delta0 and
    +/- infinity otherwise.
    """
    if not (isinstance(b, int) and isinstance(c, int) and isinstance(n, int)):
        raise TypeError("b, c and n are item counts")
    if n < 1 or b < 0 or c < 0 or b + c > n:
        raise ValueError(f"need 0 <= b, c and b + c <= n, n >= 1; got b={b}, c={c}, n={n}")
    if not -1.0 < delta0 < 1.0:
        raise ValueError(f"delta0 must be in (-1, 1), got {delta0!r}")
    num = b - c - n * delta0
    var = n * (2.0 * restricted_p21(b, c, n, delta0) + delta0 * (1.0 - delta0))
    if var <= 1e-15 * n:
        return 0.0 if abs(num) <= 1e-12 * n else math.copysign(math.inf, num)
    return num / math.sqrt(var)


def binom_logpmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def _upper_tail(t: int, d: int, p: float) -> float:
    """P(X >= t) for X ~ binomial(d, p), summed exactly."""
    return math.fsum(math.exp(binom_logpmf(k, d, p)) for k in range(max(t, 0), d + 1))


def rejection_probability(n: int, p12: float, p21: float, delta0: float, z: float) -> float:
    """Exact P(tango_z(b, c, n, delta0) >= z) when the discordant cells have probabilities
    p12 (candidate-only right) and p21 (baseline-only right)."""
    if not (0.0 <= p12 and 0.0 <= p21 and p12 + p21 <= 1.0 + 1e-12):
        raise ValueError(f"not cell probabilities: p12={p12!r}, p21={p21!r}")
    pi = min(p12 + p21, 1.0)
    if pi == 0.0:
        return 1.0 if tango_z(0, 0, n, delta0) >= z else 0.0
    ratio = p12 / pi
    total = []
    for d in range(n + 1):
        log_pd = binom_logpmf(d, n, pi)
        if log_pd < -745.0:
            continue
        t = rejection_threshold(d, n, delta0, z)
        if t <= d:
            total.append(math.exp(log_pd) * _upper_tail(t, d, ratio))
    return min(1.0, math.fsum(total))


def rejection_threshold(d: int, n: int, delta0: float, z: float) -> int:
    """The least b (of d discordant items) with tango_z >= z; d + 1 when there is none.
    The statistic increases in b for fixed d, so a bisection finds it."""
    if tango_z(d, 0, n, delta0) < z:
        return d + 1
    lo, hi = -1, d  # tango_z(hi) >= z; lo is below every candidate
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if tango_z(mid, d - mid, n, delta0) >= z:
            hi = mid
        else:
            lo = mid
    return hi


def cells(p_baseline: float, delta: float, rho: float) -> tuple[float, float]:
    """(p12, p21) for a baseline rate, a true difference and the correlation of the two
    models' item scores; the correlation is lowered to the largest the rates allow."""
    p_a, p_b = p_baseline + delta, p_baseline
    if not (0.0 <= p_a <= 1.0 and 0.0 <= p_b <= 1.0):
        raise ValueError(f"rates out of range: baseline {p_b!r}, candidate {p_a!r}")
    spread = math.sqrt(p_a * (1 - p_a) * p_b * (1 - p_b))
    p11 = min(p_a * p_b + rho * spread, p_a, p_b)
    return max(p_a - p11, 0.0), max(p_b - p11, 0.0)


def max_correlation(p_a: float, p_b: float) -> float:
    """The largest correlation two binary scores with these rates can have."""
    spread = math.sqrt(p_a * (1 - p_a) * p_b * (1 - p_b))
    return 1.0 if spread == 0 else (min(p_a, p_b) - p_a * p_b) / spread
