"""The merge gate's error rates, measured: exact enumeration where it is feasible, Monte Carlo
(numpy, >= 200,000 draws per cell) for the sequential design, always with the product's own
statistic, boundaries and decision rule.

(a) fixed-n capability test (Tango's score test), exact false pass at Delta = -margin, next to
    the old Wald z (exact too);
(b) the sequential gate (K = 5 looks spread over a suite of n items), false pass at
    Delta = -margin, exactly (the distribution of the counts carried from look to look) and
    by Monte Carlo; both decide with tables built from the product's tango_z, boundaries and
    rule (sequential.finding), and a few thousand draws are re-decided by sequential.decide
    itself, which must agree bit for bit;
(c) items to a decision at Delta = -2.5 margin against the fixed-n design;
(d) safety: exact false pass of both rules at safety_alpha 0.01 (floor: every n 10..1000;
    noninferiority: n 10..100 every n, then a sparser set to 1000, over the nuisance grid).

    python bench/bench_gate_stats.py --out results.json       # the full run (minutes)
    python bench/bench_gate_stats.py --quick                  # 20,000 draws, fewer n
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time

import numpy as np

from modelcfg.core.paired_binary import (
    cells,
    max_correlation,
    rejection_probability,
    tango_z,
)
from modelcfg.gate import safety
from modelcfg.gate.sequential import (
    decide,
    design,
    finding,
    futility_boundary,
    plan_looks,
)
from modelcfg.gate.stats import (
    clopper_pearson_lower,
    sd_binary_difference,
    z_quantile,
)

ALPHA, MARGIN, LOOKS, POWER = 0.05, 0.05, 5, 0.8
SAFETY_ALPHA = 0.01
NS = (25, 50, 100, 200, 400, 1000)
RHOS = (0.3, 0.7, 0.9)
BASES = (0.1, 0.6, 0.95)
CODE = {"non-inferior": 1, "worse": 2, "futility": 3}


def grid_cells(delta: float):
    """(p_base, rho asked, rho used, p12, p21) over the grid; rho capped to what the rates
    allow (0.1 -> 0.05 cannot correlate at 0.7)."""
    for p in BASES:
        if not 0.0 <= p + delta <= 1.0:
            continue
        for rho in RHOS:
            used = min(rho, max_correlation(p + delta, p))
            p12, p21 = cells(p, delta, used)
            yield p, rho, used, p12, p21


# --------------------------------------------------------------------------- (a) fixed n

def _log_multinomial(n: int):
    """b, c and log n!/(b! c! (n-b-c)!) over every (b, c) with b + c <= n."""
    b, c = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
    keep = b + c <= n
    b, c = b[keep], c[keep]
    lf = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    return b, c, lf[n] - lf[b] - lf[c] - lf[n - b - c]


def _prob(mask, b, c, coef, n, p12, p21):
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = (coef + np.where(b > 0, b * np.log(max(p12, 1e-300)), 0.0)
                + np.where(c > 0, c * np.log(max(p21, 1e-300)), 0.0)
                + np.where(n - b - c > 0, (n - b - c) * np.log(max(1 - p12 - p21, 1e-300)),
                           0.0))
    return float(np.exp(logp[mask]).sum())


def wald_pass(b, c, n, margin, z):
    """The old rule: mean difference minus z sample-SE above -margin (SE 0: sign only)."""
    est = (b - c) / n
    var = np.maximum((b + c - n * est ** 2) / (n - 1), 0.0)
    se = np.sqrt(var / n)
    return np.where(se > 0, est - z * se > -margin, est > -margin)


def fixed_n(ns) -> list[dict]:
    z = z_quantile(1 - ALPHA)
    rows = []
    for n in ns:
        b, c, coef = _log_multinomial(n)
        wald = wald_pass(b, c, n, MARGIN, z)
        for p, rho, used, p12, p21 in grid_cells(-MARGIN):
            rows.append({"n": n, "p_base": p, "rho": rho, "rho_used": used,
                         "tango": rejection_probability(n, p12, p21, -MARGIN, z),
                         "wald": _prob(wald, b, c, coef, n, p12, p21)})
    return rows


# --------------------------------------------------------------------------- (b) sequential

def look_tables(des, n_total: int):
    """Per look: sizes, and for each number of discordant items D the least b that passes,
    the largest b found worse, the largest b stopped for futility (-1: none), built with the
    product's tango_z, futility_boundary and finding."""
    sizes, efficacy, _ = plan_looks(des, n_total)
    tables = []
    for k, n_k in enumerate(sizes):
        last = k + 1 == len(sizes)
        pass_b, worse_b, fut_b = [], [], []
        for d in range(n_k + 1):
            fut, _ = futility_boundary(des, k, sizes, math.sqrt(max(d, 1) / n_k))

            def found(b_, d=d, fut=fut):
                return finding(tango_z(b_, d - b_, n_k, -des.margin), efficacy[k], fut, last)
            pass_b.append(_least(lambda b_: found(b_) == "non-inferior", d))
            worse_b.append(_least(lambda b_: found(b_) not in ("worse",), d) - 1)
            fut_b.append(_least(lambda b_: found(b_) not in ("worse", "futility"), d) - 1)
        tables.append((n_k, np.array(pass_b), np.array(worse_b), np.array(fut_b)))
    return tables


