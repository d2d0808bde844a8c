"""Evidence the gate compares (a baseline in results form) and the evidence a passing change
leaves for `modelcfg promote`."""

from __future__ import annotations

from pathlib import Path

from modelcfg.audit.baseline import build_baseline
from modelcfg.config.model import ResolvedAdapter, config_key
from modelcfg.core.atomic import write_json
from modelcfg.gate import verdict


def baseline_as_results(baseline: dict) -> dict:
    """A baseline file's tasks in the results-file shape the verdict functions pair on."""
    tasks = {}
    for name, task in baseline.get("tasks", {}).items():
        samples: dict[str, dict] = {}
        for metric, items in task.get("samples", {}).items():
            for doc_id, (doc_hash, score) in items.items():
                entry = samples.setdefault(doc_id, {"doc_hash": doc_hash, "scores": {}})
                entry["scores"][metric] = score
        tasks[name] = {"version": task.get("version"), "config_hash": task.get("config_hash"),
                       "n_docs": task.get("n_docs"), "samples": samples,
                       "metrics": task.get("metrics", {})}
    return {"lm_eval_version": (baseline.get("harness") or {}).get("version"), "tasks": tasks}


_SUMMARY = ("metric", "decision", "estimate", "ci_low", "ci_high", "items_used",
            "items_available", "baseline_mean", "candidate_mean")
# The rule's figures a model card reports (modelcfg.audit.card) where the task has them:
# its kind and margin, and for a safety task its rule, rate, exact bound and floor.
_CARD_KEYS = ("kind", "margin", "rule", "rate", "rate_bound", "floor")


def task_summary(outcome: dict) -> dict:
    """One task's decision as the ledger entry records it (``eval``)."""
    return {**{k: outcome.get(k) for k in _SUMMARY},
            **{k: outcome[k] for k in _CARD_KEYS if k in outcome}}


def write_evidence(cv, cand, resolved: ResolvedAdapter, manifest: dict, head_sha: str, n_docs: dict,
                   out_dir: Path, *, complete: bool = True) -> None:
    """Complete the candidate's evaluation (the decision is already made) and save it in
    baseline form for `modelcfg promote`."""
    if complete:
        cand.evaluate_to(n_docs)
    evidence = build_baseline(cand.results, manifest, adapter=cv.adapter,
                              config_path=cv.path, commit=head_sha)
    evidence["config_key"] = config_key(resolved)
    summary = {t: task_summary(o) for t, o in cv.tasks.items()}
    for task, entry in summary.items():
        # The metric over the complete evidence (the decision used a prefix of the items).
        metrics = cand.task(task).get("metrics", {})
        key = verdict.metric_key(cand.task(task).get("samples", {}), entry["metric"])
        entry["value"] = (metrics.get(key) or {}).get("value")
    evidence["gate"] = {"tasks": summary}
    if cv.replaces is not None:  # a renamed adapter: whose history this evidence continues
        evidence["gate"]["replaces"] = cv.replaces
    path = out_dir / "evidence" / f"{cv.adapter}.json"
    write_json(path, evidence)
    cv.evidence = str(path.relative_to(out_dir))
