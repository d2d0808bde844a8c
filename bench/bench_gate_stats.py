"""Simulate the merge gate's statistics: false-pass rate and items to a decision.

Per-item binary scores, baseline accuracy 0.6, correlation 0.7 between candidate and
baseline, margin 2 pt, one-sided alpha 0.05, power 0.8 (the setting of docs/statistics.md). For each true
difference Delta it reports how often the group-sequential gate passes and how many items it
evaluates, next to the fixed-n test and the naive rule "pass if cand >= base - m" at the
fixed n (2,226 items).

    python bench/bench_gate_stats.py               # 5,000 reps: 95% MC error +-0.6 pt at 5%
    python bench/bench_gate_stats.py --quick --out results.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import time

from modelcfg.gate.sequential import decide, design, operating_characteristics
from modelcfg.gate.stats import paired_test, sd_binary_difference, simulate_binary_pairs

P_BASE, RHO, MARGIN, ALPHA, POWER, LOOKS = 0.6, 0.7, 0.02, 0.05, 0.8, 5
DELTAS = (-0.05, -MARGIN, 0.0)


def simulate(reps: int, seed: int, looks: int) -> dict:
    sigma = sd_binary_difference(P_BASE, P_BASE, RHO)
    des = design(alpha=ALPHA, power=POWER, looks=looks, margin=MARGIN, sigma_d=sigma)
    n_fixed = des.n_fixed
    rows = []
    for delta in DELTAS:
        rng = random.Random(f"{seed}:{delta}")
        gate_pass = fixed_pass = naive_pass = 0
        items = []
        start = time.perf_counter()
        for _ in range(reps):
            cand, base = simulate_binary_pairs(P_BASE + delta, P_BASE, RHO, des.n_max, rng)
            result = decide(des, cand, base)
            gate_pass += result.decision == "pass"
            items.append(result.items_used)
            fixed = paired_test(cand[:n_fixed], base[:n_fixed], margin=MARGIN, alpha=ALPHA)
            fixed_pass += fixed.passed
            naive_pass += fixed.estimate >= -MARGIN
        oc = operating_characteristics(des, delta,
                                       sd_binary_difference(P_BASE + delta, P_BASE, RHO))
        mean_items = sum(items) / reps
        rows.append({
            "delta": delta,
            "gate_pass_rate": gate_pass / reps,
            "gate_pass_rate_mc_se": math.sqrt(max(gate_pass / reps * (1 - gate_pass / reps),
                                                  1e-12) / reps),
            "gate_mean_items": mean_items,
            "gate_mean_items_fraction_of_fixed_n": mean_items / n_fixed,
            "gate_max_items": max(items),
            "gate_pass_rate_numerical": oc.pass_probability,
            "gate_mean_items_numerical": oc.expected_items,
            "fixed_n_pass_rate": fixed_pass / reps,
            "naive_pass_rate": naive_pass / reps,
            "seconds": time.perf_counter() - start,
        })
    return {
        "setting": {"p_baseline": P_BASE, "rho": RHO, "margin": MARGIN, "alpha": ALPHA,
                    "power": POWER, "looks": looks, "reps": reps, "seed": seed},
        "design": des.to_dict(),
        "n_fixed": n_fixed,
        "rows": rows,
        "python": platform.python_version(),
    }


def render(report: dict) -> str:
    des = report["design"]
    lines = [
        f"fixed n = {report['n_fixed']}, gate n_max = {des['n_max']} "
        f"({des['n_max'] / report['n_fixed']:.3f}x), looks at {des['look_sizes']}, "
        f"{report['setting']['reps']} reps",
        f"efficacy z: {', '.join(f'{z:.3f}' for z in des['efficacy_z'])}",
        f"futility z (vs 0): {', '.join(f'{z:.3f}' for z in des['futility_z'])}",
        "",
        f"{'Delta':>7} {'gate pass':>10} {'(numeric)':>9} {'fixed-n':>8} {'naive':>6} "
        f"{'mean items':>10} {'x fixed n':>9} {'max':>5}",
    ]
    for r in report["rows"]:
        lines.append(
            f"{r['delta'] * 100:+6.1f}p {r['gate_pass_rate']:10.4f} "
            f"{r['gate_pass_rate_numerical']:9.4f} {r['fixed_n_pass_rate']:8.4f} "
            f"{r['naive_pass_rate']:6.3f} {r['gate_mean_items']:10.0f} "
            f"{r['gate_mean_items_fraction_of_fixed_n']:9.3f} {r['gate_max_items']:5d}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5000,
                        help="simulated suites per Delta (default 5000: MC SE 0.3 pt at 5%%)")
    parser.add_argument("--quick", action="store_true", help="300 reps, for a smoke run")
    parser.add_argument("--seed", type=int, default=20241)
    parser.add_argument("--looks", type=int, default=LOOKS)
    parser.add_argument("--out", help="also write the results as JSON to this path")
    args = parser.parse_args(argv)
    reps = 300 if args.quick else args.reps
    report = simulate(reps, args.seed, args.looks)
    print(render(report))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2)
            fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
