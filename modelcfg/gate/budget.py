"""The per-agent budget: an agent does not spend unlimited GPU-hours.

The contract's optional ``agents.budget`` caps the GPU-hours one agent may spend per day
(``max_gpu_hours_per_day``) and per week (``max_gpu_hours_per_week``). Before anything
trains, the gate adds up, per window, what the agent already spent (the ``gpu_hours`` the
**base** ledger's entries of that agent record: its recorded gate attempts, and its
promotions whose training no attempt entry recorded) and the pre-launch estimates of every
adapter this change trains (:func:`modelcfg.config.cost.estimate_cost`). Past a cap, each
adapter the change trains is blocked with MC840, unless the pull request carries one of
``agents.maintainer_labels``.

Windows are deterministic: an entry counts when its ``time`` is later than the head
commit's committer time minus 24 hours (7 days), never the wall clock; an entry timed after
the head commit counts too. An agent is who :mod:`modelcfg.gate.agents` recognises by
identity (the pull request's author, commit people and identity trailers that match
``agents.authors``); an entry counts for this change when it names one of those identities,
or names none (who spent it is unknown: it counts for every agent). Fails closed (MC841):
a ledger that does not verify, an agent's entry in reach whose ``time`` or ``gpu_hours``
cannot be read, a head commit whose time cannot be read.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from modelcfg.audit.ledger import ATTEMPT
from modelcfg.config.cost import estimate_cost
from modelcfg.config.diff import TreeDiff
from modelcfg.config.resolve import resolve_adapter
from modelcfg.config.workspace import Workspace
from modelcfg.core import git, globs
from modelcfg.core.errors import UserError
from modelcfg.core.numbers import is_finite
from modelcfg.gate.agents import is_agent_identity
from modelcfg.gate.identity import IDENTITY_TRAILERS, identity_forms, norm
from modelcfg.gate.lineage import maintainer_label
from modelcfg.gate.plan import planned
from modelcfg.gate.verdict import Reason

WINDOWS = (("day", "max_gpu_hours_per_day", timedelta(days=1)),
           ("week", "max_gpu_hours_per_week", timedelta(days=7)))
FIELD = "contract.agents.budget"


def budget_of(contract) -> dict | None:
    """The contract's ``agents.budget`` block (None: no budget)."""
    budget = ((contract.data or {}).get("agents") or {}).get("budget") if contract else None
    return budget or None


def agent_identities(contract, commits: list[dict], pr_author: str | None) -> list[str]:
    """The agents' identities of a change, in the one form they are compared in (``norm``,
    case folded): the pull request's author and every commit person or identity trailer
    value that matches ``agents.authors`` (of ``Name <email>``, the forms a pattern matches
    as they are: the name, the address or its local part). Empty when the change is agent-authored only by a
    label or trailer (then every agent's spending counts against it)."""
    rules = contract.agents
    found = {pr_author} if pr_author and is_agent_identity(rules.authors, pr_author) else set()
    for commit in commits:
        found |= {who for who in commit["people"] if is_agent_identity(rules.authors, who)}
        found |= {value for key, value in commit["trailers"]
                  if key.casefold() in IDENTITY_TRAILERS
                  and is_agent_identity(rules.authors, value)}
    names = set()
    for who in found:  # ``Name <email>``: the name or address that matched
        forms = {f for f in identity_forms(who) if "<" not in f and globs.matches_any(
            [norm(p) for p in rules.authors], f, fold=True, paths=False)}
        names |= forms or {norm(who)}
    return sorted({name.casefold() for name in names})


def head_time(repo: Path, head: str) -> datetime:
    """The head commit's committer time (MC841 when git cannot tell)."""
    out = git.attempt(repo, "show", "-s", "--format=%ct", head)
    try:
        return datetime.fromtimestamp(int(out[1].strip()), tz=timezone.utc)
    except (TypeError, ValueError, IndexError):
        raise UserError("MC841", f"the committer time of the head commit {head[:12]} cannot "
                        "be read, so the budget windows cannot be placed") from None


def _time(entry: dict) -> datetime | None:
    try:
        when = datetime.fromisoformat(entry["time"])
    except (KeyError, TypeError, ValueError):
        return None
    return when if when.tzinfo else None


def _entry_agents(entry: dict) -> tuple[bool, list[str] | None]:
    """Whether an entry is an agent's, and the identities it names (None: not recorded)."""
    if entry.get("action") == ATTEMPT:
        return entry.get("agent") is True, entry.get("agents")
    actor = entry.get("actor") if isinstance(entry.get("actor"), dict) else {}
    return actor.get("agent_authored") is True, actor.get("agents")


