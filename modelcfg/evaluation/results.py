"""Results files (format ``modelcfg-eval-results/1``, docs/evaluation.md): per task and metric
the value, stderr and n, and per-sample scores keyed by doc_id with doc_hash. Written
atomically, read with their format checked, and merged batch by batch. No lm-eval here."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelcfg.core.atomic import write_text
from modelcfg.core.errors import UserError
from modelcfg.core.numbers import is_finite, mean_and_sd

RESULTS_FORMAT = "modelcfg-eval-results/1"


def mean_and_stderr(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and its standard error, sample sd (n-1) / sqrt(n); stderr is None below 2 items."""
    if not values:
        return None, None
    mean, sd = mean_and_sd(values)
    return (mean, None) if len(values) < 2 else (mean, sd / math.sqrt(len(values)))


def is_score(value: Any) -> bool:
    """A per-item score that is a number: a boolean or a finite int/float."""
    return isinstance(value, bool) or is_finite(value)


def metric_summary(scores: list, reported: Any) -> dict:
    if scores and all(is_score(s) for s in scores):
        mean, stderr = mean_and_stderr([float(s) for s in scores])
        return {"value": mean, "stderr": stderr, "n": len(scores)}
    # Not a mean of per-item numbers (F1, BLEU ...): keep lm-eval's figure; the gate
    # bootstraps over items instead.
    return {"value": reported if is_score(reported) else None, "stderr": None,
            "n": len(scores)}


def score_value(value: Any) -> Any:
    """Per-sample scores as plain JSON: numbers become floats, NaN and infinities become
    null (the gate fails closed on it), anything else (F1/BLEU inputs) its JSON form."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # numpy scalar -> Python bool/int/float
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if is_score(value):
        return float(value)
    if value is None or isinstance(value, str):
        return value
    try:
        # numpy scalars nested in tuples (lm-eval's (gold, pred) F1 items) stay numbers.
        return json.loads(json.dumps(value, default=_plain))
    except (TypeError, ValueError):
        return str(value)


def _plain(value: Any) -> Any:
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return value.item()
    return str(value)


def write_results(results: dict, out_path: Path) -> None:
    """Write a results file atomically (temp file + rename); NaN is refused."""
    write_text(Path(out_path), json.dumps(results, indent=1, allow_nan=False) + "\n")


def load_results(path: Path) -> dict:
    """Read a results file, checking its format marker."""
    path = Path(path)
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError("MC606", f"cannot read results file: {err}", path=str(path)) from err
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT:
        raise UserError("MC606", f"not a {RESULTS_FORMAT} results file", path=str(path))
    return results


def merge_results(a: dict, b: dict) -> dict:
    """Join the results of two batches of the same evaluation into one.

    Refuses (MC607) results of different models, lm-eval versions, item orders, task versions
    or task config hashes, and a doc_id present in both with a different doc_hash or score.
    Metric values, stderr and n are recomputed from the joined per-sample scores.
    """
    for key, what in (("format", "format"), ("lm_eval_version", "lm-eval version")):
        if a.get(key) != b.get(key):
            raise UserError("MC607", f"cannot merge results: {what} differs "
                            f"({a.get(key)!r} vs {b.get(key)!r})")
    if a["model"] != b["model"]:
        raise UserError("MC607", "cannot merge results of different models")
    if a["selection"]["order_seed"] != b["selection"]["order_seed"]:
        raise UserError("MC607", "cannot merge results taken in different item orders")
    merged = json.loads(json.dumps(a))
    merged["created"] = max(a["created"], b["created"])
    merged["selection"]["batches"] = a["selection"]["batches"] + b["selection"]["batches"]
    for name, task_b in b["tasks"].items():
        task_a = merged["tasks"].get(name)
        if task_a is None:
            merged["tasks"][name] = json.loads(json.dumps(task_b))
            continue
        for key in ("version", "config_hash", "n_docs", "source"):
            if task_a[key] != task_b[key]:
                raise UserError("MC607", f"cannot merge results: task {name!r} {key} differs "
                                f"({task_a[key]!r} vs {task_b[key]!r})")
        for doc_id, sample in task_b["samples"].items():
            mine = task_a["samples"].get(doc_id)
            if mine is not None and mine != sample:
                raise UserError("MC607", f"cannot merge results: task {name!r} doc {doc_id} "
                                "differs between the two results")
            task_a["samples"][doc_id] = sample
        task_a["samples"] = dict(sorted(task_a["samples"].items(), key=lambda kv: int(kv[0])))
        for metric in set(task_a["metrics"]) | set(task_b["metrics"]):
            scores = [s["scores"].get(metric) for s in task_a["samples"].values()]
            if not all(is_score(s) for s in scores):
                raise UserError("MC607", f"cannot merge results: metric {metric!r} of task "
                                f"{name!r} is not a mean of per-item scores")
            mean, stderr = mean_and_stderr([float(s) for s in scores])
            summary = task_a["metrics"].get(metric) or task_b["metrics"][metric]
            task_a["metrics"][metric] = {**summary, "value": mean, "stderr": stderr,
                                         "n": len(scores)}
    timing_a, timing_b = a["timing"], b["timing"]
    seconds = timing_a["generation_seconds"] + timing_b["generation_seconds"]
    tokens = timing_a["generated_tokens"] + timing_b["generated_tokens"]
    merged["timing"] = {
        "wall_seconds": round(timing_a["wall_seconds"] + timing_b["wall_seconds"], 3),
        "generation_seconds": round(seconds, 3),
        "generated_tokens": tokens,
        "tokens_per_second": round(tokens / seconds, 1) if seconds > 0 and tokens else None,
    }
    return merged
