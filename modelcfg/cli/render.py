"""Rendering a list of problems for people (text), agents (json) and GitHub Actions."""

from __future__ import annotations

import json

from modelcfg.core.errors import Problem


def render_text(problems: list[Problem]) -> str:
    return "".join(p.render() + "\n" for p in problems)


def render_json(problems: list[Problem]) -> str:
    """``valid`` is false only when there is an error; warnings are listed all the same."""
    valid = not any(p.is_error for p in problems)
    return json.dumps({"valid": valid, "problems": [p.to_dict() for p in problems]},
                      indent=2) + "\n"


def _escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(problems: list[Problem]) -> str:
    """GitHub Actions workflow commands: each problem becomes an annotation on the PR."""
    return "".join(
        f"::{p.severity} file={_escape(p.path, True)},line={p.line},col={p.col},"
        f"title={_escape(p.code, True)}::{_escape(p.message)}\n" for p in problems)


def render_diff_json(result: dict) -> str:
    """`modelcfg diff --format json`: strict JSON; a config's NaN or infinity (an invalid
    value the diff still shows) keeps its YAML spelling, ``.nan``."""
    from modelcfg.core.numbers import yaml_spelled

    return json.dumps(yaml_spelled(result), indent=2, allow_nan=False, default=str) + "\n"


def render_comparison(result: dict, as_json: bool) -> str:
    """`modelcfg compare`'s result: JSON (NaN as null), or one line per task, the reasons,
    the notes and the verdict."""
    from modelcfg.core.numbers import finite_or_none

    if as_json:
        return json.dumps(finite_or_none(result), indent=2, sort_keys=True) + "\n"
    lines = []
    for task, o in result["tasks"].items():
        lines.append(f"{task:<16} {o.get('metric', ''):<20} baseline "
                     f"{_num(o.get('baseline_mean'))} candidate {_num(o.get('candidate_mean'))}"
                     f" diff {_num(o.get('estimate'), '+.3f')} lower bound "
                     f"{_num(o.get('lower_bound'), '+.3f')}  {o.get('decision')} "
                     f"({o.get('items_used')} items)")
    lines += [f"{r['code']} {r.get('task') or ''} {r['message']}".replace("  ", " ")
              for r in result["reasons"]]
    lines += [f"note: {n}" for n in result["notes"]]
    lines.append(f"compare: {result['verdict']}  (thresholds: {result['thresholds']})")
    return "".join(line + "\n" for line in lines)


def _num(value, spec: str = ".3f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) and value == value else "n/a"


RENDERERS = {"text": render_text, "json": render_json, "github": render_github}
