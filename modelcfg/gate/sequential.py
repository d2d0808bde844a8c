"""Group-sequential non-inferiority: stop evaluating once the answer is clear.

The gate evaluates items in a fixed random order and looks at the data K times. At look k,
with n_k items, Z_k is the statistic for H0: Delta = -m and Z0_k the one for H0: Delta = 0
(Tango's score statistic for binary scores, else the paired z with a floored sd):

* pass: Z_k >= c_k, O'Brien-Fleming boundaries c_k = C / sqrt(t_k) (t_k = n_k / n_K), C
  computed so that the chance of ever crossing at the null Delta = -m is alpha. The other
  rules are ignored for this (non-binding), so alpha holds whatever they do.
* worse (a finding: the repeated confidence interval lies below -m, the candidate is worse
  by more than the margin): Z_k <= -c_k. A significant loss smaller than the margin is
  what non-inferiority allows, so it is not a block. Z0_k is reported, not ruled on.
* futility (not a finding about the candidate): Z_k <= a_k at an interim look, where a_k
  spends beta (1 - power) at Delta = 0 with a Lan-DeMets O'Brien-Fleming-type function for
  the drift the looks really have, margin sqrt(n_K) / sd0 (n_K the suite's items, sd0 the
  sd at Delta = 0 seen so far), capped at the design's.
* otherwise continue; at the last look "undecided" (the caller blocks).

Crossing probabilities are computed by the Armitage-McPherson-Rowe recursive numerical
integration on the grid of Jennison & Turnbull (2000, ch. 19), Simpson's rule, pure Python.
See docs/statistics.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from modelcfg.core.numbers import mean_and_sd
from modelcfg.core.paired_binary import tango_z
from modelcfg.gate.stats import (
    _check_alpha,
    _check_pairs,
    _is_binary,
    _to_dict,
    floored_sd,
    orientation,
    score_interval,
    z_quantile,
)

_SQRT2PI = math.sqrt(2.0 * math.pi)
_GRID_R = 16          # Jennison-Turnbull grid size parameter; r = 16 is accurate to ~1e-6
_FAR = 12.0           # a boundary this many sd from the mean is "no boundary"


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / _SQRT2PI


def _Phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# --------------------------------------------------------------------------- numerics

def _grid(mu: float, lo: float, hi: float) -> tuple[list[float], list[float]]:
    """Simpson points and weights on [lo, hi] for a density centred near mu (J&T 19.2)."""
    r = _GRID_R
    xs = []
    for i in range(1, 6 * r):
        if i < r:
            xs.append(mu - 3.0 - 4.0 * math.log(r / i))
        elif i <= 5 * r:
            xs.append(mu - 3.0 + 3.0 * (i - r) / (2 * r))
        else:
            xs.append(mu + 3.0 + 4.0 * math.log(r / (6 * r - i)))
    if lo >= hi:
        return [], []
    pts = [x for x in xs if lo < x < hi]
    if lo > xs[0]:
        pts.insert(0, lo)
    if hi < xs[-1]:
        pts.append(hi)
    if len(pts) < 2:
        pts = [max(lo, xs[0]), min(hi, xs[-1])]
        if pts[0] >= pts[1]:
            return [], []
    z, w = [pts[0]], [0.0]
    for left, right in zip(pts, pts[1:]):
        h = right - left
        w[-1] += h / 6.0
        z.append(0.5 * (left + right))
        w.append(4.0 * h / 6.0)
        z.append(right)
        w.append(h / 6.0)
    return z, w


class _Walk:
    """Density of Z_k on its continuation region, look after look, at drift theta.

    Z_k = S_k / sqrt(t_k) where S is Brownian motion with drift theta at time t (t_K = 1).
    ``mass`` holds weight * density at each grid point, so integrals are plain sums.
    """

    def __init__(self, theta: float):
        self.theta = theta
        self.t = 0.0
        self.z: list[float] = []
        self.mass: list[float] = []

    def _cond(self, t: float) -> tuple[list[float], float]:
        """Means and sd of Z at time t given each grid point of the previous look."""
        dt = t - self.t
        st = math.sqrt(t)
        sp = math.sqrt(self.t)
        means = [(u * sp + self.theta * dt) / st for u in self.z]
        return means, math.sqrt(dt / t)

    def prob_above(self, t: float, c: float) -> float:
        if self.t == 0.0:
            return _Phi(self.theta * math.sqrt(t) - c)
        means, s = self._cond(t)
        return sum(m * _Phi((mu - c) / s) for m, mu in zip(self.mass, means))

    def prob_below(self, t: float, a: float) -> float:
        if self.t == 0.0:
            return _Phi(a - self.theta * math.sqrt(t))
        means, s = self._cond(t)
        return sum(m * _Phi((a - mu) / s) for m, mu in zip(self.mass, means))

    def advance(self, t: float, lo: float, hi: float) -> None:
        """Move to the next look, keeping only paths with lo < Z < hi."""
        mu = self.theta * math.sqrt(t)
        lo, hi = max(lo, mu - _FAR), min(hi, mu + _FAR)
        z, w = _grid(mu, lo, hi)
        if self.t == 0.0:
            mass = [wi * _phi(zi - mu) for zi, wi in zip(z, w)]
        else:
            means, s = self._cond(t)
            prev = list(zip(self.mass, means))
            mass = []
            for zi, wi in zip(z, w):
                acc = 0.0
                for m, mn in prev:
                    x = (zi - mn) / s
                    if -_FAR < x < _FAR:
                        acc += m * math.exp(-0.5 * x * x)
                mass.append(wi * acc / (s * _SQRT2PI))
        self.t, self.z, self.mass = t, z, mass


def _solve_increasing(f, lo: float, hi: float, target: float, tol: float = 1e-9) -> float:
    """x in [lo, hi] with f(x) = target for increasing f (Illinois regula falsi)."""
    flo, fhi = f(lo) - target, f(hi) - target
    if abs(flo) < tol:
        return lo
    if abs(fhi) < tol:
        return hi
    if flo > 0 or fhi < 0:
        raise ArithmeticError(f"root not bracketed in [{lo}, {hi}]")
    side = 0
    x = lo
    for _ in range(100):
        x = (lo * fhi - hi * flo) / (fhi - flo)
        fx = f(x) - target
        if abs(fx) < tol or hi - lo < 1e-12:
            return x
        if fx < 0:
            lo, flo = x, fx
            if side == -1:
                fhi /= 2
            side = -1
        else:
            hi, fhi = x, fx
            if side == 1:
                flo /= 2
            side = 1
    return x


def _crossing_alpha(fractions: tuple[float, ...], const: float) -> float:
    """P(Z_k >= const / sqrt(t_k) for some k) under the null (drift 0), no lower boundary."""
    walk = _Walk(0.0)
    total = 0.0
    for k, t in enumerate(fractions):
        c = const / math.sqrt(t)
        total += walk.prob_above(t, c)
        if k + 1 < len(fractions):
            walk.advance(t, -math.inf, c)
    return total


@lru_cache(maxsize=256)
def obf_constant(fractions: tuple[float, ...], alpha: float) -> float:
    """O'Brien-Fleming constant C: efficacy boundaries c_k = C / sqrt(t_k) have level alpha."""
    z = z_quantile(1 - alpha)
    # Level is decreasing in C; C lies between z (one look) and z / sqrt(t_1).
    return _solve_increasing(lambda c: -_crossing_alpha(fractions, c),
                             z, z / math.sqrt(fractions[0]) + 0.5, -alpha, tol=1e-11)


