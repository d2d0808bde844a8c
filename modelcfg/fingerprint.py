"""Fingerprint of a training run: everything that changes the trained adapter, hashed.

Torch-free (hashing, JSON and ``importlib.metadata`` only), so ``validate`` and planning
code can compute it without importing a training stack.

The fingerprint is the sha256 of the canonical JSON (sorted keys, no whitespace, UTF-8)
of::

    {"adapter": resolved adapter config minus NON_RESULT_FIELDS,
     "model": resolved model config minus NON_RESULT_FIELDS,
     "base_revision": hub revision | builtin recipe hash | content hash of a local model dir,
     "datasets": [sha256 of each dataset, in config order],
     "versions": {modelcfg, torch, transformers, peft (+ trl for dpo)}}

Dataset paths are replaced by their sha256 (renaming a file does not change the result;
editing it does). Fields that only describe, evaluate or cap a run are left out.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

# Top-level fields that do not change the trained weights.
NON_RESULT_FIELDS = ("rationale", "description", "evals", "budget", "apiVersion", "kind")
# training.* fields that do not change the trained weights.
NON_RESULT_TRAINING_FIELDS = ("checkpoint_every",)
VERSIONED = ("modelcfg", "torch", "transformers", "peft")


def canonical_json(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_tree(directory: str | Path, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under ``directory``, keyed by its posix path relative to it."""
    root = Path(directory)
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*")) if p.is_file()
            and not any(p.relative_to(root).as_posix().startswith(e) for e in exclude)}


def library_versions(method: str = "sft") -> dict[str, str | None]:
    names = VERSIONED + (("trl",) if method == "dpo" else ())
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def base_revision(model: dict, root: str | Path = ".") -> str:
    """What pins the base weights: the hub revision, the builtin recipe hash, or a content
    hash of a local model directory."""
    source = model.get("source", {})
    if "hub" in source:
        return f"hub:{source['hub']['id']}@{source['hub'].get('revision')}"
    if "builtin" in source:
        from modelcfg import tiny

        return f"builtin:{source['builtin']}:{tiny.recipe_hash()}"
    if "path" in source:
        tree = hash_tree(Path(root) / source["path"])
        return f"path:{sha256_bytes(canonical_json(tree))}"
    raise ValueError(f"unknown model source: {source!r}")


def _strip(doc: dict) -> dict:
    out = {k: v for k, v in doc.items() if k not in NON_RESULT_FIELDS}
    if isinstance(out.get("training"), dict):
        out["training"] = {k: v for k, v in out["training"].items()
                           if k not in NON_RESULT_TRAINING_FIELDS}
    if "datasets" in out:
        out.pop("datasets")
    return out


def fingerprint_inputs(resolved: dict, root: str | Path = ".") -> dict:
    adapter = resolved["adapter"]
    return {
        "adapter": _strip(adapter),
        "model": _strip(resolved["model"]),
        "base_revision": base_revision(resolved["model"], root),
        "datasets": [d["sha256"] for d in resolved["datasets"]],
        "versions": library_versions(adapter.get("method", "sft")),
    }


def fingerprint(resolved: dict, root: str | Path = ".") -> str:
    return sha256_bytes(canonical_json(fingerprint_inputs(resolved, root)))
