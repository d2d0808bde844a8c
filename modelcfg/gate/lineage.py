"""Adapters a change removes or renames: who may, and what the report says.

An adapter with a baseline in the base commit carries accepted evidence; removing it, or
renaming it (:mod:`modelcfg.config.lineage` recognises renames), must not be a way around
it. An agent-authored change may do either only with one of the contract's
``agents.maintainer_labels`` on the pull request (MC818, naming the adapter); a human may,
and the report notes it. A renamed adapter is judged against the old one's baseline
(:mod:`modelcfg.gate.adapter`). Contract and baselines are read from the base commit.
"""

from __future__ import annotations

from modelcfg.audit.baseline import read_baseline
from modelcfg.config.diff import TreeDiff
from modelcfg.config.workspace import Workspace
from modelcfg.gate.verdict import Reason


def maintainer_label(base_ws: Workspace, labels) -> str | None:
    """The first pull-request label that is one of the contract's maintainer labels
    (exact names, case-insensitive as on GitHub), or None."""
    contract = base_ws.contract()
    allowed = {m.casefold() for m in (contract.agents.maintainer_labels if contract else ())}
    return next((label for label in labels or () if label.casefold() in allowed), None)


def _baselined(base_ws: Workspace, name: str) -> bool:
    return name in base_ws.adapters and read_baseline(base_ws.tree, name) is not None


def lineage_rules(report: dict, changes: TreeDiff, base_ws: Workspace, labels
                  ) -> dict[str, list[Reason]]:
    """Notes and MC818 reasons for the baselined adapters ``changes`` remove or rename.
    A removal's reason goes on the change; a rename's goes on the renamed adapter, returned
    by its new name (it is not judged: there is nothing it may be judged against)."""
    approved = maintainer_label(base_ws, labels)
    agent = bool(report["agent"])
    refused: dict[str, list[Reason]] = {}
    for change in changes:
        if change.kind != "Adapter":
            continue
        old = change.replaces if change.replaces is not None else change.name
        if (change.replaces is None and change.status != "removed") or \
                not _baselined(base_ws, old):
            continue
        if change.status == "removed" and change.old_path in changes.unreadable:
            continue  # still there but unreadable: the MC801 of that file covers it
        removed = change.status == "removed"
        if agent and approved is None:
            act = "removes" if removed else "renames"
            to = "" if removed else f" to {change.name}"
            reason = Reason("MC818", f"this agent-authored change {act} adapter {old} "
                            f"({change.old_path}), which has a baseline{to}; allowed only with "
                            f"a maintainer's label on the pull request ({_labels(base_ws)})",
                            config=change.name, field=change.old_path)
            if removed:
                report["reasons"].append(reason.to_dict())
            else:
                refused[change.name] = [reason]
            continue
        who = f" (approved by label {approved})" if agent else ""
        report["notes"].append(_note(change, old, who))
    return refused


def _note(change, old: str, who: str) -> str:
    if change.status == "removed":
        return (f"adapter {old} ({change.old_path}), which has a baseline, is removed by "
                f"this change{who}; its baseline file and ledger history stay")
    return (f"adapter {old} is renamed to {change.name} ({change.lineage}){who}: it is "
            f"judged against {old}'s baseline, and its evidence is promoted as {change.name}")


def _labels(base_ws: Workspace) -> str:
    contract = base_ws.contract()
    names = contract.agents.maintainer_labels if contract is not None else ()
    return ", ".join(names) if names else "the contract names none: a maintainer must make it"
