"""Promotion: the gate's evidence becomes the adapter's baseline, with a ledger entry, in one
commit pushed to the branch (:mod:`modelcfg.audit.landing`); never a rewrite.

A promotion refuses (MC720) when the same adapter's baseline changed underneath to a
different fingerprint: that is two accepted versions competing, for a maintainer to settle,
not something to overwrite. Flow and formats: docs/audit.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from modelcfg.audit.baseline import baseline_problems, baseline_sha256, read_baseline
from modelcfg.audit.landing import (
    PromoteResult,
    actor_record,
    cost_summary,
    land,
    ledger_files,
    metrics_summary,
    previous_of,
    relevant_diff,
)
from modelcfg.audit.provenance import require_in_history, require_same_config
from modelcfg.audit.scores import baseline_scores
from modelcfg.config.trees import GitTree, PathProblem
from modelcfg.config.workspace import load_document
from modelcfg.core import git
from modelcfg.core.errors import UserError

_UNSET = object()


def _evidence_commit(repo: Path, rev: str, remote: str) -> str:
    """The evidence's commit, fetched from ``remote`` when a shallow CI checkout lacks it."""
    if git.commit_of(repo, rev) is None:
        git.attempt(repo, "fetch", "-q", remote, rev)
    sha = git.commit_of(repo, rev)
    if sha is None:
        raise UserError("MC723", f"the evidence's commit {rev} is not in this repository and "
                        f"{remote} did not give it; fetch it (e.g. checkout with "
                        "fetch-depth: 0) and run again", exit_code=2)
    return sha


def _rationale(tree, rel: str) -> str | None:
    try:
        doc, _ = load_document(tree, rel)
    except (OSError, PathProblem):
        return None
    value = doc.data.get("rationale") if doc is not None else None
    return value.strip() if isinstance(value, str) else None


def _checked_evidence(repo: Path, adapter: str, evidence: dict, remote: str) -> dict:
    """``evidence`` as a baseline to write: valid, of ``adapter``, its commit resolved."""
    problems = baseline_problems(evidence)
    if problems:
        raise UserError("MC723", f"evidence is not a valid baseline: {'; '.join(problems[:3])}")
    if evidence["adapter"] != adapter:
        raise UserError("MC723", f"evidence is of adapter {evidence['adapter']!r}, not "
                        f"{adapter!r}")
    commit = _evidence_commit(repo, evidence["commit"], remote)
    return {**evidence, "commit": commit, "ledger": None}


def _refuse_superseded(adapter: str, current: dict | None, evidence: dict) -> None:
    """MC720 when the baseline moved, since the gate ran, to another accepted version."""
    if current is not None and current["fingerprint"] != evidence["fingerprint"]:
        raise UserError("MC720", f"the baseline of {adapter} changed underneath this "
                        f"promotion: it is now fingerprint {current['fingerprint'][:12]} "
                        f"from commit {current['commit'][:12]} (ledger entry "
                        f"{(current.get('ledger') or {}).get('seq')}), and this evidence "
                        f"is {evidence['fingerprint'][:12]} judged against an older "
                        "baseline; re-run the gate against the new baseline")


