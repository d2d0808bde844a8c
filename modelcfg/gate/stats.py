"""Paired statistics for comparing a candidate's per-item eval scores with a baseline's.

Pure standard library (``math``, ``random``, ``statistics.NormalDist``), plain lists in,
frozen dataclasses out. Nothing here prints, reads files or decides what a verdict *means*;
it returns numbers and booleans the gate turns into reasons.

Conventions shared by every test here:

* Scores are aligned lists: ``candidate[i]`` and ``baseline[i]`` are the same item.
* ``estimate`` is oriented so that positive means "candidate better": ``mean(c - b)`` for
  ``higher_is_better=True`` metrics, ``mean(b - c)`` otherwise. Margins are in the same units
  as the scores (0.02 = 2 points of accuracy) and always positive.
* Non-inferiority: H0 Δ <= -margin vs H1 Δ > -margin. Binary scores: Tango's (1998) score
  test on the discordant pairs (it holds its size where the Wald z runs hot) and its score
  interval. Other scores: the paired z, SE s_d/sqrt(n) with s_d floored at
  range/sqrt(n) (Miller 2024, "Adding Error Bars to Evals").
* NaN or infinite scores raise ``ValueError``: the gate blocks on it, it never guesses.

See docs/statistics.md for the formulas and references.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist

from modelcfg.core.numbers import finite_or_none, mean_and_sd
from modelcfg.core.paired_binary import tango_z

_N = NormalDist()


def _to_dict(obj) -> dict:
    """``asdict`` with non-finite floats as None, so the result is valid JSON."""
    return finite_or_none(asdict(obj))


def z_quantile(p: float) -> float:
    """Standard normal quantile: ``z_quantile(0.95) == 1.6448...``."""
    return _N.inv_cdf(p)


def orientation(higher_is_better: bool) -> float:
    """+1 or -1: the sign that makes "candidate better" positive. The direction must be
    settled (from lm-eval) before any test runs; None is refused, never read as False."""
    if not isinstance(higher_is_better, bool):
        raise ValueError(f"higher_is_better must be True or False, got {higher_is_better!r}: "
                         "settle the metric's direction before judging")
    return 1.0 if higher_is_better else -1.0


def _check_alpha(alpha: float, name: str = "alpha") -> None:
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"{name} must be in (0, 0.5), got {alpha!r}")


def _check_pairs(candidate: Sequence, baseline: Sequence, *, finite: bool = True,
                 empty_ok: bool = False) -> int:
    """The number of pairs; ValueError for unaligned lists, no pairs (unless ``empty_ok``),
    or (``finite``) a NaN or infinite score."""
    if len(candidate) != len(baseline):
        raise ValueError(
            f"candidate and baseline must be aligned: {len(candidate)} vs {len(baseline)} items")
    for side, scores in ((("candidate", candidate), ("baseline", baseline)) if finite else ()):
        for i, x in enumerate(scores):
            if not math.isfinite(x):
                raise ValueError(f"{side} score {i} is {x!r}; a NaN or infinite score blocks")
    if not candidate and not empty_ok:
        raise ValueError("no paired items to compare")
    return len(candidate)


def _is_binary(scores: Sequence[float]) -> bool:
    return all(x == 0 or x == 1 for x in scores)


# --------------------------------------------------------------------------- sample size

def sd_binary_difference(p_a: float, p_b: float, rho: float) -> float:
    """sigma_D for paired binary scores: sqrt(p_A q_A + p_B q_B - 2 rho sqrt(p_A q_A p_B q_B))."""
    for name, p in (("p_a", p_a), ("p_b", p_b)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability, got {p!r}")
    if not -1.0 <= rho <= 1.0:
        raise ValueError(f"rho must be in [-1, 1], got {rho!r}")
    va, vb = p_a * (1 - p_a), p_b * (1 - p_b)
    return math.sqrt(max(0.0, va + vb - 2 * rho * math.sqrt(va * vb)))


def sample_size_for_sd(sd_d: float, margin: float, alpha: float = 0.05,
                       power: float = 0.8) -> int:
    """Items a fixed-n non-inferiority test needs: ceil((z_{1-a} + z_{power})^2 sd^2 / m^2).

    Powered at a true difference of 0. Rounded up (a fractional item is a whole item);
    a tiny epsilon keeps an exactly-integral product from rounding up by float noise.
    """
    _check_alpha(alpha)
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin!r}")
    if not sd_d >= 0:
        raise ValueError(f"sd_d must be >= 0, got {sd_d!r}")
    n = (z_quantile(1 - alpha) + z_quantile(power)) ** 2 * sd_d ** 2 / margin ** 2
    return math.ceil(n - 1e-9)


def sample_size(p_a: float, p_b: float, rho: float, alpha: float, power: float,
                margin: float) -> int:
    """Fixed-n sample size for paired binary scores (docs/statistics.md, "Sample size").

    ``sample_size(0.6, 0.6, 0.7, 0.05, 0.8, 0.02) == 2226``.
    """
    return sample_size_for_sd(sd_binary_difference(p_a, p_b, rho), margin, alpha, power)


# --------------------------------------------------------------------------- paired test

def discordant(candidate: Sequence[float], baseline: Sequence[float],
               higher_is_better: bool = True) -> tuple[int, int]:
    """(b, c) for binary scores: b items only the candidate got right (oriented: only the
    candidate did better), c items only the baseline did."""
    up = sum(1 for x, y in zip(candidate, baseline) if x > y)
    down = sum(1 for x, y in zip(candidate, baseline) if x < y)
    return (up, down) if higher_is_better else (down, up)


def score_bound(b: int, c: int, n: int, z: float) -> float:
    """The delta0 at which Tango's statistic equals ``z``: for z > 0 the lower end of the
    score interval (every delta0 below it is rejected at that z), for z < 0 the upper end.
    The statistic decreases in delta0, so bisection on (-1, 1) finds it."""
    lo, hi = -1.0 + 1e-12, 1.0 - 1e-12
    if tango_z(b, c, n, lo) < z:
        return -1.0
    if tango_z(b, c, n, hi) >= z:
        return 1.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if tango_z(b, c, n, mid) >= z:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def score_interval(b: int, c: int, n: int, z: float) -> tuple[float, float]:
    """Tango's score interval {delta0 : -z < Z(delta0) < z}; level 1 - 2 (1 - Phi(z))."""
    return score_bound(b, c, n, z), score_bound(b, c, n, -z)


