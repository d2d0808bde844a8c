"""Bounded, position-aware YAML loading.

YAML is data here, and configs come from untrusted pull requests. So instead of
``yaml.safe_load`` this builds plain Python values straight from the parser's event stream
(libyaml when available), which lets it refuse, with ``line:col``:

* custom tags (``!!python/object`` and friends) and any tag outside the JSON-like core;
* duplicate mapping keys (``safe_load`` silently keeps the last one);
* nesting deeper than :data:`MAX_DEPTH` (checked while parsing, no recursion);
* alias expansion beyond :data:`MAX_NODES` (the "billion laughs" attack);
* files larger than :data:`MAX_BYTES`, non-UTF-8 bytes, and more than one document.

Alongside the value it records where every mapping value and sequence item starts, so a
JSON path from a schema error maps back to ``file:line:col`` (:meth:`Loaded.locate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from modelcfg.core.errors import UserError

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 100_000

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
_CONSTRUCT = {
    _TAG + "int": _CONSTRUCTOR.construct_yaml_int,
    _TAG + "float": _CONSTRUCTOR.construct_yaml_float,
    _TAG + "bool": _CONSTRUCTOR.construct_yaml_bool,
    _TAG + "null": _CONSTRUCTOR.construct_yaml_null,
}


@dataclass
class Pos:
    """Where a value starts (1-based) and, for containers, where its children start."""

    line: int
    col: int
    children: dict = field(default_factory=dict)


@dataclass
class Loaded:
    value: Any
    pos: Pos

    def locate(self, path) -> tuple[int, int]:
        """The ``(line, col)`` of the deepest existing value on ``path`` (keys and indices)."""
        pos = self.pos
        for part in path:
            child = pos.children.get(part)
            if child is None:
                break
            pos = child
        return pos.line, pos.col


def _show_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _fail(code: str, message: str, path: str, mark) -> UserError:
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return UserError(code, message, path=path, line=line, col=col)


def decode(data: bytes, path: str) -> str:
    if len(data) > MAX_BYTES:
        raise UserError("MC102", f"file is {len(data):,} bytes, over the {MAX_BYTES:,}-byte limit "
                        "for a config; split it or move data into a dataset file", path=path,
                        line=1, col=1)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise UserError("MC101", f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file "
                        "as UTF-8", path=path, line=line, col=col) from None


_RESOLVED: dict[tuple[str, tuple], str] = {}


def _resolve(value: str, implicit: tuple) -> str:
    # Configs repeat the same plain scalars (keys, true, small numbers) over and over.
    key = (value, implicit)
    tag = _RESOLVED.get(key)
    if tag is None:
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, implicit)
        if len(_RESOLVED) < 65536:
            _RESOLVED[key] = tag
    return tag


def _scalar(event, path: str):
    tag = event.tag
    if tag in (None, "!"):
        if event.implicit[0]:
            tag = _resolve(event.value, event.implicit)
        else:
            tag = _TAG + "str"
    if tag == _TAG + "merge":
        raise _fail("MC105", "merge keys (<<) are not supported; write the keys out so the "
                    "diff shows them", path, event.start_mark)
    if tag not in _SCALAR_TAGS:
        if tag in (_TAG + "timestamp",) and event.tag is None:
            return event.value  # a date is just text here: no datetime objects in configs
        raise _fail("MC105", f"tag {_show_tag(event.tag or tag)} is not allowed; configs are plain data "
                    "(strings, numbers, booleans, null, lists, mappings)", path, event.start_mark)
    construct = _CONSTRUCT.get(tag)
    if construct is None:
        return event.value
    try:
        return construct(yaml.ScalarNode(tag, event.value))
    except (ValueError, yaml.YAMLError):
        raise _fail("MC105", f"{event.value!r} is not a valid {tag.rsplit(':', 1)[-1]}", path,
                    event.start_mark) from None


def loads(text: str, path: str) -> Loaded:
    """Parse one YAML document into plain values plus positions, or raise UserError."""
    # Each open container: [value, pos, pending_key, pending_key_mark, seen_keys, is_map]
    stack: list[list] = []
    anchors: dict[str, tuple[Any, Pos, int]] = {}
    nodes = 0
    root: Loaded | None = None
    documents = 0

    def attach(value, pos: Pos, anchor: str | None, size: int):
        nonlocal root
        if anchor:
            anchors[anchor] = (value, pos, size)
        if not stack:
            root = Loaded(value, pos)
            return
        top = stack[-1]
        if top[5]:
            if top[2] is _NO_KEY:
                if not isinstance(value, str):
                    raise _fail("MC105", f"mapping key {value!r} is not a string; quote it",
                                path, _mark(pos))
                if value in top[4]:
                    first = top[4][value]
                    raise _fail("MC104", f"duplicate key {value!r} (first defined at line "
                                f"{first.line}); remove one", path, _mark(pos))
                top[2], top[3] = value, pos
            else:
                key = top[2]
                top[4][key] = top[3]
                top[0][key] = value
                top[1].children[key] = pos
                top[2] = _NO_KEY
        else:
            top[1].children[len(top[0])] = pos
            top[0].append(value)

    try:
        for event in yaml.parse(text, Loader=_Parser):
            kind = type(event)
            if kind is yaml.ScalarEvent:
                nodes += 1
                pos = Pos(event.start_mark.line + 1, event.start_mark.column + 1)
                attach(_scalar(event, path), pos, event.anchor, 1)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                nodes += 1
                if len(stack) >= MAX_DEPTH:
                    raise _fail("MC107", f"nested deeper than {MAX_DEPTH} levels; flatten the "
                                "structure", path, event.start_mark)
                is_map = kind is yaml.MappingStartEvent
                expected = _TAG + ("map" if is_map else "seq")
                if event.tag not in (None, "!", expected):
                    raise _fail("MC105", f"tag {_show_tag(event.tag)} is not allowed; configs are plain "
                                "data", path, event.start_mark)
                pos = Pos(event.start_mark.line + 1, event.start_mark.column + 1)
                stack.append([{} if is_map else [], pos, _NO_KEY, None, {}, is_map,
                              event.anchor, nodes])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                value, pos, _, _, _, _, anchor, start = stack.pop()
                attach(value, pos, anchor, nodes - start + 1)
            elif kind is yaml.AliasEvent:
                if event.anchor not in anchors:
                    raise _fail("MC103", f"unknown alias *{event.anchor}", path, event.start_mark)
                value, pos, size = anchors[event.anchor]
                nodes += size
                if nodes > MAX_NODES:
                    raise _fail("MC106", f"aliases expand to over {MAX_NODES:,} values; write "
                                "the data out instead of nesting aliases", path,
                                event.start_mark)
                attach(value, Pos(event.start_mark.line + 1, event.start_mark.column + 1,
                                  pos.children), None, size)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _fail("MC108", "more than one YAML document; put each config in its "
                                "own file", path, event.start_mark)
            if nodes > MAX_NODES:
                raise _fail("MC106", f"more than {MAX_NODES:,} values in one config", path,
                            getattr(event, "start_mark", None))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        if "nesting depth" in what:  # libyaml's own guard fired before ours
            raise _fail("MC107", f"nested deeper than {MAX_DEPTH} levels; flatten the "
                        "structure", path, mark) from None
        raise _fail("MC103", f"YAML syntax error: {what}", path, mark) from None
    except yaml.YAMLError as exc:
        raise UserError("MC103", f"YAML error: {exc}", path=path, line=1, col=1) from None
    if root is None:
        raise UserError("MC108", "empty file; expected a mapping with apiVersion and kind",
                        path=path, line=1, col=1)
    return root


def _mark(pos: Pos):
    return yaml.Mark("", 0, pos.line - 1, pos.col - 1, None, None)


class _NoKey:
    __slots__ = ()


_NO_KEY = _NoKey()


def load_bytes(data: bytes, path: str) -> Loaded:
    return loads(decode(data, path), path)
