"""The per-task scores a ledger entry records, so that the drift cap can be checked from the
ledger alone (docs/audit.md, "Drift caps").

Per task: every metric's ``value``, ``n`` and ``higher_is_better`` (lm-eval's direction, as
the results record it) and ``items_sha256``, the sha256 of the canonical JSON of
``{doc_id: doc_hash}`` of the items the values were measured on: values measured on other
items are not compared.
"""

from __future__ import annotations

from modelcfg.core.hashing import canonical_json, sha256_bytes


def _task(metrics: dict, items: dict[str, str]) -> dict:
    return {"items_sha256": sha256_bytes(canonical_json(items)),
            "metrics": {name: {k: (m or {}).get(k) for k in ("value", "n", "higher_is_better")}
                        for name, m in sorted(metrics.items())}}


def baseline_scores(baseline: dict) -> dict:
    """The scores of a baseline (``modelcfg-baseline/1``): its items are those of its
    samples (every metric of a task scores the same items)."""
    out = {}
    for name, task in sorted((baseline.get("tasks") or {}).items()):
        samples = next(iter((task.get("samples") or {}).values()), {})
        out[name] = _task(task.get("metrics") or {},
                          {doc: pair[0] for doc, pair in samples.items()})
    return out


def results_scores(results: dict) -> dict:
    """The scores of a results file (``tasks.<t>.samples.<doc>.doc_hash``), as
    :func:`baseline_scores` gives them for the baseline built from it."""
    out = {}
    for name, task in sorted((results.get("tasks") or {}).items()):
        items = {str(doc): s.get("doc_hash") for doc, s in (task.get("samples") or {}).items()}
        out[name] = _task(task.get("metrics") or {}, items)
    return out


def metric_of(task_scores: dict, metric: str) -> tuple[str, dict] | None:
    """The recorded metric for a thresholds ``metric`` (lm-eval suffixes a filter:
    ``exact_match,none``), or None."""
    metrics = task_scores.get("metrics") or {}
    if metric in metrics:
        return metric, metrics[metric]
    matches = sorted(k for k in metrics if k.split(",")[0] == metric)
    return (matches[0], metrics[matches[0]]) if matches else None