def floored_sd(sd: float, n: int, scores: Sequence[float]) -> float:
    """The sd of the differences, never below scale / sqrt(n): zero observed variance is not
    evidence of zero variance. ``scale`` is 1 for scores in [0, 1] (their known range), else
    the observed range over both sides; when every score is the same value outside [0, 1]
    the range is 0 and the scale is taken as 1 (one unit of the score)."""
    if all(0.0 <= x <= 1.0 for x in scores):
        scale = 1.0
    else:
        scale = (max(scores) - min(scores)) or 1.0
    return max(sd, scale / math.sqrt(n))


@dataclass(frozen=True)
class PairedResult:
    """A paired non-inferiority comparison. Non-finite floats become None in ``to_dict``."""

    n: int
    baseline_mean: float
    candidate_mean: float
    estimate: float           # oriented mean difference: > 0 means candidate better
    sd: float                 # sd of the differences (floored for non-binary scores)
    se: float                 # sd / sqrt(n)
    lower_bound: float        # one-sided (1 - alpha) lower confidence bound of estimate
    ci_low: float             # two-sided (1 - 2 alpha) interval
    ci_high: float
    p_noninferiority: float   # H0: delta <= -margin
    p_superiority: float      # H0: delta <= 0
    passed: bool              # non-inferiority shown at alpha
    items_needed: int | None  # fixed-n items for this margin at the observed sd of d
    margin: float
    alpha: float
    power: float
    higher_is_better: bool
    n01: int | None           # binary only: items only the candidate did better on (oriented)
    n10: int | None           # binary only: items only the baseline did better on
    statistic: str = "paired-z"   # "tango" (binary scores) or "paired-z"

    def to_dict(self) -> dict:
        return _to_dict(self)


def _upper_tail(z: float) -> float:
    if math.isinf(z):
        return 0.0 if z > 0 else 1.0
    return _N.cdf(-z)


