"""JSON Schema validation of modelcfg documents, with errors mapped back to ``line:col``.

The schemas (draft 2020-12) ship in ``modelcfg/config/schemas/`` and are the single source of truth
for the shape of every kind; editors use them through the ``$schema`` comment line.
jsonschema's raw messages are rewritten into one plain sentence per problem, with a stable
code and, for unknown keys, a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import json
import math
from functools import cache
from importlib import resources

from modelcfg.config.loader import Loaded, resolve_plain, yaml11_reading
from modelcfg.core.errors import Problem, UserError

API_VERSION = "modelcfg/v1"
KINDS = {
    "Model": "model",
    "Adapter": "adapter",
    "EvalSuite": "suite",
    "Contract": "contract",
    "Thresholds": "thresholds",
}
_RANGE = {"enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
          "pattern", "minLength", "maxLength", "minItems", "maxItems", "uniqueItems",
          "minProperties", "multipleOf"}
_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string",
               "integer": "an integer", "number": "a number", "boolean": "true or false",
               "null": "null"}


def schema_text(kind: str) -> str:
    folder = resources.files("modelcfg.config").joinpath("schemas")
    return folder.joinpath(f"{KINDS[kind]}.schema.json").read_text()


def schema_texts(kind: str | None = None) -> dict[str, str]:
    """``<kind>.schema.json`` file name -> text, for one kind or all; MC004 for an unknown
    kind."""
    if kind is not None and kind not in KINDS:
        raise UserError("MC004", f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}",
                        exit_code=2)
    return {f"{KINDS[k]}.schema.json": schema_text(k) for k in ([kind] if kind else KINDS)}


@cache
def schema(kind: str) -> dict:
    return json.loads(schema_text(kind))


def _is_integer(checker, value) -> bool:
    # A Python int, never a float: peft and transformers refuse r=16.0 or max_steps=500.0
    # (jsonschema counts 16.0 as an integer); never a bool either.
    return type(value) is int


def _is_number(checker, value) -> bool:
    return type(value) is int or type(value) is float


@cache
def _strict_class():
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine_many({"integer": _is_integer, "number": _is_number})
    return jsonschema.validators.extend(base, type_checker=checker)


@cache
def _validator(kind: str):
    return _strict_class()(schema(kind))


_PY_TYPES = ((bool, "a boolean"), (int, "an integer"), (float, "a number"), (str, "a string"),
             (list, "a list"), (dict, "a mapping"))


def _type_of(value) -> str:
    return next((name for kind, name in _PY_TYPES if isinstance(value, kind)), "null")


def _field(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "document"


# Names people carry over from other tools, for "did you mean" where spelling is no help.
ALIASES = {"rank": "r", "alpha": "lora_alpha", "dropout": "lora_dropout", "lr": "learning_rate",
           "steps": "max_steps", "num_train_epochs": "epochs", "num_epochs": "epochs",
           "targets": "target_modules", "modules": "target_modules", "model": "base",
           "base_model": "base", "per_device_train_batch_size": "batch_size",
           "max_length": "max_seq_length", "seq_len": "max_seq_length",
           "scheduler": "lr_scheduler", "lr_scheduler_type": "lr_scheduler",
           "bf16": "precision", "fp16": "precision", "num_gpus": "devices",
           "max_seq_len": "max_seq_length", "gradient_accumulation": "gradient_accumulation_steps"}


def suggest(word: str, choices) -> str:
    choices = list(choices)
    alias = ALIASES.get(word)
    if alias in choices:
        return f" (did you mean {alias!r}?)"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _branch_errors(error) -> list:
    """For a failed oneOf/anyOf, the errors of the branch the author most likely meant."""
    branches: dict[int, list] = {}
    for sub in error.context:
        branches.setdefault(sub.schema_path[0], []).append(sub)
    if not branches:
        return []

    def score(errs):
        # A branch that rejects the value's very type is the least likely intent.
        type_miss = any(e.validator == "type" and not e.relative_path for e in errs)
        unknown = sum(e.validator == "additionalProperties" for e in errs)
        return (type_miss, unknown, len(errs), -max(len(e.absolute_path) for e in errs))

    return min(branches.values(), key=score)


def _exclusive_fields(error) -> list[str] | None:
    """``oneOf`` branches that each require one field: "set exactly one of ..."."""
    names = []
    for branch in error.validator_value:
        required = branch.get("required") if isinstance(branch, dict) else None
        if not required or len(required) != 1:
            return None
        names.append(required[0])
    return names


def _problems(error, doc_path: str, loaded: Loaded) -> list[Problem]:
    if _is_non_finite(error.instance):
        return []  # reported once, as MC319, wherever the schema meets it
    path = list(error.absolute_path)
    line, col = loaded.locate(path)
    where = _field(path)
    v = error.validator
    if v == "additionalProperties":
        allowed = error.schema.get("properties", {})
        out = []
        for key in error.instance:
            if key in allowed:
                continue
            kline, kcol = loaded.locate(path + [key])
            out.append(Problem(doc_path, kline, kcol, "MC202",
                               f"unknown key {key!r} in {where}{suggest(key, allowed)}"))
        return out
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return [Problem(doc_path, line, col, "MC203", f"{where} is missing required field "
                        f"{missing!r}")]
    if v == "type":
        want = error.validator_value
        want = " or ".join(_TYPE_NAMES.get(t, t) for t in (want if isinstance(want, list)
                                                            else [want]))
        return [Problem(doc_path, line, col, "MC204", f"{where} must be {want}, not "
                        f"{_type_of(error.instance)}{_type_hint(error)}")]
    if v in ("oneOf", "anyOf"):
        fields = _exclusive_fields(error)
        given = error.instance if isinstance(error.instance, dict) else {}
        if fields and sum(f in given for f in fields) != 1:
            return [Problem(doc_path, line, col, "MC206",
                            f"{where} must set exactly one of {', '.join(fields)}")]
        branch = _branch_errors(error)
        out = []
        for sub in branch:
            out.extend(_problems(sub, doc_path, loaded))
        if branch and all(_is_non_finite(sub.instance) for sub in branch):
            return out  # the branch fails only on a NaN or infinity, reported as MC319
        return out or [Problem(doc_path, line, col, "MC206", f"{where} matches none of the "
                               "allowed forms")]
    if v in _RANGE:
        return [Problem(doc_path, line, col, "MC205", f"{where}: {_range_message(error)}")]
    return [Problem(doc_path, line, col, "MC206", f"{where}: {error.message}")]


def _type_hint(error) -> str:
    """What to write instead, where the value is a number of the wrong kind or text that
    looks like the wanted type: a float for an integer (``16.0``), a YAML 1.1 form (``yes``,
    ``1_000``, ``0b1``, ``1:30``) or a quoted number."""
    want = error.validator_value
    want = set(want) if isinstance(want, list) else {want}
    got = error.instance
    if type(got) is float and "integer" in want and not want & {"number"}:
        return f" ({got!r}); write {int(got) if got.is_integer() else 'a whole number'}"
    if not isinstance(got, str):
        return ""
    plain = resolve_plain(got)
    if plain is not got and plain != got and _fits(plain, want):
        return f" ({got!r} is quoted, so it is text); write {_yaml(plain, got)} without quotes"
    old = yaml11_reading(got)
    if old is not None and _fits(old, want):
        return (f" ({got!r} is text in YAML 1.2; YAML 1.1 read it as {_yaml(old)}); write "
                f"{_yaml(old)}")
    return ""


def _fits(value, want: set) -> bool:
    if type(value) is bool:
        return "boolean" in want
    if type(value) is int:
        return bool(want & {"integer", "number"})
    return type(value) is float and "number" in want


def _yaml(value, text: str | None = None) -> str:
    if type(value) is bool:
        return "true" if value else "false"
    return text if text is not None else repr(value)


def _range_message(error) -> str:
    v, want, got = error.validator, error.validator_value, error.instance
    if v == "enum":
        choices = ", ".join(repr(w) for w in want)
        return f"{got!r} is not one of {choices}{suggest(str(got), map(str, want))}"
    if v == "const":
        return f"must be {want!r}, not {got!r}"
    if v == "pattern":
        hint = error.schema.get("description", "")
        return f"{got!r} is not in the expected form" + (f" ({hint})" if hint else "")
    words = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
             "exclusiveMaximum": "less than", "minLength": "at least this many characters:",
             "maxLength": "at most this many characters:", "minItems": "a list of at least",
             "maxItems": "a list of at most", "minProperties": "a mapping with at least"}
    if v in ("minItems", "maxItems"):
        return f"must be {words[v]} {want} item(s)"
    if v == "minProperties":
        return f"must be {words[v]} {want} field(s)"
    if v == "uniqueItems":
        return "items must be unique"
    if v in words:
        return f"must be {words[v]} {want}, got {got!r}"
    return error.message


def non_finite_problems(doc_path: str, loaded: Loaded) -> list[Problem]:
    """MC319 at each ``.nan``/``.inf`` (or overflowing number such as ``1e999``) of any
    document: YAML reads them as numbers, and no range in a schema refuses NaN (every
    comparison with it is false)."""
    return [Problem(doc_path, *loaded.locate(list(path)), "MC319",
                    f"{_field(path)} is {_yaml_number(value, text)}, not a finite number; "
                    "write a number")
            for path, value, text in loaded.non_finite]


def _yaml_number(value: float, text: str) -> str:
    said = ".nan" if math.isnan(value) else ("-.inf" if value < 0 else ".inf")
    return said if text.lstrip("+-").lower() in (".nan", ".inf") else f"{text} (read as {said})"


def _is_non_finite(value) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def check_document(doc_path: str, loaded: Loaded) -> tuple[str | None, list[Problem]]:
    """Check ``apiVersion``/``kind``, finite numbers and the kind's schema; returns
    ``(kind, problems)``."""
    data = loaded.value
    if not isinstance(data, dict):
        return None, [Problem(doc_path, loaded.pos.line, loaded.pos.col, "MC109",
                              f"top level must be a mapping, not {_type_of(data)}")]
    problems = non_finite_problems(doc_path, loaded)
    version = data.get("apiVersion")
    if version != API_VERSION:
        line, col = loaded.locate(["apiVersion"])
        what = "missing" if version is None else f"{version!r} is not supported"
        return None, problems + [Problem(doc_path, line, col, "MC200",
                                         f"apiVersion {what}; expected {API_VERSION!r}")]
    kind = data.get("kind")
    if kind not in KINDS:
        line, col = loaded.locate(["kind"])
        what = "missing" if kind is None else f"{kind!r} is unknown"
        return None, problems + [Problem(doc_path, line, col, "MC201", "kind "
                                         f"{what}; expected one of {', '.join(KINDS)}"
                                         f"{suggest(str(kind), KINDS)}")]
    for error in _validator(kind).iter_errors(data):
        problems.extend(_problems(error, doc_path, loaded))
    return kind, sorted(set(problems))


def with_defaults(kind: str, data: dict) -> dict:
    """A deep copy of ``data`` with every schema ``default`` filled in, so that writing a
    default out explicitly and leaving it implicit resolve (and fingerprint) the same."""
    return _fill(schema(kind), json.loads(json.dumps(data)))


def with_defaults_at(kind: str, path: tuple[str, ...], data: dict) -> dict:
    """:func:`with_defaults` for the block at ``path`` of a ``kind`` document (an Adapter's
    ``("lora",)``, a Contract's ``("caps",)``), so one part can be built on its own with the
    same defaults the whole document would get."""
    node = schema(kind)
    for key in path:
        node = node["properties"][key]
    return _fill(node, json.loads(json.dumps(data)))


def _fill(node: dict, value):
    """Defaults of ``node``'s properties, recursively; entries of a mapping whose values
    share one schema (``additionalProperties``) are filled from that schema. (Validation
    runs this for every document, so it copies only container defaults and descends only
    into mappings.)"""
    if not isinstance(value, dict):
        return value
    properties = node.get("properties", {})
    for key, sub in properties.items():
        if key not in value:
            if "default" not in sub:
                continue
            default = sub["default"]
            value[key] = json.loads(json.dumps(default)) if isinstance(
                default, (dict, list)) else default
        if isinstance(value[key], dict):
            value[key] = _fill(sub, value[key])
    shared = node.get("additionalProperties")
    if isinstance(shared, dict):
        for key in value:
            if key not in properties and isinstance(value[key], dict):
                value[key] = _fill(shared, value[key])
    return value
