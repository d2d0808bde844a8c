"""gate.json reasons -> check-run annotations on the config lines (pure, torch-free).

Each reason is placed at the exact ``path:line`` it names (an MC801 message starts with
``path:line:col:``), else on its adapter's config file at the line of the reason's
``field`` (a dotted key such as ``lora.r``, found with the YAML parser's positions), else at
line 1 of that file. Most severe first: an errored adapter's reasons, then the change's own
reasons (policy, agent rules), then blocked adapters', each in gate.json order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

BATCH = 50  # the API's limit of annotations per request
LOCATED = re.compile(r"^(?P<path>[^\s:]+):(?P<line>\d+):\d+: ")


@dataclass(frozen=True)
class Annotation:
    path: str
    line: int
    level: str  # failure | warning | notice
    title: str
    message: str
    rank: int
    col: int | None = None

    def to_api(self) -> dict:
        api = {"path": self.path, "start_line": self.line, "end_line": self.line,
               "annotation_level": self.level, "title": self.title[:255],
               "message": self.message[:64000]}
        if self.col is not None:  # the API takes columns on single-line annotations only
            api.update(start_column=self.col, end_column=self.col)
        return api


def field_line(text: str, dotted: str) -> int | None:
    """The 1-based line of the key ``a.b.c`` in a YAML document, or None."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in dotted.split("."):
        if not isinstance(node, yaml.MappingNode):
            return line
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                line, node = key.start_mark.line + 1, value
                break
        else:
            return line
    return line


def _reader(roots: list[Path]):
    cache: dict[str, str | None] = {}

    def read(rel: str) -> str | None:
        if rel not in cache:
            cache[rel] = None
            for root in roots:
                path = root / rel
                if path.is_file() and not path.is_symlink():
                    cache[rel] = path.read_text(errors="replace")
                    break
        return cache[rel]
    return read


def annotations(report: dict, roots: list[Path]) -> list[Annotation]:
    """Every reason of gate.json as an annotation, most severe first. ``roots`` are where
    config files are looked up for field lines (the gate's judge tree, then the checkout)."""
    read = _reader(roots)
    configs = report.get("configs") or []
    fallback = configs[0]["path"] if configs else None
    found: list[Annotation] = []
    for reason in report.get("reasons") or []:
        rank = 0 if report.get("verdict") == "error" else 1
        named = reason.get("field")  # a change's reason about a file (MC814) goes on it
        where = named if named and "/" in named and read(named) is not None else fallback
        found.append(_place(reason if where == fallback else {**reason, "field": None},
                            where, rank, read))
    for cfg in configs:
        rank = 0 if cfg.get("verdict") == "error" else 2
        for reason in cfg.get("reasons") or []:
            found.append(_place(reason, cfg.get("path"), rank, read))
    placed = [a for a in found if a is not None]
    return sorted(placed, key=lambda a: a.rank)  # stable: gate.json order within a rank


def _place(reason: dict, config_path: str | None, rank: int, read) -> Annotation | None:
    code, message = reason.get("code", "?"), reason.get("message", "")
    located = LOCATED.match(message)
    if located:
        path, line = located["path"], int(located["line"])
    elif config_path:
        path, line = config_path, 1
        text = read(config_path) if reason.get("field") else None
        if text is not None:
            line = field_line(text, reason["field"]) or 1
    else:
        return None  # nowhere in the repository to put it: the summary lists it
    about = [f"{k} `{reason[k]}`" for k in ("task", "field", "threshold") if reason.get(k)]
    title = f"{code}" + (f" ({', '.join(about)})" if about else "")
    return Annotation(path, max(line, 1), "failure", title, f"{code} {message}", rank)


def batches(items: list[Annotation], cap: int) -> tuple[list[list[dict]], int]:
    """At most ``cap`` annotations in batches of 50, and how many were left out."""
    kept = [a.to_api() for a in items[:cap]]
    return [kept[i:i + BATCH] for i in range(0, len(kept), BATCH)], max(0, len(items) - cap)


def from_problems(problems) -> list[Annotation]:
    """``validate``'s problems on their file, line and column: errors first, then warnings."""
    found = [Annotation(p.path, max(p.line, 1), "failure" if p.is_error else "warning", p.code,
                        f"{p.code} {p.message}", 0 if p.is_error else 1, max(p.col, 1))
             for p in problems]
    return sorted(found, key=lambda a: a.rank)
