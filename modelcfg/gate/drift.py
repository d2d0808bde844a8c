"""The drift cap: a chain of promotions, each within its margin, cannot lose more than
``max_drift`` in total (docs/gate.md, "No creep").

A task's ``max_drift`` (thresholds) bounds the oriented drift of the candidate from the
lineage's anchor: its first promotion, or the newest ``anchor`` entry where a maintainer
re-anchored (:func:`modelcfg.audit.history.anchor_entry`). The anchor's per-task values are
read from the base ledger alone (each promotion records ``scores``); the candidate's are its
complete evidence, after the statistical decision passed. Drift is ``anchor - candidate``
for a higher-is-better metric and ``candidate - anchor`` otherwise; above the cap blocks
(MC829). So does anything that keeps the check from being made (fail closed): an anchor
without scores for the task, values measured on other items, a direction that disagrees.
"""

from __future__ import annotations

from modelcfg.audit.history import anchor_entry, lineage
from modelcfg.audit.scores import metric_of, results_scores
from modelcfg.config.model import TaskRule
from modelcfg.gate.verdict import Reason

# Scores are means of per-item scores: a difference within this is equality (0.80 - 0.72
# is 0.08000000000000007 in floating point).
EPS = 1e-9


def drift_reasons(adapter: str, anchor: dict | None, specs: dict[str, TaskRule],
                  cand_scores: dict) -> tuple[dict[str, dict], list[Reason]]:
    """Per capped task, what the check found (for gate.json), and an MC829 per task whose
    drift exceeds its cap or cannot be checked. No anchor (nothing promoted yet): nothing
    to drift from."""
    info: dict[str, dict] = {}
    reasons: list[Reason] = []
    for task, rule in sorted(specs.items()):
        if rule.max_drift is None:
            continue
        if anchor is None:
            info[task] = {"anchor": None, "max_drift": rule.max_drift}
            continue
        found, why = _drift(task, rule, anchor, cand_scores.get(task) or {})
        info[task] = found
        if why is not None:
            reasons.append(Reason("MC829", f"task {task}: {why}", config=adapter, task=task,
                                  threshold=f"{task}.max_drift"))
    return info, reasons


def _drift(task: str, rule: TaskRule, anchor: dict, mine: dict) -> tuple[dict, str | None]:
    """One task against the anchor: ``(record, why it blocks or None)``."""
    seq, cap = anchor.get("seq"), rule.max_drift
    record = {"anchor_ledger_seq": seq, "max_drift": cap}
    theirs = ((anchor.get("scores") or {}).get(task)) or {}
    a, c = metric_of(theirs, rule.metric), metric_of(mine, rule.metric)
    fix = ("a maintainer re-anchors (`modelcfg promote --anchor ADAPTER`) once the "
           "baseline is what should be kept")
    if a is None or not isinstance(a[1].get("value"), (int, float)):
        return record, (f"the anchor (ledger entry {seq}) records no {rule.metric} score; "
                        f"the drift cap cannot be checked: {fix}")
    if c is None or not isinstance(c[1].get("value"), (int, float)):
        return record, f"the candidate has no {rule.metric} value to check the drift cap with"
    if theirs.get("items_sha256") != mine.get("items_sha256"):
        return record, (f"the anchor (ledger entry {seq}) was measured on other items than "
                        f"the candidate; the drift cap cannot be checked: {fix}")
    recorded = a[1].get("higher_is_better")
    if recorded is not None and recorded != rule.higher_is_better:
        return record, (f"the anchor records {rule.metric} as "
                        f"{'higher' if recorded else 'lower'}-is-better, the thresholds the "
                        f"opposite; the drift cap cannot be checked: {fix}")
    anchor_value, value = float(a[1]["value"]), float(c[1]["value"])
    drift = anchor_value - value if rule.higher_is_better else value - anchor_value
    record.update(anchor=anchor_value, candidate=value, drift=drift)
    if drift <= cap + EPS:
        return record, None
    return record, (f"{rule.metric} drifted {drift:.4f} from its anchor (ledger entry {seq}: "
                    f"{anchor_value:.4f} -> candidate {value:.4f}), over max_drift {cap:g}; "
                    f"each step may be within the margin, the total may not: {fix}, or the "
                    "change recovers the lost ground")


def check_drift(cv, cand, specs: dict[str, TaskRule], ctx) -> list[Reason]:
    """The drift cap of every capped task of ``cv``'s candidate (``cand``, an Evaluator with
    its complete evidence), against the base ledger (``ctx.ledger()``); each task's finding
    goes into its gate.json entry as ``drift``."""
    capped = {t: r for t, r in specs.items() if r.max_drift is not None}
    if not capped:
        return []
    entries = ctx.ledger()
    anchor = anchor_entry(entries, lineage(entries, {cv.adapter, cv.replaces}))
    info, reasons = drift_reasons(cv.adapter, anchor, capped,
                                  results_scores(cand.results or {}))
    for task, found in info.items():
        cv.tasks.setdefault(task, {})["drift"] = found
    return reasons