def paired_test(candidate: Sequence[float], baseline: Sequence[float], *, margin: float,
                alpha: float = 0.05, power: float = 0.8,
                higher_is_better: bool = True) -> PairedResult:
    """Paired non-inferiority (and superiority p-value) of candidate vs baseline.

    Binary scores (every score 0 or 1): Tango's score test on the discordant pairs, its
    score interval as the confidence bounds. Other scores: the paired z with the sd of the
    differences floored at scale / sqrt(n) (:func:`floored_sd`).

    * no items, unaligned lists, NaN/inf anywhere -> ``ValueError``;
    * one item -> never passes, p-values 1, ``items_needed`` None.
    """
    n = _check_pairs(candidate, baseline)
    _check_alpha(alpha)
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    sign = orientation(higher_is_better)
    diffs = [sign * (c - b) for c, b in zip(candidate, baseline)]
    est, raw_sd = mean_and_sd(diffs)
    common = {"n": n, "baseline_mean": math.fsum(baseline) / n,
              "candidate_mean": math.fsum(candidate) / n, "estimate": est, "margin": margin,
              "alpha": alpha, "power": power, "higher_is_better": higher_is_better}
    if n == 1:
        return PairedResult(**common, sd=math.inf, se=math.inf, lower_bound=-math.inf,
                            ci_low=-math.inf, ci_high=math.inf, p_noninferiority=1.0,
                            p_superiority=1.0, passed=False, items_needed=None, n01=None,
                            n10=None)
    sd = floored_sd(raw_sd, n, [*candidate, *baseline])
    needed = sample_size_for_sd(sd, margin, alpha, power) if margin > 0 else None
    z = z_quantile(1 - alpha)
    if _is_binary(candidate) and _is_binary(baseline):
        b, c = discordant(candidate, baseline, higher_is_better)
        z_ni = tango_z(b, c, n, -margin) if margin < 1 else math.inf
        low, high = score_interval(b, c, n, z)
        return PairedResult(**common, sd=sd, se=sd / math.sqrt(n), lower_bound=low,
                            ci_low=low, ci_high=high, p_noninferiority=_upper_tail(z_ni),
                            p_superiority=_upper_tail(tango_z(b, c, n, 0.0)),
                            passed=z_ni >= z, items_needed=needed, n01=b, n10=c,
                            statistic="tango")
    se = sd / math.sqrt(n)
    return PairedResult(**common, sd=sd, se=se, lower_bound=est - z * se, ci_low=est - z * se,
                        ci_high=est + z * se, p_noninferiority=_upper_tail((est + margin) / se),
                        p_superiority=_upper_tail(est / se), passed=(est + margin) / se >= z,
                        items_needed=needed, n01=None, n10=None)


# --------------------------------------------------------------------------- multiplicity