def _least(pred, d: int) -> int:
    """The least b in 0..d with pred(b) (pred monotone: false then true); d + 1 if none."""
    lo, hi = -1, d + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid
        else:
            lo = mid
    return hi


def simulate(tables, p12: float, p21: float, draws: int, rng):
    """Vectorised walk: (finding code per draw: 0 undecided, 1 pass, 2 worse, 3 futility;
    items used; cumulative counts per look for the cross-check)."""
    code = np.zeros(draws, dtype=np.int8)
    used = np.zeros(draws, dtype=np.int64)
    b = np.zeros(draws, dtype=np.int64)
    c = np.zeros(draws, dtype=np.int64)
    prev = 0
    increments = []
    for n_k, pass_b, worse_b, fut_b in tables:
        inc = rng.multinomial(n_k - prev, [p12, p21, max(1 - p12 - p21, 0.0)], size=draws)
        increments.append(inc)
        b += inc[:, 0]
        c += inc[:, 1]
        d = b + c
        open_ = code == 0
        hit = np.where(b >= pass_b[d], 1, np.where(b <= worse_b[d], 2,
                                                   np.where(b <= fut_b[d], 3, 0)))
        newly = open_ & (hit > 0)
        code[newly] = hit[newly]
        used[open_] = n_k
        prev = n_k
    return code, used, increments


