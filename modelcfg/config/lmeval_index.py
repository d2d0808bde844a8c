"""The names of the pinned lm-eval, read without lm-eval: every task, group and tag, and per
task its folder under ``lm_eval/tasks/``, its metrics with their ``higher_is_better`` and its
filters. ``validate`` checks ``lm-eval:<name>`` suite entries and the thresholds of standard
tasks against it; the harness finds a standard task's folder in it.

The data, ``data/lmeval-index.json.gz``, is generated from the installed lm-eval by
``python -m modelcfg.evaluation.lmeval_index`` (docs/evaluation.md, "Standard tasks"). It is
read on first use only (a workspace without ``lm-eval:`` names never opens it) and kept.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

INDEX_FORMAT = "modelcfg-lmeval-index/1"
INDEX_FILE = "lmeval-index.json.gz"
PREFIX = "lm-eval:"
TASK, GROUP, TAG = "task", "group", "tag"


@lru_cache(maxsize=1)
def load() -> dict:
    """The committed index: ``format``, ``lm_eval_version``, ``tasks`` (name -> indexes into
    ``folders``, ``metric_sets`` ({metric: higher_is_better or null}, or null when only
    lm-eval knows them, at run time) and ``filter_sets`` (filter names, or null)), and
    ``groups`` and ``tags`` (name -> up to three of their tasks)."""
    import gzip

    raw = resources.files("modelcfg.config").joinpath("data", INDEX_FILE).read_bytes()
    return json.loads(gzip.decompress(raw))


def version() -> str:
    """The lm-eval version the index was generated from."""
    return load()["lm_eval_version"]


def kind(name: str) -> str | None:
    """``task``, ``group`` or ``tag`` for a bare lm-eval name; None when lm-eval has none."""
    index = load()
    if name in index["tasks"]:
        return TASK
    if name in _names(GROUP):
        return GROUP
    return TAG if name in _names(TAG) else None


@lru_cache(maxsize=2)
def _names(what: str) -> frozenset[str]:
    return frozenset(load()["groups" if what == GROUP else "tags"])


def all_names() -> list[str]:
    """Every task, group and tag name (for "did you mean")."""
    index = load()
    return [*index["tasks"], *index["groups"], *index["tags"]]


def _column(task: str, column: int, table: str):
    row = load()["tasks"].get(task)
    return None if row is None else load()[table][row[column]]


def folder(task: str) -> str | None:
    """The task's folder under ``lm_eval/tasks/`` (posix, relative)."""
    return _column(task, 0, "folders")


def metrics(task: str) -> dict[str, bool | None] | None:
    """Metric name -> higher_is_better (None where lm-eval records none) of a task; None
    when the index does not know them (a task defined in Python)."""
    return _column(task, 1, "metric_sets")


def filters(task: str) -> list[str]:
    """The names of a task's filters (``none`` when it defines none): the part after the
    comma in a results key such as ``exact_match,strict-match``."""
    return _column(task, 2, "filter_sets") or ["none"]


def metric_problem(task: str, metric: str) -> str | None:
    """Why ``metric`` (``name`` or ``name,filter``) is not a metric of standard task
    ``task``, or None when it is (or the index cannot tell)."""
    known = metrics(task)
    if known is None:
        return None
    name, _, flt = metric.partition(",")
    if name not in known:
        return (f"lm-eval task {task!r} has no metric {name!r}; its metrics are: "
                f"{', '.join(known)}")
    if flt and flt not in filters(task):
        return (f"lm-eval task {task!r} has no filter {flt!r}; its filters are: "
                f"{', '.join(filters(task))}")
    return None


def members(name: str) -> list[str]:
    """Up to three of the tasks (or subgroups) a group or tag stands for."""
    index = load()
    return index["groups"].get(name) or index["tags"].get(name) or []
