"""Fingerprint of a training run: everything that changes the trained adapter, hashed.

Torch-free (hashing, JSON and ``importlib.metadata`` only), so ``validate`` and planning
code can compute it without importing a training stack.

The fingerprint is the sha256 of the canonical JSON (sorted keys, no whitespace, UTF-8)
of::

    {"adapter": resolved adapter config minus config.model.NON_RESULT_FIELDS,
     "model": resolved model config minus config.model.NON_RESULT_FIELDS,
     "base_revision": hub revision | builtin recipe hash | content hash of a local model dir,
     "datasets": [sha256 of each dataset, in config order],
     "versions": {modelcfg, torch, transformers, peft (+ trl for dpo)}}

Dataset paths are replaced by their sha256 (renaming a file does not change the result;
editing it does). Fields that only describe, evaluate or cap a run are left out.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from modelcfg.config.model import (
    BuiltinSource,
    HubSource,
    Model,
    PathSource,
    ResolvedAdapter,
    result_fields,
)
from modelcfg.core.hashing import canonical_json, hash_tree, sha256_bytes

VERSIONED = ("modelcfg", "torch", "transformers", "peft")


def library_versions(method: str) -> dict[str, str | None]:
    """Versions of the libraries whose code shapes the trained weights (trl for DPO)."""
    names = VERSIONED + (("trl",) if method == "dpo" else ())
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def base_revision(model: Model, root: str | Path = ".") -> str:
    """What pins the base weights: the hub revision, the builtin recipe hash, or a content
    hash of a local model directory."""
    source = model.source
    if isinstance(source, HubSource):
        return f"hub:{source.id}@{source.revision}"
    if isinstance(source, BuiltinSource):
        from modelcfg.tiny import build as tiny

        return f"builtin:{source.name}:{tiny.recipe_hash()}"
    if isinstance(source, PathSource):
        tree = hash_tree(Path(root) / source.path)
        return f"path:{sha256_bytes(canonical_json(tree))}"
    raise ValueError(f"unknown model source: {source!r}")


def _strip(doc: dict) -> dict:
    out = result_fields(doc)
    out.pop("datasets", None)
    return out


def fingerprint_inputs(resolved: ResolvedAdapter, root: str | Path = ".") -> dict:
    """The hashed inputs, readable (the manifest records them)."""
    return {
        "adapter": _strip(resolved.adapter.to_dict()),
        "model": _strip(resolved.model.to_dict()),
        "base_revision": base_revision(resolved.model, root),
        "datasets": [d.sha256 for d in resolved.datasets],
        "versions": library_versions(resolved.adapter.method),
    }


def fingerprint(resolved: ResolvedAdapter, root: str | Path = ".") -> str:
    return sha256_bytes(canonical_json(fingerprint_inputs(resolved, root)))
