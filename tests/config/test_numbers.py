"""Numbers as YAML 1.2 reads them, in every numeric field of every schema.

The fields are found by walking the schemas (a field added later is covered without editing
this file). Each is written into a valid document of its kind as a float for an integer
(``16.0``), NaN, +inf, -inf, an overflowing literal (``1e999``) and YAML 1.2 exponent forms
(``5e-1``, ``5E-1``), and the exact problem at the value's own line:col is asserted.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from modelcfg.config.loader import loads
from modelcfg.config.schema import KINDS, check_document, schema

BASE = Path(__file__).parents[1] / "golden" / "base"
DOCS = {"Model": "configs/models/tiny.yaml", "Adapter": "configs/adapters/a.yaml",
        "Contract": "evals/contract.yaml", "Thresholds": "evals/thresholds.yaml",
        "EvalSuite": "evals/suites/cap.yaml"}
# A list item or mapping entry that has to be created to hold the field: its other required
# fields (a hub dataset entry for `examples`, a task rule for per-task numbers).
HOLDERS = {("datasets", 0): {"hub": "org/data", "revision": "0" * 40},
           ("tasks", "*"): {"metric": "acc"}, ("safety", "*"): {"metric": "refusal_rate"},
           ("robustness", "*"): {"metric": "exact_match"}}
MARK = "__VALUE__"


def _numeric_fields(node: dict, path: tuple, out: list) -> list:
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    if "integer" in types or "number" in types:
        out.append((path, "integer" if "number" not in types else "number", node))
    for key, sub in node.get("properties", {}).items():
        _numeric_fields(sub, path + (key,), out)
    if isinstance(node.get("additionalProperties"), dict):
        _numeric_fields(node["additionalProperties"], path + ("*",), out)
    if isinstance(node.get("items"), dict):
        _numeric_fields(node["items"], path + (0,), out)
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in node.get(key, []):
            _numeric_fields(sub, path, out)
    return out


FIELDS = [(kind, path, want, node) for kind in KINDS
          for path, want, node in _numeric_fields(schema(kind), (), [])]
IDS = [f"{kind}.{'.'.join(map(str, path))}" for kind, path, _, _ in FIELDS]


def _valid_number(node: dict, want: str):
    """A value inside the field's range (the fixture's own check proves it valid)."""
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    if want == "integer":
        value = 1 if low is None else int(low) + (1 if "exclusiveMinimum" in node else 0)
        return max(value, 1) if high is None or high >= 1 else value
    if low is not None and high is not None:
        return (low + high) / 2
    return 0.5 if high is not None and high <= 1 else (low or 0) + 0.5


def _document(kind: str, path: tuple) -> dict:
    """The golden base document of ``kind`` with MARK at ``path`` (containers created)."""
    data = copy.deepcopy(yaml.safe_load((BASE / DOCS[kind]).read_text()))
    if kind == "Adapter" and path[:2] == ("training", "epochs"):
        del data["training"]["max_steps"]  # exactly one of the two
    node = data
    for depth, part in enumerate(path[:-1]):
        holder = copy.deepcopy(HOLDERS.get(path[:depth + 1][-2:], {}))
        if part == "*":
            part = next(iter(node), "x") if node else "x"
        if isinstance(part, int):
            if not node:
                node.append(holder)
            elif path[:depth + 1] in HOLDERS:
                node[0] = holder
        else:
            nxt = path[depth + 1]
            if not isinstance(node.get(part), (dict, list)):
                node[part] = [] if isinstance(nxt, int) else holder
        node = node[part]
    last = path[-1]
    if last == "*":
        last = "x"
    if isinstance(last, int):
        node[:] = [MARK]
    else:
        node[last] = MARK
    return data


def _check(kind: str, path: tuple, token: str):
    """(problems, (line, col) of the token, loaded value) for ``token`` written at
    ``path``."""
    text = yaml.safe_dump(_document(kind, path), sort_keys=False, width=1000)
    line_no = next(i for i, line in enumerate(text.splitlines(), 1) if MARK in line)
    col = text.splitlines()[line_no - 1].index(MARK) + 1
    text = text.replace(MARK, token)
    loaded = loads(text, "f.yaml")
    found, problems = check_document("f.yaml", loaded)
    assert found == kind
    return problems, (line_no, col)


def _exponent(value: float, upper: bool) -> str:
    mantissa, exp = f"{value:e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    digits = mantissa.replace(".", "").lstrip("-")
    shift = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return f"{digits}{'E' if upper else 'e'}{int(exp) - shift}"


def test_the_walk_finds_the_fields_people_write():
    names = {path[-1] for _, path, _, _ in FIELDS}
    assert {"r", "max_steps", "batch_size", "gradient_accumulation_steps", "max_seq_length",
            "warmup_steps", "seed", "devices", "context_length", "learning_rate", "epochs",
            "examples", "margin"} <= names
    assert len(FIELDS) >= 50


@pytest.mark.parametrize("kind, path, want, node", FIELDS, ids=IDS)
def test_every_numeric_field(kind, path, want, node):
    field = ".".join(str(p) if p != "*" else "x" for p in path).replace(".0", "[0]")
    if kind == "Thresholds" and path[0] in ("tasks", "safety"):
        field = field.replace(".x", f".{'t1' if path[0] == 'tasks' else 't2'}", 1)
    valid = _valid_number(node, want)
    problems, where = _check(kind, path, repr(valid))
    assert problems == [], "the fixture itself must be valid"

    for token, said in ((".nan", ".nan"), (".inf", ".inf"), ("-.inf", "-.inf"),
                        ("+.Inf", ".inf"), ("1e999", "1e999 (read as .inf)")):
        problems, where = _check(kind, path, token)
        assert [(p.line, p.col, p.code, p.message) for p in problems] == [
            (*where, "MC319", f"{field} is {said}, not a finite number; write a number")]

    for upper in (False, True):
        token = _exponent(float(valid), upper)
        assert isinstance(loads(f"v: {token}\n", "f").value["v"], float)
        problems, where = _check(kind, path, token)
        if want == "number":
            assert problems == [], token
        else:
            assert [(p.line, p.col, p.code, p.message) for p in problems] == [
                (*where, "MC204", f"{field} must be an integer, not a number "
                 f"({float(valid)!r}); write {valid}")]

    if want == "integer":
        problems, where = _check(kind, path, f"{valid}.0")
        assert [(p.line, p.col, p.code, p.message) for p in problems] == [
            (*where, "MC204", f"{field} must be an integer, not a number ({float(valid)!r}); "
             f"write {valid}")]
        problems, where = _check(kind, path, f"{valid}.5")
        assert [(p.code, p.message) for p in problems] == [
            ("MC204", f"{field} must be an integer, not a number ({valid + 0.5!r}); write a "
             "whole number")]
        problems, _ = _check(kind, path, "true")
        assert [p.code for p in problems] == ["MC204"]  # a boolean is not a number either
