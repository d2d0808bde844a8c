"""Re-anchoring a lineage's drift cap at its current baseline (``modelcfg promote --anchor``).

The drift cap (``max_drift`` per task in the thresholds) bounds how far a lineage may move
from its anchor: its first promotion, unless a maintainer re-anchors. Re-anchoring appends
an ``anchor`` entry with the current baseline's scores, through the same landing as a
promotion (:func:`modelcfg.audit.landing.land`); it sets no baseline. It is the deliberate
act that accepts the drift so far (docs/audit.md, "Drift caps").
"""

from __future__ import annotations

from pathlib import Path

from modelcfg.audit.baseline import baseline_sha256, read_baseline
from modelcfg.audit.history import ANCHOR, anchor_entry, lineage
from modelcfg.audit.landing import PromoteResult, actor_record, land
from modelcfg.audit.ledger import LEDGER, appended, read_entries, read_text
from modelcfg.audit.scores import baseline_scores
from modelcfg.core.errors import UserError


def reanchor(repo: Path, *, adapter: str, actor, remote: str = "origin",
             branch: str | None = None, rationale: str | None = None, max_attempts: int = 5,
             now: str | None = None) -> PromoteResult:
    """Make ``adapter``'s current baseline on ``remote``/``branch`` the anchor of its
    lineage's drift cap. MC729 when it has no promoted baseline there; ``already`` when it
    is the anchor already."""
    who = actor_record(actor)

    def build(tree, attempt):
        current = read_baseline(tree, adapter)
        if current is None or current.get("ledger") is None:
            raise UserError("MC729", f"{adapter} has no promoted baseline on the branch: "
                            "there is nothing to anchor at; promote it first", exit_code=2)
        entries = read_entries(tree)
        sha = baseline_sha256(current)
        now_anchor = anchor_entry(entries, lineage(entries, {adapter}))
        if now_anchor is not None and now_anchor.get("action") == ANCHOR \
                and now_anchor.get("adapter") == adapter \
                and now_anchor.get("baseline_sha256") == sha:
            return PromoteResult(ANCHOR, adapter, None, None, current, attempt, already=True)
        entry = {"action": ANCHOR, "adapter": adapter, "commit": current["commit"],
                 "config_path": current["config_path"],
                 "fingerprint": current["fingerprint"], "actor": who,
                 "rationale": rationale or f"re-anchor the drift cap of {adapter} at its "
                 "current baseline", "baseline_sha256": sha,
                 "scores": baseline_scores(current),
                 "previous_anchor": (now_anchor or {}).get("seq")}
        data, entry = appended(read_text(tree), entry, now=now)
        message = (f"modelcfg: re-anchor {adapter} at {current['fingerprint'][:12]}\n\n"
                   f"Ledger entry {entry['seq']} ({entry['hash'][:12]}).\n")
        return {LEDGER: data}, message, PromoteResult(ANCHOR, adapter, None, entry, current,
                                                      attempt)

    return land(repo, remote, branch, build, max_attempts)
