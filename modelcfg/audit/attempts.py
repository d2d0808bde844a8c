"""Recording an agent's gate attempt in the ledger of the base branch.

Each judged adapter of an agent-authored change becomes one ``attempt`` entry: its lineage
(the adapter and the names it continues), the pull request, the head and base commits that
were judged, the verdict and the reason codes. It lands like a promotion
(:func:`modelcfg.audit.landing.land`: one commit on the remote branch head, pushed, rebuilt
on a race) and the gate counts the lineage's blocked attempts since its last promotion
(:mod:`modelcfg.audit.history`). Recording the same gate run twice adds nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from modelcfg.audit.landing import PromoteResult, land
from modelcfg.audit.ledger import ATTEMPT, LEDGER, appended, read_entries, read_text
from modelcfg.core.errors import UserError

REFUSED = "MC828"  # refused before judging: the attempt limit itself, not an attempt


def attempt_entries(report: dict) -> list[dict]:
    """The attempt entries of one ``gate.json``: one per judged adapter of an
    agent-authored change (a human's change is not counted; an adapter refused with MC828
    was not judged). A change-level block (e.g. MC814) blocks each adapter's attempt."""
    if not report.get("agent"):
        return []
    change = {r.get("code") for r in report.get("reasons") or ()}
    counted = report.get("attempts") or {}
    out = []
    for cfg in report.get("configs") or ():
        codes = {r.get("code") for r in cfg.get("reasons") or ()}
        if REFUSED in codes:
            continue
        verdict = cfg.get("verdict")
        if verdict == "pass" and report.get("verdict") != "pass":
            verdict = report.get("verdict")
        names = set((counted.get(cfg.get("adapter")) or {}).get("lineage") or ())
        names |= {n for n in (cfg.get("adapter"), cfg.get("replaces")) if n}
        out.append({"action": ATTEMPT, "adapter": cfg.get("adapter"), "pr": report.get("pr"),
                    "commit": report.get("head"), "base": report.get("base"),
                    "lineage": sorted(names), "verdict": verdict,
                    "reasons": sorted(c for c in codes | change if c), "agent": True,
                    "gpu_hours": spent_gpu_hours(cfg), **_identities(report)})
    return out


def spent_gpu_hours(cfg: dict) -> float:
    """The GPU-hours one judged adapter's training spent (0 when nothing trained: blocked
    before training, or a cache hit), for the agent budget (:mod:`modelcfg.gate.budget`)."""
    train = cfg.get("train") or {}
    hours = ((cfg.get("cost") or {}).get("measured") or {}).get("gpu_hours")
    if not train.get("fingerprint") or train.get("cache_hit") or isinstance(hours, bool) \
            or not isinstance(hours, (int, float)):
        return 0.0
    return float(hours)


def _identities(report: dict) -> dict:
    """The agents' identities the gate counted the budget for (none recorded: the entry
    counts for every agent's budget)."""
    agents = (report.get("budget") or {}).get("agents")
    return {"agents": list(agents)} if agents else {}


def _key(entry: dict) -> tuple:
    return tuple(entry.get(k) for k in ("adapter", "pr", "commit", "base"))


def read_gate_report(folder: Path) -> dict:
    """``gate.json`` of a gate output folder; MC729 when it cannot be read."""
    path = Path(folder) / "gate.json"
    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError("MC729", f"cannot read the gate's result to record the attempt: {err}",
                        path=str(path)) from None
    if not isinstance(report, dict):
        raise UserError("MC729", "gate.json is not a JSON object", path=str(path))
    return report


def record_attempts(repo: Path, folder: Path, *, remote: str = "origin",
                    branch: str | None = None, max_attempts: int = 5,
                    now: str | None = None) -> PromoteResult | None:
    """Append the attempt entries of the gate output in ``folder`` to the ledger of
    ``remote``/``branch``, in one commit. None when there is nothing to record (a human's
    change, or no adapter judged); ``already`` when every entry is there."""
    wanted = attempt_entries(read_gate_report(folder))
    if not wanted:
        return None
    names = ", ".join(sorted({e["adapter"] for e in wanted}))

    def build(tree, attempt):
        seen = {_key(e) for e in read_entries(tree) if e.get("action") == ATTEMPT}
        new = [e for e in wanted if _key(e) not in seen]
        if not new:
            return PromoteResult(ATTEMPT, names, None, None, {}, attempt, already=True)
        data = read_text(tree)
        for entry in new:
            data, entry = appended(data, entry, now=now)
        message = (f"modelcfg: gate attempt of {names} ({entry['verdict']})\n\n"
                   f"Pull request {entry['pr']}, head {entry['commit']}; ledger entry "
                   f"{entry['seq']} ({entry['hash'][:12]}).\n")
        return {LEDGER: data}, message, PromoteResult(ATTEMPT, names, None, entry, {}, attempt)

    return land(repo, remote, branch, build, max_attempts)
