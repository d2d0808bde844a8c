"""Running the recipe: in this process, or in N processes started by ``accelerate launch``
(DDP; gloo on CPU, nccl on GPUs), each of which enters :func:`worker_main`.

Rank 0 reports events and its stats as JSON lines on stdout, prefixed EVENT_PREFIX.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from modelcfg.config.model import ResolvedAdapter
from modelcfg.core.errors import UserError
from modelcfg.train.budget import budget_caps

EVENT_PREFIX = "MODELCFG_EVENT "
WORKER_ENV = "MODELCFG_TRAIN_WORKER"


def run_recipe(resolved: ResolvedAdapter, root: Path, run_dir: Path, **kwargs) -> dict:
    """Train with the adapter's method in this process (or in this worker)."""
    if resolved.adapter.method == "dpo":
        from modelcfg.train.dpo import run_dpo

        return run_dpo(resolved, root, run_dir, **kwargs)
    from modelcfg.train.sft import run_sft

    return run_sft(resolved, root, run_dir, **kwargs)


def launch_processes(run_dir: Path, root: Path, devices: int, resume: bool, emit,
                     model_cache) -> dict:
    """``accelerate launch`` N copies of the recipe (DDP; gloo on CPU, nccl on GPUs).

    Rank 0 reports events and its stats as JSON lines on stdout, prefixed EVENT_PREFIX."""
    import socket

    if model_cache is None:
        model_cache = os.environ.get("MODELCFG_CACHE")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
           "--num_processes", str(devices), "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(port),
           "-m", "modelcfg.train.launch", str(run_dir), str(root)]
    if resume:
        cmd.append("--resume")
    env = {**os.environ, WORKER_ENV: "1", "PYTHONUNBUFFERED": "1"}
    if model_cache:
        env["MODELCFG_CACHE"] = str(model_cache)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    stats = None
    for line in proc.stdout:
        if line.startswith(EVENT_PREFIX):
            event = json.loads(line[len(EVENT_PREFIX):])
            if event.get("event") == "worker_stats":
                stats = event["stats"]
            else:
                emit(event)
    stderr = proc.stderr.read()
    if proc.wait() != 0 or stats is None:
        raise UserError("MC507", f"the {devices}-process training launch failed "
                        f"(exit {proc.returncode}):\n{stderr[-3000:]}")
    return stats


def worker_main(argv: list[str]) -> int:
    """Entry of each process started by ``accelerate launch``."""
    run_dir, root = Path(argv[0]), Path(argv[1])
    resume = "--resume" in argv
    resolved = ResolvedAdapter.from_dict(json.loads((run_dir / "resolved.json").read_text()))
    rank = int(os.environ.get("RANK", "0"))

    def emit(event):
        if rank == 0:
            print(EVENT_PREFIX + json.dumps(event), flush=True)

    stats = run_recipe(resolved, root, run_dir, resume=resume, emit=emit,
                       caps=budget_caps(resolved), model_cache=os.environ.get("MODELCFG_CACHE"))
    emit({"event": "worker_stats", "stats": stats})
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