def _beta_spent(t: float, beta: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type spending: 2 - 2 Phi(z_{1-beta/2} / sqrt(t))."""
    return 2.0 - 2.0 * _Phi(z_quantile(1 - beta / 2) / math.sqrt(t))


def _futility_walk(fractions, efficacy, beta, theta):
    """Lower boundaries a_k (Z scale, drift theta) spending beta; and the final shortfall.

    Returns (a, leftover) where leftover = P(reach look K and Z_K < c_K) minus the beta
    still to spend at look K; leftover = 0 means a_K = c_K exactly (the design is powered).
    """
    walk = _Walk(theta)
    a = []
    spent = 0.0
    leftover = 0.0
    for k, (t, c) in enumerate(zip(fractions, efficacy)):
        target = _beta_spent(t, beta) - spent
        below_c = walk.prob_below(t, c)
        if k + 1 == len(fractions) or below_c <= target:
            a_k = c
            leftover = below_c - target if k + 1 == len(fractions) else 0.0
            spent += below_c
        else:
            mu = theta * math.sqrt(t)
            lo = min(mu - _FAR, c - 1.0)
            a_k = _solve_increasing(lambda x: walk.prob_below(t, x), lo, c, target)
            spent += target
        a.append(a_k)
        if k + 1 < len(fractions):
            walk.advance(t, a_k, c)
    return a, leftover


@lru_cache(maxsize=256)
def _boundaries(fractions: tuple[float, ...], alpha: float, beta: float,
                theta: float | None) -> tuple[tuple[float, ...], tuple[float, ...], float]:
    """(efficacy c_k, futility a_k in Z scale, theta). theta None: solve for power 1-beta."""
    const = obf_constant(fractions, alpha)
    efficacy = tuple(const / math.sqrt(t) for t in fractions)
    if theta is None:
        fixed = z_quantile(1 - alpha) + z_quantile(1 - beta)
        # leftover > 0: underpowered (theta too small); decreasing in theta.
        theta = _solve_increasing(
            lambda th: -_futility_walk(fractions, efficacy, beta, th)[1],
            0.9 * fixed, 2.0 * fixed, 0.0, tol=1e-10)
    a, _ = _futility_walk(fractions, efficacy, beta, theta)
    return efficacy, tuple(a), theta


def _operating(fractions, efficacy, futility, theta):
    """Per look (P(pass at k), P(block at k)) at drift theta, Z-scale boundaries."""
    walk = _Walk(theta)
    out = []
    for k, (t, c, a) in enumerate(zip(fractions, efficacy, futility)):
        up = walk.prob_above(t, c)
        down = walk.prob_below(t, a) if a > -math.inf else 0.0
        out.append((up, down))
        if k + 1 < len(fractions):
            walk.advance(t, a, c)
    return out


# --------------------------------------------------------------------------- public API

@dataclass(frozen=True)
class Design:
    """A K-look group-sequential non-inferiority design.

    ``efficacy_z[k]`` bounds Z_k = (d + margin) / se from above (pass);
    ``futility_z[k]`` bounds Z0_k = d / se from below (block: significantly worse than the
    baseline). ``drift`` is E[Z_K] at Delta = 0 with ``n_max`` items: it fixes the power.
    ``n_max``/``look_sizes`` are None when neither ``sigma_d`` nor ``n_max`` was given:
    the looks are then spread over whatever items the suite has (see :func:`decide`).
    """

    alpha: float
    power: float
    looks: int
    margin: float
    sigma_d: float | None
    n_max: int | None
    n_fixed: int | None          # fixed-n sample size at sigma_d (None without sigma_d)
    inflation: float             # n_max / n_fixed implied by the boundaries: (drift / z_sum)^2
    drift: float
    obf_constant: float
    fractions: tuple[float, ...]
    look_sizes: tuple[int, ...] | None
    efficacy_z: tuple[float, ...]
    futility_z: tuple[float, ...]

    def to_dict(self) -> dict:
        return _to_dict(self)


def look_sizes(n_available: int, looks: int) -> list[int]:
    """Cumulative items at each look, equally spaced, last = n_available.

    Looks that would repeat a size (fewer items than looks) or use fewer than two items
    (no variance) are dropped, so the list can be shorter than ``looks``; empty below 2.
    """
    if looks < 1:
        raise ValueError(f"looks must be >= 1, got {looks!r}")
    sizes = []
    for k in range(1, looks + 1):
        n_k = -(-n_available * k // looks)
        if n_k >= 2 and (not sizes or n_k > sizes[-1]):
            sizes.append(n_k)
    return sizes


def _to_zero_scale(fractions, futility_z_scale, theta):
    return tuple(a - theta * math.sqrt(t) for t, a in zip(fractions, futility_z_scale))


def design(alpha: float = 0.05, power: float = 0.8, looks: int = 5, margin: float = 0.02,
           sigma_d: float | None = None, n_max: int | None = None) -> Design:
    """Boundaries for H0: Delta <= -margin vs H1: Delta >= 0 with K = ``looks`` looks.

    * ``sigma_d`` only: n_max is the smallest n with the requested power at Delta = 0.
    * ``n_max`` only: the caller vouches that n_max items give that power.
    * both: n_max is used as given and the futility boundaries use the power it really has.
    * neither: boundaries by information fraction; :func:`decide` spreads the looks over
      the suite's items.
    """
    _check_alpha(alpha)
    if not 0.5 <= power < 1.0:
        raise ValueError(f"power must be in [0.5, 1), got {power!r}")
    if not isinstance(looks, int) or not 1 <= looks <= 20:
        raise ValueError(f"looks must be an integer in [1, 20], got {looks!r}")
    if not margin > 0:
        raise ValueError(f"margin must be > 0, got {margin!r}")
    if sigma_d is not None and not (sigma_d > 0 and math.isfinite(sigma_d)):
        raise ValueError(f"sigma_d must be a positive number, got {sigma_d!r}")
    if n_max is not None and n_max < 2:
        raise ValueError(f"n_max must be >= 2, got {n_max!r}")
    beta = 1.0 - power
    equal = tuple(k / looks for k in range(1, looks + 1))
    _, _, theta = _boundaries(equal, alpha, beta, None)
    z_sum = z_quantile(1 - alpha) + z_quantile(power)
    n_fixed = None
    if sigma_d is not None:
        n_fixed = math.ceil((z_sum * sigma_d / margin) ** 2 - 1e-9)
        if n_max is None:
            n_max = math.ceil((theta * sigma_d / margin) ** 2 - 1e-9)
        else:
            theta = margin * math.sqrt(n_max) / sigma_d
    sizes = None
    fractions = equal
    if n_max is not None:
        sizes = tuple(look_sizes(n_max, looks))
        fractions = tuple(n / n_max for n in sizes)
    efficacy, futility, theta = _boundaries(fractions, alpha, beta, theta)
    return Design(
        alpha=alpha, power=power, looks=len(fractions), margin=margin, sigma_d=sigma_d,
        n_max=n_max, n_fixed=n_fixed, inflation=(theta / z_sum) ** 2, drift=theta,
        obf_constant=efficacy[-1], fractions=fractions, look_sizes=sizes,
        efficacy_z=efficacy, futility_z=_to_zero_scale(fractions, futility, theta))


THETA_STEP = 0.02     # the real drift, rounded down to this step (futility boundaries cached)


@lru_cache(maxsize=4096)
def _futility_at(fractions: tuple[float, ...], alpha: float, beta: float,
                 steps: int) -> tuple[float, ...]:
    """Z-scale futility boundaries (against -margin) spending beta at drift steps*THETA_STEP;
    the last equals the last efficacy boundary."""
    const = obf_constant(fractions, alpha)
    efficacy = tuple(const / math.sqrt(t) for t in fractions)
    return tuple(_futility_walk(fractions, efficacy, beta, steps * THETA_STEP)[0])


def real_drift_steps(des: Design, sd0: float, n_last: int) -> int:
    """The drift the looks really have, E[Z_K] at Delta = 0 = margin sqrt(n_K) / sd0, with
    n_K the items of the last look (the suite's, not the design's n_max) and sd0 the sd of
    the differences at Delta = 0 seen so far; capped at the design's drift (more items
    than the design needs must raise power, not futility stops); in THETA_STEP units,
    rounded down (a lower drift stops less often for futility)."""
    theta = des.margin * math.sqrt(n_last) / sd0 if sd0 > 0 else des.drift
    return max(1, math.floor(min(theta, des.drift) / THETA_STEP))


@dataclass(frozen=True)
class Look:
    """The data at one look. ``z`` is the statistic for H0: Delta = -margin (Tango's score
    statistic for binary scores, else the paired z with a floored sd), ``z_zero`` the same
    for H0: Delta = 0. ``rci_low``/``rci_high``: the repeated confidence interval at this
    look's boundary (level 1 - 2 alpha over all looks together)."""

    look: int
    n: int
    estimate: float
    se: float
    z: float                  # against efficacy_z (pass), worse_z and futility_z
    z_zero: float             # reported only: the statistic for Delta = 0
    efficacy_z: float
    futility_z: float
    worse_z: float
    rci_low: float
    rci_high: float
    lower_bound: float        # = rci_low
    drift: float              # the real drift the futility boundary was computed for
    n01: int | None           # binary: items only the candidate did better on (oriented)
    n10: int | None


