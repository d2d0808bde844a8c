"""Benchmark: the latency SLO's measurement and its interval.

1. Timings on this machine (the gate's own code, modelcfg.evaluation.latency): a rank-64
   LoRA on every projection of the tiny model, trained a few steps, timed against itself
   (both merged: an unchanged adapter, whose ratio interval should contain 1.0), and
   unmerged against merged (the per-token cost of serving the LoRA separately).
2. The interval's coverage: the order-statistic interval's level is exact by construction
   (modelcfg.core.order_statistics); here it is checked by simulation on skewed, heavy-tailed
   timing ratios (log-normal noise with 10% five-fold outliers), 200,000 runs.

    python bench/bench_latency.py [--repeats 12] [--runs 200000] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ADAPTER = "configs/adapters/example.yaml"


def trained_adapter(tmp: Path) -> tuple[Path, Path]:
    """(base model folder, adapter folder) of a rank-64 adapter on every projection."""
    env = {**os.environ, "MODELCFG_CACHE": str(tmp / "cache")}
    subprocess.run([sys.executable, "-m", "modelcfg", "init", str(tmp / "repo")], check=True,
                   capture_output=True, env=env)
    path = tmp / "repo" / ADAPTER
    text = path.read_text().replace("r: 8", "r: 64").replace("lora_alpha: 16", "lora_alpha: 64")
    path.write_text(text.replace("[q_proj, v_proj]", "[q_proj, k_proj, v_proj, o_proj, "
                                 "gate_proj, up_proj, down_proj]"))
    out = subprocess.run([sys.executable, "-m", "modelcfg", "train", "example", "--format",
                          "json", "--root", str(tmp / "repo")], check=True,
                         capture_output=True, text=True, env=env).stdout
    run_dir = Path(json.loads(out)["run_dir"])
    model = subprocess.run([sys.executable, "-m", "modelcfg", "tiny"], check=True,
                           capture_output=True, text=True, env=env).stdout.strip()
    return Path(model), run_dir / "adapter"


def coverage(runs: int, n: int, alpha: float, seed: int = 0) -> tuple[float, float]:
    from modelcfg.gate.latency import ratio_interval

    rng = random.Random(seed)
    noise = [math.exp(rng.gauss(0, 0.3)) * (5.0 if rng.random() < 0.1 else 1.0)
             for _ in range(400_000)]
    true_median = sorted(noise)[len(noise) // 2]
    covered, level = 0, None
    for _ in range(runs):
        base = [0.01 * math.exp(rng.gauss(0, 0.2)) for _ in range(n)]
        cand = [b * math.exp(rng.gauss(0, 0.3)) * (5.0 if rng.random() < 0.1 else 1.0)
                for b in base]
        interval = ratio_interval(cand, base, alpha)
        level = interval.level
        covered += interval.low <= true_median <= interval.high
    return covered / runs, level


def main() -> None:
    from modelcfg.evaluation.latency import measure_pair
    from modelcfg.gate.latency import judge_latency

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        model, adapter = trained_adapter(Path(tmp))
        for label, merge in (("unchanged (merged vs merged)", True),
                             ("unmerged vs merged", False)):
            timings = measure_pair(model, adapter, adapter, candidate_merge=merge,
                                   baseline_merge=True, repeats=args.repeats)
            outcome, reasons = judge_latency(timings, max_regression=0.10, alpha=0.05)
            i = outcome["interval"]
            result[label] = {"ratio": i["ratio"], "low": i["low"], "high": i["high"],
                             "level": i["level"], "codes": [r.code for r in reasons],
                             "candidate_s_per_token": outcome["candidate_seconds_per_token"],
                             "baseline_s_per_token": outcome["baseline_seconds_per_token"]}
            print(f"{label}: ratio {i['ratio']:.3f}, {i['level']:.1%} interval "
                  f"[{i['low']:.3f}, {i['high']:.3f}] over {i['n']} pairs; "
                  f"codes {[r.code for r in reasons] or '-'}")
    covered, level = coverage(args.runs, args.repeats, 0.05)
    result["coverage"] = {"runs": args.runs, "pairs": args.repeats, "level": level,
                          "covered": covered}
    print(f"coverage of the median ratio, {args.runs:,} simulated runs of {args.repeats} "
          f"skewed, heavy-tailed pairs: {covered:.4f} (stated level {level:.4f})")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
