"""The attempt limit: an agent does not get unlimited retries on one adapter lineage.

Each agent's gate attempt is recorded in the base branch's ledger (``modelcfg audit
record-attempt``, :mod:`modelcfg.audit.attempts`). Before judging, the gate counts the
lineage's blocked attempts since its last promotion in the **base** ledger
(:func:`modelcfg.audit.history.failed_attempts`); once they reach the contract's
``agents.max_failed_attempts`` (K), an agent-authored change to the lineage is refused with
MC828 unless the pull request carries one of ``agents.maintainer_labels``. Humans are not
limited, and the ledger is not read for their changes.
"""

from __future__ import annotations

from modelcfg.audit.history import failed_attempts, last_promotion, lineage
from modelcfg.config.diff import TreeDiff
from modelcfg.config.workspace import Workspace
from modelcfg.gate.lineage import maintainer_label
from modelcfg.gate.verdict import Reason


def attempt_rules(report: dict, changes: TreeDiff, base_ws: Workspace, ledger, labels
                  ) -> dict[str, list[Reason]]:
    """MC828 for each adapter whose lineage has reached the attempt limit, by name, when
    the change is agent-authored and not approved; ``report["attempts"]`` gets the count of
    every judged adapter. ``ledger()`` gives the base ledger's entries."""
    contract = base_ws.contract()
    if not report["agent"] or contract is None:
        return {}
    limit = contract.agents.max_failed_attempts
    approved = maintainer_label(base_ws, labels)
    entries = ledger()
    refused: dict[str, list[Reason]] = {}
    for change in changes:
        if change.kind != "Adapter" or change.status == "removed":
            continue
        names = lineage(entries, {change.name, change.replaces})
        failed = failed_attempts(entries, names)
        since = (last_promotion(entries, names) or {}).get("seq")
        report["attempts"][change.name] = {
            "lineage": sorted(names), "failed_since_promotion": len(failed), "limit": limit,
            "since_ledger_seq": since, "failed_ledger_seqs": [e["seq"] for e in failed]}
        if len(failed) < limit:
            continue
        if approved is not None:
            report["attempts"][change.name]["approved_by"] = approved
            report["notes"].append(f"{change.name}: {len(failed)} blocked attempt(s) since its "
                                   f"last promotion; this attempt is approved by label {approved}")
            continue
        after = f"ledger entry {since}" if since else "the start of the ledger"
        refused[change.name] = [Reason(
            "MC828", f"the lineage of {change.name} ({', '.join(sorted(names))}) has "
            f"{len(failed)} blocked agent attempt(s) since {after} (ledger entries "
            f"{', '.join(str(e['seq']) for e in failed)}), the contract's limit is {limit}: "
            f"another attempt needs a maintainer's label on the pull request "
            f"({', '.join(contract.agents.maintainer_labels) or 'the contract names none'})",
            config=change.name, threshold="contract.agents.max_failed_attempts")]
    return refused