@dataclass(frozen=True)
class SequentialResult:
    """Where the walk over the looks stopped.

    ``decision``: "pass", "block" or "undecided"; ``finding`` says why it stopped:
    "non-inferior" (pass), "worse" (a valid test found the candidate worse than the
    baseline by more than the margin: the repeated confidence interval lies below -margin), "futility" (non-inferiority
    is unlikely to be shown with the items left: not a finding about the candidate) or
    None. ``final`` is False when the items given ran out before the next look (evaluate
    more, call again: ``next_look_items``); an undecided result with ``final`` True means the
    last look did not pass, and the caller blocks. ``truncated``: the suite has fewer items
    than the design's n_max.
    """

    decision: str
    finding: str | None
    final: bool
    stopped_at_look: int | None
    items_used: int
    next_look_items: int | None
    n_available: int
    truncated: bool
    look_sizes: tuple[int, ...]
    efficacy_z: tuple[float, ...]
    looks: tuple[Look, ...]
    margin: float
    alpha: float
    higher_is_better: bool
    statistic: str

    def to_dict(self) -> dict:
        return _to_dict(self)


def plan_looks(des: Design, n_total: int) -> tuple[tuple[int, ...], tuple[float, ...], bool]:
    """(look sizes, efficacy boundaries, truncated) for a suite of n_total items: the
    design's looks when it has them all, else K looks spread over the suite."""
    if des.n_max is not None and n_total >= des.n_max:
        return des.look_sizes, des.efficacy_z, False
    sizes = tuple(look_sizes(n_total, des.looks))
    if not sizes:
        return (), (), des.n_max is not None
    fractions = tuple(n / sizes[-1] for n in sizes)
    const = obf_constant(fractions, des.alpha)
    return sizes, tuple(const / math.sqrt(t) for t in fractions), des.n_max is not None


