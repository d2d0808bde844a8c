"""The ``modelcfg`` command line: parse, call one library function, render, exit.

Exit codes: 0 success / valid / pass; 1 problems found, a user error, or a gate block;
2 usage errors (and gate errors, which also block); 3 an unexpected internal error (with a
traceback, please report it); 130 interrupted. Library code never prints or exits: it
returns data or raises :class:`~modelcfg.errors.UserError`, rendered here.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from modelcfg import __version__
from modelcfg.errors import UserError

app = typer.Typer(
    name="modelcfg",
    help="Validate, train, evaluate and gate changes to YAML model and LoRA configs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Format(str, Enum):
    text = "text"
    json = "json"
    github = "github"


def _root(root: Optional[Path]) -> Path:
    from modelcfg.workspace import repo_root

    return (root or repo_root(Path.cwd())).resolve()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"modelcfg {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Validate, train, evaluate and gate changes to YAML model and LoRA configs."""


@app.command()
def validate(
    paths: list[Path] = typer.Argument(None, help="Files or folders to report on (default: "
                                       "the whole repository)."),
    fmt: Format = typer.Option(Format.text, "--format", help="text: path:line:col: CODE "
                               "message; json: for agents; github: Actions annotations."),
    root: Optional[Path] = typer.Option(None, help="Repository root (default: the enclosing "
                                        "git work tree)."),
) -> None:
    """Check configs: YAML safety, schema, cross-file references, data pins, policy, cost.

    Exit 0 when valid, 1 when any problem was found, 2 on usage errors.
    """
    from modelcfg.validate import RENDERERS, validate as run

    problems = run(_root(root), paths or [])
    sys.stdout.write(RENDERERS[fmt.value](problems))
    if fmt is Format.text and not problems:
        typer.echo("ok: no problems found", err=True)
    raise typer.Exit(1 if problems else 0)


@app.command()
def schema(
    out: Optional[Path] = typer.Option(None, "--out", help="Folder to write "
                                       "<kind>.schema.json files into (default: print)."),
    kind: Optional[str] = typer.Argument(None, help="One kind: Model, Adapter, EvalSuite, "
                                         "Contract, Thresholds."),
) -> None:
    """Print or write the JSON Schemas (draft 2020-12) of the config kinds, for editors."""
    from modelcfg.atomic import write_text
    from modelcfg.schema import KINDS, schema_text

    kinds = list(KINDS)
    if kind is not None:
        if kind not in KINDS:
            raise UserError("MC004", f"unknown kind {kind!r}; expected one of "
                            f"{', '.join(KINDS)}", exit_code=2)
        kinds = [kind]
    if out is None:
        for k in kinds:
            sys.stdout.write(schema_text(k))
        return
    out.mkdir(parents=True, exist_ok=True)
    for k in kinds:
        target = out / f"{KINDS[k]}.schema.json"
        write_text(target, schema_text(k))
        typer.echo(str(target))


def _usage_errors() -> tuple[type[Exception], ...]:
    # Newer typer vendors click (its errors derive from TyperException); older typer raises
    # click's own exceptions.
    found = [getattr(typer, "TyperException", None)]
    try:
        import click

        found.append(click.ClickException)
    except ImportError:
        pass
    return tuple(e for e in found if e is not None)


def main(argv: Optional[list[str]] = None) -> int:
    """Console entry point; maps errors to exit codes (see the module docstring)."""
    try:
        rc = app(args=argv, prog_name="modelcfg", standalone_mode=False)
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 130
    except _usage_errors() as exc:
        exc.show()
        return 2
    except UserError as exc:
        typer.echo(f"error: {exc.render()}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":
    sys.exit(main())
