"""What in a config changes a trained result, and what only describes, evaluates or caps it."""

from __future__ import annotations

from modelcfg.core.hashing import canonical_json, sha256_bytes

# Top-level fields that do not change the trained weights.
NON_RESULT_FIELDS = ("rationale", "description", "evals", "budget", "apiVersion", "kind")
# training.* fields that do not change the trained weights.
NON_RESULT_TRAINING_FIELDS = ("checkpoint_every",)


def result_fields(doc: dict) -> dict:
    """``doc`` without the fields that leave the trained weights alone."""
    out = {k: v for k, v in doc.items() if k not in NON_RESULT_FIELDS}
    if isinstance(out.get("training"), dict):
        out["training"] = {k: v for k, v in out["training"].items()
                           if k not in NON_RESULT_TRAINING_FIELDS}
    return out


def config_key(resolved: dict) -> str:
    """What the trained result depends on in the configs alone (no library versions): used
    to tell whether a baseline still describes the base commit's config."""
    return sha256_bytes(canonical_json({
        "adapter": result_fields(resolved["adapter"]), "model": result_fields(resolved["model"]),
        "datasets": [d.get("sha256") or d.get("revision") for d in resolved["datasets"]]}))