def _binary_look(b: int, c: int, n: int, margin: float, bound: float):
    """(estimate, se, z, z_zero, rci, sd0) of a binary look from its discordant counts."""
    delta0 = max(-margin, -1.0 + 1e-9)
    est = (b - c) / n
    sd0 = math.sqrt(max(b + c, 1) / n)   # sd at Delta = 0; one discordant pair at least
    return (est, sd0 / math.sqrt(n), tango_z(b, c, n, delta0), tango_z(b, c, n, 0.0),
            score_interval(b, c, n, bound), sd0)


def _mean_look(diffs: list[float], scores: list[float], margin: float, bound: float):
    """The same for other scores: paired z with the floored sd (stats.floored_sd)."""
    n = len(diffs)
    est, sd = mean_and_sd(diffs)
    sd = floored_sd(sd, n, scores)
    se = sd / math.sqrt(n)
    return (est, se, (est + margin) / se, est / se, (est - bound * se, est + bound * se), sd)


def futility_boundary(des: Design, k: int, sizes: tuple[int, ...], sd0: float
                      ) -> tuple[float, float]:
    """(futility boundary on the Z scale, the drift it was computed for) at look k (0-based)
    of looks at ``sizes``, for the real drift m sqrt(n_K) / sd0 (:func:`real_drift_steps`)."""
    fractions = tuple(n / sizes[-1] for n in sizes)
    steps = real_drift_steps(des, sd0, sizes[-1])
    return _futility_at(fractions, des.alpha, 1.0 - des.power, steps)[k], steps * THETA_STEP


