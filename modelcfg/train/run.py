"""``modelcfg train``: fingerprint, cache, budget, then the recipe; a manifest at the end.

Library entry point :func:`train_adapter` returns a :class:`TrainResult` and never prints;
progress goes to the ``on_progress`` callback as plain dict events (rendering lives at the
CLI edge, see :mod:`modelcfg.cli.progress`).

Run directory ``<runs_dir>/<adapter name>/<fingerprint[:16]>/``::

    adapter/             peft adapter (adapter_config.json, adapter_model.safetensors)
    checkpoints/step-N/  state.pt: trainable weights, optimizer, scheduler, RNG, data position
    resolved.json        the resolved config (what worker processes read)
    manifest.json        written last, atomically: the run is complete only once it exists

A manifest whose recorded adapter file hashes do not match the files is a corrupt entry
(MC503): it is never used, the run is rebuilt. Heavy libraries are imported only by the
recipe modules (train_sft, train_dpo), inside functions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.config.cost import effective_caps, exceeded
from modelcfg.config.model import ResolvedAdapter
from modelcfg.core.atomic import write_bytes
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import canonical_json, hash_tree
from modelcfg.train.fingerprint import fingerprint, fingerprint_inputs

MANIFEST = "manifest.json"
EVENT_PREFIX = "MODELCFG_EVENT "
WORKER_ENV = "MODELCFG_TRAIN_WORKER"


@dataclass
class TrainResult:
    run_dir: Path
    cache_hit: bool
    manifest: dict
    train_seconds: float
    events: list[dict] = field(default_factory=list)  # notable events (e.g. MC503 rebuilt)

    @property
    def status(self) -> str:
        return self.manifest.get("status", "unknown")


def train_adapter(root: str | Path, config: str, *, runs_dir: str | Path | None = None,
                  resume: bool = False, on_progress=None,
                  model_cache: str | Path | None = None) -> TrainResult:
    """Train the adapter named (or at repository path) ``config`` in the repository ``root``.

    Returns the existing run on a cache hit (0 training seconds). Raises UserError MC501 when
    the pre-launch estimate exceeds the budget, MC502 when the run stopped over budget (the
    run is kept, marked ``over_budget``), MC504 for ``resume`` without a checkpoint."""
    root = Path(root).resolve()
    return train_resolved(resolve_config(root, config), root, runs_dir=runs_dir, resume=resume,
                          on_progress=on_progress, model_cache=model_cache)


def resolve_config(root: Path, config: str) -> ResolvedAdapter:
    """The resolved adapter (:func:`modelcfg.config.resolve.resolve_adapter`)."""
    from modelcfg.config.resolve import resolve_adapter
    from modelcfg.config.trees import FsTree
    from modelcfg.config.workspace import load_workspace

    return resolve_adapter(load_workspace(FsTree(root)), config)


def default_runs_dir(root: Path) -> Path:
    return root / ".modelcfg" / "runs"


def run_dir_for(resolved: ResolvedAdapter, root: Path, runs_dir: str | Path | None = None
                ) -> tuple[Path, str]:
    """Where the run of ``resolved``'s fingerprint lives, and the fingerprint."""
    fp = fingerprint(resolved, root)
    base = Path(runs_dir) if runs_dir else default_runs_dir(root)
    return base / resolved.name / fp[:16], fp


