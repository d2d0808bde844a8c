"""Can a task's items show what its thresholds ask? Planning figures for ``validate`` (MC324).

Capability: the exact power of the one-sided Tango score test of non-inferiority
(H0: Delta <= -margin, rejected when Tango's z >= z_{1-alpha}) when the candidate is exactly
as good as its baseline (Delta = 0), for binary per-item scores with a planning baseline rate
and correlation (:func:`modelcfg.core.paired_binary.rejection_probability`, an exact sum).

Safety: whether even a perfect candidate (every item safe) clears the exact floor: the
one-sided Clopper-Pearson lower bound of n/n is alpha^(1/n).

Pure standard library. The statistics imports happen on the first computation, so loading
this module costs ``validate`` nothing when no thresholds file is checked; results are cached
per (n, margin, alpha, planning).
"""

from __future__ import annotations

import math
from functools import lru_cache

# At most this many exact evaluations when searching for the items that give the target
# power; each is a sum over n + 1 binomial tails, whose cost grows like n^2 (3 ms at 72
# items, 65 ms at 400, 0.5 s at 2,000), so past REFINE_LIMIT items the search keeps the
# normal approximation calibrated on the last exact figure: `validate` stays interactive.
MAX_REFINEMENTS = 4
REFINE_LIMIT = 1000


@lru_cache(maxsize=512)
def noninferiority_power(n: int, margin: float, alpha: float, rate: float,
                         correlation: float) -> float:
    """Exact P(the one-sided Tango test at ``alpha`` shows non-inferiority at ``margin``)
    with ``n`` items when the candidate equals its baseline (Delta = 0)."""
    if margin >= 1.0:
        return 1.0  # every difference is above -1: nothing to show
    from modelcfg.core.paired_binary import cells, rejection_probability

    p12, p21 = cells(rate, 0.0, correlation)
    return rejection_probability(n, p12, p21, -margin, _z(1.0 - alpha))


def approximate_power(n: int, margin: float, alpha: float, rate: float,
                      correlation: float) -> float:
    """The normal approximation of :func:`noninferiority_power`, Phi(margin sqrt(n / pi) -
    z_alpha) with pi the discordant share: within about 0.01 of the exact figure at a few
    hundred items, used only to skip the exact sum where the answer is far from the target."""
    from statistics import NormalDist

    k = margin / math.sqrt(max(_discordance(rate, correlation), 1e-12))
    return NormalDist().cdf(k * math.sqrt(n) - _z(1.0 - alpha))


@lru_cache(maxsize=512)
def items_for_power(margin: float, alpha: float, rate: float, correlation: float,
                    target: float, start: int) -> int:
    """About how many items give ``target`` power (Delta = 0), refined from the exact power
    at ``start`` items.

    Power grows like Phi(k sqrt(n) - z_alpha); ``k`` is calibrated on the latest exact figure
    and the next n solved for, a few times. Exact power is a sawtooth in n, so the answer is
    "about": within a few items of the least n that reaches the target."""
    z_alpha, z_target = _z(1.0 - alpha), _z(target)
    n = max(start, 2)
    for _ in range(MAX_REFINEMENTS):
        power = min(max(noninferiority_power(n, margin, alpha, rate, correlation), 1e-6),
                    1 - 1e-6)
        k = (_z(power) + z_alpha) / math.sqrt(n)
        if k <= 0:  # no power to speak of yet: the normal approximation's own guess
            k = margin / math.sqrt(max(_discordance(rate, correlation), 1e-9))
        guess = max(2, math.ceil(((z_target + z_alpha) / k) ** 2))
        if guess == n or guess > REFINE_LIMIT:
            return guess
        n = guess
    return n


def perfect_safety_bound(n: int, alpha: float) -> float:
    """The exact one-sided lower bound (Clopper-Pearson, level alpha) of a rate of n/n."""
    return alpha ** (1.0 / n)


def items_for_perfect_floor(floor: float, alpha: float) -> int | None:
    """The least n whose perfect score clears ``floor`` (alpha^(1/n) >= floor); None when no
    n does (a floor of 1)."""
    if floor >= 1.0:
        return None
    if floor <= 0.0:
        return 1
    return math.ceil(math.log(alpha) / math.log(floor) - 1e-12)


def _discordance(rate: float, correlation: float) -> float:
    from modelcfg.core.paired_binary import cells

    return sum(cells(rate, 0.0, correlation))


def _z(p: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)