def _trinomial(m: int, p12: float, p21: float) -> np.ndarray:
    """P(b = i, c = j) for m items: an (m + 1) x (m + 1) array, 0 where i + j > m."""
    i, j = np.meshgrid(np.arange(m + 1), np.arange(m + 1), indexing="ij")
    lf = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, m + 1)))])
    keep = i + j <= m
    rest = np.where(keep, m - i - j, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        logp = (lf[m] - lf[i] - lf[j] - lf[rest]
                + np.where(i > 0, i * np.log(max(p12, 1e-300)), 0.0)
                + np.where(j > 0, j * np.log(max(p21, 1e-300)), 0.0)
                + np.where(rest > 0, rest * np.log(max(1 - p12 - p21, 1e-300)), 0.0))
    return np.where(keep, np.exp(logp), 0.0)


def exact_walk(tables, p12: float, p21: float) -> dict:
    """The sequential walk's exact probabilities: the distribution of the cumulative
    (b, c) among draws not yet stopped, carried from look to look (2-D convolution with
    the next look's trinomial increments, by FFT; error ~1e-15)."""
    state = np.ones((1, 1))
    prev = 0
    out = {"pass": 0.0, "worse": 0.0, "futility": 0.0}
    alive = []
    for n_k, pass_b, worse_b, fut_b in tables:
        inc = _trinomial(n_k - prev, p12, p21)
        shape = (n_k + 1, n_k + 1)
        state = np.fft.irfft2(np.fft.rfft2(state, shape) * np.fft.rfft2(inc, shape), shape)
        state = np.clip(state, 0.0, None)
        b, c = np.meshgrid(np.arange(n_k + 1), np.arange(n_k + 1), indexing="ij")
        d = np.minimum(b + c, n_k)
        valid = b + c <= n_k
        state = np.where(valid, state, 0.0)
        passed = b >= pass_b[d]
        worse = ~passed & (b <= worse_b[d])
        fut = ~passed & ~worse & (b <= fut_b[d])
        out["pass"] += float(state[passed].sum())
        out["worse"] += float(state[worse].sum())
        out["futility"] += float(state[fut].sum())
        alive.append(float(state.sum()))
        state = np.where(passed | worse | fut, 0.0, state)
        prev = n_k
    # E[items]: a draw still going at look k evaluates that look's new items.
    steps = np.diff([0, *(t[0] for t in tables)])
    out["items"] = float(sum(a * s for a, s in zip(alive, steps)))
    return out


def cross_check(des, n_total: int, tables, p12, p21, draws: int, seed: int) -> int:
    """Re-decide ``draws`` draws with sequential.decide on item lists built from the same
    increments; returns the number of disagreements (finding or items used)."""
    rng = np.random.default_rng(seed)
    code, used, incs = simulate(tables, p12, p21, draws, rng)
    names = {0: None, 1: "non-inferior", 2: "worse", 3: "futility"}
    bad = 0
    for i in range(draws):
        cand, base = [], []
        for inc in incs:
            nb, nc, rest = (int(x) for x in inc[i])
            cand += [1] * nb + [0] * nc + [1] * (rest // 2) + [0] * (rest - rest // 2)
            base += [0] * nb + [1] * nc + [1] * (rest // 2) + [0] * (rest - rest // 2)
        r = decide(des, cand, base, n_available=n_total)
        bad += (r.finding != names[int(code[i])]) or (r.items_used != int(used[i]))
    return bad


def sequential_false_pass(ns, draws: int, seed: int, checks: int) -> tuple[list, list]:
    des = design(alpha=ALPHA, power=POWER, looks=LOOKS, margin=MARGIN)
    rows, checked = [], []
    for n in ns:
        tables = look_tables(des, n)
        for j, (p, rho, used_rho, p12, p21) in enumerate(grid_cells(-MARGIN)):
            rng = np.random.default_rng([seed, n, j])
            code, used, _ = simulate(tables, p12, p21, draws, rng)
            rate = float(np.mean(code == 1))
            exact = exact_walk(tables, p12, p21)
            rows.append({"n": n, "p_base": p, "rho": rho, "rho_used": used_rho,
                         "exact_false_pass": exact["pass"], "exact_mean_items": exact["items"],
                         "false_pass": rate, "mc_se": math.sqrt(rate * (1 - rate) / draws),
                         "worse": float(np.mean(code == 2)),
                         "mean_items": float(used.mean()), "draws": draws})
        if checks:
            p, rho, _, p12, p21 = next(grid_cells(-MARGIN)) if n > 100 else \
                list(grid_cells(-MARGIN))[4]
            checked.append({"n": n, "p_base": p, "rho": rho, "draws": checks,
                            "disagreements": cross_check(des, n, tables, p12, p21, checks,
                                                         seed + n)})
    return rows, checked


# --------------------------------------------------------------------------- (c) items

def items_to_decision(draws: int, seed: int) -> list[dict]:
    rows = []
    for margin, p, rho in ((0.05, 0.6, 0.3), (0.05, 0.6, 0.7), (0.05, 0.6, 0.9),
                           (0.05, 0.95, 0.3), (0.02, 0.6, 0.7)):
        sigma = sd_binary_difference(p, p, rho)
        des = design(alpha=ALPHA, power=POWER, looks=LOOKS, margin=margin, sigma_d=sigma)
        tables = look_tables(des, des.n_max)
        row = {"margin_value": margin, "p_base": p, "rho": rho, "n_fixed": des.n_fixed,
               "n_max": des.n_max, "look_sizes": list(des.look_sizes)}
        for name, delta in (("clear", -2.5 * margin), ("at_margin", -margin), ("zero", 0.0)):
            used_rho = min(rho, max_correlation(p + delta, p))
            p12, p21 = cells(p, delta, used_rho)
            code, used, _ = simulate(tables, p12, p21, draws,
                                     np.random.default_rng([seed, int(margin * 100), name
                                                            == "clear"]))
            exact = exact_walk(tables, p12, p21)
            row[name] = {"delta": delta, "exact_pass": exact["pass"],
                         "exact_mean_items": exact["items"],
                         "exact_x_fixed": exact["items"] / des.n_fixed,
                         "pass": float(np.mean(code == 1)),
                         "worse": float(np.mean(code == 2)),
                         "futility": float(np.mean(code == 3)),
                         "mean_items": float(used.mean()),
                         "x_fixed": float(used.mean()) / des.n_fixed}
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- (d) safety

def floor_sizes(floors=(0.8, 0.95), ns=range(10, 1001)) -> list[dict]:
    """P(pass the floor | true rate = floor), exactly: the worst case below the floor."""
    rows = []
    for floor in floors:
        worst, worst_n, sizes = 0.0, None, {}
        for n in ns:
            k = _least(lambda k_: clopper_pearson_lower(k_, n, SAFETY_ALPHA) >= floor, n)
            size = float(_binom_tail(n, k, floor))
            sizes[n] = size
            if size > worst:
                worst, worst_n = size, n
        rows.append({"floor": floor, "max": worst, "at_n": worst_n,
                     "sample": {n: sizes[n] for n in (10, 25, 50, 72, 100, 200, 500, 1000)
                                if n in sizes}})
    return rows


def _binom_tail(n: int, k: int, p: float) -> float:
    return math.fsum(math.exp(math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
                              + j * math.log(p) + (n - j) * math.log1p(-p))
                     for j in range(k, n + 1))


def noninferiority_sizes(ns, margin: float = MARGIN) -> list[dict]:
    """For each n: the least attainable Z whose exact p-value (the product's) is <= alpha,
    and the exact rejection probability there, maximised over a grid 10x finer than the
    product's around its maximum and the product's grid elsewhere."""
    rows = []
    coarse = np.array(safety.nuisance_grid(margin))
    for n in ns:
        b, c, coef = _log_multinomial(n)
        z = np.array([tango_z(int(x), int(y), n, -margin) for x, y in zip(b, c)])
        order = np.argsort(-z, kind="stable")
        zs = z[order]
        sup = np.zeros(len(zs))
        for p21 in coarse:
            sup = np.maximum(sup, _cum_probs(b[order], c[order], coef[order], n,
                                             p21 - margin, p21))
        z_crit = _product_critical(zs, sup, b[order], c[order], n, margin)
        mask = z >= z_crit if z_crit is not None else np.zeros(len(z), dtype=bool)
        values = [_prob(mask, b, c, coef, n, max(p - margin, 0.0), p) for p in coarse]
        top = int(np.argmax(values))
        lo, hi = coarse[max(top - 3, 0)], coarse[min(top + 3, len(coarse) - 1)]
        fine = [_prob(mask, b, c, coef, n, max(p - margin, 0.0), p)
                for p in np.linspace(lo, hi, 61)]
        rows.append({"n": n, "z_crit": z_crit, "size": max(max(values), max(fine))})
    return rows


def _cum_probs(b, c, coef, n, p12, p21):
    with np.errstate(divide="ignore"):
        logp = (coef + np.where(b > 0, b * np.log(max(p12, 1e-300)), 0.0)
                + np.where(c > 0, c * np.log(p21), 0.0)
                + np.where(n - b - c > 0, (n - b - c) * np.log(max(1 - p12 - p21, 1e-300)),
                           0.0))
    return np.cumsum(np.exp(logp))


def _product_critical(zs, sup, b, c, n, margin):
    """The least z the product rejects at: start from the grid's answer and step until the
    product's own p-value (safety.noninferiority_pvalue) agrees."""
    # P(T >= zs[j]) needs every tie of zs[j] included: use the last index of each tie.
    last = np.r_[zs[1:] != zs[:-1], True]
    ok = np.nonzero(last & (sup <= SAFETY_ALPHA))[0]
    j = int(ok[-1]) if len(ok) else -1
    uniq = np.nonzero(last)[0]
    pos = int(np.searchsorted(uniq, j)) if j >= 0 else -1

    def p_at(i):
        return safety.noninferiority_pvalue(int(b[uniq[i]]), int(c[uniq[i]]), n, margin)
    while pos >= 0 and p_at(pos) > SAFETY_ALPHA:
        pos -= 1
    while pos + 1 < len(uniq) and p_at(pos + 1) <= SAFETY_ALPHA:
        pos += 1
    return None if pos < 0 else float(zs[uniq[pos]])


def new_failure_miss() -> list[dict]:
    """P(no new failure is seen | the candidate newly fails a share r) = (1 - r)^n."""
    return [{"r": r, **{str(n): (1 - r) ** n for n in (72, 150, 300, 1000)}}
            for r in (0.005, 0.01, 1 / 72, 0.02, 0.05)]


# --------------------------------------------------------------------------- main

def render(rep: dict) -> str:
    out = []
    if "fixed_n" in rep:
        out += _render_fixed(rep)
    if "sequential" in rep:
        out += _render_sequential(rep)
    if "items" in rep:
        out += _render_items(rep)
    if "safety_floor" in rep:
        out += _render_safety(rep)
    return "\n".join(out)


def _render_fixed(rep: dict) -> list[str]:
    out = ["(a) fixed n, exact false pass at Delta = -margin (5 pt, alpha 0.05)",
           f"{'n':>5} {'base':>5} {'rho':>9} {'Tango':>8} {'Wald':>8}"]
    for r in rep["fixed_n"]:
        out.append(f"{r['n']:5d} {r['p_base']:5.2f} {r['rho']:.1f}->{r['rho_used']:.2f} "
                   f"{r['tango']:8.4f} {r['wald']:8.4f}")
    return out


def _render_sequential(rep: dict) -> list[str]:
    out = ["", f"(b) sequential K = {LOOKS}, false pass at Delta = -margin: exact, and Monte "
            "Carlo", f"{'n':>5} {'base':>5} {'rho':>9} {'exact':>8} {'MC':>8} {'+-se':>7} "
            f"{'items':>7}"]
    for r in rep["sequential"]:
        out.append(f"{r['n']:5d} {r['p_base']:5.2f} {r['rho']:.1f}->{r['rho_used']:.2f} "
                   f"{r['exact_false_pass']:8.4f} {r['false_pass']:8.4f} {r['mc_se']:7.4f} "
                   f"{r['exact_mean_items']:7.1f}")
    out.append("cross-check with sequential.decide: " + ", ".join(
        f"n={c['n']}: {c['disagreements']}/{c['draws']}" for c in rep["cross_check"]))
    return out


def _render_items(rep: dict) -> list[str]:
    out = ["", "(c) items to a decision (design with known sd, n_max looks)",
            f"{'m':>5} {'base':>5} {'rho':>4} {'fixed n':>7} {'n_max':>6} "
            f"{'E[n] -2.5m':>10} {'x fixed':>7} {'exact':>7} {'pass -m':>8} {'pass 0':>7}"]
    for r in rep["items"]:
        out.append(f"{r['margin_value']:5.2f} {r['p_base']:5.2f} {r['rho']:4.1f} "
                   f"{r['n_fixed']:7d} {r['n_max']:6d} {r['clear']['mean_items']:10.1f} "
                   f"{r['clear']['x_fixed']:7.3f} {r['clear']['exact_x_fixed']:7.3f} "
                   f"{r['at_margin']['exact_pass']:8.4f} {r['zero']['exact_pass']:7.4f}")
    return out


def _render_safety(rep: dict) -> list[str]:
    out = ["", f"(d) safety at alpha {SAFETY_ALPHA}: floor (exact, every n 10..1000)"]
    for r in rep["safety_floor"]:
        out.append(f"floor {r['floor']}: max false pass {r['max']:.5f} at n = {r['at_n']}; "
                   + ", ".join(f"n={n}: {v:.4f}" for n, v in r["sample"].items()))
    worst = max(rep["safety_noninferiority"], key=lambda r: r["size"])
    out.append(f"noninferiority (exact, {len(rep['safety_noninferiority'])} values of n): max "
               f"false pass {worst['size']:.5f} at n = {worst['n']}")
    out.append("no_new_failures: P(no new failure seen | share r newly fails) = (1 - r)^n: "
               + "; ".join(f"r={m['r']:.4f}: n=72 {m['72']:.3f}, n=300 {m['300']:.3f}"
                           for m in rep["new_failure_miss"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200_000)
    parser.add_argument("--checks", type=int, default=1000,
                        help="draws per n re-decided by sequential.decide")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--parts", default="fixed_n,sequential,items,safety",
                        help="comma-separated subset of fixed_n, sequential, items, safety")
    parser.add_argument("--seed", type=int, default=20241)
    parser.add_argument("--out", help="also write the results as JSON to this path")
    args = parser.parse_args(argv)
    draws = 20_000 if args.quick else args.draws
    ni_ns = ([10, 30, 72, 100] if args.quick else
             [*range(10, 101), *range(110, 301, 10), *range(350, 1001, 50)])
    timings = {}
    report = {"setting": {"alpha": ALPHA, "margin": MARGIN, "looks": LOOKS, "power": POWER,
                          "safety_alpha": SAFETY_ALPHA, "draws": draws, "seed": args.seed},
              "python": platform.python_version(), "numpy": np.__version__}
    parts = set(args.parts.split(","))
    for name, fn in (
            ("fixed_n", lambda: fixed_n(NS)),
            ("sequential", lambda: sequential_false_pass(NS, draws, args.seed, args.checks)),
            ("items", lambda: items_to_decision(draws, args.seed)),
            ("safety_floor", lambda: floor_sizes(ns=range(10, 1001) if not args.quick
                                                 else range(10, 101))),
            ("safety_noninferiority", lambda: noninferiority_sizes(ni_ns)),
            ("new_failure_miss", new_failure_miss)):
        if (name if not name.startswith(("safety", "new_failure")) else "safety") not in parts:
            continue
        start = time.perf_counter()
        value = fn()
        timings[name] = round(time.perf_counter() - start, 1)
        if name == "sequential":
            report["sequential"], report["cross_check"] = value
        else:
            report[name] = value
    report["seconds"] = timings
    print(render(report))
    print("seconds: " + ", ".join(f"{k} {v}" for k, v in timings.items()))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