def train_resolved(resolved: ResolvedAdapter, root: Path, *, runs_dir: str | Path | None = None,
                   resume: bool = False, on_progress=None,
                   model_cache: str | Path | None = None) -> TrainResult:
    emit = on_progress or (lambda event: None)
    events: list[dict] = []
    run_dir, fp = run_dir_for(resolved, root, runs_dir)

    # --- cache -------------------------------------------------------------------------
    state, manifest = cache_state(run_dir)
    if state == "complete":
        emit({"event": "cache_hit", "run_dir": str(run_dir)})
        return TrainResult(run_dir, True, manifest, 0.0)
    if state == "corrupt":
        event = {"event": "cache_corrupt", "code": "MC503", "run_dir": str(run_dir),
                 "message": "cached adapter files do not match the manifest hashes; "
                            "discarded and retrained"}
        events.append(event)
        emit(event)
    _check_datasets(resolved, root)
    if resume:
        if state == "corrupt" or not has_checkpoint(run_dir):
            raise UserError("MC504", f"--resume: no checkpoint in {run_dir}; run without "
                            "--resume to start from scratch")
        (run_dir / MANIFEST).unlink(missing_ok=True)
    elif run_dir.exists():
        shutil.rmtree(run_dir)  # an unfinished, over-budget or corrupt run: start afresh

    # --- budget, before any step -------------------------------------------------------
    caps = budget_caps(resolved)
    estimate = prelaunch_estimate(resolved)
    _refuse_over_budget(estimate, caps)

    # --- train -------------------------------------------------------------------------
    run_dir.mkdir(parents=True, exist_ok=True)
    write_bytes(run_dir / "resolved.json", canonical_json(resolved.to_dict()))
    wall_start = time.perf_counter()
    devices = resolved.adapter.training.devices
    if devices > 1 and os.environ.get(WORKER_ENV) != "1":
        stats = _launch_processes(run_dir, root, devices, resume, emit, model_cache)
    else:
        stats = run_recipe(resolved, root, run_dir, resume=resume, emit=emit, caps=caps,
                           model_cache=model_cache)
    wall = time.perf_counter() - wall_start

    manifest = build_manifest(resolved, root, run_dir, fp, stats, estimate, caps, wall)
    write_bytes(run_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    emit({"event": "done", "run_dir": str(run_dir), "status": manifest["status"]})
    if manifest["status"] == "over_budget":
        raise UserError("MC502", f"stopped over budget after {stats['steps']} steps: "
                        f"{stats['train_tokens']} tokens trained, "
                        f"{manifest['cost']['gpu_hours']:.4f} GPU-hours used, caps "
                        f"{_caps_text(caps)}; the partial run in {run_dir} is marked "
                        "over_budget and will not be reused")
    return TrainResult(run_dir, False, manifest, stats["train_seconds"], events)


def run_recipe(resolved: ResolvedAdapter, root: Path, run_dir: Path, **kwargs) -> dict:
    """Train with the adapter's method in this process (or in this worker)."""
    if resolved.adapter.method == "dpo":
        from modelcfg.train.dpo import run_dpo

        return run_dpo(resolved, root, run_dir, **kwargs)
    from modelcfg.train.sft import run_sft

    return run_sft(resolved, root, run_dir, **kwargs)


def has_checkpoint(run_dir: Path) -> bool:
    ckpts = run_dir / "checkpoints"
    return any(ckpts.glob("step-*/state.pt")) or any(ckpts.glob("checkpoint-*/trainer_state.json"))


def cache_state(run_dir: Path) -> tuple[str, dict]:
    """("complete" | "corrupt" | "over_budget" | "absent", manifest)."""
    path = run_dir / MANIFEST
    if not path.is_file():
        return "absent", {}
    try:
        manifest = json.loads(path.read_text())
        recorded = manifest["files"]
    except (ValueError, KeyError):
        return "corrupt", {}
    adapter_dir = run_dir / "adapter"
    if not adapter_dir.is_dir() or hash_tree(adapter_dir) != recorded:
        return "corrupt", manifest
    if manifest.get("status") != "complete":
        return "over_budget", manifest
    return "complete", manifest


def budget_caps(resolved: ResolvedAdapter) -> dict:
    """The tighter of the adapter's budget and the contract's caps."""
    return effective_caps(resolved.adapter.budget, resolved.caps)


def prelaunch_estimate(resolved: ResolvedAdapter) -> dict:
    """The same upper-bound estimate ``validate`` shows (modelcfg.config.cost): every row counted at
    max_seq_length, 6·N·T FLOPs, GPU-hours at the contract's assumed TFLOP/s."""
    from modelcfg.config.cost import CostUnknown, estimate_cost

    try:
        return estimate_cost(resolved).to_dict()
    except CostUnknown as exc:
        raise UserError("MC501", f"cannot check the budget before training: {exc}") from exc


def _refuse_over_budget(estimate: dict, caps: dict) -> None:
    words = {"max_train_tokens": "{:,} training tokens > cap {:,}",
             "max_gpu_hours": "{:.4g} GPU-hours > cap {:.4g}"}
    over = [words[key].format(value, limit) for key, value, limit in exceeded(estimate, caps)]
    if over:
        raise UserError("MC501", "refused before training: the pre-launch estimate exceeds "
                        "the budget: " + "; ".join(over) + " (estimate: "
                        f"{estimate['flops']:.3g} FLOPs = 6 x {estimate['parameters']:,} "
                        "parameters x tokens). Lower max_steps/batch_size/max_seq_length or "
                        "raise budget within the contract's caps")


def _caps_text(caps: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in caps.items() if k != "assumed_tflops") or "none"


def _check_datasets(resolved: ResolvedAdapter, root: Path) -> None:
    from modelcfg.core.hashing import sha256_file

    for d in resolved.datasets:
        if d.abs_path is None:
            raise UserError("MC508", f"dataset {d.hub!r}: hub datasets are not "
                            "supported by `modelcfg train` yet; commit the JSONL")
        actual = sha256_file(d.abs_path)
        if actual != d.sha256:
            raise UserError("MC506", f"dataset {d.path} has sha256 {actual}, the config "
                            f"pins {d.sha256}", path=d.path)


def build_manifest(resolved, root, run_dir, fp, stats, estimate, caps, wall) -> dict:
    from importlib.metadata import version

    tokens = stats["train_tokens"]
    return {
        "fingerprint": fp,
        "adapter": resolved.name,
        "method": resolved.adapter.method,
        "status": stats["status"],
        "modelcfg_version": version("modelcfg"),
        "inputs": {
            **fingerprint_inputs(resolved, root),
            "resolved": {"adapter": resolved.adapter.to_dict(),
                         "model": resolved.model.to_dict()},
            "dataset_files": [{"path": d.path, "sha256": d.sha256} for d in resolved.datasets],
        },
        "files": hash_tree(run_dir / "adapter"),
        "cost": {
            "wall_seconds": round(wall, 3),
            "train_seconds": round(stats["train_seconds"], 3),
            "device": stats["device"],
            "processes": stats["processes"],
            "gpu_hours": stats["gpu_hours"],
            "train_tokens": tokens,
            "tokens_per_second": round(tokens / max(stats["train_seconds"], 1e-9), 1),
            "parameters": stats["parameters"],
            "trainable_params": adapter_parameters(run_dir / "adapter"),
            "flops": 6.0 * stats["parameters"] * tokens,
            "flops_formula": "6 * parameters * train_tokens",
            "peak_memory_bytes": stats["peak_memory_bytes"],
            "peak_memory_kind": stats["peak_memory_kind"],
            "final_loss": stats["final_loss"],
            "steps": stats["steps"],
            "planned_steps": stats["total_steps"],
            "resumed": stats["resumed"],
        },
        "estimate": estimate,
        "caps": caps,
    }


def adapter_parameters(adapter_dir: Path) -> int | None:
    """Parameters saved in the adapter (LoRA matrices and modules_to_save): the trainable
    parameters. Read from the safetensors header, so no torch is needed."""
    path = adapter_dir / "adapter_model.safetensors"
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        header = json.loads(fh.read(size))
    total = 0
    for name, meta in header.items():
        if name != "__metadata__":
            count = 1
            for dim in meta["shape"]:
                count *= dim
            total += count
    return total


def _launch_processes(run_dir: Path, root: Path, devices: int, resume: bool, emit,
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
           "-m", "modelcfg.train.run", str(run_dir), str(root)]
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


def _worker_main(argv: list[str]) -> int:
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
    sys.exit(_worker_main(sys.argv[1:]))
