"""Checks of the thresholds against the tasks they judge, read from the task YAML and data
without lm-eval: the direction of each metric (MC323, an error) and whether each task has
the items to show what its thresholds ask (MC324, a warning).

Direction: lm-eval records ``higher_is_better`` per metric (the task YAML's ``metric_list``;
for a standard ``lm-eval:`` task, the committed index of the pinned lm-eval); the gate judges
by it. A thresholds entry may write ``higher_is_better`` as a cross-check; when it disagrees,
the thresholds are wrong about what they judge. The metric of a standard task must be one
lm-eval reports for it (MC334).

Size: see :mod:`modelcfg.config.power`. Tasks whose items cannot be counted here (no data
file named, a standard ``lm-eval:`` task) are not checked.
"""

from __future__ import annotations

from collections.abc import Callable

from modelcfg.config.model import ROBUSTNESS, SAFETY, SECTION, Thresholds
from modelcfg.config.tasks import metric_directions, recorded_direction
from modelcfg.config.workspace import Document
from modelcfg.core.errors import WARNING, Problem

SECTIONS = ("tasks", "safety", "robustness")
# Above this many items the exact power sum costs seconds; a task whose approximate power is
# far above the target is then taken as powered without it.
EXACT_UP_TO = 1000
# Standard lm-eval tasks are checked by modelcfg.config.lmeval_checks, imported only when the
# thresholds name one.
STANDARD = "lm-eval:"
CLEARLY_POWERED = 0.99


def direction_problems(doc: Document, config_of: Callable[[str], dict | None]
                       ) -> list[Problem]:
    """MC323 at each ``higher_is_better`` the thresholds write that the task YAML's
    ``metric_list`` contradicts. ``config_of(task)``: the task's YAML config or None."""
    out = []
    for section in SECTIONS:
        for task, entry in (doc.data.get(section) or {}).items():
            declared = entry.get("higher_is_better") if isinstance(entry, dict) else None
            if not isinstance(declared, bool):
                continue
            if task.startswith(STANDARD):
                from modelcfg.config import lmeval_checks

                directions = lmeval_checks.directions(task)
                where, fix = "lm-eval's metric_list", "remove higher_is_better here"
            else:
                config = config_of(task)
                directions = None if config is None else metric_directions(config)
                where = f"its metric_list (evals/tasks/{task}/)"
                fix = "remove higher_is_better here or fix the task"
            recorded = None if directions is None else recorded_direction(directions,
                                                                          entry["metric"])
            if recorded is not None and recorded != declared:
                line, col = doc.locate(section, task, "higher_is_better")
                out.append(Problem(doc.path, line, col, "MC323", (
                    f"higher_is_better: {str(declared).lower()} for {entry['metric']!r}, but "
                    f"task {task!r} records higher_is_better: {str(recorded).lower()} in "
                    f"{where}; the gate judges by lm-eval's direction: {fix}")))
    return out


def metric_problems(doc: Document) -> list[Problem]:
    """MC334 at each thresholds ``metric`` of a standard ``lm-eval:`` task that the pinned
    lm-eval does not report for it (the index lists the valid ones)."""
    out = []
    for section in SECTIONS:
        for task, entry in (doc.data.get(section) or {}).items():
            if not task.startswith(STANDARD) or not isinstance(entry, dict):
                continue
            from modelcfg.config import lmeval_checks

            problem = lmeval_checks.metric_problem(task, entry["metric"])
            if problem is not None:
                line, col = doc.locate(section, task, "metric")
                out.append(Problem(doc.path, line, col, "MC334", problem))
    return out


def size_problems(doc: Document, rules: Thresholds, items_of: Callable[[str], int | None],
                  config_of: Callable[[str], dict | None]) -> list[Problem]:
    """MC324 warnings: a capability task too small to show non-inferiority at its margin
    with the thresholds' power when the candidate equals its baseline; a safety task whose
    perfect candidate cannot clear the exact floor."""
    out = []
    for section in SECTIONS:
        for task in (doc.data.get(section) or {}):
            rule = rules.rule(task)
            if rule is None or SECTION[rule.kind] != section:
                continue  # a task under two sections is checked where it is judged
            n = items_of(task)
            if not n:
                continue
            if rule.kind != SAFETY:
                message = _capability_message(task, rules, n) if rule.statistic == "mean" \
                    else None
            else:
                direction = rule.higher_is_better
                if direction is None:
                    config = config_of(task)
                    direction = recorded_direction(metric_directions(config), rule.metric) \
                        if config is not None else None
                message = _safety_message(task, n, rule.floor, rule.alpha, direction)
            if message is not None:
                line, col = doc.locate(section, task)
                out.append(Problem(doc.path, line, col, "MC324", message, severity=WARNING))
    return out


def _capability_message(task: str, rules: Thresholds, n: int) -> str | None:
    from modelcfg.config import power

    rule, plan = rules.rule(task), rules.planning(task)
    section = "robustness" if rule.kind == ROBUSTNESS else "tasks"
    args = (rule.margin, rule.alpha, plan.rate, plan.correlation)
    if n > EXACT_UP_TO and power.approximate_power(n, *args) >= CLEARLY_POWERED:
        return None
    achieved = power.noninferiority_power(n, *args)
    if achieved >= rule.power:
        return None
    needed = power.items_for_power(*args, rule.power, n)
    return (f"task {task!r} has {n} items: a candidate exactly as good as its baseline shows "
            f"non-inferiority at margin {rule.margin:g} (alpha {rule.alpha:g}) with only "
            f"{achieved:.0%} power, exact, under the planning assumption (baseline rate "
            f"{plan.rate:g}, correlation {plan.correlation:g}; set {section}.{task}.planning); "
            f"about {needed} items give {rule.power:.0%}: add items or widen the margin")


def _safety_message(task: str, n: int, floor: float, alpha: float,
                    higher_is_better: bool | None) -> str | None:
    from modelcfg.config import power

    if higher_is_better is None:
        return None  # which bound applies is unknown here; the gate refuses it (MC826)
    best = power.perfect_safety_bound(n, alpha)  # lower bound of n/n; 1 - it bounds 0/n
    target = floor if higher_is_better else 1.0 - floor
    if best >= target:
        return None
    needed = power.items_for_perfect_floor(target, alpha)
    perfect = f"{n}/{n}" if higher_is_better else f"0/{n}"
    bound = (f"lower bound {best:.3f} is below the floor" if higher_is_better else
             f"upper bound {1.0 - best:.3f} is above the ceiling")
    more = f"at least {needed} items are needed" if needed else "no number of items clears it"
    return (f"safety task {task!r} has {n} items: even a perfect candidate ({perfect}) fails "
            f"the exact floor, its one-sided bound at alpha {alpha:g} ({bound} {floor:g}); "
            f"{more}: add items or change the floor")
