"""Where each kind of document lives. A kind is read only from its place, so a document
cannot stand in for another of its kind by being put somewhere else: a Contract under
``configs/`` or an EvalSuite next to the adapters is refused (MC318) and never resolves.

    configs/models/*.yaml      Model
    configs/adapters/*.yaml    Adapter
    evals/suites/*.yaml        EvalSuite
    evals/contract.yaml        Contract
    evals/thresholds.yaml      Thresholds

The files that are not modelcfg documents have fixed places too, read by the code that uses
them: ``evals/tasks/<task>/`` (lm-eval tasks), ``evals/baselines/<adapter>.json`` and
``evals/ledger.jsonl``.
"""

from __future__ import annotations

import posixpath

from modelcfg.core.errors import Problem

# kind -> (folder, file name or None for "any <name>.yaml directly in the folder")
PLACES: dict[str, tuple[str, str | None]] = {
    "Model": ("configs/models", None),
    "Adapter": ("configs/adapters", None),
    "EvalSuite": ("evals/suites", None),
    "Contract": ("evals", "contract.yaml"),
    "Thresholds": ("evals", "thresholds.yaml"),
}
SUFFIX = ".yaml"


def place_of(kind: str) -> str:
    """The place of ``kind`` as written in the docs (``configs/adapters/*.yaml``)."""
    folder, name = PLACES[kind]
    return f"{folder}/{name or '*' + SUFFIX}"


def in_place(kind: str, rel: str) -> bool:
    """Whether a document of ``kind`` at repository path ``rel`` is where its kind lives."""
    if kind not in PLACES:
        return False
    folder, name = PLACES[kind]
    parent, base = posixpath.split(rel)
    if parent != folder:
        return False
    return base == name if name else base.endswith(SUFFIX) and len(base) > len(SUFFIX)


def misplaced(kind: str, rel: str, line: int, col: int) -> Problem:
    """MC318 at a document's ``kind``: it is ignored until it is moved to its place."""
    article = "an" if kind[0] in "AEIOU" else "a"
    return Problem(rel, line, col, "MC318", f"{article} {kind} document belongs at "
                   f"{place_of(kind)}, not {rel}; it is ignored (never resolves) until it is "
                   "moved there")