def _check_pvalues(pvalues: Mapping[str, float], alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    for name, p in pvalues.items():
        if not 0.0 <= p <= 1.0:  # also catches NaN
            raise ValueError(f"p-value for {name!r} is {p!r}, not in [0, 1]")


def holm(pvalues: Mapping[str, float], alpha: float = 0.05) -> dict[str, bool]:
    """Holm step-down: True where the hypothesis is rejected (family-wise error <= alpha)."""
    _check_pvalues(pvalues, alpha)
    m = len(pvalues)
    ordered = sorted(pvalues.items(), key=lambda kv: kv[1])
    rejected = {name: False for name in pvalues}
    for i, (name, p) in enumerate(ordered):
        if p > alpha / (m - i):
            break
        rejected[name] = True
    return rejected


def benjamini_hochberg(pvalues: Mapping[str, float], alpha: float = 0.05) -> dict[str, bool]:
    """Benjamini-Hochberg step-up: True where rejected (false discovery rate <= alpha)."""
    _check_pvalues(pvalues, alpha)
    m = len(pvalues)
    ordered = sorted(pvalues.items(), key=lambda kv: kv[1])
    last = 0
    for rank, (_, p) in enumerate(ordered, start=1):
        if p <= rank * alpha / m:
            last = rank
    keep = {name for name, _ in ordered[:last]}
    return {name: name in keep for name in pvalues}


# --------------------------------------------------------------------------- exact binomial

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta (modified Lentz; Numerical Recipes 6.4)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 100_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            return h
    raise ArithmeticError(f"incomplete beta did not converge for a={a}, b={b}, x={x}")


def betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b) for a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _bisect_increasing(f: Callable[[float], float], target: float) -> float:
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if f(mid) < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _check_binomial(k: int, n: int, alpha: float) -> None:
    if not (isinstance(k, int) and isinstance(n, int)) or n < 1 or not 0 <= k <= n:
        raise ValueError(f"need integers 0 <= k <= n, n >= 1; got k={k!r}, n={n!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def clopper_pearson_lower(k: int, n: int, alpha: float = 0.05) -> float:
    """Exact one-sided (1 - alpha) lower bound L of a binomial rate: P(X >= k | L) = alpha."""
    _check_binomial(k, n, alpha)
    if k == 0:
        return 0.0
    # P(X >= k | p) = I_p(k, n - k + 1), increasing in p.
    return _bisect_increasing(lambda p: betainc(k, n - k + 1, p), alpha)


def clopper_pearson_upper(k: int, n: int, alpha: float = 0.05) -> float:
    """Exact one-sided (1 - alpha) upper bound U of a binomial rate: P(X <= k | U) = alpha."""
    _check_binomial(k, n, alpha)
    if k == n:
        return 1.0
    # P(X <= k | p) = 1 - I_p(k + 1, n - k), decreasing in p.
    return _bisect_increasing(lambda p: betainc(k + 1, n - k, p), 1.0 - alpha)


def clopper_pearson(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact two-sided (1 - alpha) Clopper-Pearson interval (alpha/2 in each tail)."""
    return clopper_pearson_lower(k, n, alpha / 2), clopper_pearson_upper(k, n, alpha / 2)


# --------------------------------------------------------------------------- bootstrap

@dataclass(frozen=True)
class BootstrapResult:
    """Paired percentile bootstrap of a difference statistic (e.g. F1(cand) - F1(base))."""

    n: int
    estimate: float           # oriented statistic on all items: > 0 means candidate better
    lower_bound: float        # alpha-quantile of the bootstrap distribution
    ci_low: float             # (alpha, 1 - alpha) quantiles
    ci_high: float
    passed: bool              # lower_bound > -margin
    margin: float
    alpha: float
    iters: int
    seed: int
    higher_is_better: bool

    def to_dict(self) -> dict:
        return _to_dict(self)


def _checked(value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"statistic returned {value!r}; a NaN or infinite metric blocks")
    return value


def paired_bootstrap(candidate: Sequence, baseline: Sequence,
                     statistic: Callable[[list, list], float], *, margin: float,
                     alpha: float = 0.05, iters: int = 2000, seed: int = 0,
                     higher_is_better: bool = True) -> BootstrapResult:
    """Non-inferiority for metrics that are not means, resampling item indices jointly.

    ``statistic(cand_items, base_items)`` returns the candidate-minus-baseline difference of
    the metric on those items (items can be anything: scores, (pred, gold) pairs...). The
    same resampled indices go to both sides, which keeps the pairing (Dror et al. 2018).
    Deterministic for a given ``seed``. Fewer than two items never pass.
    """
    n = _check_pairs(candidate, baseline, finite=False)
    _check_alpha(alpha)
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters!r}")
    sign = orientation(higher_is_better)
    cand, base = list(candidate), list(baseline)
    est = sign * _checked(statistic(cand, base))
    if n == 1:
        return BootstrapResult(n=n, estimate=est, lower_bound=-math.inf, ci_low=-math.inf,
                               ci_high=math.inf, passed=False, margin=margin, alpha=alpha,
                               iters=iters, seed=seed, higher_is_better=higher_is_better)
    rng = random.Random(seed)
    population = range(n)
    draws = []
    for _ in range(iters):
        idx = rng.choices(population, k=n)
        draws.append(sign * _checked(statistic([cand[i] for i in idx], [base[i] for i in idx])))
    draws.sort()
    # Inverse empirical CDF: the smallest draw with at least a q share at or below it.
    low = draws[max(0, math.ceil(alpha * iters) - 1)]
    high = draws[min(iters - 1, math.ceil((1 - alpha) * iters) - 1)]
    return BootstrapResult(n=n, estimate=est, lower_bound=low, ci_low=low, ci_high=high,
                           passed=low > -margin, margin=margin, alpha=alpha, iters=iters,
                           seed=seed, higher_is_better=higher_is_better)


# --------------------------------------------------------------------------- simulation

def simulate_binary_pairs(p_a: float, p_b: float, rho: float, n: int,
                          rng: random.Random) -> tuple[list[int], list[int]]:
    """n correlated binary pairs (a_i, b_i) with P(a)=p_a, P(b)=p_b and correlation rho.

    Standard construction: P(both 1) = p_a p_b + rho sqrt(p_a q_a p_b q_b); raises
    ``ValueError`` when that joint distribution does not exist.
    """
    p11 = p_a * p_b + rho * math.sqrt(p_a * (1 - p_a) * p_b * (1 - p_b))
    p10, p01 = p_a - p11, p_b - p11
    p00 = 1.0 - p11 - p10 - p01
    if min(p11, p10, p01, p00) < -1e-12:
        raise ValueError(f"no binary pair with p_a={p_a}, p_b={p_b}, rho={rho}")
    c11, c10, c01 = p11, p11 + p10, p11 + p10 + p01
    a, b = [], []
    rand = rng.random
    for _ in range(n):
        u = rand()
        if u < c11:
            a.append(1); b.append(1)
        elif u < c10:
            a.append(1); b.append(0)
        elif u < c01:
            a.append(0); b.append(1)
        else:
            a.append(0); b.append(0)
    return a, b
