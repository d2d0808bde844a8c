"""The manifest of a finished run (``manifest.json``): inputs, adapter file hashes, measured
cost. Written last: a run is complete only once its manifest exists and matches its files."""

from __future__ import annotations

import json
from pathlib import Path

from modelcfg.core.extras import versions
from modelcfg.core.hashing import canonical_json, hash_tree, sha256_bytes, sha256_file
from modelcfg.train.fingerprint import fingerprint_inputs

MANIFEST = "manifest.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weights_sha256(model_folder: Path) -> str:
    """sha256 of a model folder's weights: of its one weights file, or (sharded) of the
    canonical JSON of ``{file: sha256}`` over its weight files. Config and tokenizer files
    are left out: they are pinned by the fingerprint, this names the numbers."""
    files = sorted(p for p in Path(model_folder).rglob("*")
                   if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if len(files) == 1:
        return sha256_file(files[0])
    return sha256_bytes(canonical_json({p.relative_to(model_folder).as_posix(): sha256_file(p)
                                        for p in files}))


def hardware(device: str) -> dict:
    """What the run ran on: the device, torch's CPU kernel level (the same recipe gives
    other weights under another one), the CPU and GPU model, and the library versions."""
    import platform

    import torch

    libraries = versions("torch", "transformers", "peft")
    return {"device": device, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu": _cpu_model() or platform.processor() or platform.machine(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "versions": libraries}


def _cpu_model() -> str | None:
    """The CPU's model name where the OS says it cheaply (Linux); None elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def build_manifest(resolved, root, run_dir, fp, stats, estimate, caps, wall,
                   base_dir: Path) -> dict:
    """The manifest; ``base_dir`` is the folder of the base model the run trained on."""
    from importlib.metadata import version

    tokens = stats["train_tokens"]
    return {
        "fingerprint": fp,
        "weights": {"base_sha256": weights_sha256(base_dir),
                    "adapter_sha256": sha256_file(run_dir / "adapter" / ADAPTER_WEIGHTS)},
        "hardware": hardware(stats["device"]),
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
        "recipe": stats.get("recipe"),
        "validation": stats.get("validation"),
    }


def adapter_parameters(adapter_dir: Path) -> int | None:
    """Parameters saved in the adapter (LoRA matrices and modules_to_save): the trainable
    parameters. Read from the safetensors header, so no torch is needed."""
    path = adapter_dir / ADAPTER_WEIGHTS
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
