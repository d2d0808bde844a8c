"""What ``validate`` says about standard ``lm-eval:<name>`` tasks, from the committed index of
the pinned lm-eval (:mod:`modelcfg.config.lmeval_index`): a suite entry lm-eval has no task
for (MC333) and a thresholds metric the task does not report (MC334). Nothing here runs
unless a document names an ``lm-eval:`` task, so other workspaces never read the index.
"""

from __future__ import annotations

from modelcfg.config import lmeval_index as index
from modelcfg.config.schema import suggest

PREFIX = index.PREFIX


def is_standard(task: str) -> bool:
    return task.startswith(PREFIX)


def bare(task: str) -> str:
    return task[len(PREFIX):] if task.startswith(PREFIX) else task


def name_problem(task: str) -> str | None:
    """MC333's message for suite entry ``lm-eval:<name>``, or None when lm-eval has such a
    task. A group or tag is refused too: the gate pairs one task's per-item scores with the
    baseline's, and a group's results are its tasks'."""
    name = bare(task)
    what = index.kind(name)
    if what == index.TASK:
        return None
    if what is None:
        hint = suggest(name, _near(name))
        return (f"lm-eval {index.version()} has no task, group or tag named {name!r}{hint}; "
                "check the name with `lm_eval ls tasks`")
    some = ", ".join(f"{PREFIX}{m}" for m in index.members(name))
    return (f"{name!r} is an lm-eval {what}, not a task: the gate judges each task on its "
            f"own per-item scores, so list its tasks in the suite instead ({some}, ...)")


def _near(name: str) -> list[str]:
    """Names close enough in length to be a typo of ``name`` (keeps difflib fast over the
    index's ~15,000 names)."""
    return [n for n in index.all_names() if abs(len(n) - len(name)) <= 3]


def metric_problem(task: str, metric: str) -> str | None:
    """MC334's message for a thresholds ``metric`` that standard task ``task`` does not
    report, or None (also when the task itself is unknown: MC333 says so at the suite)."""
    if index.kind(bare(task)) != index.TASK:
        return None
    return index.metric_problem(bare(task), metric)


def directions(task: str) -> dict[str, bool | None] | None:
    """Metric -> higher_is_better that lm-eval records for a standard task (None: unknown)."""
    return index.metrics(bare(task)) if index.kind(bare(task)) == index.TASK else None


def metrics_hint(task: str) -> str:
    """``; its metrics: acc, acc_norm`` for a standard task ('' when unknown)."""
    known = directions(task) if is_standard(task) else None
    return f" (lm-eval's metrics for it: {', '.join(known)})" if known else ""
