"""`modelcfg gate --base REF --head REF`: train, evaluate, compare and decide, per changed config.

Trust model: everything that judges — contract, thresholds, baselines, eval suites and task
data — comes from the **base** commit's git objects; the head contributes only ``configs/``
(the configs under test). The gate builds a *judge tree* for that (head ``configs/`` plus base
``evals/``), validates it under the base policy, and fails closed: a missing, NaN, stale or
incompatible piece of evidence blocks with a reason code (docs/gate.md).

Per changed adapter: impact (``modelcfg.diff``) → validation → pre-launch cost → training
(cached by fingerprint, so an unchanged PR spends 0 training seconds) → baseline from the
base commit → evaluation in a fixed random order, look by look (group-sequential early
stopping, ``modelcfg.verdict``) → cost and safety → verdict. Outputs ``gate.json``,
``report.md``, a metric-history PNG and, for passing adapters, the evidence that
``modelcfg promote`` turns into the next baseline.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg import verdict
from modelcfg.agents import agent_authored, agent_path_reasons, commit_identities
from modelcfg.atomic import write_json
from modelcfg.errors import UserError
from modelcfg.gitcmd import run_git
from modelcfg.evidence import Evaluator, baseline_as_results, config_key, fixed_order
from modelcfg.verdict import Reason

GATE_FORMAT = "modelcfg-gate/1"
PASS, BLOCK, ERROR = "pass", "block", "error"


@dataclass
class ConfigVerdict:
    adapter: str
    path: str
    impact: str
    verdict: str = PASS
    reasons: list[Reason] = field(default_factory=list)
    tasks: dict = field(default_factory=dict)
    cost: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    baseline: dict = field(default_factory=dict)
    evidence: str | None = None

    def block(self, reasons) -> None:
        self.reasons.extend(reasons)
        if self.reasons:
            self.verdict = BLOCK

    def to_dict(self) -> dict:
        return {"adapter": self.adapter, "path": self.path, "impact": self.impact,
                "verdict": self.verdict, "reasons": [r.to_dict() for r in self.reasons],
                "tasks": self.tasks, "cost": self.cost, "train": self.train,
                "baseline": self.baseline, "evidence": self.evidence}


# ----------------------------------------------------------------------------- git helpers


def resolve_rev(repo: Path, rev: str) -> str:
    return run_git(repo, "rev-parse", "--verify", "--end-of-options", f"{rev}^{{commit}}")


def extract(repo: Path, rev: str, folder: str, dest: Path) -> None:
    """Write ``folder`` of commit ``rev`` under ``dest`` (nothing if the commit lacks it)."""
    listing = run_git(repo, "ls-tree", "--name-only", rev, folder)
    if not listing:
        return
    data = subprocess.run(["git", "-C", str(repo), "archive", "--format=tar", rev, folder],
                          capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        try:
            # The "data" filter refuses absolute paths, '..', links that leave the folder
            # and device files: a pull request cannot make the gate read outside the tree.
            tar.extractall(dest, filter="data")
        except tarfile.FilterError as exc:
            raise UserError("MC820", f"commit {rev[:12]} has {exc}; refused (paths must stay "
                            "inside the repository)", exit_code=2) from None


def judge_tree(repo: Path, base: str, head: str, dest: Path) -> Path:
    """Head ``configs/`` + base ``evals/``: what the gate validates, trains and evaluates."""
    import shutil

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    extract(repo, head, "configs", dest)
    extract(repo, base, "evals", dest)
    return dest


# ----------------------------------------------------------------------------- the gate


@dataclass
class GateSettings:
    runs_dir: Path | None = None
    model_cache: Path | None = None
    pr_author: str | None = None
    labels: list[str] = field(default_factory=list)
    complete_evidence: bool = True


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
    base_sha, head_sha = resolve_rev(repo, base), resolve_rev(repo, head)
    fork = run_git(repo, "merge-base", base_sha, head_sha)
    report = {"format": GATE_FORMAT, "base": base_sha, "head": head_sha, "merge_base": fork,
              "verdict": PASS, "reasons": [], "configs": [], "diff": None, "agent": [],
              "notes": []}
    try:
        _judge(repo, base_sha, head_sha, fork, out_dir, settings, emit, report)
    except UserError as err:
        report["verdict"] = ERROR
        report["reasons"].append(Reason("MC820", err.render()).to_dict())
    report["configs"] = [c.to_dict() if isinstance(c, ConfigVerdict) else c
                         for c in report["configs"]]
    if any(c["verdict"] == ERROR for c in report["configs"]):
        report["verdict"] = ERROR
    report["wall_seconds"] = round(time.perf_counter() - started, 2)
    if report["verdict"] != ERROR:
        blocked = report["reasons"] or any(c["verdict"] != PASS for c in report["configs"])
        report["verdict"] = BLOCK if blocked else PASS
    from modelcfg.report import write_report

    write_report(out_dir, report, repo, base_sha)
    return report


def _judge(repo, base_sha, head_sha, fork, out_dir, settings, emit, report) -> None:
    from modelcfg.baseline import read_baseline
    from modelcfg.diff import diff_trees
    from modelcfg.semantics import check_workspace
    from modelcfg.workspace import FsTree, GitTree, load_workspace

    base_ws = load_workspace(GitTree(repo, base_sha))
    changes = diff_trees(GitTree(repo, fork), GitTree(repo, head_sha))
    report["diff"] = changes.to_dict()
    judge = judge_tree(repo, base_sha, head_sha, out_dir / "judge-tree")
    ws = load_workspace(FsTree(judge))
    problems = ws.problems + check_workspace(ws)
    contract, thresholds = ws.policy("Contract"), ws.policy("Thresholds")
    if contract is None or thresholds is None or not (contract.valid and thresholds.valid):
        raise UserError("MC820", "the base commit has no valid Contract and Thresholds under "
                        "evals/; the gate has nothing to judge by", exit_code=2)
    if changes.policy_paths:
        report["notes"].append("policy paths changed in this change are ignored: the gate "
                               "judges with the base commit's versions of "
                               + ", ".join(changes.policy_paths))
    why_agent = agent_authored(contract.data, commit_identities(repo, fork, head_sha),
                               settings.pr_author, settings.labels)
    report["agent"] = why_agent
    if why_agent:
        report["reasons"] += [r.to_dict() for r in
                              agent_path_reasons(contract.data, changes.changed_paths)]
    judged = {c.path for c in changes if c.kind == "Adapter" and c.status != "removed"}
    changed = set(changes.changed_paths)
    # Fail closed on anything the change broke that no adapter verdict covers: an adapter
    # that no longer parses (so has no name to judge it by), an invalid model, a bad dataset.
    report["reasons"] += [Reason("MC801", p.render(), field=p.path).to_dict()
                          for p in problems if p.path in changed and p.path not in judged]
    for change in changes:
        if change.kind != "Adapter" or change.status == "removed":
            continue
        cv = ConfigVerdict(change.name, change.path, change.impact or "none")
        report["configs"].append(cv)
        try:
            _judge_adapter(cv, ws, problems, judge, base_ws, repo, head_sha,
                           thresholds.data, out_dir, settings, emit, read_baseline)
        except UserError as err:
            cv.verdict = ERROR
            cv.reasons.append(Reason("MC820", err.render(), config=cv.adapter))
        emit({"event": "verdict", "adapter": cv.adapter, "verdict": cv.verdict})


def _judge_adapter(cv, ws, problems, judge, base_ws, repo, head_sha, thresholds,
                   out_dir, settings, emit, read_baseline) -> None:
    from modelcfg.cost import estimate_cost
    from modelcfg.workspace import resolve_adapter

    doc = ws.adapters[cv.adapter]
    mine = [p for p in problems if p.path == doc.path]
    if mine or not doc.valid:
        cv.block([Reason("MC801", p.render(), config=cv.adapter) for p in mine]
                 or [Reason("MC801", "the config does not pass its schema", config=cv.adapter)])
        return
    try:
        resolved = resolve_adapter(ws, cv.adapter, problems)
    except UserError as err:
        cv.block([Reason("MC801", err.render(), config=cv.adapter)])
        return
    estimate = estimate_cost(resolved)
    cv.cost["estimate"] = estimate.to_dict()
    limits = thresholds.get("cost", {})
    pre = []
    for key, value in (("max_train_tokens", estimate.train_tokens),
                       ("max_gpu_hours", estimate.gpu_hours)):
        if limits.get(key) is not None and value > limits[key]:
            pre.append(Reason("MC802", f"estimated {value:,.6g} exceeds thresholds cost.{key} "
                              f"{limits[key]:,}; blocked before training", config=cv.adapter,
                              field="training", threshold=f"cost.{key}"))
    if pre:
        cv.block(pre)
        return
    if cv.impact == "none":
        cv.train = {"skipped": "no change that affects training or evaluation"}
        return

    # -- baseline from the base commit: checked before any training ----------------------
    from modelcfg.pipeline import model_dir

    tasks = resolved["tasks"]
    specs, missing = verdict.task_specs(thresholds, tasks)
    if missing:
        cv.block([Reason(r.code, r.message, config=cv.adapter, task=r.task) for r in missing])
        return
    seq = thresholds.get("sequential", {})
    seed, looks = seq.get("seed", 0), seq.get("looks", 5)
    base_model = model_dir(resolved["model"], judge, settings.model_cache)
    existed = cv.adapter in base_ws.adapters
    baseline = read_baseline(base_ws.tree, cv.adapter)
    if baseline is None and existed:
        cv.block([Reason("MC804", f"{cv.adapter} exists in the base commit but "
                         f"evals/baselines/{cv.adapter}.json does not; promote it first",
                         config=cv.adapter)])
        return
    if baseline is not None:
        base_resolved = _resolve_in_base(base_ws, cv.adapter)
        recorded = baseline.get("config_key")
        if base_resolved is not None and recorded != config_key(base_resolved):
            cv.block([Reason("MC815", "the baseline does not describe the base commit's config "
                             "(its config_key differs): re-baseline before judging",
                             config=cv.adapter, field="config_key")])
            return
        base_results = baseline_as_results(baseline)
        cv.baseline = {"source": "baseline", "commit": baseline.get("commit"),
                       "fingerprint": baseline.get("fingerprint")}
    else:
        # A new adapter is judged against its base model without an adapter.
        emit({"event": "baseline_eval", "adapter": cv.adapter})
        ev = Evaluator(base_model, None, judge / "evals" / "tasks",
                       out_dir / "runs" / cv.adapter / "base-model", seed,
                       {"base": resolved["model"]["name"]}, emit)
        ev.evaluate_to({t: 10 ** 9 for t in tasks})
        base_results = ev.results
        cv.baseline = {"source": "base model", "model": resolved["model"]["name"]}
    from modelcfg.evaluate import task_facts

    facts = task_facts(tasks, judge / "evals" / "tasks")
    incompatible = _data_reasons(cv.adapter, tasks, base_results, facts)
    if incompatible:
        cv.block(incompatible)
        return

    # -- train (cached by fingerprint) -----------------------------------------------------
    from modelcfg.train import train_resolved

    runs_dir = settings.runs_dir or repo / ".modelcfg" / "runs"
    try:
        result = train_resolved(resolved, judge, runs_dir=runs_dir, on_progress=emit,
                                model_cache=settings.model_cache)
    except UserError as err:
        code = "MC803" if err.code == "MC502" else ("MC802" if err.code == "MC501" else None)
        if code is None:
            raise
        cv.block([Reason(code, err.message, config=cv.adapter, field="budget")])
        return
    manifest = result.manifest
    cv.train = {"run_dir": str(result.run_dir), "cache_hit": result.cache_hit,
                "train_seconds": result.train_seconds, "fingerprint": manifest["fingerprint"]}
    cv.cost["measured"] = manifest.get("cost", {})

    # -- candidate, look by look --------------------------------------------------------
    cand = Evaluator(base_model, Path(result.run_dir) / "adapter", judge / "evals" / "tasks",
                     out_dir / "runs" / cv.adapter / "candidate", seed,
                     {"base": resolved["model"]["name"], "fingerprint": manifest["fingerprint"]},
                     emit)
    n_docs = {t: _n_docs(base_results, t) for t in tasks}
    outcomes, reasons = _looks(cv.adapter, cand, tasks, specs, base_results, n_docs, looks,
                               seed, facts)
    for t in tasks:
        outcomes.setdefault(t, {"kind": specs[t]["kind"], "metric": specs[t]["metric"],
                                "decision": "not evaluated", "items_used": cand.done.get(t, 0),
                                "items_available": n_docs[t]})
    if not reasons:
        reasons += [Reason(r.code, r.message, config=cv.adapter, task=r.task,
                           threshold=r.threshold)
                    for r in verdict.judge_gains(outcomes, specs,
                                                 thresholds.get("defaults", {}).get("alpha",
                                                                                    0.05))]
    cv.tasks = outcomes
    timing = (cand.results or {}).get("timing", {})
    measured = dict(manifest.get("cost", {}))
    measured["eval_tokens_per_second"] = timing.get("tokens_per_second")
    measured.setdefault("trainable_params", measured.get("trainable_parameters"))
    cv.cost["measured"] = measured
    cv.cost["eval_items"] = sum(cand.done.values())
    cv.cost["eval_items_available"] = sum(n_docs.values())
    reasons += [Reason(r.code, r.message, config=cv.adapter, field=r.field,
                       threshold=r.threshold)
                for r in verdict.cost_reasons(measured, thresholds.get("cost", {}))]
    cv.block(reasons)
    if cv.verdict == PASS:
        _write_evidence(cv, cand, resolved, manifest, head_sha, n_docs, out_dir, settings)


def _looks(adapter: str, cand: Evaluator, tasks: list[str], specs: dict, base_results: dict,
           n_docs: dict[str, int], looks: int, seed: int, facts: dict
           ) -> tuple[dict, list[Reason]]:
    """Evaluate look by look until every task is decided; stop at the first block.

    Capability tasks start with the design's first look and continue while undecided;
    safety tasks (their floor needs every item) and bootstrapped metrics (not means, so no
    z-statistic to walk the looks with) are evaluated in full at once."""
    from modelcfg.sequential import look_sizes

    def whole(t: str) -> bool:
        return specs[t]["kind"] == verdict.SAFETY or specs[t].get("statistic") == "bootstrap"

    harness = base_results.get("lm_eval_version")
    pending = {t: n_docs[t] if whole(t) else (look_sizes(n_docs[t], looks) or [n_docs[t]])[0]
               for t in tasks}
    outcomes: dict[str, dict] = {}
    reasons: list[Reason] = []
    while pending and not reasons:
        cand.evaluate_to(pending)
        if harness != cand.results.get("lm_eval_version"):
            return outcomes, [Reason("MC805", f"lm-eval {cand.results.get('lm_eval_version')} "
                                     f"is not the baseline's {harness}; re-baseline with this "
                                     "harness", config=adapter, field="harness")]
        judging, pending = list(pending), {}
        for t in judging:
            order = fixed_order(n_docs[t], seed)[:cand.done[t]]
            bootstrap = specs[t].get("statistic") == "bootstrap"
            c, b, bad = verdict.pair(t, specs[t]["metric"], base_results["tasks"].get(t, {}),
                                     cand.task(t), order, numeric=not bootstrap)
            if bad:
                reasons += [Reason(r.code, r.message, config=adapter, task=t, field=r.field)
                            for r in bad]
                continue
            if specs[t]["kind"] == verdict.SAFETY:
                outcome, why = verdict.judge_safety(t, specs[t], c, b)
            elif bootstrap:
                aggregate = facts.get(t, {}).get("aggregations", {}).get(
                    specs[t]["metric"].split(",")[0])
                if aggregate is None:
                    reasons.append(Reason("MC806", f"lm-eval has no aggregation for "
                                          f"{specs[t]['metric']!r} in task {t}", config=adapter,
                                          task=t, field=specs[t]["metric"]))
                    continue
                outcome, why = verdict.judge_bootstrap(t, specs[t], c, b, aggregate)
            else:
                outcome, why = verdict.judge_capability(t, specs[t], c, b, n_docs[t], looks)
            outcomes[t] = outcome
            reasons += [Reason(r.code, r.message, config=adapter, task=t,
                               threshold=r.threshold) for r in why]
            if not outcome["final"] and outcome["decision"] == "undecided":
                pending[t] = outcome["next_look_items"]
    for outcome in outcomes.values():
        if not outcome["final"] and outcome["decision"] == "undecided":
            outcome["decision"] = "stopped"  # another task already blocked the config
    return outcomes, reasons


def _data_reasons(adapter: str, tasks: list[str], base_results: dict, facts: dict
                  ) -> list[Reason]:
    """The whole eval set, hashed the way lm-eval hashes docs, against the baseline's."""
    current = {task: facts.get(task, {}).get("doc_hashes", {}) for task in tasks}
    reasons = []
    for task in tasks:
        theirs = {d: s.get("doc_hash")
                  for d, s in base_results.get("tasks", {}).get(task, {}).get("samples",
                                                                              {}).items()}
        mine = current.get(task, {})
        changed = sum(1 for d in mine if d in theirs and theirs[d] != mine[d])
        added, removed = len(set(mine) - set(theirs)), len(set(theirs) - set(mine))
        if changed or added or removed:
            reasons.append(Reason("MC805", f"the eval data differs from the baseline's: {changed} "
                                  f"item(s) changed, {added} added, {removed} removed; "
                                  "re-baseline before judging", config=adapter, task=task,
                                  field="doc_hash"))
    return reasons


