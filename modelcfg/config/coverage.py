"""What every adapter must be evaluated on, whatever its own config lists: the eval suites the
contract requires (``required_suites``) and every task the thresholds judge under
``safety:`` (docs/gate.md, "Which tasks are judged"), and the suites the contract's
``adapter_suites`` requires of one adapter by name.

``modelcfg validate`` reports a gap on the adapter's ``evals.suites`` (MC321; MC340 for an
``adapter_suites`` suite) so an author learns it before the gate; the gate blocks it (MC817),
reading the contract, thresholds and suites from the base commit and adding the tasks of the
adapter's promoted baseline.
"""

from __future__ import annotations

from modelcfg.config.model import Contract, Thresholds
from modelcfg.config.workspace import Document, Workspace
from modelcfg.core.errors import Problem


def suite_tasks(ws: Workspace, names) -> list[str]:
    """The tasks of the named suites that exist in ``ws``, in order, each once."""
    tasks: list[str] = []
    for name in names:
        suite = ws.suites.get(name)
        listed = suite.data.get("tasks") if suite is not None else None
        for task in listed if isinstance(listed, list) else []:
            if isinstance(task, str) and task not in tasks:
                tasks.append(task)
    return tasks


def suites_running(ws: Workspace, task: str) -> list[str]:
    """Names of the suites in ``ws`` that run ``task`` (to tell an author what to add)."""
    return sorted(name for name in ws.suites if task in suite_tasks(ws, [name]))


def unknown_required_suites(ws: Workspace, contract: Contract, adapter: str | None = None
                            ) -> list[str]:
    """Required suites (of every adapter, and of ``adapter`` by name) that ``ws`` does not
    define: the policy itself is broken."""
    names = contract.suites_required_of(adapter) if adapter else contract.required_suites
    return [name for name in names if name not in ws.suites]


def required_by_policy(ws: Workspace, contract: Contract | None,
                       thresholds: Thresholds | None, adapter: str | None = None
                       ) -> dict[str, str]:
    """Every task the policy requires of any adapter (and of ``adapter`` by name, through
    the contract's ``adapter_suites``), with why (for the message)."""
    required: dict[str, str] = {}
    for name in contract.required_suites if contract is not None else ():
        for task in suite_tasks(ws, [name]):
            required.setdefault(task, f"the contract requires eval suite {name!r}")
    own = contract.own_suites(adapter) if contract and adapter else ()
    for name in own:
        for task in suite_tasks(ws, [name]):
            required.setdefault(task, f"the contract requires eval suite {name!r} of "
                                f"{adapter} (adapter_suites)")
    for task in thresholds.safety if thresholds is not None else ():
        required.setdefault(task, "the thresholds judge it under safety:")
    return required


def coverage_problems(ws: Workspace, doc: Document, contract: Contract | None,
                      thresholds: Thresholds | None) -> list[Problem]:
    """MC321 on ``evals.suites`` of a valid adapter: each required suite it leaves out, and
    each safety task none of its suites runs (only when all its suites are known)."""
    listed = doc.data["evals"]["suites"]
    line, col = doc.locate("evals", "suites")
    out = []
    for name in contract.required_suites if contract is not None else ():
        if name not in listed and (name in ws.suites or ws.unreadable):  # else MC306 there
            out.append(Problem(doc.path, line, col, "MC321", f"the contract requires eval "
                               f"suite {name!r} for every adapter; add it to evals.suites"))
    own = contract.own_suites(doc.data["name"]) if contract else ()
    for name in own:
        if name not in listed and name not in contract.required_suites and (
                name in ws.suites or ws.unreadable):  # else MC306 at the contract
            out.append(Problem(doc.path, line, col, "MC340", f"the contract requires eval "
                               f"suite {name!r} of adapter {doc.data['name']!r} "
                               "(adapter_suites); add it to evals.suites"))
    if any(name not in ws.suites for name in listed):
        return out  # an unknown suite is reported on its own (MC306)
    runs = suite_tasks(ws, listed)
    covered = set(runs) | set(suite_tasks(ws, contract.required_suites if contract else ()))
    for task in thresholds.safety if thresholds is not None else ():
        which = suites_running(ws, task)  # none: the thresholds' own problem (MC307)
        if task not in covered and which:
            out.append(Problem(doc.path, line, col, "MC321", f"the thresholds judge safety "
                               f"task {task!r} on every adapter, and none of its suites runs "
                               f"it; add a suite that does ({', '.join(which)})"))
    return out
