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

import math
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
    # (path, value) of every NaN or infinite number, found while parsing (``.nan``, ``.inf``)
    non_finite: list = field(default_factory=list)

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
        raise _fail("MC105", f"tag {_show_tag(event.tag or tag)} is not allowed; configs are "
                    "plain data (strings, numbers, booleans, null, lists, mappings)", path,
                    event.start_mark)
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
    builder = _Builder(path)
    try:
        for event in yaml.parse(text, Loader=_Parser):
            builder.feed(event)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        if "nesting depth" in what:  # libyaml's own guard fired before ours
            raise _fail("MC107", f"nested deeper than {MAX_DEPTH} levels; flatten the "
                        "structure", path, mark) from None
        raise _fail("MC103", f"YAML syntax error: {what}", path, mark) from None
    except yaml.YAMLError as exc:
        raise UserError("MC103", f"YAML error: {exc}", path=path, line=1, col=1) from None
    if builder.root is None:
        raise UserError("MC108", "empty file; expected a mapping with apiVersion and kind",
                        path=path, line=1, col=1)
    return builder.root


class _Open:
    """A mapping or sequence being built: its value, position and, for a mapping, the key
    waiting for its value and the keys seen so far (for duplicates)."""

    __slots__ = ("value", "pos", "is_map", "key", "key_pos", "seen", "anchor", "start")

    def __init__(self, is_map: bool, pos: Pos, anchor: str | None, start: int):
        self.value = {} if is_map else []
        self.pos, self.is_map, self.anchor, self.start = pos, is_map, anchor, start
        self.key, self.key_pos, self.seen = _NO_KEY, None, {}


class _Builder:
    """Builds values from parser events, bounding depth and alias expansion as it goes."""

    def __init__(self, path: str):
        self.path = path
        self.stack: list[_Open] = []
        self.anchors: dict[str, tuple[Any, Pos, int]] = {}
        self.nodes = 0
        self.documents = 0
        self.root: Loaded | None = None
        self.non_finite: list[tuple[tuple, float]] = []

    def feed(self, event) -> None:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            self.nodes += 1
            value = _scalar(event, self.path)
            if type(value) is float and not math.isfinite(value):
                self.non_finite.append((self.path_here(), value))
            self.attach(value, _pos(event), event.anchor, 1)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            self.open(event, kind is yaml.MappingStartEvent)
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            done = self.stack.pop()
            self.attach(done.value, done.pos, done.anchor, self.nodes - done.start + 1)
        elif kind is yaml.AliasEvent:
            self.alias(event)
        elif kind is yaml.DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                raise _fail("MC108", "more than one YAML document; put each config in its "
                            "own file", self.path, event.start_mark)
        if self.nodes > MAX_NODES:
            raise _fail("MC106", f"more than {MAX_NODES:,} values in one config", self.path,
                        getattr(event, "start_mark", None))

    def open(self, event, is_map: bool) -> None:
        self.nodes += 1
        if len(self.stack) >= MAX_DEPTH:
            raise _fail("MC107", f"nested deeper than {MAX_DEPTH} levels; flatten the "
                        "structure", self.path, event.start_mark)
        expected = _TAG + ("map" if is_map else "seq")
        if event.tag not in (None, "!", expected):
            raise _fail("MC105", f"tag {_show_tag(event.tag)} is not allowed; configs are "
                        "plain data", self.path, event.start_mark)
        self.stack.append(_Open(is_map, _pos(event), event.anchor, self.nodes))

    def alias(self, event) -> None:
        if event.anchor not in self.anchors:
            raise _fail("MC103", f"unknown alias *{event.anchor}", self.path, event.start_mark)
        value, pos, size = self.anchors[event.anchor]
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise _fail("MC106", f"aliases expand to over {MAX_NODES:,} values; write the "
                        "data out instead of nesting aliases", self.path, event.start_mark)
        here = _pos(event)
        self.attach(value, Pos(here.line, here.col, pos.children), None, size)

    def path_here(self) -> tuple:
        """The keys and indices leading to the value being attached next."""
        return tuple(o.key if o.is_map else len(o.value) for o in self.stack)

    def attach(self, value, pos: Pos, anchor: str | None, size: int) -> None:
        if anchor:
            self.anchors[anchor] = (value, pos, size)
        if not self.stack:
            self.root = Loaded(value, pos, self.non_finite)
            return
        top = self.stack[-1]
        if not top.is_map:
            top.pos.children[len(top.value)] = pos
            top.value.append(value)
        elif top.key is _NO_KEY:
            self.key(top, value, pos)
        else:
            top.seen[top.key] = top.key_pos
            top.value[top.key] = value
            top.pos.children[top.key] = pos
            top.key = _NO_KEY

    def key(self, top: _Open, value, pos: Pos) -> None:
        if not isinstance(value, str):
            raise _fail("MC105", f"mapping key {value!r} is not a string; quote it",
                        self.path, _mark(pos))
        if value in top.seen:
            first = top.seen[value]
            raise _fail("MC104", f"duplicate key {value!r} (first defined at line "
                        f"{first.line}); remove one", self.path, _mark(pos))
        top.key, top.key_pos = value, pos


def _pos(event) -> Pos:
    return Pos(event.start_mark.line + 1, event.start_mark.column + 1)


def _mark(pos: Pos):
    return yaml.Mark("", 0, pos.line - 1, pos.col - 1, None, None)


class _NoKey:
    __slots__ = ()


_NO_KEY = _NoKey()


def load_bytes(data: bytes, path: str) -> Loaded:
    return loads(decode(data, path), path)
