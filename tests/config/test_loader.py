"""Hostile YAML: every attack is refused with a code and a position, fast, without a
traceback and without unbounded memory."""

from __future__ import annotations

import math
import time

import pytest

from modelcfg.config.loader import (
    MAX_BYTES,
    MAX_DEPTH,
    load_bytes,
    loads,
    yaml11_reading,
)
from modelcfg.core.errors import UserError


def error_of(text: str | bytes) -> UserError:
    with pytest.raises(UserError) as info:
        if isinstance(text, bytes):
            load_bytes(text, "f.yaml")
        else:
            loads(text, "f.yaml")
    return info.value


def test_plain_values_and_positions():
    loaded = loads("a: 1\nb:\n  - x\n  - {c: 2.5, d: null, e: true}\nt: 2024-01-01\n", "f.yaml")
    assert loaded.value == {"a": 1, "b": ["x", {"c": 2.5, "d": None, "e": True}],
                            "t": "2024-01-01"}
    assert loaded.locate(["b", 1, "d"]) == (4, 17)
    assert loaded.locate(["b", 0]) == (3, 5)
    # A path that runs past the data points at the deepest value that exists.
    assert loaded.locate(["b", 1, "missing", 3]) == (4, 5)


@pytest.mark.parametrize("text, code, line, col", [
    ("a: !!python/object/apply:os.system [ls]\n", "MC105", 1, 4),
    ("a: !!python/name:os.system\n", "MC105", 1, 4),
    ("a: !custom 3\n", "MC105", 1, 4),
    ("a: !!binary aGVsbG8=\n", "MC105", 1, 4),
    ("a: !!set {x}\n", "MC105", 1, 4),
    ("a: 1\nb: 2\na: 3\n", "MC104", 3, 1),
    ("x:\n  k: 1\n  k: 2\n", "MC104", 3, 3),
    ("a: &x {p: 1}\nb:\n  <<: *x\n", "MC105", 3, 3),
    ("1: one\n", "MC105", 1, 1),
    ("a: [1, 2\nb: 3\n", "MC103", 2, 2),
    ("a: *nowhere\n", "MC103", 1, 4),
    ("a: 1\n---\nb: 2\n", "MC108", 2, 1),
    ("", "MC108", 1, 1),
])
def test_refused(text, code, line, col):
    err = error_of(text)
    assert (err.code, err.line, err.col) == (code, line, col)
    assert err.path == "f.yaml"


def test_billion_laughs_is_refused_quickly():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    start = time.perf_counter()
    err = error_of("\n".join(lines) + "\n")
    assert err.code == "MC106"
    assert time.perf_counter() - start < 2.0


def test_deep_nesting_is_refused_without_recursion():
    err = error_of("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert err.code == "MC107"
    err = error_of("".join(f"{' ' * i}k:\n" for i in range(MAX_DEPTH + 5)) + " " * 70 + "v\n")
    assert err.code == "MC107"


def test_nesting_at_the_limit_is_fine():
    value = loads("a: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "\n", "f.yaml").value
    assert isinstance(value["a"], list)


def test_non_utf8_names_the_byte_position():
    err = error_of(b"a: 1\nb: caf\xe9\n")
    assert (err.code, err.line, err.col) == ("MC101", 2, 7)


def test_utf8_bom_is_accepted():
    assert load_bytes(b"\xef\xbb\xbfa: 1\n", "f.yaml").value == {"a": 1}


def test_oversize_file_is_refused_before_parsing():
    err = error_of(b"a: " + b"x" * MAX_BYTES + b"\n")
    assert err.code == "MC102"


def test_dates_stay_text():
    assert loads("d: 2024-01-01\n", "f.yaml").value == {"d": "2024-01-01"}


# The YAML 1.2.2 core schema (section 10.3.2), form by form: what every YAML 1.2 tool reads.
@pytest.mark.parametrize("text, value", [
    ("2e-5", 2e-5), ("1E-4", 1e-4), ("-3e2", -300.0), (".5", 0.5), ("-.5", -0.5),
    ("1.", 1.0), ("+1.5e+3", 1500.0), ("16.0", 16.0), ("1e5", 100000.0),
    ("16", 16), ("+1", 1), ("-0", 0), ("010", 10), ("0o17", 15), ("0x1F", 31),
    ("true", True), ("True", True), ("FALSE", False),
    ("null", None), ("Null", None), ("~", None), ("", None),
    # YAML 1.1 only: booleans, binary, underscores, sexagesimal, 1.1 octal-looking hex case
    ("yes", "yes"), ("No", "No"), ("on", "on"), ("OFF", "OFF"), ("y", "y"),
    ("0b1", "0b1"), ("1_000", "1_000"), ("1:30", "1:30"), ("0X1F", "0X1F"), ("0o8", "0o8"),
    ("1.2.3", "1.2.3"), (".", "."), ("e5", "e5"), ("1e", "1e"), ("2024-01-01", "2024-01-01"),
])
def test_plain_scalars_follow_the_yaml_1_2_core_schema(text, value):
    got = loads(f"v: {text}\n", "f.yaml").value["v"]
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", [".nan", ".NaN", ".NAN", ".inf", "+.Inf", "-.INF", "1e999"])
def test_non_finite_forms_are_read_and_recorded_with_their_text(text):
    loaded = loads(f"a:\n  v: {text}\n", "f.yaml")
    assert not math.isfinite(loaded.value["a"]["v"])
    assert [(p, t) for p, _, t in loaded.non_finite] == [(("a", "v"), text)]


def test_quoted_and_tagged_scalars():
    value = loads("a: '2e-5'\nb: \"true\"\nc: !!str 16\nd: !!float 1\ne: !!int 0x10\n",
                  "f.yaml").value
    assert value == {"a": "2e-5", "b": "true", "c": "16", "d": 1.0, "e": 16}
    assert type(value["d"]) is float
    err = error_of("a: !!int 1.5\n")
    assert (err.code, err.line, err.col) == ("MC105", 1, 4)


def test_yaml11_readings_are_named_for_hints():
    assert [yaml11_reading(t) for t in ("yes", "Off", "0b101", "1_000", "1:30", "0b",
                                        "hello", "2024-01-01")] == \
        [True, False, 5, 1000, 90, None, None, None]
