"""One JSON contract for the commands' outputs: each `--format json` document carries a
``format`` (``modelcfg-<kind>/<n>``) and has a JSON Schema (draft 2020-12) shipped in
``modelcfg/cli/schemas/`` (`modelcfg schema --output KIND`). Nothing here imports more than
json: validate's start-up time is a goal."""

from __future__ import annotations

import json
from importlib import resources

from modelcfg.core.errors import UserError

# kind -> the command(s) whose `--format json` writes it (gate.json keeps its version).
OUTPUTS = {
    "validate": "modelcfg validate",
    "diff": "modelcfg diff",
    "gate": "modelcfg gate, modelcfg gate merge (gate.json)",
    "gate-plan": "modelcfg gate plan",
    "compare": "modelcfg compare",
    "train": "modelcfg train",
    "eval": "modelcfg eval",
    "promote": "modelcfg promote",
    "rollback": "modelcfg rollback",
    "history": "modelcfg history",
    "card": "modelcfg card",
    "audit-verify": "modelcfg audit verify",
    "audit-attempt": "modelcfg audit record-attempt",
    "github-report": "modelcfg github report",
    "github-validate": "modelcfg github validate",
    "github-pull-request": "modelcfg github pull-request",
    "tiny": "modelcfg tiny",
    "init": "modelcfg init",
    "propose": "modelcfg propose --json",
    "pr-status": "modelcfg pr status --json, modelcfg pr wait --json",
    "demo": "modelcfg demo",
}


def format_of(kind: str) -> str:
    return f"modelcfg-{kind}/1"


def versioned(kind: str, doc: dict) -> dict:
    """``doc`` with its ``format`` first (a document that has one keeps it)."""
    return {"format": doc.get("format", format_of(kind)),
            **{k: v for k, v in doc.items() if k != "format"}}


def dumps(kind: str, doc: dict, **kwargs) -> str:
    return json.dumps(versioned(kind, doc), indent=2, **kwargs) + "\n"


def output_schema_text(kind: str) -> str:
    """The schema of one output kind; MC051 (exit 2) for an unknown kind."""
    if kind not in OUTPUTS:
        raise UserError("MC051", f"unknown output kind {kind!r}; expected one of "
                        f"{', '.join(OUTPUTS)} (`modelcfg schema --list-outputs`)",
                        exit_code=2)
    folder = resources.files("modelcfg.cli").joinpath("schemas")
    return folder.joinpath(f"{kind}.schema.json").read_text()


def no_github(command: str) -> UserError:
    """`--format github` for a command whose output is no annotation: refused (MC050)."""
    return UserError("MC050", f"`{command}` has no --format github (GitHub annotations are "
                     "written by validate, gate and gate merge); use --format text or json",
                     exit_code=2)
