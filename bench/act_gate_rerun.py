"""Benchmark: gate.yml itself, run with act twice on the same unchanged pull request.

The real workflow file (tests/act: host mode, offline, stand-ins for the pinned marketplace
actions, a fake GitHub API on 127.0.0.1) on a temporary config repository made from this
repository, for a pull request that needs evaluation but no training of its own. Each run
has a fresh runner home and checkout; the caches travel only through the cache store, as
on GitHub. Prints the training seconds (from each run's gate.json) and the wall time of
each act run, and the rerun's share of the first run's time.

    python bench/act_gate_rerun.py [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "act")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from act_harness import REORDER_SUITES, ConfigRepo, Runner, fake_github, run_act

    rows = []
    with tempfile.TemporaryDirectory() as tmp, fake_github() as gh:
        repo = ConfigRepo(Path(tmp) / "repo", source=REPO)
        runner = Runner(Path(tmp) / "runner")
        pr = repo.pull_request(1, "reorder-suites", REORDER_SUITES)
        gh.open(pr)
        for label, action in (("first run", "opened"), ("rerun", "synchronize")):
            run = run_act(runner, repo, "pull_request_target", pr.event(action),
                          workflow=".github/workflows/gate.yml", at=pr.base_sha,
                          api_url=gh.url, secrets={"MODELCFG_ORDER_SECRET": "bench"})
            if run.returncode != 0:
                sys.exit(f"{label}: act exited {run.returncode}\n{run.log[-4000:]}")
            report = json.loads((run.artifact("gate-report") / "gate.json").read_text())
            (cfg,) = report["configs"]
            rows.append({"run": label, "verdict": report["verdict"],
                         "cache_hit": cfg["train"]["cache_hit"],
                         "train_seconds": round(cfg["train"]["train_seconds"], 1),
                         "gate_wall_seconds": report["wall_seconds"],
                         "act_wall_seconds": round(run.seconds, 1)})
    ratio = rows[1]["act_wall_seconds"] / rows[0]["act_wall_seconds"]
    for row in rows:
        print(f"{row['run']:<10} {row['verdict']:<5} training {row['train_seconds']:>6.1f} s "
              f"(cache hit: {row['cache_hit']})  gate {row['gate_wall_seconds']:>6.1f} s  "
              f"workflow {row['act_wall_seconds']:>6.1f} s")
    print(f"rerun / first run, workflow wall time: {ratio:.2f}")
    if args.out:
        args.out.write_text(json.dumps({"runs": rows, "ratio": round(ratio, 3)}, indent=2))


if __name__ == "__main__":
    main()
