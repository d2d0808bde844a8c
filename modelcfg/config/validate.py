"""``modelcfg validate``: every problem in the repository's configs, in one run."""

from __future__ import annotations

from pathlib import Path

from modelcfg.config.checks import check_workspace
from modelcfg.config.trees import NOT_DOCS, YAML_SUFFIXES, FsTree
from modelcfg.config.workspace import load_workspace
from modelcfg.core.errors import Problem, UserError


def _selected(root: Path, paths: list[Path]) -> tuple[list[str], list[str]]:
    """Repository-relative files and folder prefixes the user asked about."""
    files, prefixes = [], []
    for given in paths:
        path = given.resolve()
        if not path.exists():
            raise UserError("MC001", f"{given}: no such file or folder", exit_code=2)
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            raise UserError("MC002", f"{given} is outside the repository {root}; run from "
                            "inside it or pass --root", exit_code=2) from None
        if path.is_dir():
            prefixes.append("" if rel == "." else rel + "/")
        elif rel.endswith(YAML_SUFFIXES) or path.suffix == ".jsonl":
            files.append(rel)
        else:
            raise UserError("MC003", f"{given} is not a YAML file", exit_code=2)
    return files, prefixes


def validate(root: Path, paths: list[Path] = (), warnings: bool = False) -> list[Problem]:
    """Problems in the whole repository, or only those reported in ``paths``.

    With ``warnings`` the advice that costs a computation is added too (MC324: a task too
    small for its margin); only `modelcfg validate` asks for it, never the gate.

    Cross-file checks always see the whole repository (an adapter is checked against its
    base model even when only the adapter is named), but only problems located in the
    selected files are returned.
    """
    files, prefixes = _selected(root, list(paths))

    prefixes_t = tuple(prefixes)
    focus = (lambda path: path in files or path.startswith(prefixes_t)) if paths else None
    # Other adapters are only peeked at when just YAML files are named; a named dataset or
    # folder needs every adapter read, to find those that use it.
    only_yaml = not prefixes and all(f.endswith(YAML_SUFFIXES) for f in files)
    # lm-eval's own task files (evals/tasks/) are not modelcfg documents, even when named.
    extra = [f for f in files if f.endswith(YAML_SUFFIXES) and not f.startswith(NOT_DOCS)]
    ws = load_workspace(FsTree(root), extra, focus if only_yaml else None)
    problems = ws.problems + check_workspace(ws, focus, warnings)
    if focus is not None:
        # A dataset's problems are reported where they are fixed: the adapter pinning it.
        users = {doc.path for doc in ws.documents if doc.kind == "Adapter" and doc.valid
                 and any(isinstance(d, dict) and focus(d.get("path", ""))
                         for d in doc.data["datasets"])}
        problems = [p for p in problems if focus(p.path) or p.path in users]
    return sorted(set(problems))