def finding(z: float, c_k: float, futility: float, last: bool) -> str | None:
    """The rule of one look, on Z = Z(-margin): pass when Z >= c_k; "worse" when Z <= -c_k
    (the repeated interval lies below -margin: worse by more than the margin, which is what
    non-inferiority forbids; a significant loss inside the margin is allowed, as the
    thresholds say); "futility" at an interim look when Z <= the futility boundary; None:
    go on (or, at the last look, undecided). The benchmark calls this too."""
    if z >= c_k:
        return "non-inferior"
    if z <= -c_k:
        return "worse"
    if not last and z <= futility:
        return "futility"
    return None


def look_at(des: Design, k: int, sizes: tuple[int, ...], efficacy: tuple[float, ...],
            stats_k: tuple, counts: tuple[int | None, int | None]) -> tuple[Look, str | None]:
    """Look k (0-based) from its statistics: the Look and its finding (None: go on)."""
    est, se, z, z0, (low, high), sd0 = stats_k
    c_k = efficacy[k]
    fut, drift = futility_boundary(des, k, sizes, sd0)
    look = Look(look=k + 1, n=sizes[k], estimate=est, se=se, z=z, z_zero=z0, efficacy_z=c_k,
                futility_z=fut, worse_z=-c_k, rci_low=low, rci_high=high, lower_bound=low,
                drift=drift, n01=counts[0], n10=counts[1])
    return look, finding(z, c_k, fut, k + 1 == len(sizes))


