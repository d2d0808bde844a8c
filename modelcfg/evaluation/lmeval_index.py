"""Generate the committed index of the installed lm-eval's names (read by
:mod:`modelcfg.config.lmeval_index`, which ``validate`` uses without lm-eval).

    python -m modelcfg.evaluation.lmeval_index          # write modelcfg/config/data/...
    python -m modelcfg.evaluation.lmeval_index --check  # exit 1 if it is out of date

Run it after upgrading lm-eval (CONTRIBUTING.md). Indexing lm-eval's ~13,000 task YAMLs
takes tens of seconds; nothing is downloaded. Per task: its folder under ``lm_eval/tasks/``,
its metrics (``metric_list``, or lm-eval's defaults for the output type) with their
``higher_is_better`` as lm-eval resolves it, and its filter names; tasks defined in Python
record null metrics (only lm-eval knows them, at run time). Groups and tags: their names and
up to three of their tasks.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
from pathlib import Path

from modelcfg.config.lmeval_index import INDEX_FILE, INDEX_FORMAT

DATA = Path(__file__).resolve().parents[1] / "config" / "data" / INDEX_FILE
MEMBERS = 3


def build(manager=None) -> dict:
    """The index of the installed lm-eval (imports it; tens of seconds). ``manager``: an
    lm-eval ``TaskManager`` over its built-in tasks only, when the caller has one."""
    import lm_eval
    from lm_eval.api.registry import DEFAULT_METRIC_REGISTRY, is_higher_better
    from lm_eval.tasks import TaskManager
    from lm_eval.tasks._index import Kind

    logging.getLogger("lm_eval").setLevel(logging.ERROR)  # its per-metric default warnings
    manager = TaskManager() if manager is None else manager
    root = Path(lm_eval.__file__).resolve().parent / "tasks"
    tasks, groups, tags = {}, {}, {}
    for name, entry in sorted(manager.task_index.items()):
        if entry.kind in (Kind.TASK, Kind.PY_TASK):
            where = entry.yaml_path.resolve().parent.relative_to(root).as_posix()
            cfg = entry.cfg or {}
            metrics = None if entry.kind == Kind.PY_TASK else _metrics(
                cfg, DEFAULT_METRIC_REGISTRY, is_higher_better)
            tasks[name] = [where, metrics, _filters(cfg)]
        elif entry.kind == Kind.GROUP:
            groups[name] = _group_members(entry.cfg or {})
        elif entry.kind == Kind.TAG:
            tags[name] = sorted(entry.tags)[:MEMBERS]
    return _interned({"format": INDEX_FORMAT, "lm_eval_version": lm_eval.__version__,
                      "groups": groups, "tags": tags}, tasks)


def _interned(index: dict, tasks: dict[str, list]) -> dict:
    """Per task three indexes into shared tables (folders, metric sets, filter sets): a
    few hundred distinct values among 13,000 tasks, so the file parses in milliseconds."""
    tables: list[list] = [[], [], []]
    seen: list[dict[str, int]] = [{}, {}, {}]
    rows = {}
    for name, values in tasks.items():
        row = []
        for column, value in enumerate(values):
            key = json.dumps(value, sort_keys=True)
            if key not in seen[column]:
                seen[column][key] = len(tables[column])
                tables[column].append(value)
            row.append(seen[column][key])
        rows[name] = row
    return {**index, "folders": tables[0], "metric_sets": tables[1],
            "filter_sets": tables[2], "tasks": rows}


def _metrics(cfg: dict, defaults: dict, is_higher_better) -> dict[str, bool | None] | None:
    """Metric name -> higher_is_better, as lm-eval's ConfigurableTask resolves them."""
    listed = cfg.get("metric_list")
    if listed is None:
        names = defaults.get(cfg.get("output_type"))
        return None if names is None else {m: is_higher_better(m) for m in names}
    out: dict[str, bool | None] = {}
    for item in listed if isinstance(listed, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("metric"), str):
            continue
        # `metric: !function utils.f` reads as the path of f unresolved: lm-eval names
        # the metric after the function.
        name = item["metric"]
        name = name.rsplit(".", 1)[-1] if "/" in name else name
        said = item.get("higher_is_better")
        out[name] = said if isinstance(said, bool) else is_higher_better(name)
    return out


def _filters(cfg: dict) -> list[str] | None:
    listed = cfg.get("filter_list")
    names = [f["name"] for f in listed if isinstance(f, dict) and isinstance(f.get("name"), str)
             ] if isinstance(listed, list) else []
    return names or None


def _group_members(cfg: dict) -> list[str]:
    members = cfg.get("task")
    members = members if isinstance(members, list) else [members]
    names = [m if isinstance(m, str) else m.get("task") or m.get("group")
             for m in members if isinstance(m, (str, dict))]
    return [n for n in names if isinstance(n, str)][:MEMBERS]


def encode(index: dict) -> bytes:
    """Byte-stable gzip (no timestamp) of compact JSON."""
    text = json.dumps(index, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def check(index: dict, path: Path) -> int:
    """0 when the index file at ``path`` holds ``index``, else 1 (with what to run)."""
    committed = json.loads(gzip.decompress(path.read_bytes())) if path.is_file() else None
    if committed != json.loads(json.dumps(index)):
        print(f"{path} is out of date for lm-eval {index['lm_eval_version']}: run "
              "python -m modelcfg.evaluation.lmeval_index", file=sys.stderr)
        return 1
    print(f"{path}: up to date (lm-eval {index['lm_eval_version']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelcfg.evaluation.lmeval_index",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if the committed index differs from the installed lm-eval")
    parser.add_argument("--out", type=Path, default=DATA, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    index = build()
    if args.check:
        return check(index, args.out)
    data = encode(index)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(index['tasks'])} tasks, {len(index['groups'])} groups, "
          f"{len(index['tags'])} tags; lm-eval {index['lm_eval_version']}; {len(data):,} bytes)")
    return 0

if __name__ == "__main__":
    sys.exit(main())
