"""``modelcfg train``: fingerprint, cache, budget, then the recipe; a manifest at the end.

Library entry point :func:`train_adapter` returns a :class:`TrainResult` and never prints;
progress goes to the ``on_progress`` callback as plain dict events (rendering lives at the
CLI edge, see :mod:`modelcfg.cli.progress`).

Run directories and their states: :mod:`modelcfg.train.runs`. Heavy libraries are imported
only by the recipe modules (sft, dpo), inside functions.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.config.model import ResolvedAdapter
from modelcfg.core.atomic import write_bytes
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import canonical_json
from modelcfg.train.budget import (
    budget_caps,
    caps_text,
    prelaunch_estimate,
    refuse_over_budget,
)
from modelcfg.train.launch import WORKER_ENV, launch_processes, run_recipe
from modelcfg.train.manifest import MANIFEST, build_manifest
from modelcfg.train.runs import cache_state, has_checkpoint, model_dir, run_dir_for


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
    from modelcfg.train.recipe import check_optimizer

    check_optimizer(resolved, root)
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
    refuse_over_budget(estimate, caps)

    # --- train -------------------------------------------------------------------------
    run_dir.mkdir(parents=True, exist_ok=True)
    write_bytes(run_dir / "resolved.json", canonical_json(resolved.to_dict()))
    wall_start = time.perf_counter()
    devices = resolved.adapter.training.devices
    if devices > 1 and os.environ.get(WORKER_ENV) != "1":
        stats = launch_processes(run_dir, root, devices, resume, emit, model_cache)
    else:
        stats = run_recipe(resolved, root, run_dir, resume=resume, emit=emit, caps=caps,
                           model_cache=model_cache)
    wall = time.perf_counter() - wall_start

    manifest = build_manifest(resolved, root, run_dir, fp, stats, estimate, caps, wall,
                              model_dir(resolved.model, root, model_cache))
    write_bytes(run_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
    emit({"event": "done", "run_dir": str(run_dir), "status": manifest["status"]})
    if manifest["status"] == "over_budget":
        raise UserError("MC502", f"stopped over budget after {stats['steps']} steps: "
                        f"{stats['train_tokens']} tokens trained, "
                        f"{manifest['cost']['gpu_hours']:.4f} GPU-hours used, caps "
                        f"{caps_text(caps)}; the partial run in {run_dir} is marked "
                        "over_budget and will not be reused")
    return TrainResult(run_dir, False, manifest, stats["train_seconds"], events)


def _check_datasets(resolved: ResolvedAdapter, root: Path) -> None:
    from modelcfg.core.hashing import sha256_file

    for d in resolved.datasets:
        if d.abs_path is None:  # a hub dataset: its pinned snapshot must be reachable
            from modelcfg.train.hub_data import snapshot

            snapshot(d)
            continue
        actual = sha256_file(d.abs_path)
        if actual != d.sha256:
            raise UserError("MC506", f"dataset {d.path} has sha256 {actual}, the config "
                            f"pins {d.sha256}", path=d.path)


