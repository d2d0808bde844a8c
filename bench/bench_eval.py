"""Benchmark: `modelcfg.evaluation.harness` versus calling lm-eval directly, same model, tasks and limits.

Each measurement runs in a fresh Python process (so both pay the same imports and model load)
with one torch thread; the two sides alternate, ``--repeats`` times each, and the median wall
time, the median CPU time (user + system, less sensitive to other load on a shared machine)
and the largest peak RSS are reported. Goal: modelcfg / direct wall time <= 1.1.

The direct side is what a user of lm-eval's Python API would write for the same work:
``lm_eval.simple_evaluate(model="hf", model_args="pretrained=...", tasks=[...],
task_manager=TaskManager(include_path=<the task folders>, include_defaults=False),
log_samples=True, bootstrap_iters=0)``.

    python bench/bench_eval.py                      # the built-in tiny model (built if needed)
    python bench/bench_eval.py --model DIR [--adapter DIR] [--limit 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASKS_DIR = REPO / "evals" / "tasks"
DEFAULT_TASKS = ["arith_gen", "arith_mc", "safety_refusal", "over_refusal"]

# One measurement, run in a child process: argv[1] is a JSON job description.
CHILD = r"""
import json, resource, sys, time
start = time.perf_counter()
job = json.loads(sys.argv[1])
import torch
torch.set_num_threads(job["threads"])
if job["side"] == "modelcfg":
    from pathlib import Path
    from modelcfg.evaluation.harness import evaluate
    evaluate(Path(job["model"]), job["tasks"], Path(job["tasks_dir"]), Path(job["out"]),
             adapter_path=Path(job["adapter"]) if job["adapter"] else None,
             limit=job["limit"], batch_size=job["batch_size"])
else:
    import lm_eval
    from lm_eval.tasks import TaskManager
    args = f"pretrained={job['model']},dtype=auto,trust_remote_code=False"
    if job["adapter"]:
        args += f",peft={job['adapter']}"
    manager = TaskManager(include_path=[f"{job['tasks_dir']}/{t}" for t in job["tasks"]],
                          include_defaults=False)
    res = lm_eval.simple_evaluate(model="hf", model_args=args, tasks=job["tasks"],
                                  task_manager=manager, batch_size=job["batch_size"],
                                  device="cpu", limit=job["limit"], log_samples=True,
                                  bootstrap_iters=0)
    with open(job["out"], "w") as fh:
        json.dump(res["results"], fh, default=str)
wall = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime,
                  "peak_rss_mib": usage.ru_maxrss / 1024}))
"""


def default_model() -> Path:
    from modelcfg.tiny.build import ensure_tiny_model

    return ensure_tiny_model()


def measure(side: str, job: dict) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run([sys.executable, "-c", CHILD, json.dumps({**job, "side": side})],
                          capture_output=True, text=True, env=env, cwd=job["cwd"])
    if proc.returncode != 0:
        sys.exit(f"{side} run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: built-in tiny)")
    parser.add_argument("--adapter", type=Path)
    parser.add_argument("--tasks", nargs="+", default=DEFAULT_TASKS)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    model = (args.model or default_model()).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        adapter = str(args.adapter.resolve()) if args.adapter else None
        job = {"model": str(model), "adapter": adapter,
               "tasks": args.tasks, "tasks_dir": str(TASKS_DIR), "limit": args.limit,
               "batch_size": args.batch_size, "threads": args.threads, "cwd": tmp,
               "out": str(Path(tmp) / "out.json")}
        runs: dict[str, list[dict]] = {"direct": [], "modelcfg": []}
        for _ in range(args.repeats):
            for side in ("direct", "modelcfg"):  # alternate, so drift hits both sides
                runs[side].append(measure(side, job))

    figures = {side: {"median_wall_seconds": round(statistics.median(r["wall_seconds"]
                                                                     for r in rs), 2),
                      "walls": [round(r["wall_seconds"], 2) for r in rs],
                      "median_cpu_seconds": round(statistics.median(r["cpu_seconds"]
                                                                    for r in rs), 2),
                      "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rs), 1)}
               for side, rs in runs.items()}
    ratio = figures["modelcfg"]["median_wall_seconds"] / figures["direct"]["median_wall_seconds"]
    cpu_ratio = (figures["modelcfg"]["median_cpu_seconds"]
                 / figures["direct"]["median_cpu_seconds"])
    report = {"model": model.name, "tasks": args.tasks, "limit": args.limit,
              "threads": args.threads, "repeats": args.repeats, **figures,
              "wall_ratio_modelcfg_over_direct": round(ratio, 3),
              "cpu_ratio_modelcfg_over_direct": round(cpu_ratio, 3), "goal": "wall ratio <= 1.1"}
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for side in ("direct", "modelcfg"):
            f = figures[side]
            print(f"{side:9s} median wall {f['median_wall_seconds']:6.2f} s  runs {f['walls']}  "
                  f"median CPU {f['median_cpu_seconds']:6.2f} s  "
                  f"peak RSS {f['peak_rss_mib']:.0f} MiB")
        print(f"modelcfg/direct: wall {ratio:.3f} (goal <= 1.1), CPU {cpu_ratio:.3f}")
    return 0 if ratio <= 1.1 else 1


if __name__ == "__main__":
    sys.exit(main())