def spent(entries: list[dict], identities: list[str], since: datetime) -> tuple[float, list]:
    """GPU-hours the agents of ``identities`` spent in entries timed after ``since``, and
    the ledger seqs counted. A promotion whose adapter and commit an attempt entry also
    records is that attempt's training (counted once). MC841 for an agent's entry whose
    time or GPU-hours cannot be read (it might be in the window)."""
    ours = set(identities)
    attempted = {(e.get("adapter"), e.get("commit")) for e in entries
                 if e.get("action") == ATTEMPT}
    total, seqs = 0.0, []
    for entry in entries:
        action = entry.get("action")
        if action not in (ATTEMPT, "promote"):
            continue
        agent, names = _entry_agents(entry)
        if not agent:
            continue
        if action == "promote" and (entry.get("adapter"), entry.get("commit")) in attempted:
            continue
        if isinstance(names, list) and ours and not ours & {str(n) for n in names}:
            continue  # another agent's
        when = _time(entry)
        if when is None:
            raise UserError("MC841", f"ledger entry {entry.get('seq')} (an agent's {action}) "
                            f"has no readable time ({entry.get('time')!r})")
        if when <= since:
            continue
        hours = (entry.get("cost") or {}).get("gpu_hours") if action == "promote" \
            else entry.get("gpu_hours")
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) \
                or not is_finite(hours) or hours < 0:
            raise UserError("MC841", f"ledger entry {entry.get('seq')} (an agent's {action} "
                            f"of {entry.get('adapter')}, {entry['time']}) records no GPU-hours, "
                            "so the agent's spending in the window is unknown")
        total += float(hours)
        seqs.append(entry["seq"])
    return total, seqs


def estimates(changes: TreeDiff, ws: Workspace, problems) -> dict[str, float]:
    """The pre-launch GPU-hours estimate of each adapter the change trains or evaluates
    (the plan: impact other than none), as the gate's cost step computes it. An adapter
    that does not pass its schema or does not resolve is left out (MC801 blocks it)."""
    # The problems the gate's cost step ignores (it reports them as its own reasons).
    from modelcfg.gate.adapter import GATE_OWN

    problems = [p for p in problems if p.code not in GATE_OWN]
    out = {}
    for change in planned(changes):
        doc = ws.adapters.get(change.name)
        if doc is None or not doc.valid:
            continue
        try:
            resolved = resolve_adapter(ws, change.name, problems)
        except UserError:
            continue
        out[change.name] = estimate_cost(resolved).gpu_hours
    return out


def budget_rules(report: dict, changes: TreeDiff, base_ws: Workspace, ws: Workspace,
                 problems, ledger, repo: Path, head: str, commits, pr_author, labels
                 ) -> dict[str, list[Reason]]:
    """MC840 (or MC841) for every adapter this change trains, by name, when the change is
    agent-authored, the base contract sets a budget and a window's cap is exceeded;
    ``report["budget"]`` records what was counted. ``ledger()`` gives the base ledger's
    entries and ``commits()`` the change's commits (:func:`~modelcfg.gate.identity.
    commit_identities`)."""
    contract = base_ws.contract()
    budget = budget_of(contract)
    if not report["agent"] or budget is None:
        return {}
    costs = estimates(changes, ws, problems)
    if not costs:
        return {}
    estimate = sum(costs.values())
    record = report["budget"] = {"agents": [], "estimate_gpu_hours": estimate,
                                 "estimates": costs, "windows": {}}
    try:
        identities = record["agents"] = agent_identities(contract, commits(), pr_author)
        now = head_time(repo, head)
        entries = ledger()
        over = []
        for window, key, span in WINDOWS:
            cap = budget.get(key)
            if cap is None:
                continue
            used, seqs = spent(entries, identities, now - span)
            record["windows"][window] = {"cap": cap, "spent": used, "since": (
                now - span).isoformat(), "ledger_seqs": seqs}
            if used + estimate > cap:
                over.append((window, key, cap, used, now - span))
    except UserError as err:
        why = Reason("MC841", f"the agent's GPU-hours cannot be counted: {err.message}; "
                     "blocked before training (fix the base ledger, or a maintainer's label "
                     "approves the change)", threshold=FIELD)
        return _refuse(report, base_ws, labels, costs, [why])
    who = ", ".join(identities) or "this change's agent (no identity: every agent counts)"
    reasons = [Reason("MC840", f"{who} spent {used:.6g} GPU-hours in the {window} since "
                      f"{since.isoformat()} (ledger, up to the head commit's time); with this "
                      f"change's estimate of {estimate:.6g} that exceeds the cap of {cap:g} "
                      f"({FIELD}.{key}); blocked before training: wait until earlier spending "
                      f"leaves the {window}'s window, or a maintainer's label approves it",
                      threshold=f"{FIELD}.{key}")
               for window, key, cap, used, since in over]
    return _refuse(report, base_ws, labels, costs, reasons)


def _refuse(report, base_ws, labels, costs, reasons) -> dict[str, list[Reason]]:
    if not reasons:
        return {}
    approved = maintainer_label(base_ws, labels)
    if approved is not None:
        report.setdefault("budget", {})["approved_by"] = approved
        report["notes"].append(f"over the agent budget ({', '.join(r.code for r in reasons)}); "
                               f"approved by label {approved}")
        return {}
    return {name: [Reason(r.code, r.message, config=name, field="training",
                          threshold=r.threshold) for r in reasons] for name in costs}
