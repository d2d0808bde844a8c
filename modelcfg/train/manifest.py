"""The manifest of a finished run (``manifest.json``): inputs, adapter file hashes, measured
cost. Written last: a run is complete only once its manifest exists and matches its files."""

from __future__ import annotations

import json
from pathlib import Path

from modelcfg.core.hashing import hash_tree
from modelcfg.train.fingerprint import fingerprint_inputs

MANIFEST = "manifest.json"


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