def _n_docs(results: dict, task: str) -> int:
    entry = results.get("tasks", {}).get(task, {})
    n = entry.get("n_docs")
    return int(n) if isinstance(n, int) else len(entry.get("samples", {}))


def _resolve_in_base(base_ws, name: str) -> dict | None:
    """The base commit's own resolution of the adapter (None where its config or model is
    not even schema-valid there). Validity under the policy is not the question here."""
    from modelcfg.workspace import resolve_adapter

    doc = base_ws.adapters.get(name)
    model = base_ws.models.get(doc.data.get("base")) if doc is not None and doc.valid else None
    if model is None or not model.valid:
        return None
    return resolve_adapter(base_ws, name, problems=[])


def _write_evidence(cv, cand, resolved, manifest, head_sha, n_docs, out_dir, settings) -> None:
    """Complete the candidate's evaluation (the decision is already made) and save it in
    baseline form for `modelcfg promote`."""
    from modelcfg.baseline import build_baseline

    if settings.complete_evidence:
        cand.evaluate_to(n_docs)
    evidence = build_baseline(cand.results, manifest, adapter=cv.adapter,
                              config_path=cv.path, commit=head_sha)
    evidence["config_key"] = config_key(resolved)
    summary = {t: {k: o.get(k) for k in (
        "metric", "decision", "estimate", "ci_low", "ci_high", "items_used", "items_available",
        "baseline_mean", "candidate_mean")} for t, o in cv.tasks.items()}
    for task, entry in summary.items():
        # The metric over the complete evidence (the decision used a prefix of the items).
        metrics = cand.task(task).get("metrics", {})
        key = verdict.metric_key(cand.task(task).get("samples", {}), entry["metric"])
        entry["value"] = (metrics.get(key) or {}).get("value")
    evidence["gate"] = {"tasks": summary}
    path = out_dir / "evidence" / f"{cv.adapter}.json"
    write_json(path, evidence)
    cv.evidence = str(path.relative_to(out_dir))


