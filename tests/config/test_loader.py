"""Hostile YAML: every attack is refused with a code and a position, fast, without a
traceback and without unbounded memory."""

from __future__ import annotations

import time

import pytest

from modelcfg.config.loader import MAX_BYTES, MAX_DEPTH, load_bytes, loads
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
