"""The order-statistic confidence interval for a median: which order statistics, and its
exact level. Pure standard library.

For ``n`` independent draws of a continuous quantity, each falls below the true median with
probability 1/2, so the number below it is Bin(n, 1/2) whatever the distribution. With the
draws sorted, ``[x_(k), x_(n+1-k)]`` misses the median below with probability
``P(Bin(n, 1/2) < k)`` and above with the same probability: the interval's level is
``1 - 2 P(Bin(n, 1/2) <= k - 1)``, exactly. The latency SLO (:mod:`modelcfg.gate.latency`)
judges timing ratios with it, and validate checks that ``latency.repeats`` allows one.
"""

from __future__ import annotations

import math


def binom_half_cdf(j: int, n: int) -> float:
    """P(Bin(n, 1/2) <= j), exactly (as a float)."""
    if j < 0:
        return 0.0
    return sum(math.comb(n, i) for i in range(min(j, n) + 1)) / 2 ** n


def order_k(n: int, alpha: float) -> int:
    """The largest k with P(Bin(n, 1/2) < k) <= alpha: the interval's order statistic. 0
    when even the widest interval (min, max) misses the level (too few pairs)."""
    k = 0
    while k + 1 <= (n + 1) // 2 and binom_half_cdf(k, n) <= alpha:
        k += 1
    return k


def min_pairs(alpha: float) -> int:
    """The fewest pairs for which an interval at one-sided level ``alpha`` exists."""
    n = 1
    while order_k(n, alpha) == 0:
        n += 1
    return n
