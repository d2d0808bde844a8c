"""Lineage: which adapter of the head continues which adapter of the base.

A rename must not escape an adapter's history: the gate judges a renamed adapter against the
old one's baseline (docs/gate.md, "Lineage"). Between a removed and an added adapter, a
rename is recognised, in this order:

1. ``replaces: <old name>`` in the added adapter (explicit; it takes part in nothing else);
2. the same file with another ``name`` (a name changed in place);
3. the same content under another path and name: at least half of the lines (comments and
   blank lines aside) in common, as git's rename detection (``-M50%``) does, computed here so
   that git trees and working trees are treated alike. Best matches pair first.

``replaces`` is checked in one tree by ``modelcfg validate`` and against the base commit by
the gate (both MC322).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from modelcfg.config.workspace import Document, Workspace
from modelcfg.core.errors import Problem

SIMILAR = 0.5


@dataclass(frozen=True)
class Rename:
    old: str
    new: str
    how: str


def _lines(text: str) -> list[str]:
    stripped = (line.strip() for line in text.splitlines())
    return [line for line in stripped if line and not line.startswith("#")]


def similarity(old_text: str, new_text: str) -> float:
    """Share of lines two files have in common (0..1)."""
    old, new = _lines(old_text), _lines(new_text)
    if not old and not new:
        return 1.0
    return difflib.SequenceMatcher(None, old, new, autojunk=False).ratio()


def pair_renames(removed: list[Document], added: list[Document], old_text, new_text
                 ) -> list[Rename]:
    """Renames among removed (base side) and added (head side) adapter documents;
    ``old_text(doc)`` / ``new_text(doc)`` read a document's file from its side."""
    olds = {d.name: d for d in removed}
    out: list[Rename] = []
    for doc in added:
        declared = doc.data.get("replaces")
        if isinstance(declared, str) and declared in olds:
            out.append(Rename(declared, doc.name, "replaces"))
            del olds[declared]
    rest = [d for d in added if "replaces" not in d.data]
    for doc in list(rest):
        same = next((o for o in olds.values() if o.path == doc.path), None)
        if same is not None:
            out.append(Rename(same.name, doc.name, "name changed in the same file"))
            del olds[same.name]
            rest.remove(doc)
    scored = sorted(((similarity(old_text(o), new_text(n)), o.name, n.name)
                     for o in olds.values() for n in rest), reverse=True)
    taken: set[str] = set()
    for score, old, new in scored:
        if score >= SIMILAR and old not in taken and new not in taken:
            out.append(Rename(old, new, f"{score:.0%} of its lines unchanged"))
            taken |= {old, new}
    return out


def replaces_problems(ws: Workspace, doc: Document) -> list[Problem]:
    """MC322 for a valid adapter's ``replaces`` within one tree: itself, an adapter that
    is still defined, or an adapter another one already replaces."""
    old = doc.data.get("replaces")
    if not isinstance(old, str):
        return []
    line, col = doc.locate("replaces")
    if old == doc.name:
        why = "names this adapter itself; set it to the old name of the adapter it renames"
    elif old in ws.adapters:
        why = (f"names {old!r}, which is still defined ({ws.adapters[old].path}); a rename "
               "removes the old config in the same change (a new adapter has no replaces)")
    else:
        first = next(d for d in ws.documents if d.kind == "Adapter"
                     and d.data.get("replaces") == old)
        if first is doc:
            return []
        why = (f"names {old!r}, which {first.name} ({first.path}) already replaces; only "
               "one adapter can continue another's history")
    return [Problem(doc.path, line, col, "MC322", f"replaces {why}")]


def base_replaces_problems(base_ws: Workspace, ws: Workspace, renames: dict[str, str]
                           ) -> list[Problem]:
    """MC322 for ``replaces`` judged against the base commit (the gate): an adapter of the
    base cannot take over another's history, and a new one can only continue an adapter of
    the base that this change removes (``renames``: new name -> old name)."""
    out = []
    for doc in ws.adapters.values():
        old = doc.data.get("replaces") if doc.valid else None
        if not isinstance(old, str) or replaces_problems(ws, doc):
            continue  # nothing declared, or reported within the tree already
        before = base_ws.adapters.get(doc.name)
        if before is not None:
            if before.data.get("replaces") == old:
                continue  # the record of an earlier rename, unchanged
            why = (f"{doc.name} is an adapter of the base commit; replaces is only set when "
                   "an adapter is renamed (remove it)")
        elif old not in base_ws.adapters:
            why = f"{old!r} is no adapter of the base commit; name the adapter this renames"
        elif renames.get(doc.name) != old:
            why = (f"{old!r} was added to the base after this branch forked, so this change "
                   "does not remove it; rebase onto the base branch")
        else:
            continue
        line, col = doc.locate("replaces")
        out.append(Problem(doc.path, line, col, "MC322", f"replaces {old!r}: {why}"))
    return out
