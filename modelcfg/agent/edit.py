"""An agent's edit of one config, made in the file's text: only the edited value's characters
change, so comments, key order and layout stay as they were.

A ``--set`` value's place comes from the position-aware loader
(:mod:`modelcfg.config.loader`); a key the mapping lacks is added as the block mapping's
first key. Each edit is read back and must give exactly the value asked for; what cannot be
edited in place (a block mapping or sequence, a multi-line scalar) is MC030, with
``--file`` as the way to make it.
"""

from __future__ import annotations

import re

from modelcfg.config.loader import loads
from modelcfg.core.errors import UserError

_KEY = re.compile(r"^[A-Za-z_][\w-]*$")
_FILE = re.compile(r"^[\w.-]+(/[\w.-]+)+\.ya?ml$")


def _refuse(message: str) -> UserError:
    return UserError("MC030", message, exit_code=2)


def parse_set(item: str, adapter: str) -> tuple[str | None, list, object, str]:
    """``[TARGET:]dotted.key=VALUE`` as (file, path, value, value's text). TARGET is the
    adapter's name (file None: the adapter's own file) or a repository path of another YAML
    file (``evals/thresholds.yaml``), which the edit also changes."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise _refuse(f"--set {item!r} is not KEY=VALUE (e.g. training.learning_rate=0.002)")
    name, colon, dotted = key.strip().rpartition(":")
    target = None
    if colon and name != adapter:
        if not _FILE.match(name) or ".." in name.split("/"):
            raise _refuse(f"--set {item!r} names {name!r}: neither adapter {adapter!r} nor a "
                          "repository path of a YAML file (DIR/NAME.yaml); propose one adapter "
                          "per pull request")
        target = name
    path: list = []
    for part in dotted.split("."):
        if part.isdigit():
            path.append(int(part))
        elif _KEY.match(part):
            path.append(part)
        else:
            raise _refuse(f"--set {item!r}: {part!r} is not a key or a list index")
    raw = raw.strip()
    if "\n" in raw or not raw:
        raise _refuse(f"--set {item!r}: the value must be one line of YAML (use --file for "
                      "more)")
    try:
        value = loads(f"v: {raw}\n", "--set").value["v"]
    except UserError as err:
        raise _refuse(f"--set {item!r}: the value is not YAML ({err.message})") from None
    return target, path, value, raw


def _scalar_end(line: str, start: int, in_flow: bool) -> int | None:
    """The index after a one-line scalar that starts at ``start``; None when it goes on."""
    quote = line[start:start + 1]
    if quote == '"':
        i = start + 1
        while i < len(line):
            if line[i] == "\\":
                i += 2
                continue
            if line[i] == '"':
                return i + 1
            i += 1
        return None
    if quote == "'":
        i = start + 1
        while i < len(line):
            if line[i] == "'":
                if line[i + 1:i + 2] == "'":
                    i += 2
                    continue
                return i + 1
            i += 1
        return None
    if quote in ("[", "{"):
        depth, i = 0, start
        while i < len(line):
            depth += {"[": 1, "{": 1, "]": -1, "}": -1}.get(line[i], 0)
            if depth == 0:
                return i + 1
            i += 1
        return None
    if quote in (">", "|", ""):
        return None
    stop = re.search(r"\s#|[,\]}]" if in_flow else r"\s#", line[start:])
    rest = line[start:start + stop.start()] if stop else line[start:]
    return start + len(rest.rstrip())  # the spaces before a comment stay


def set_value(text: str, rel: str, path: list, value, raw: str) -> str:
    """``text`` with the value at ``path`` replaced by (or, for a missing key, added as)
    ``raw``; MC030 when that cannot be done in place."""
    loaded = loads(text, rel)
    lines = text.splitlines(keepends=True)
    shown = ".".join(map(str, path))
    node, pos = loaded.value, loaded.pos
    parent = pos
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(node, dict) and isinstance(part, str) and part not in node and last:
            if not node:
                raise _refuse(f"{rel}: {shown}: its mapping is empty or inline; use --file")
            i = pos.line - 1
            indent = lines[i][:pos.col - 1]
            if indent.strip():
                raise _refuse(f"{rel}:{pos.line}: {shown}: the mapping is not a block "
                              "mapping; use --file")
            lines.insert(i, f"{indent}{part}: {raw}\n")
            return _checked("".join(lines), rel, path, value, shown)
        ok = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and part < len(node))
        if not ok:
            raise _refuse(f"{rel}: {shown} does not exist (no {part!r} there); a new key goes "
                          "into an existing mapping only")
        parent, node, pos = pos, node[part], pos.children[part]
    line = lines[pos.line - 1]
    in_flow = lines[parent.line - 1][parent.col - 1:parent.col] in ("[", "{")
    end = _scalar_end(line, pos.col - 1, in_flow)
    if end is None or (isinstance(node, (dict, list)) and line[pos.col - 1] not in "[{"):
        raise _refuse(f"{rel}:{pos.line}:{pos.col}: {shown} spans several lines and cannot "
                      "be edited in place; use --file with the whole new config")
    lines[pos.line - 1] = line[:pos.col - 1] + raw + line[end:]
    return _checked("".join(lines), rel, path, value, shown)


def _checked(text: str, rel: str, path: list, value, shown: str) -> str:
    """The edited text, after reading it back: it must hold ``value`` at ``path``."""
    try:
        node = loads(text, rel).value
        for part in path:
            node = node[part]
    except (UserError, KeyError, IndexError, TypeError):
        node = object()
    if node != value or type(node) is not type(value):
        raise _refuse(f"{rel}: setting {shown} in place did not read back as {value!r}; use "
                      "--file with the whole new config")
    return text