def decide(des: Design, candidate: Sequence[float], baseline: Sequence[float], *,
           n_available: int | None = None, higher_is_better: bool = True) -> SequentialResult:
    """Walk the looks over prefix-ordered items and stop at the first boundary crossed.

    ``candidate``/``baseline`` are the items evaluated so far, in the suite's fixed random
    order. ``n_available`` is how many items the suite has in all (default: as many as
    given); it fixes the look sizes, so it must not depend on the data. Binary scores use
    Tango's score statistic at every look; other scores the paired z with a floored sd.
    """
    _check_pairs(candidate, baseline, empty_ok=True)
    n_total = len(candidate) if n_available is None else n_available
    if n_total < len(candidate):
        raise ValueError(f"{len(candidate)} items given but n_available is {n_total}")
    sizes, efficacy, truncated = plan_looks(des, n_total)
    binary = _is_binary(candidate) and _is_binary(baseline)
    sign = orientation(higher_is_better)
    diffs = [sign * (c - b) for c, b in zip(candidate, baseline)]
    looks: list[Look] = []
    found, final, stopped, next_items = None, True, None, None
    for k, n_k in enumerate(sizes):
        if n_k > len(diffs):
            final, next_items = False, n_k
            break
        if binary:
            counts = (sum(1 for d in diffs[:n_k] if d > 0), sum(1 for d in diffs[:n_k] if d < 0))
            stats_k = _binary_look(*counts, n_k, des.margin, efficacy[k])
        else:
            counts = (None, None)
            stats_k = _mean_look(diffs[:n_k], [*candidate[:n_k], *baseline[:n_k]],
                                 des.margin, efficacy[k])
        look, found = look_at(des, k, sizes, efficacy, stats_k, counts)
        looks.append(look)
        if found is not None:
            stopped = k + 1
            break
    decision = {None: "undecided", "non-inferior": "pass"}.get(found, "block")
    return SequentialResult(
        decision=decision, finding=found, final=final, stopped_at_look=stopped,
        items_used=looks[-1].n if looks else 0, next_look_items=next_items,
        n_available=n_total, truncated=truncated, look_sizes=tuple(sizes),
        efficacy_z=tuple(efficacy), looks=tuple(looks), margin=des.margin, alpha=des.alpha,
        higher_is_better=higher_is_better, statistic="tango" if binary else "paired-z")


@dataclass(frozen=True)
class OperatingCharacteristics:
    """Exact (numerical-integration) behaviour of a design at a true difference delta."""

    delta: float
    sigma_d: float
    pass_probability: float
    block_probability: float      # futility stops; the rest ends undecided (also blocked)
    expected_items: float
    stop_probability: tuple[float, ...]   # per look, pass or block

    def to_dict(self) -> dict:
        return _to_dict(self)


def operating_characteristics(des: Design, delta: float,
                              sigma_d: float | None = None) -> OperatingCharacteristics:
    """Pass probability and expected items at true oriented difference ``delta``.

    Assumes the sd of the differences is ``sigma_d`` (default: the design's) and known,
    which the data-driven SE only approximates; the benchmark checks it by simulation.
    """
    sigma = des.sigma_d if sigma_d is None else sigma_d
    if sigma is None or des.n_max is None:
        raise ValueError("operating characteristics need sigma_d and n_max")
    root_n = math.sqrt(des.n_max)
    theta = (delta + des.margin) * root_n / sigma
    # Z = Z0 + margin sqrt(n_k) / sigma: the futility boundary on the Z scale.
    lower = tuple(b + des.margin * root_n * math.sqrt(t) / sigma
                  for t, b in zip(des.fractions, des.futility_z))
    per_look = _operating(des.fractions, des.efficacy_z, lower, theta)
    stop = tuple(u + d for u, d in per_look)
    expected = sum(p * n for p, n in zip(stop, des.look_sizes))
    expected += (1.0 - sum(stop)) * des.look_sizes[-1]
    return OperatingCharacteristics(
        delta=delta, sigma_d=sigma, pass_probability=sum(u for u, _ in per_look),
        block_probability=sum(d for _, d in per_look), expected_items=expected,
        stop_probability=stop)