def json_safe(value):
    """NaN/inf become null so gate.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps(report: dict) -> str:
    return json.dumps(json_safe(report), indent=2, sort_keys=True)


def bootstrap_evidence(repo: Path, adapter: str, out_dir: Path,
                       settings: GateSettings | None = None, emit=None) -> dict:
    """Complete evidence for an adapter as committed at HEAD, with no comparison: the first
    baseline of an adapter that predates the gate (promoted with verdict ``bootstrap``, so
    the ledger says it was never judged). Refuses a dirty config or an existing baseline."""
    from modelcfg.baseline import build_baseline, read_baseline
    from modelcfg.pipeline import model_dir
    from modelcfg.train import train_resolved
    from modelcfg.workspace import FsTree, GitTree, load_workspace, resolve_adapter

    settings = settings or GateSettings()
    emit = emit or (lambda event: None)
    repo = Path(repo).resolve()
    head = resolve_rev(repo, "HEAD")
    if read_baseline(GitTree(repo, head), adapter) is not None:
        raise UserError("MC726", f"{adapter} already has a baseline; changes to it go through "
                        "the gate", exit_code=2)
    judge = judge_tree(repo, head, head, Path(out_dir) / "judge-tree")
    ws = load_workspace(FsTree(judge))
    resolved = resolve_adapter(ws, adapter)
    path = ws.adapters[adapter].path
    if run_git(repo, "status", "--porcelain", "--", path, "configs", "evals"):
        raise UserError("MC726", "commit your changes under configs/ and evals/ first: the "
                        "baseline must describe a commit", path=path, exit_code=2)
    result = train_resolved(resolved, judge, runs_dir=settings.runs_dir or
                            repo / ".modelcfg" / "runs", on_progress=emit,
                            model_cache=settings.model_cache)
    seed = (ws.policy("Thresholds").data.get("sequential") or {}).get("seed", 0)
    ev = Evaluator(model_dir(resolved["model"], judge, settings.model_cache),
                   Path(result.run_dir) / "adapter", judge / "evals" / "tasks",
                   Path(out_dir) / "bootstrap", seed,
                   {"base": resolved["model"]["name"],
                    "fingerprint": result.manifest["fingerprint"]}, emit)
    ev.evaluate_to({t: 10 ** 9 for t in resolved["tasks"]})
    evidence = build_baseline(ev.results, result.manifest, adapter=adapter, config_path=path,
                              commit=head)
    evidence["config_key"] = config_key(resolved)
    return evidence
