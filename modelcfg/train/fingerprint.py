"""Fingerprint of a training run: everything that changes the trained adapter, hashed.

Torch-free (hashing, JSON and ``importlib.metadata`` only), so ``validate`` and planning
code can compute it without importing a training stack.

The fingerprint is the sha256 of the canonical JSON (sorted keys, no whitespace, UTF-8)
of::

    {"adapter": resolved adapter config minus config.model.NON_RESULT_FIELDS,
     "model": resolved model config minus config.model.NON_RESULT_FIELDS,
     "base_revision": hub revision | hash of the shipped builtin files | content hash of a
                      local model dir,
     "datasets": [each entry minus NON_RESULT_DATASET_FIELDS ({sha256[, split]} of a file,
                  {hub, revision[, split]} of a hub dataset), in config order],
     "versions": {modelcfg, torch, transformers, peft (+ trl for dpo)}}

Dataset paths are replaced by their sha256 (renaming a file does not change the result;
editing it does). Fields that only describe, evaluate or cap a run are left out.
"""

from __future__ import annotations

from pathlib import Path

from modelcfg.config.model import (
    BuiltinSource,
    HubSource,
    Model,
    PathSource,
    ResolvedAdapter,
    result_fields,
)
from modelcfg.core.extras import versions
from modelcfg.core.hashing import canonical_json, hash_tree, sha256_bytes

VERSIONED = ("modelcfg", "torch", "transformers", "peft")
# Dataset entry fields that leave the trained weights alone: the path (the content hash
# counts, so renaming a file changes nothing), the hub ``examples`` count (it only feeds the
# cost estimate) and where the file lies on this machine.
NON_RESULT_DATASET_FIELDS = ("path", "examples", "abs_path")


def library_versions(method: str) -> dict[str, str | None]:
    """Versions of the libraries whose code shapes the trained weights (trl for DPO)."""
    return versions(*VERSIONED, *(("trl",) if method == "dpo" else ()))


def base_revision(model: Model, root: str | Path = ".") -> str:
    """What pins the base weights: the hub revision, the hash of the shipped builtin files,
    or a content hash of a local model directory."""
    source = model.source
    if isinstance(source, HubSource):
        return f"hub:{source.id}@{source.revision}"
    if isinstance(source, BuiltinSource):
        from modelcfg.tiny.shipped import weights_revision

        return f"builtin:{source.name}:{weights_revision()}"
    if isinstance(source, PathSource):
        tree = hash_tree(Path(root) / source.path)
        return f"path:{sha256_bytes(canonical_json(tree))}"
    raise ValueError(f"unknown model source: {source!r}")


def _strip(doc: dict) -> dict:
    out = result_fields(doc)
    out.pop("datasets", None)
    return out


def _dataset_pin(dataset) -> dict:
    """A dataset entry minus :data:`NON_RESULT_DATASET_FIELDS`: a file by its sha256, a hub
    dataset by id, revision and split. Derived, so a new entry field counts by default."""
    return {k: v for k, v in dataset.to_dict().items() if k not in NON_RESULT_DATASET_FIELDS}


def fingerprint_inputs(resolved: ResolvedAdapter, root: str | Path = ".") -> dict:
    """The hashed inputs, readable (the manifest records them)."""
    return {
        "adapter": _strip(resolved.adapter.to_dict()),
        "model": _strip(resolved.model.to_dict()),
        "base_revision": base_revision(resolved.model, root),
        "datasets": [_dataset_pin(d) for d in resolved.datasets],
        "versions": library_versions(resolved.adapter.method),
    }


def fingerprint(resolved: ResolvedAdapter, root: str | Path = ".") -> str:
    return sha256_bytes(canonical_json(fingerprint_inputs(resolved, root)))
