"""Rendering a list of problems for people (text), agents (json) and GitHub Actions."""

from __future__ import annotations

import json

from modelcfg.core.errors import Problem


def render_text(problems: list[Problem]) -> str:
    return "".join(p.render() + "\n" for p in problems)


def render_json(problems: list[Problem]) -> str:
    return json.dumps({"valid": not problems, "problems": [p.to_dict() for p in problems]},
                      indent=2) + "\n"


def _escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def render_github(problems: list[Problem]) -> str:
    """GitHub Actions workflow commands: each problem becomes an annotation on the PR."""
    return "".join(
        f"::error file={_escape(p.path, True)},line={p.line},col={p.col},"
        f"title={_escape(p.code, True)}::{_escape(p.message)}\n" for p in problems)


RENDERERS = {"text": render_text, "json": render_json, "github": render_github}
