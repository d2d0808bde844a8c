"""Bounded, position-aware YAML loading.

YAML is data here, and configs come from untrusted pull requests. So instead of
``yaml.safe_load`` this builds plain Python values straight from the parser's event stream
(libyaml when available), which lets it refuse, with ``line:col``:

* custom tags (``!!python/object`` and friends) and any tag outside the JSON-like core;
* duplicate mapping keys (``safe_load`` silently keeps the last one);
* nesting deeper than :data:`MAX_DEPTH` (checked while parsing, no recursion);
* alias expansion beyond :data:`MAX_NODES` (the "billion laughs" attack);
* files larger than :data:`MAX_BYTES`, non-UTF-8 bytes, and more than one document.

Plain scalars are resolved by the YAML 1.2 core schema (:func:`resolve_plain`), as
ruamel.yaml, the YAML specification and most non-Python tools read them: ``2e-5`` is a
number, ``yes``/``on``, ``0b1``, ``1_000`` and ``1:30`` are text (YAML 1.1 made them booleans
and numbers; the schema check says what to write instead, :func:`yaml11_reading`).

Alongside the value it records where every mapping value and sequence item starts, so a
JSON path from a schema error maps back to ``file:line:col`` (:meth:`Loaded.locate`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from modelcfg.core.errors import UserError

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 100_000

_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}

# The YAML 1.2.2 core schema (section 10.3.2), form by form; whatever matches none is text.
_NULL = {"", "~", "null", "Null", "NULL"}
_BOOL = {"true": True, "True": True, "TRUE": True,
         "false": False, "False": False, "FALSE": False}
_SPECIAL = {".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
            "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
            "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
            ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan}
_INT10 = re.compile(r"[-+]?[0-9]+")
_INT8 = re.compile(r"0o[0-7]+")
_INT16 = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_NUMERIC_START = frozenset("0123456789+-.")


def resolve_plain(text: str):
    """The value of a plain (unquoted, untagged) scalar under the YAML 1.2 core schema."""
    if text in _NULL:
        return None
    value = _BOOL.get(text)
    if value is not None:
        return value
    if not text or text[0] not in _NUMERIC_START:
        return text
    if _INT10.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)  # may overflow to inf: reported with the other non-finite numbers
    if _INT8.fullmatch(text):
        return int(text[2:], 8)
    if _INT16.fullmatch(text):
        return int(text[2:], 16)
    return _SPECIAL.get(text, text)


_YAML11_BOOL = {w: True for w in ("y", "Y", "yes", "Yes", "YES", "on", "On", "ON")} | \
    {w: False for w in ("n", "N", "no", "No", "NO", "off", "Off", "OFF")}
_YAML11_NUMBER = re.compile(r"[-+]?(0b[01_]+|0[0-7_]+|[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?"
                            r"|[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?"
                            r"|\.[0-9_]+([eE][-+]?[0-9]+)?)")


def yaml11_reading(text: str):
    """What a YAML 1.1 reader (PyYAML's ``safe_load``) makes of text that YAML 1.2 reads as
    a string: a boolean or a number, or None when it is text there too. Schema errors use it
    to say what to write instead."""
    if text in _YAML11_BOOL:
        return _YAML11_BOOL[text]
    if not _YAML11_NUMBER.fullmatch(text) or resolve_plain(text) != text:
        return None
    try:
        value = yaml.safe_load(text)  # only ever a short run of digits, signs and _:.
    except yaml.YAMLError:
        return None
    return value if isinstance(value, (int, float)) else None


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
    # (path, value, text) of every NaN or infinite number, found while parsing (``.nan``,
    # ``.inf``, ``1e999``)
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


_RESOLVED: dict[str, object] = {}


def _plain(text: str):
    # Configs repeat the same plain scalars (keys, true, small numbers) over and over.
    try:
        return _RESOLVED[text]
    except KeyError:
        value = resolve_plain(text)
        if len(_RESOLVED) < 65536:
            _RESOLVED[text] = value
        return value


def _scalar(event, path: str):
    tag = event.tag
    if tag is None and event.implicit[0]:
        if event.value == "<<":  # a merge key to YAML 1.1 readers, a plain key to 1.2 ones
            raise _fail("MC105", "merge keys (<<) are not supported; write the keys out so the "
                        "diff shows them", path, event.start_mark)
        return _plain(event.value)
    if tag in (None, "!", _TAG + "str"):
        return event.value
    if tag not in _SCALAR_TAGS:
        raise _fail("MC105", f"tag {_show_tag(tag)} is not allowed; configs are plain data "
                    "(strings, numbers, booleans, null, lists, mappings)", path,
                    event.start_mark)
    value = resolve_plain(event.value)
    want = {"int": int, "float": float, "bool": bool, "null": type(None)}[tag.rsplit(":", 1)[-1]]
    if want is float and type(value) is int:
        value = float(value)
    if type(value) is not want:
        raise _fail("MC105", f"{event.value!r} is not a valid {tag.rsplit(':', 1)[-1]}", path,
                    event.start_mark)
    return value


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
        self.non_finite: list[tuple[tuple, float, str]] = []

    def feed(self, event) -> None:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            self.nodes += 1
            value = _scalar(event, self.path)
            if type(value) is float and not math.isfinite(value):
                self.non_finite.append((self.path_here(), value, event.value))
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
