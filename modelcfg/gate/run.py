"""`modelcfg gate --base REF --head REF`: train, evaluate, compare and decide, per changed config.

Trust model: everything that judges — contract, thresholds, baselines, eval suites and task
data — comes from the **base** commit's git objects; the head contributes only ``configs/``
(the configs under test). The gate builds a *judge tree* for that (head ``configs/`` plus base
``evals/``, exported from the same git objects the diff is computed from), validates it under
the base policy, and fails closed: a missing, NaN, stale or incompatible piece of evidence
blocks with a reason code (docs/gate.md). Before the judge tree exists, the head's structure
is checked (:mod:`modelcfg.gate.trust`): regular files under ``configs/``, every document in
its kind's place, each name once. Every outcome, errors included, writes ``gate.json``.

Per changed adapter (:mod:`modelcfg.gate.adapter`): validation → pre-launch cost → baseline
→ training (cached by fingerprint) → evaluation look by look → cost and safety → verdict.
Outputs ``gate.json``, ``report.md``, a metric-history PNG and, for passing adapters, the
evidence that ``modelcfg promote`` turns into the next baseline.

No free retries (docs/gate.md): the item order is derived per run from the base commit, the
pull request and an optional secret (:mod:`modelcfg.gate.order`); an agent's lineage with
``agents.max_failed_attempts`` blocked attempts in the base ledger is refused (MC828,
:mod:`modelcfg.gate.attempts`); a task's ``max_drift`` caps the drift since the lineage's
anchor (MC829, :mod:`modelcfg.gate.drift`). An agent past its contract's GPU-hour budget
for the day or week is refused before training (MC840, :mod:`modelcfg.gate.budget`).

Sharding (:mod:`modelcfg.gate.plan`): ``GateSettings.only`` judges only those of the
planned adapters (a shard of `modelcfg gate plan`'s matrix); the change-level checks and
the adapters of impact none are judged in every shard, and `modelcfg gate merge`
(:mod:`modelcfg.gate.merge`) combines the shards.
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
from modelcfg.core.extras import require
from modelcfg.gate.agents import agent_path_reasons, authorship
from modelcfg.gate.attempts import attempt_rules
from modelcfg.gate.budget import budget_rules
from modelcfg.gate.identity import commit_identities
from modelcfg.gate.lineage import lineage_rules
from modelcfg.gate.order import order_record, order_seed, pr_identity
from modelcfg.gate.plan import (
    judged,
    only_reasons,
    planned,
    policy_identity,
    shard_record,
)
from modelcfg.gate.trust import base_reasons, head_reasons
from modelcfg.gate.verdict import BLOCK, ERROR, PASS, ConfigVerdict, Reason

GATE_FORMAT = "modelcfg-gate/1"


@dataclass
class GateSettings:
    runs_dir: Path | None = None
    model_cache: Path | None = None
    pr_author: str | None = None
    labels: list[str] = field(default_factory=list)
    complete_evidence: bool = True
    pr: str | None = None  # the pull request's id (the workflow passes its number)
    only: list[str] | None = None  # judge only these planned adapters (a shard)
    # Keys the item order's derivation; never recorded, logged or shown (repr=False).
    order_secret: str | None = field(default=None, repr=False)


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
    order_seed: int = 0  # the derived seed of this run's item order
    entries: list[dict] | None = None  # the base ledger, read when first needed

    def ledger(self) -> list[dict]:
        """The base commit's ledger entries (the chain verified: MC716 otherwise), read
        once, when the attempt limit or a drift cap first needs them."""
        if self.entries is None:
            from modelcfg.audit.ledger import read_entries

            self.entries = read_entries(self.base_ws.tree)
        return self.entries

    @property
    def tasks_dir(self) -> Path:
        return self.judge / "evals" / "tasks"

    @property
    def runs_dir(self) -> Path:
        return self.settings.runs_dir or self.repo / ".modelcfg" / "runs"


def run_gate(repo: Path, base: str, head: str, out_dir: Path,
             settings: GateSettings | None = None, emit=None) -> dict:
    """Judge every config the head changes against the base; returns ``gate.json``'s
    content (also written to ``out_dir`` with ``report.md``).

    Every outcome writes the report: a UserError anywhere (an unknown ref, unrelated
    histories, a missing git object) is verdict ``error`` with an MC820 reason. An
    unexpected exception (a bug) is recorded the same way, the report written, and then
    re-raised, so the CLI still exits 3 with the traceback."""
    settings = settings or GateSettings()
    emit = emit or (lambda event: None)
    started = time.perf_counter()
    repo = Path(repo).resolve()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("gate.json", "report.md"):  # an interrupted run leaves no earlier verdict
        (out_dir / stale).unlink(missing_ok=True)
    report = new_report()
    if settings.only is not None:  # a shard says so even when it could not start
        report["shard"] = shard_record(settings.only)
    try:
        base_sha, head_sha, fork = commits(repo, base, head, report)
        _judge_change(repo, base_sha, head_sha, fork, out_dir, settings, emit, report)
    except UserError as err:
        _refuse(report, err.render())
    except Exception as exc:  # noqa: BLE001 - a bug: report it, then let it surface
        _refuse(report, f"internal error in modelcfg ({type(exc).__name__}: {exc}); the "
                "gate did not finish: please report it with the traceback")
        _finish(report, repo, out_dir, started)
        raise
    return _finish(report, repo, out_dir, started)


def refused(repo: Path, out_dir: Path, err: UserError, only: list[str] | None = None
            ) -> dict:
    """The report of a gate that could not start (e.g. MC005, a missing install): verdict
    ``error``, written like any other (with its shard record, for a shard)."""
    started = time.perf_counter()
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    report = new_report()
    if only is not None:
        report["shard"] = shard_record(only)
    _refuse(report, err.render())
    return _finish(report, Path(repo).resolve(), out_dir, started)


def new_report() -> dict:
    return {"format": GATE_FORMAT, "base": None, "head": None, "merge_base": None,
            "pr": None, "order": None, "verdict": PASS, "reasons": [], "configs": [],
            "diff": None, "agent": [], "attempts": {}, "notes": []}


def _refuse(report: dict, message: str) -> None:
    report["verdict"] = ERROR
    report["reasons"].append(Reason("MC820", message).to_dict())


def _finish(report: dict, repo: Path, out_dir: Path, started: float) -> dict:
    report["configs"] = [c.to_dict() if isinstance(c, ConfigVerdict) else c
                         for c in report["configs"]]
    report["wall_seconds"] = round(time.perf_counter() - started, 2)
    report["verdict"] = overall(report)
    from modelcfg.gate.report import write_report

    write_report(out_dir, report, repo, report["base"])
    return report


def commits(repo: Path, base: str, head: str, report: dict) -> tuple[str, str, str]:
    """The base and head commits and their merge base, recorded as they are found."""
    report["base"] = base_sha = git.resolve_commit(repo, base)
    report["head"] = head_sha = git.resolve_commit(repo, head)
    found, fork = git.attempt(repo, "merge-base", base_sha, head_sha)
    if not found or not fork:
        raise UserError("MC401", f"{base!r} and {head!r} share no history (git merge-base "
                        "finds no common commit); the head must branch from the base",
                        exit_code=2)
    report["merge_base"] = fork
    return base_sha, head_sha, fork


def overall(report: dict) -> str:
    if report["verdict"] == ERROR or any(c["verdict"] == ERROR for c in report["configs"]):
        return ERROR
    blocked = report["reasons"] or any(c["verdict"] != PASS for c in report["configs"])
    return BLOCK if blocked else PASS


def judge_tree(objects: git.Objects, base: str, head: str, dest: Path) -> Path:
    """Head ``configs/`` + base ``evals/``: what the gate validates, trains and evaluates,
    written from the same git objects the diff reads (regular files only)."""
    try:
        return materialize({"configs": GitTree(objects.path, head, objects),
                            "evals": GitTree(objects.path, base, objects)}, dest)
    except PathProblem as exc:
        raise UserError("MC820", f"{exc}; refused (the judge tree holds regular files inside "
                        "the repository only)", exit_code=2) from None


@dataclass
class Prepared:
    """A change as the gate reads it before judging anything: the diff, what in the head
    blocks it outright (MC821-MC823), the judge tree and its workspace, and the base's
    refusals (MC820). `modelcfg gate`, `gate plan` and `gate merge` all start here."""

    objects: git.Objects
    changes: TreeDiff
    blocked: list[Reason]
    base_ws: Workspace | None = None
    judge: Path | None = None
    ws: Workspace | None = None
    problems: list[Problem] = field(default_factory=list)
    refusals: list[Reason] = field(default_factory=list)


def prepare(repo: Path, base_sha: str, head_sha: str, fork: str, out_dir: Path) -> Prepared:
    """Head structure first; only then the judge tree (in ``out_dir``) and its policy."""
    objects = git.Objects(repo)
    head_tree = GitTree(repo, head_sha, objects)
    changes = diff_trees(GitTree(repo, fork, objects), head_tree)
    blocked = head_reasons(head_tree)
    if blocked:  # before the judge tree exists: nothing of the head is read further
        return Prepared(objects, changes, blocked)
    base_ws = load_workspace(GitTree(repo, base_sha, objects))
    judge = judge_tree(objects, base_sha, head_sha, out_dir / "judge-tree")
    ws = load_workspace(FsTree(judge))
    problems = ws.problems + check_workspace(ws)
    has_policy = ws.contract() is not None and ws.thresholds() is not None
    return Prepared(objects, changes, [], base_ws, judge, ws, problems,
                    base_reasons(problems, has_policy))


def _judge_change(repo, base_sha, head_sha, fork, out_dir, settings, emit, report) -> None:
    """Head structure (MC821-MC823), then the judge tree and its policy (the base's), then
    the change as a whole and each changed adapter (those of ``settings.only`` among the
    planned ones, when it is set: MC830 for a name the plan does not hold)."""
    p = prepare(repo, base_sha, head_sha, fork, out_dir)
    changes = p.changes
    report["diff"] = changes.to_dict()
    if p.blocked:
        report["reasons"] += [r.to_dict() for r in p.blocked]
        return
    if report.get("shard") is not None:
        report["shard"]["policy"] = policy_identity(p.judge)
    if p.refusals:
        report["verdict"] = ERROR
        report["reasons"] += [r.to_dict() for r in p.refusals]
        return
    ws, problems, base_ws = p.ws, p.problems, p.base_ws
    contract, thresholds = ws.contract(), ws.thresholds()
    _change_reasons(report, changes, contract, problems, repo, fork, head_sha, settings)
    ctx = Judging(repo, head_sha, p.judge, ws, problems, base_ws, thresholds, out_dir,
                  settings, emit, order_seed=_order(report, base_sha, head_sha, thresholds,
                                                    settings))
    unknown = only_reasons(settings.only, changes) if settings.only is not None else []
    if unknown:
        report["verdict"] = ERROR
        report["reasons"] += [r.to_dict() for r in unknown]
        return
    refused = lineage_rules(report, changes, base_ws, settings.labels)  # MC818, notes
    for name, why in attempt_rules(report, changes, base_ws, ctx.ledger,
                                   settings.labels).items():  # MC828
        refused.setdefault(name, []).extend(why)
    for name, why in budget_rules(report, changes, base_ws, ws, problems, ctx.ledger, repo,
                                  head_sha, lambda: commit_identities(repo, fork, head_sha),
                                  settings.pr_author, settings.labels).items():  # MC840
        refused.setdefault(name, []).extend(why)
    problems += base_replaces_problems(base_ws, ws, changes.renames())  # MC322
    _judge_adapters(changes, ctx, report, refused)


def _order(report: dict, base_sha: str, head_sha: str, thresholds: Thresholds,
           settings: GateSettings) -> int:
    """This run's item-order seed; gate.json records its inputs, never the secret."""
    pr = report["pr"] = pr_identity(settings.pr, head_sha)
    secret = settings.order_secret
    seed = order_seed(base_sha, pr, thresholds.sequential.seed, secret)
    report["order"] = order_record(base_sha, pr, thresholds.sequential.seed, secret, seed)
    return seed


def _judge_adapters(changes: TreeDiff, ctx: Judging, report: dict,
                    refused: dict[str, list[Reason]]) -> None:
    """Each adapter the change adds, modifies or renames; ``refused`` holds reasons found
    before judging (lineage rules) that block an adapter outright."""
    from modelcfg.gate.adapter import judge_adapter

    plan = {c.name for c in planned(changes)}
    skip = plan - set(ctx.settings.only) if ctx.settings.only is not None else set()
    if plan - skip:
        # Training and evaluation need the extras; a change that trains nothing (an empty
        # plan) is judged by the torch-free install too (MC005 in gate.json otherwise).
        require("train", "eval", what="`modelcfg gate`")
    for change in judged(changes):
        if change.name in skip:  # another shard's (docs/gate.md, "Sharding")
            continue
        cv = ConfigVerdict(change.name, change.path, change.impact or "none",
                           replaces=change.replaces)
        cv.block(refused.get(change.name, []))
        report["configs"].append(cv)
        if change.name not in ctx.ws.adapters:  # the diff and the judge tree disagree
            cv.block([Reason("MC801", f"{change.path} does not resolve in the judge tree; "
                             "run `modelcfg validate`", config=cv.adapter)])
            continue
        try:
            judge_adapter(cv, ctx)
        except UserError as err:
            cv.verdict = ERROR
            cv.reasons.append(Reason("MC820", err.render(), config=cv.adapter))
        ctx.emit({"event": "verdict", "adapter": cv.adapter, "verdict": cv.verdict})


def _change_reasons(report: dict, changes: TreeDiff, contract: Contract,
                    problems: list[Problem],
                    repo: Path, fork: str, head_sha: str, settings: GateSettings) -> None:
    """What blocks the change as a whole: agent rules, and problems no adapter covers."""
    if changes.policy_paths:
        report["notes"].append("policy paths changed in this change are ignored: the gate "
                               "judges with the base commit's versions of "
                               + ", ".join(changes.policy_paths))
    why_agent, unknown = authorship(contract, repo, fork, head_sha, settings.pr_author,
                                    settings.labels)
    report["agent"] = why_agent
    report["reasons"] += [r.to_dict() for r in unknown]
    if why_agent:
        report["reasons"] += [r.to_dict() for r in
                              agent_path_reasons(contract, changes.changed_paths)]
    covered = {c.path for c in judged(changes)}
    changed = set(changes.changed_paths)
    # Fail closed on anything the change broke that no adapter verdict covers: an adapter
    # that no longer parses (so has no name to judge it by), an invalid model, a bad dataset.
    report["reasons"] += [Reason("MC801", p.render(), field=p.path).to_dict()
                          for p in problems if p.path in changed and p.path not in covered]
