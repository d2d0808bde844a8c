"""Rendering a list of problems for people (text), agents (json) and GitHub Actions."""

from __future__ import annotations

import json

from modelcfg.core.errors import Problem


def render_text(problems: list[Problem]) -> str:
    return "".join(p.render() + "\n" for p in problems)


def render_json(problems: list[Problem]) -> str:
    """``valid`` is false only when there is an error; warnings are listed all the same."""
    from modelcfg.cli.outputs import dumps

    valid = not any(p.is_error for p in problems)
    return dumps("validate", {"valid": valid, "problems": [p.to_dict() for p in problems]})


def _escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(problems: list[Problem]) -> str:
    """GitHub Actions workflow commands: each problem becomes an annotation on the PR."""
    return "".join(
        f"::{p.severity} file={_escape(p.path, True)},line={p.line},col={p.col},"
        f"title={_escape(p.code, True)}::{_escape(p.message)}\n" for p in problems)


def render_gate_github(report: dict, roots) -> str:
    """`modelcfg gate --format github`: each reason of gate.json as a workflow-command
    annotation on its config line (placed as `modelcfg github report` places them on the
    check run), a reason with no file as a file-less one, then the verdict."""
    from modelcfg.github.annotations import annotations

    placed = annotations(report, list(roots))
    lines = []
    for a in placed:
        where = f"file={_escape(a.path, True)},line={a.line}" + (
            f",col={a.col}" if a.col is not None else "")
        lines.append(f"::error {where},title={_escape(a.title, True)}::{_escape(a.message)}")
    reasons = list(report.get("reasons") or []) + [
        r for cfg in report.get("configs") or [] for r in cfg.get("reasons") or []]
    if len(placed) < len(reasons):  # nowhere in the repository to put them
        shown = {a.message for a in placed}
        for r in reasons:
            text = f"{r.get('code', '?')} {r.get('message', '')}"
            if text not in shown:
                lines.append(f"::error title={_escape(r.get('code', '?'), True)}::"
                             f"{_escape(text)}")
    level = "notice" if report.get("verdict") == "pass" else "error"
    lines.append(f"::{level} title=modelcfg gate::gate: {report.get('verdict')}")
    return "".join(line + "\n" for line in lines)


def render_diff_json(result: dict) -> str:
    """`modelcfg diff --format json`: strict JSON; a config's NaN or infinity (an invalid
    value the diff still shows) keeps its YAML spelling, ``.nan``."""
    from modelcfg.cli.outputs import dumps
    from modelcfg.core.numbers import yaml_spelled

    return dumps("diff", yaml_spelled(result), allow_nan=False, default=str)


def render_comparison(result: dict, as_json: bool) -> str:
    """`modelcfg compare`'s result: JSON (NaN as null), or one line per task, the reasons,
    the notes and the verdict."""
    from modelcfg.core.numbers import finite_or_none

    if as_json:
        from modelcfg.cli.outputs import versioned

        return json.dumps(versioned("compare", finite_or_none(result)), indent=2,
                          sort_keys=True) + "\n"
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
