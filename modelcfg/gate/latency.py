"""The latency SLO's decision: an exact, distribution-free interval on the paired ratio.

The gate times the candidate and the baseline adapter on the same runner in the same job,
alternating (:mod:`modelcfg.evaluation.latency`): run ``i`` gives one pair of seconds per
generated token, and ``r_i = candidate_i / baseline_i`` its ratio. Timings are skewed and
have outliers (a scheduler hiccup, a cache miss), so no normal model is assumed: the interval
is the order-statistic confidence interval for the *median* ratio, whose coverage follows
from the binomial distribution alone (each ``r_i`` falls below the true median with
probability 1/2, independently across pairs): with the ratios sorted,
``[r_(k), r_(n+1-k)]`` covers the median with probability ``1 - 2 P(Bin(n, 1/2) < k)``, and
``k`` is the largest that keeps each tail at most ``alpha``. Pure: timings in, decision out.

Decisions (``max_regression`` m, absolute limit L on seconds per token):

* pass when the interval's upper end is at most ``1 + m`` (shown within the SLO);
* MC850 when it is above (a slowdown beyond the SLO is not ruled out at level alpha: the
  gate fails closed, so too few or too noisy timings block rather than pass);
* MC851 when the candidate's median seconds per token is above ``L``;
* MC852 when the timings cannot be judged (fewer pairs than the level needs, a time that is
  not a positive finite number).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import median
from typing import Sequence

from modelcfg.core.numbers import is_finite
from modelcfg.core.order_statistics import binom_half_cdf, min_pairs, order_k
from modelcfg.gate.reasons import Reason


@dataclass(frozen=True)
class RatioInterval:
    """The median ratio (candidate / baseline) and its order-statistic interval."""

    n: int
    ratio: float
    low: float
    high: float
    level: float  # the exact coverage, 1 - 2 P(Bin(n, 1/2) < k) >= 1 - 2 alpha
    k: int


def ratio_interval(candidate: Sequence[float], baseline: Sequence[float],
                   alpha: float) -> RatioInterval | None:
    """The interval of the median ratio; None when there are too few pairs for ``alpha``.
    Every time must be a positive finite number (ValueError otherwise)."""
    if len(candidate) != len(baseline):
        raise ValueError(f"{len(candidate)} candidate timings, {len(baseline)} baseline ones")
    for t in (*candidate, *baseline):
        if not (is_finite(t) and t > 0):
            raise ValueError(f"a time of {t!r} is not a positive finite number")
    n = len(candidate)
    ratios = sorted(c / b for c, b in zip(candidate, baseline))
    k = order_k(n, alpha)
    if k == 0:
        return None
    middle = ratios[n // 2] if n % 2 else (ratios[n // 2 - 1] * ratios[n // 2]) ** 0.5
    return RatioInterval(n=n, ratio=middle, low=ratios[k - 1], high=ratios[n - k],
                         level=1.0 - 2.0 * binom_half_cdf(k - 1, n), k=k)


def judge_latency(timings: dict, *, max_regression: float | None, alpha: float,
                  max_seconds_per_token: float | None = None) -> tuple[dict, list[Reason]]:
    """The latency outcome and its reasons from ``timings`` (``candidate`` and ``baseline``:
    seconds per generated token, one per alternating run)."""
    cand, base = timings.get("candidate") or [], timings.get("baseline") or []
    outcome = {"max_regression": max_regression, "alpha": alpha,
               "max_seconds_per_token": max_seconds_per_token, "pairs": len(cand),
               "decision": "block"}
    try:
        interval = ratio_interval(cand, base, alpha)
    except ValueError as exc:
        return outcome, [Reason("MC852", f"the latency timings cannot be judged: {exc}",
                                threshold="latency")]
    if interval is None:
        return outcome, [Reason("MC852", f"{len(cand)} timing pair(s) are too few for an "
                                f"interval at alpha {alpha}: at least {min_pairs(alpha)} are "
                                "needed (latency.repeats)", threshold="latency.repeats")]
    outcome.update({"interval": asdict(interval),
                    "candidate_seconds_per_token": median(cand),
                    "baseline_seconds_per_token": median(base)})
    reasons = []
    shown = (f"candidate/baseline time per token {interval.ratio:.3f}, "
             f"{interval.level:.1%} interval [{interval.low:.3f}, {interval.high:.3f}] "
             f"over {interval.n} alternating pairs")
    if max_regression is not None and interval.high > 1.0 + max_regression:
        reasons.append(Reason("MC850", f"latency regression not ruled out: {shown}; the SLO "
                              f"allows at most {1.0 + max_regression:.3f}",
                              threshold="latency.max_regression"))
    if max_seconds_per_token is not None and median(cand) > max_seconds_per_token:
        reasons.append(Reason("MC851", f"{median(cand):.5f} s per generated token (median of "
                              f"{len(cand)} runs) is over the limit {max_seconds_per_token:g}",
                              threshold="latency.max_seconds_per_token"))
    outcome["decision"] = "block" if reasons else "pass"
    return outcome, reasons
