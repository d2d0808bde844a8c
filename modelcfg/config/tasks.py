"""Local lm-eval tasks, read through a tree without lm-eval: the YAML that defines a task,
the data files it names and how many items they hold. Enough for ``validate`` to refuse a
task with no items (MC320) before the gate or ``modelcfg eval`` would try to judge on it.

Task YAML is lm-eval's format (``!function`` tags, ``include:``), not a modelcfg document:
it is read leniently here (tags become null) and only ``task``, ``include``, ``test_split``,
``dataset_kwargs.data_files`` and ``metric_list`` (each metric's ``higher_is_better``, which
``validate`` cross-checks with the thresholds) are looked at. Data files are named relative to
``evals/tasks/``, the convention of ``evals/tasks/utils.py``'s loader. Whatever cannot be told
without lm-eval (no data files named, a file that is not there) is left to lm-eval.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

import yaml

from modelcfg.config.loader import MAX_BYTES
from modelcfg.config.trees import YAML_SUFFIXES, PathProblem, check_relative

TASKS_DIR = "evals/tasks"
MAX_INCLUDES = 4


class _Lenient(yaml.SafeLoader):
    """Safe YAML where any application tag (``!function ...``) reads as null."""


_Lenient.add_multi_constructor("!", lambda loader, suffix, node: None)


def _mapping(tree, rel: str) -> dict:
    try:
        raw = tree.read(rel)
        data = yaml.load(raw, Loader=_Lenient) if len(raw) <= MAX_BYTES else None
    except (OSError, PathProblem, yaml.YAMLError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _config(tree, rel: str, depth: int = 0) -> dict:
    """A task YAML's keys over those of the files it includes (as lm-eval merges them)."""
    data = _mapping(tree, rel)
    include = data.get("include")
    if not isinstance(include, str) or depth >= MAX_INCLUDES:
        return data
    try:
        inner = check_relative(posixpath.normpath(posixpath.join(posixpath.dirname(rel),
                                                                 include)))
    except PathProblem:
        return data
    if not inner.startswith(TASKS_DIR + "/"):
        return data
    return {**_config(tree, inner, depth + 1), **data}


def _data_files(config: dict) -> list[str]:
    named = (config.get("dataset_kwargs") or {}).get("data_files") \
        if isinstance(config.get("dataset_kwargs"), dict) else None
    if isinstance(named, dict):
        split = config.get("test_split")
        named = named[split] if split in named else list(named.values())
    named = [named] if isinstance(named, str) else named
    if not isinstance(named, list):
        return []
    return [f for f in named if isinstance(f, str)]


def task_config(tree, task: str) -> dict | None:
    """The YAML config of local task ``task`` (its includes merged in), or None when no YAML
    in ``evals/tasks/<task>/`` says ``task: <task>``."""
    folder = f"{TASKS_DIR}/{task}"
    try:
        names = tree.list_dir(folder)
    except (OSError, PathProblem):
        return None
    for name in names:
        if not name.endswith(YAML_SUFFIXES):
            continue
        config = _config(tree, f"{folder}/{name}")
        if config.get("task") == task:
            return config
    return None


def task_data(tree, task: str, config: dict | None = None) -> tuple[list[str], int] | None:
    """``(data files, items)`` of local task ``task`` (items: non-blank lines), or None when
    that cannot be told here: no YAML in ``evals/tasks/<task>/`` with ``task: <task>``, no
    ``data_files`` named, or a named file that is not in the tree. ``config``: the task's
    :func:`task_config` when the caller has it."""
    config = task_config(tree, task) if config is None else config
    return None if config is None else _count(tree, _data_files(config))


def metric_directions(config: dict) -> dict[str, bool | None]:
    """``higher_is_better`` of each metric in a task config's ``metric_list`` (None where
    the entry does not say; lm-eval then applies its own registry's default)."""
    found: dict[str, bool | None] = {}
    entries = config.get("metric_list")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("metric"), str):
            value = entry.get("higher_is_better")
            found[entry["metric"]] = value if isinstance(value, bool) else None
    return found


def _count(tree, files: list[str]) -> tuple[list[str], int] | None:
    if not files:
        return None
    paths, items = [], 0
    for name in files:
        try:
            rel = check_relative(f"{TASKS_DIR}/{name}")
            if not tree.is_file(rel):
                return None
            data = tree.read(rel)
        except (OSError, PathProblem):
            return None
        paths.append(rel)
        items += sum(1 for line in data.splitlines() if line.strip())
    return paths, items


def recorded_direction(directions: Mapping[str, bool | None], metric: str) -> bool | None:
    """The direction recorded for ``metric`` (``exact_match`` or ``exact_match,filter``):
    the entry of that exact name, else those of the same name before the filter; None when
    none says, or they disagree. ``directions``: metric name -> higher_is_better, from a
    task YAML (:func:`metric_directions`) or a results file's ``metrics``."""
    if isinstance(directions.get(metric), bool):
        return directions[metric]
    base = metric.split(",")[0]
    said = {v for k, v in directions.items() if k.split(",")[0] == base and isinstance(v, bool)}
    return said.pop() if len(said) == 1 else None