def promote(repo: Path, *, adapter: str, evidence: dict, actor, remote: str = "origin",
            branch: str | None = None, verdict: str = "pass", eval_summary: dict | None = None,
            rationale: str | None = None, expected_baseline_sha256=_UNSET,
            replaces: str | None = None, max_attempts: int = 5, now: str | None = None
            ) -> PromoteResult:
    """Make ``evidence`` (a baseline built by the gate for the merged head, see
    :func:`modelcfg.audit.baseline.build_baseline`) the baseline of ``adapter``, append a ledger
    entry, commit and push to ``remote``/``branch`` (default: the current branch).

    ``expected_baseline_sha256`` is the :func:`~modelcfg.audit.baseline.baseline_sha256` of the
    baseline the gate compared against (``None``: there was none); by default, the one on the
    remote head at the first attempt. If the adapter's baseline is found changed from it to a
    different fingerprint, the promotion refuses (MC720). Promoting evidence that already is
    the baseline does nothing (``already``): re-running a promotion job is safe. Evidence
    whose commit is not in the branch's history (MC719) or whose ``config_key`` is not the
    adapter's on the branch head (MC728) is refused: see :mod:`modelcfg.audit.provenance`.
    The entry records the per-task ``scores`` the drift cap is checked against, and
    ``replaces`` (the old name of a renamed adapter: the lineage continues).
    """
    repo = Path(repo)
    evidence = _checked_evidence(repo, adapter, evidence, remote)
    commit = evidence["commit"]
    new_sha = baseline_sha256(evidence)
    who = actor_record(actor)
    seen = {"sha": expected_baseline_sha256}
    diffs: dict[str | None, dict] = {}
    where = f"{remote}/{branch}" if branch else f"the branch head on {remote}"
    why = rationale or _rationale(GitTree(repo, commit), evidence["config_path"])

    def build(tree, attempt):
        current = read_baseline(tree, adapter)
        current_sha = baseline_sha256(current) if current else None
        if current_sha == new_sha:
            return PromoteResult("promote", adapter, None, None, current, attempt, already=True)
        require_in_history(repo, commit, tree.rev, remote, "the evidence's commit", where)
        require_same_config(tree, adapter, evidence, where)
        if seen["sha"] is _UNSET:
            seen["sha"] = current_sha
        if current_sha != seen["sha"]:
            _refuse_superseded(adapter, current, evidence)
        old_commit = current["commit"] if current else None
        if old_commit and git.commit_of(repo, old_commit) is None:
            old_commit = None  # not in this clone: diff from nothing rather than guess
        if old_commit not in diffs:
            diffs[old_commit] = relevant_diff(repo, old_commit, commit, adapter)
        entry = {"action": "promote", "adapter": adapter, "commit": commit,
                 "config_path": evidence["config_path"],
                 "fingerprint": evidence["fingerprint"], "actor": who,
                 "diff": diffs[old_commit], "rationale": why,
                 "eval": eval_summary if eval_summary is not None else metrics_summary(evidence),
                 "cost": cost_summary(evidence), "verdict": verdict,
                 "baseline_sha256": new_sha, "previous": previous_of(current),
                 "scores": baseline_scores(evidence)}
        if replaces is not None:
            entry["replaces"] = replaces
        files, entry, baseline = ledger_files(tree, adapter, evidence, entry, now, {})
        message = (f"modelcfg: promote {adapter} {evidence['fingerprint'][:12]}\n\n"
                   f"Ledger entry {entry['seq']} ({entry['hash'][:12]}): evidence of commit "
                   f"{commit}, verdict {verdict}.\n")
        return files, message, PromoteResult("promote", adapter, None, entry, baseline, attempt)

    return land(repo, remote, branch, build, max_attempts)


# ----------------------------------------------------------------------------- gate output


def promote_gate_output(repo: Path, folder: Path, *, actor: dict, adapter: str | None = None,
                        remote: str = "origin", branch: str | None = None
                        ) -> list[PromoteResult]:
    """Promote the evidence `modelcfg gate` wrote to ``folder`` for the merged head: every
    passing adapter (or only ``adapter``), with the gate's per-task summary in the ledger.
    Refuses (MC725) an unreadable gate.json or a verdict other than pass."""
    folder = Path(folder)
    try:
        report = json.loads((folder / "gate.json").read_text())
    except (OSError, ValueError) as err:
        raise UserError("MC725", f"cannot read the gate's result: {err}",
                        path=str(folder / "gate.json")) from None
    if report.get("verdict") != "pass":
        raise UserError("MC725", f"the gate's verdict is {report.get('verdict')!r}; only a "
                        "passing change is promoted", path=str(folder / "gate.json"))
    who = {**actor, "agent_authored": bool(report["agent"]), "agent_evidence": report["agent"]}
    if (report.get("budget") or {}).get("agents"):  # whose budget it spent (gate.budget)
        who["agents"] = list(report["budget"]["agents"])
    results = []
    for cfg in report["configs"]:
        if not cfg.get("evidence") or (adapter and cfg["adapter"] != adapter):
            continue
        evidence = json.loads((folder / cfg["evidence"]).read_text())
        gate = evidence.pop("gate", None) or {}
        results.append(promote(repo, adapter=cfg["adapter"], evidence=evidence, actor=who,
                               remote=remote, branch=branch, verdict="pass",
                               eval_summary=gate.get("tasks"), replaces=gate.get("replaces")))
    return results
