"""Benchmark: `modelcfg demo`'s wall time, and where it goes.

Runs `modelcfg demo --format json` in a temporary folder (fresh caches: every adapter trains)
and reads each gate's `gate.json` there. The reference, measured in the same run, is the
gates' own wall time (training + evaluation + judging, the work CI must do); the rest is the
loop around it: the maintainer's first baseline, the agent's `propose` and `pr status`
calls, the GitHub API, git, the promotions. Prints the demo's wall time against the 5-minute
goal, the gates' share, and per pull request the gate's seconds and its training seconds.

    python bench/demo_time.py [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_SECONDS = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MODELCFG_CACHE": str(Path(tmp) / "cache")}
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "modelcfg", "demo", "--format", "json"],
                              cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.monotonic() - start
        if proc.returncode != 0:
            sys.exit(f"modelcfg demo failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        demo = json.loads(proc.stdout)
        gates = []
        for path in sorted(Path(demo["workdir"], "gate").glob("*/gate.json")):
            report = json.loads(path.read_text())
            trained = sum((c.get("train") or {}).get("train_seconds") or 0
                          for c in report.get("configs", []))
            gates.append({"run": path.parent.name, "verdict": report["verdict"],
                          "gate_seconds": report.get("wall_seconds") or 0.0,
                          "train_seconds": round(trained, 1)})
    in_gates = sum(g["gate_seconds"] for g in gates)
    result = {"wall_seconds": round(wall, 1), "goal_seconds": GOAL_SECONDS,
              "of_goal": round(wall / GOAL_SECONDS, 2), "gate_seconds": round(in_gates, 1),
              "gates_share": round(in_gates / wall, 2), "gates": gates,
              "pull_requests": [(r["case"], r["verdict"], r["codes"])
                                for r in demo["pull_requests"]]}
    print(f"modelcfg demo: {wall:.1f} s wall ({wall / GOAL_SECONDS:.2f} of the "
          f"{GOAL_SECONDS} s goal); in its {len(gates)} gates {in_gates:.1f} s "
          f"({in_gates / wall:.0%}), the rest is the loop around them")
    for g in gates:
        print(f"  {g['run']:<24} {g['verdict']:<6} gate {g['gate_seconds']:6.1f} s, "
              f"training {g['train_seconds']:5.1f} s")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
