"""`modelcfg gate --base REF --head REF`: train, evaluate, compare and decide, per changed config.

Trust model: everything that judges — contract, thresholds, baselines, eval suites and task
data — comes from the **base** commit's git objects; the head contributes only ``configs/``
(the configs under test). The gate builds a *judge tree* for that (head ``configs/`` plus base
``evals/``, exported from the same git objects the diff is computed from), validates it under
the base policy, and fails closed: a missing, NaN, stale or incompatible piece of evidence
blocks with a reason code (docs/gate.md).

Per changed adapter (:mod:`modelcfg.gate.adapter`): validation → pre-launch cost → baseline
→ training (cached by fingerprint) → evaluation look by look → cost and safety → verdict.
Outputs ``gate.json``, ``report.md``, a metric-history PNG and, for passing adapters, the
evidence that ``modelcfg promote`` turns into the next baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.config.checks import check_workspace
from modelcfg.config.diff import TreeDiff, diff_trees
from modelcfg.config.lineage import base_replaces_problems
from modelcfg.config.model import Contract, Thresholds
from modelcfg.config.trees import FsTree, GitTree, PathProblem, materialize
from modelcfg.config.workspace import Workspace, load_workspace
from modelcfg.core import git
from modelcfg.core.errors import Problem, UserError
from modelcfg.gate.agents import agent_authored, agent_path_reasons, commit_identities
from modelcfg.gate.lineage import lineage_rules
from modelcfg.gate.verdict import BLOCK, ERROR, PASS, ConfigVerdict, Reason

GATE_FORMAT = "modelcfg-gate/1"


@dataclass
class GateSettings:
    runs_dir: Path | None = None
    model_cache: Path | None = None
    pr_author: str | None = None
    labels: list[str] = field(default_factory=list)
    complete_evidence: bool = True


@dataclass
class Judging:
    """What judging one change needs, gathered once: the judge tree and its checked
    workspace (head configs under base policy), the base commit's own workspace, where to
    write, and how to report progress."""

    repo: Path
    head: str
    judge: Path
    ws: Workspace
    problems: list[Problem]
    base_ws: Workspace
    thresholds: Thresholds
    out_dir: Path
    settings: GateSettings
    emit: object

    @property
    def tasks_dir(self) -> Path:
        return self.judge / "evals" / "tasks"

    @property
    def runs_dir(self) -> Path:
        return self.settings.runs_dir or self.repo / ".modelcfg" / "runs"


def run_gate(repo: Path, base: str, head: str, out_dir: Path,
             settings: GateSettings | None = None, emit=None) -> dict:
    """Judge every config the head changes against the base; returns ``gate.json``'s
    content (also written to ``out_dir`` with ``report.md``)."""
    settings = settings or GateSettings()
    emit = emit or (lambda event: None)
    started = time.perf_counter()
    repo = Path(repo).resolve()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    base_sha, head_sha = git.resolve_commit(repo, base), git.resolve_commit(repo, head)
    fork = git.text(repo, "merge-base", base_sha, head_sha)
    report = {"format": GATE_FORMAT, "base": base_sha, "head": head_sha, "merge_base": fork,
              "verdict": PASS, "reasons": [], "configs": [], "diff": None, "agent": [],
              "notes": []}
    try:
        _judge_change(repo, base_sha, head_sha, fork, out_dir, settings, emit, report)
    except UserError as err:
        report["verdict"] = ERROR
        report["reasons"].append(Reason("MC820", err.render()).to_dict())
    report["configs"] = [c.to_dict() if isinstance(c, ConfigVerdict) else c
                         for c in report["configs"]]
    report["wall_seconds"] = round(time.perf_counter() - started, 2)
    report["verdict"] = _overall(report)
    from modelcfg.gate.report import write_report

    write_report(out_dir, report, repo, base_sha)
    return report


def _overall(report: dict) -> str:
    if report["verdict"] == ERROR or any(c["verdict"] == ERROR for c in report["configs"]):
        return ERROR
    blocked = report["reasons"] or any(c["verdict"] != PASS for c in report["configs"])
    return BLOCK if blocked else PASS


def judge_tree(objects: git.Objects, base: str, head: str, dest: Path) -> Path:
    """Head ``configs/`` + base ``evals/``: what the gate validates, trains and evaluates,
    written from the same git objects the diff reads."""
    try:
        return materialize({"configs": GitTree(objects.path, head, objects),
                            "evals": GitTree(objects.path, base, objects)}, dest)
    except PathProblem as exc:
        raise UserError("MC820", f"{exc}; refused (paths must stay inside the repository)",
                        exit_code=2) from None


def _judge_change(repo, base_sha, head_sha, fork, out_dir, settings, emit, report) -> None:
    objects = git.Objects(repo)
    base_ws = load_workspace(GitTree(repo, base_sha, objects))
    changes = diff_trees(GitTree(repo, fork, objects), GitTree(repo, head_sha, objects))
    report["diff"] = changes.to_dict()
    judge = judge_tree(objects, base_sha, head_sha, out_dir / "judge-tree")
    ws = load_workspace(FsTree(judge))
    problems = ws.problems + check_workspace(ws)
    contract, thresholds = ws.contract(), ws.thresholds()
    if contract is None or thresholds is None:
        raise UserError("MC820", "the base commit has no valid Contract and Thresholds under "
                        "evals/; the gate has nothing to judge by", exit_code=2)
    _change_reasons(report, changes, contract, problems, repo, fork, head_sha, settings)
    refused = lineage_rules(report, changes, base_ws, settings.labels)  # MC818, notes
    problems += base_replaces_problems(base_ws, ws, changes.renames())  # MC322
    ctx = Judging(repo, head_sha, judge, ws, problems, base_ws, thresholds, out_dir,
                  settings, emit)
    from modelcfg.gate.adapter import judge_adapter

    for change in changes:
        if change.kind != "Adapter" or change.status == "removed":
            continue
        cv = ConfigVerdict(change.name, change.path, change.impact or "none",
                           replaces=change.replaces)
        cv.block(refused.get(change.name, []))
        report["configs"].append(cv)
        try:
            judge_adapter(cv, ctx)
        except UserError as err:
            cv.verdict = ERROR
            cv.reasons.append(Reason("MC820", err.render(), config=cv.adapter))
        emit({"event": "verdict", "adapter": cv.adapter, "verdict": cv.verdict})


def _change_reasons(report: dict, changes: TreeDiff, contract: Contract,
                    problems: list[Problem],
                    repo: Path, fork: str, head_sha: str, settings: GateSettings) -> None:
    """What blocks the change as a whole: agent rules, and problems no adapter covers."""
    if changes.policy_paths:
        report["notes"].append("policy paths changed in this change are ignored: the gate "
                               "judges with the base commit's versions of "
                               + ", ".join(changes.policy_paths))
    why_agent = agent_authored(contract, commit_identities(repo, fork, head_sha),
                               settings.pr_author, settings.labels)
    report["agent"] = why_agent
    if why_agent:
        report["reasons"] += [r.to_dict() for r in
                              agent_path_reasons(contract, changes.changed_paths)]
    judged = {c.path for c in changes if c.kind == "Adapter" and c.status != "removed"}
    changed = set(changes.changed_paths)
    # Fail closed on anything the change broke that no adapter verdict covers: an adapter
    # that no longer parses (so has no name to judge it by), an invalid model, a bad dataset.
    report["reasons"] += [Reason("MC801", p.render(), field=p.path).to_dict()
                          for p in problems if p.path in changed and p.path not in judged]
