"""The ledger and the baselines are regular files, read where they are and never followed.

A symlink (mode 120000 in a commit, a symlink in a working tree), a submodule (gitlink) or
anything else that is not a regular file at ``evals/ledger.jsonl`` or
``evals/baselines/<adapter>.json``, or that stands on the way to them (``evals`` or
``evals/baselines`` as a symlink), is refused with MC727 naming the path: following it would
let the audit record be read from somewhere no one reviews as the audit record.
"""

from __future__ import annotations

from modelcfg.core.errors import UserError


def _first_odd_step(tree, rel: str) -> tuple[str, str]:
    """``(path, kind)`` of the first step of ``rel`` (``rel`` included) that is not a
    folder on the way, or ``rel`` and its own kind."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        step = "/".join(parts[:i])
        kind = tree.entry_kind(step)
        if kind != "dir" or i == len(parts):
            return step, kind
    return rel, "missing"  # an empty path


def _refuse(rel: str, step: str, kind: str, want: str) -> UserError:
    where = rel if step == rel else f"{step} (on the way to {rel})"
    return UserError("MC727", f"{where} is a {kind}, not a {want}: the audit record is never "
                     "read through a symlink, submodule or special file; restore it from git "
                     f"history as a plain {want}", path=rel, line=1, col=1)


def regular_file(tree, rel: str) -> bool:
    """True when ``rel`` is a regular file of ``tree``, False when nothing is there; MC727
    for anything else (a symlink, gitlink, folder or special file at it or on its way)."""
    step, kind = _first_odd_step(tree, rel)
    if kind == "missing":
        return False
    if step == rel and kind == "file":
        return True
    raise _refuse(rel, step, kind, "regular file" if step == rel else "folder")


def folder(tree, rel: str) -> bool:
    """True when ``rel`` is a real folder of ``tree`` (no symlink on the way), False when
    nothing is there; MC727 otherwise."""
    step, kind = _first_odd_step(tree, rel)
    if kind == "missing":
        return False
    if step == rel and kind == "dir":
        return True
    raise _refuse(rel, step, kind, "folder")
