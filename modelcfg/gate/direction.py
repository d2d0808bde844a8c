"""Which way is better, per judged metric: read from lm-eval, cross-checked, fail closed.

lm-eval records ``higher_is_better`` for every metric it reports (results and baseline files
keep it per metric). The thresholds may write ``higher_is_better`` too, as a cross-check
only; they have no default. Each task's rule gets the recorded direction before anything is
judged. MC826 blocks the task when the thresholds contradict lm-eval, when the baseline and
the candidate record different directions, or when nobody says: a metric judged the wrong
way round would pass every regression.
"""

from __future__ import annotations

import dataclasses

from modelcfg.config.model import SECTION, TaskRule
from modelcfg.config.tasks import recorded_direction
from modelcfg.gate.verdict import Reason


def recorded(results: dict | None, task: str, metric: str) -> bool | None:
    """The direction a results file (or a baseline in results form) records for ``metric``
    of ``task``; None when it does not say."""
    metrics = ((results or {}).get("tasks") or {}).get(task, {}).get("metrics") or {}
    return recorded_direction({k: v.get("higher_is_better") if isinstance(v, dict) else None
                               for k, v in metrics.items()}, metric)


def resolve(specs: dict[str, TaskRule], baseline: dict, candidate: dict | None = None,
            config: str | None = None) -> tuple[dict[str, TaskRule], list[Reason]]:
    """Each rule with ``higher_is_better`` set to the direction lm-eval recorded in the
    ``baseline`` (and ``candidate``, when given); the rules of tasks that cannot be settled
    are left out, each with an MC826 reason."""
    resolved, reasons = {}, []
    for task, spec in specs.items():
        direction, why = _settle(spec, recorded(baseline, task, spec.metric),
                                 recorded(candidate, task, spec.metric) if candidate else None)
        if why is None:
            resolved[task] = dataclasses.replace(spec, higher_is_better=direction)
        else:
            section = SECTION[spec.kind]
            reasons.append(Reason("MC826", f"{spec.metric!r}: {why}; the gate will not guess "
                                  "which way is better", config=config, task=task,
                                  threshold=f"{section}.{task}.higher_is_better"))
    return resolved, reasons


def disagreements(specs: dict[str, TaskRule], candidate: dict, config: str | None = None
                  ) -> list[Reason]:
    """MC826 for each task whose candidate results record another direction than the one
    its (resolved) rule was judged by."""
    reasons = []
    for task, spec in specs.items():
        theirs = recorded(candidate, task, spec.metric)
        if theirs is not None and theirs != spec.higher_is_better:
            reasons.append(Reason("MC826", f"{spec.metric!r}: the candidate's results record "
                                  f"higher_is_better {_word(theirs)}, the baseline's "
                                  f"{_word(spec.higher_is_better)}; re-baseline with the "
                                  "same task", config=config, task=task,
                                  field="higher_is_better"))
    return reasons


def _settle(spec: TaskRule, base: bool | None, cand: bool | None
            ) -> tuple[bool | None, str | None]:
    """(direction, None) or (None, why not)."""
    if base is not None and cand is not None and base != cand:
        return None, (f"the baseline records higher_is_better {_word(base)} and the candidate "
                      f"{_word(cand)}")
    said = base if base is not None else cand
    declared = spec.higher_is_better
    if said is None and declared is None:
        return None, ("neither the results (lm-eval) nor the thresholds say whether higher "
                      "is better; set higher_is_better in the task's metric_list")
    if said is not None and declared is not None and said != declared:
        return None, (f"the thresholds say higher_is_better {_word(declared)}, lm-eval "
                      f"records {_word(said)}; fix or remove higher_is_better in the "
                      "thresholds")
    return (said if said is not None else declared), None


def _word(value: bool | None) -> str:
    return "unknown" if value is None else str(value).lower()
