"""What the ledger says about one adapter lineage: its promotions, its drift anchor and the
failed gate attempts of agents since its last promotion (docs/audit.md).

A *lineage* is an adapter and every name it continues: promotion entries of a renamed
adapter record ``replaces`` (the old name), and the names are followed back through them.
All functions are pure: they take the ledger's entries (:func:`~modelcfg.audit.ledger.
read_entries`, which verifies the chain) and read nothing else.
"""

from __future__ import annotations

from modelcfg.audit.ledger import ATTEMPT, BASELINE_ACTIONS

ANCHOR = "anchor"


def lineage(entries: list[dict], names) -> set[str]:
    """``names`` and every adapter name they continue, through the ``replaces`` of the
    entries that set a baseline (the accepted renames)."""
    found = {n for n in names if n}
    links = {e["adapter"]: e["replaces"] for e in entries
             if e.get("action") in BASELINE_ACTIONS + (ANCHOR,)
             and isinstance(e.get("replaces"), str)}
    grew = True
    while grew:
        more = {links[n] for n in found if n in links} - found
        found |= more
        grew = bool(more)
    return found


def last_promotion(entries: list[dict], names: set[str]) -> dict | None:
    """The newest entry that set a baseline of the lineage (a promotion or a rollback)."""
    return next((e for e in reversed(entries)
                 if e.get("action") in BASELINE_ACTIONS and e.get("adapter") in names), None)


def failed_attempts(entries: list[dict], names: set[str]) -> list[dict]:
    """The agents' blocked attempts on the lineage since its last promotion, oldest first.
    An attempt counts for every lineage it names (a rename attempt counts for both names);
    an ``error`` (the gate could not judge) is not a failed attempt."""
    since = (last_promotion(entries, names) or {}).get("seq", 0)
    return [e for e in entries if e.get("action") == ATTEMPT and e["seq"] > since
            and e.get("agent") is True and e.get("verdict") == "block"
            and names & set(e.get("lineage") or ())]


def anchor_entry(entries: list[dict], names: set[str]) -> dict | None:
    """What the lineage's drift is measured from: its newest ``anchor`` entry (a maintainer
    re-anchored), else its first promotion; None before any promotion."""
    anchors = [e for e in entries if e.get("adapter") in names
               and e.get("action") == ANCHOR]
    if anchors:
        return anchors[-1]
    return next((e for e in entries if e.get("adapter") in names
                 and e.get("action") == "promote"), None)
