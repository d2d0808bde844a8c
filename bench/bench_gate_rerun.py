"""Benchmark: the gate run twice on the same pull request (issue 4's rerun goal).

Builds a scratch repository from this repository's configs/ and evals/ (as `modelcfg demo`
does), opens an agent pull request that adds tiny-arith, and runs `modelcfg gate` twice
with a fresh training cache. The second run must spend 0 training seconds (a cache hit by
fingerprint); its wall time is what re-evaluation alone costs.

    python bench/bench_gate_rerun.py [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(1)
    from modelcfg.demo.scenario import agent_branch, git, scratch_repo
    from modelcfg.gate.run import GateSettings, run_gate
    from modelcfg.tiny.build import ensure_tiny_model

    ensure_tiny_model()  # built once, outside the timed runs
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo = scratch_repo(REPO, work / "scratch")
        adapter = (repo / "configs/adapters/tiny-arith.yaml").read_text()
        for path in (repo / "configs/adapters").glob("tiny-*.yaml"):
            path.unlink()
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "start without the tiny adapters")
        base = "main"
        agent_branch(repo, "pr", lambda r: (r / "configs/adapters/tiny-arith.yaml")
                     .write_text(adapter), "Add tiny-arith")
        settings = GateSettings(runs_dir=work / "runs")
        rows = []
        for attempt in ("first", "rerun"):
            start = time.perf_counter()
            report = run_gate(repo, base, "pr", work / f"gate-{attempt}", settings)
            wall = time.perf_counter() - start
            (cfg,) = report["configs"]
            rows.append({"run": attempt, "verdict": report["verdict"],
                         "cache_hit": cfg["train"]["cache_hit"],
                         "train_seconds": round(cfg["train"]["train_seconds"], 2),
                         "wall_seconds": round(wall, 2),
                         "eval_items": cfg["cost"]["eval_items"]})
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    ok = rows[1]["cache_hit"] and rows[1]["train_seconds"] == 0
    print(f"rerun spends 0 training seconds: {'yes' if ok else 'NO'}; rerun wall "
          f"{rows[1]['wall_seconds'] / rows[0]['wall_seconds']:.2f}x the first run")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
