"""Judging one changed adapter: each step either records what it found on the verdict and
hands on, or blocks the adapter with reasons and stops the chain (fail closed).

    tasks the base requires → valid config → runs every required task → cost estimate
    within thresholds → baseline (promoted, or the base model for a new adapter), checked
    against the base config and the whole eval set → train (cached) → candidate look by
    look → measured cost → the remaining items → drift cap since the lineage's anchor
    (MC829) → evidence for promotion

A renamed adapter (``cv.replaces``) is judged against the old adapter's baseline: its
tasks, items and per-item scores, checked against the old adapter's config in the base.
"""

from __future__ import annotations

from pathlib import Path

from modelcfg.audit.baseline import read_baseline
from modelcfg.config.cost import estimate_cost, exceeded
from modelcfg.config.coverage import (
    required_by_policy,
    suites_running,
    unknown_required_suites,
)
from modelcfg.config.model import ResolvedAdapter, config_key
from modelcfg.config.resolve import resolve_adapter
from modelcfg.core.errors import UserError
from modelcfg.evaluation.batches import Evaluator
from modelcfg.gate import direction, verdict
from modelcfg.gate.drift import check_drift
from modelcfg.gate.evidence import baseline_as_results, write_evidence
from modelcfg.gate.looks import data_reasons, full_set_gains, n_docs_of, run_looks
from modelcfg.gate.verdict import ERROR, PASS, ConfigVerdict, Reason

ALL_ITEMS = 10 ** 9
# Validation codes the gate replaces by its own reason: MC321 (a required suite or safety
# task left out) and MC340 (a suite the contract's adapter_suites requires of this adapter)
# are MC817 here, which also knows the tasks of the promoted baseline.
GATE_OWN = ("MC321", "MC340")


def judge_adapter(cv: ConfigVerdict, ctx) -> None:
    """Fill ``cv`` (verdict, reasons, tasks, cost, train, baseline, evidence) for the adapter
    it names, judged in ``ctx`` (a :class:`modelcfg.gate.run.Judging`)."""
    if cv.verdict != PASS:
        return  # refused before judging (a rename an agent may not make: MC818)
    promoted = read_baseline(ctx.base_ws.tree, ancestor(cv))
    required = _required_tasks(cv, promoted, ctx)
    if required is None:
        return
    resolved = _valid_config(cv, ctx)
    if (resolved is None or not _runs_required(cv, resolved, required, ctx)
            or not _within_estimate(cv, resolved, ctx)):
        return
    if cv.impact == "none":
        cv.train = {"skipped": "no change that affects training or evaluation"}
        return
    specs, missing = verdict.task_specs(ctx.thresholds, resolved.tasks)
    if missing:
        cv.block([Reason(r.code, r.message, config=cv.adapter, task=r.task) for r in missing])
        return
    base_results = _baseline_results(cv, resolved, promoted, ctx)
    if base_results is None or not _baseline_has_every_task(cv, resolved, base_results):
        return
    specs, wrong_way = direction.resolve(specs, base_results, config=cv.adapter)  # MC826
    if wrong_way:
        cv.block(wrong_way)
        return
    from modelcfg.evaluation.harness import task_facts

    facts = task_facts(resolved.tasks, ctx.tasks_dir)
    incompatible = data_reasons(cv.adapter, resolved.tasks, base_results, facts)
    if incompatible:
        cv.block(incompatible)
        return
    manifest, run_dir = _train(cv, resolved, ctx)
    if manifest is None or not _same_base_weights(cv, promoted, manifest):
        return
    cand = Evaluator(_base_model(resolved, ctx), run_dir / "adapter", ctx.tasks_dir,
                     ctx.out_dir / "runs" / cv.adapter / "candidate", ctx.order_seed,
                     {"base": resolved.model.name, "fingerprint": manifest["fingerprint"]},
                     ctx.emit)
    n_docs = {t: n_docs_of(base_results, t) for t in resolved.tasks}
    reasons = _judge_candidate(cv, cand, resolved.tasks, specs, base_results, n_docs, facts,
                               ctx)
    reasons += _measured_cost(cv, cand, manifest, n_docs, ctx)
    reasons += _latency(cv, resolved, run_dir, promoted, ctx)
    cv.block(reasons)
    _after_pass(cv, cand, resolved, manifest, specs, n_docs, ctx)


def _after_pass(cv: ConfigVerdict, cand: Evaluator, resolved: ResolvedAdapter,
                manifest: dict, specs: dict, n_docs: dict, ctx) -> None:
    """Once the statistics passed: every remaining item (the decision is not revisited),
    the drift cap on those complete values (MC829), then the evidence for promotion."""
    if cv.verdict != PASS:
        return
    if ctx.settings.complete_evidence:
        cand.evaluate_to(n_docs)
    cv.block(check_drift(cv, cand, specs, ctx))
    if cv.verdict == PASS:
        write_evidence(cv, cand, resolved, manifest, ctx.head, n_docs, ctx.out_dir,
                       complete=ctx.settings.complete_evidence)


def ancestor(cv: ConfigVerdict) -> str:
    """Whose history the adapter continues: the old name of a renamed one, else its own."""
    return cv.replaces or cv.adapter


def _required_tasks(cv: ConfigVerdict, promoted: dict | None, ctx) -> dict[str, str] | None:
    """Every task the base requires of this adapter, with why: the contract's required
    suites, the thresholds' safety tasks, the tasks of its (ancestor's) promoted baseline.
    None, with MC819 (an error), when the base policy cannot say."""
    base = ctx.base_ws
    contract, thresholds = base.contract(), base.thresholds()
    unknown = unknown_required_suites(base, contract, cv.adapter) if contract is not None else []
    if contract is None or thresholds is None or unknown:
        what = (f"requires eval suite(s) {', '.join(unknown)}, which it does not define"
                if unknown else "has no valid Contract and Thresholds")
        cv.reasons.append(Reason("MC819", f"the base commit's policy {what}: the gate cannot "
                                 f"tell which tasks judge {cv.adapter}; a maintainer must fix "
                                 "evals/ on the base branch", config=cv.adapter))
        cv.verdict = ERROR
        return None
    required = required_by_policy(base, contract, thresholds, cv.adapter)
    for task in (promoted or {}).get("tasks", {}):
        required.setdefault(task, f"the promoted baseline of {ancestor(cv)} has it")
    return required


def _runs_required(cv: ConfigVerdict, resolved: ResolvedAdapter, required: dict, ctx
                   ) -> bool:
    """MC817 for each required task the adapter's suites do not run: blocked, never added
    silently, so the author fixes the config."""
    missing = [t for t in required if t not in resolved.tasks]
    for task in missing:
        runs = suites_running(ctx.base_ws, task)
        fix = (f"add a suite that runs it to evals.suites ({', '.join(runs)})" if runs else
               "no suite of the base runs it: a maintainer must re-baseline")
        cv.block([Reason("MC817", f"task {task!r} is not run by the adapter's suites, but "
                         f"{required[task]}; {fix}", config=cv.adapter, task=task,
                         field="evals.suites")])
    return not missing


def _valid_config(cv: ConfigVerdict, ctx) -> ResolvedAdapter | None:
    """The resolved adapter, or None with MC801 when it is not valid under the base policy."""
    doc = ctx.ws.adapters[cv.adapter]
    problems = [p for p in ctx.problems if p.code not in GATE_OWN]
    mine = [p for p in problems if p.path == doc.path]
    if mine or not doc.valid:
        cv.block([Reason("MC801", p.render(), config=cv.adapter) for p in mine]
                 or [Reason("MC801", "the config does not pass its schema", config=cv.adapter)])
        return None
    try:
        return resolve_adapter(ctx.ws, cv.adapter, problems)
    except UserError as err:
        cv.block([Reason("MC801", err.render(), config=cv.adapter)])
        return None


def _within_estimate(cv: ConfigVerdict, resolved: ResolvedAdapter, ctx) -> bool:
    """The pre-launch estimate against the thresholds' cost limits (MC802, no training)."""
    estimate = estimate_cost(resolved)
    cv.cost["estimate"] = estimate.to_dict()
    over = exceeded(estimate.to_dict(), ctx.thresholds.cost.limits())
    cv.block([Reason("MC802", f"estimated {value:,.6g} exceeds thresholds cost.{key} "
                     f"{limit:,}; blocked before training", config=cv.adapter,
                     field="training", threshold=f"cost.{key}") for key, value, limit in over])
    return not over


def _base_model(resolved: ResolvedAdapter, ctx) -> Path:
    """Where the base model lies (the tiny model is built on first use)."""
    from modelcfg.train.runs import model_dir

    return model_dir(resolved.model, ctx.judge, ctx.settings.model_cache)


def _baseline_results(cv: ConfigVerdict, resolved: ResolvedAdapter, baseline: dict | None,
                      ctx) -> dict | None:
    """What the candidate is compared with, in results form: the promoted ``baseline`` of
    the base commit (of the old adapter, for a renamed one), or (a new adapter) the base
    model evaluated without an adapter. None with MC804/MC815 when the baseline is missing
    or stale."""
    old = ancestor(cv)
    if baseline is None and old in ctx.base_ws.adapters:
        cv.block([Reason("MC804", f"{old} exists in the base commit but "
                         f"evals/baselines/{old}.json does not; promote it first",
                         config=cv.adapter)])
        return None
    if baseline is not None:
        base_resolved = _resolve_in_base(ctx.base_ws, old)
        if base_resolved is not None and baseline.get("config_key") != config_key(base_resolved):
            cv.block([Reason("MC815", "the baseline does not describe the base commit's config "
                             "(its config_key differs): re-baseline before judging",
                             config=cv.adapter, field="config_key")])
            return None
        cv.baseline = {"source": "baseline", "adapter": old,
                       "commit": baseline.get("commit"),
                       "fingerprint": baseline.get("fingerprint")}
        return baseline_as_results(baseline)
    ctx.emit({"event": "baseline_eval", "adapter": cv.adapter})
    ev = Evaluator(_base_model(resolved, ctx), None, ctx.tasks_dir,
                   ctx.out_dir / "runs" / cv.adapter / "base-model",
                   ctx.order_seed, {"base": resolved.model.name}, ctx.emit)
    ev.evaluate_to({t: ALL_ITEMS for t in resolved.tasks})
    cv.baseline = {"source": "base model", "model": resolved.model.name}
    return ev.results


def _baseline_has_every_task(cv: ConfigVerdict, resolved: ResolvedAdapter,
                             base_results: dict) -> bool:
    """MC863 for each judged task the promoted baseline has no scores for (a suite gained
    it after the promotion, e.g. the robustness suite): there is nothing to pair the
    candidate with, and the base model's scores are no stand-in. Blocks before training,
    until a maintainer re-baselines the adapter on every task."""
    if cv.baseline.get("source") != "baseline":
        return True  # the base model was evaluated on every task just now
    missing = [t for t in resolved.tasks if t not in base_results.get("tasks", {})]
    cv.block([Reason("MC863", f"the promoted baseline of {ancestor(cv)} has no scores for task "
                     f"{task!r} (its suites gained it after the promotion): the candidate "
                     "cannot be compared on it; a maintainer must re-baseline the adapter on "
                     "every task it runs (docs/audit.md, re-baselining)", config=cv.adapter,
                     task=task) for task in missing])
    return not missing


def _resolve_in_base(base_ws, name: str) -> ResolvedAdapter | None:
    """The base commit's own resolution of the adapter (None where its config or model is
    not even schema-valid there). Validity under the policy is not the question here."""
    doc = base_ws.adapters.get(name)
    model = base_ws.models.get(doc.data.get("base")) if doc is not None and doc.valid else None
    if model is None or not model.valid:
        return None
    return resolve_adapter(base_ws, name, problems=[])


def _train(cv: ConfigVerdict, resolved: ResolvedAdapter, ctx
           ) -> tuple[dict | None, Path | None]:
    """Train (a cache hit costs nothing); a budget refusal or stop blocks (MC802/MC803)."""
    from modelcfg.train.run import train_resolved

    try:
        result = train_resolved(resolved, ctx.judge, runs_dir=ctx.runs_dir,
                                on_progress=ctx.emit, model_cache=ctx.settings.model_cache)
    except UserError as err:
        code = {"MC502": "MC803", "MC501": "MC802"}.get(err.code)
        if code is None:
            raise
        cv.block([Reason(code, err.message, config=cv.adapter, field="budget")])
        return None, None
    manifest = result.manifest
    cv.train = {"run_dir": str(result.run_dir), "cache_hit": result.cache_hit,
                "train_seconds": result.train_seconds, "fingerprint": manifest["fingerprint"]}
    cv.cost["measured"] = manifest.get("cost", {})
    return manifest, Path(result.run_dir)


def _latency(cv: ConfigVerdict, resolved: ResolvedAdapter, run_dir: Path,
             promoted: dict | None, ctx) -> list[Reason]:
    """The latency SLO (thresholds ``latency:``): the candidate and the promoted baseline's
    adapter (the base model alone for a new adapter) timed here, alternating, each served
    as its own config's ``serving.merge`` says; judged by :mod:`modelcfg.gate.latency`."""
    rule = ctx.thresholds.latency_for(cv.adapter)
    if rule is None:
        return []
    from modelcfg.evaluation.latency import measure_pair
    from modelcfg.gate.latency import judge_latency

    baseline = _baseline_adapter(cv, promoted, ctx)
    if isinstance(baseline, Reason):
        cv.latency = {"decision": "block"}
        return [baseline]
    adapter_dir, merged = baseline
    ctx.emit({"event": "latency", "adapter": cv.adapter, "repeats": rule.repeats})
    timings = measure_pair(_base_model(resolved, ctx), run_dir / "adapter", adapter_dir,
                           candidate_merge=resolved.adapter.serve_merged,
                           baseline_merge=merged, repeats=rule.repeats,
                           new_tokens=rule.new_tokens)
    outcome, reasons = judge_latency(timings, max_regression=rule.max_regression,
                                     alpha=rule.alpha,
                                     max_seconds_per_token=rule.max_seconds_per_token)
    cv.latency = {**outcome, "timings": timings}
    return [Reason(r.code, r.message, config=cv.adapter, threshold=r.threshold)
            for r in reasons]


def _baseline_adapter(cv: ConfigVerdict, promoted: dict | None, ctx):
    """(adapter folder, served merged) of the promoted baseline, rebuilt from the base
    commit's config (a cache hit when the runner kept it); (None, False) for a new adapter
    (the base model alone); an MC852 reason when it cannot be rebuilt as promoted."""
    from modelcfg.config.trees import FsTree, PathProblem, materialize
    from modelcfg.config.workspace import load_workspace
    from modelcfg.train.run import train_resolved

    if promoted is None:
        return None, False
    name = ancestor(cv)
    try:
        root = materialize({"configs": ctx.base_ws.tree, "evals": ctx.base_ws.tree},
                           ctx.out_dir / "latency-baseline")
        base_resolved = resolve_adapter(load_workspace(FsTree(root)), name)
        result = train_resolved(base_resolved, root, runs_dir=ctx.runs_dir,
                                on_progress=ctx.emit, model_cache=ctx.settings.model_cache)
    except (UserError, PathProblem) as err:
        return Reason("MC852", f"the baseline adapter {name} could not be rebuilt from the "
                      f"base commit to time it: {getattr(err, 'message', err)}",
                      config=cv.adapter, threshold="latency")
    if result.manifest.get("fingerprint") != promoted.get("fingerprint"):
        return Reason("MC852", f"the baseline adapter {name} rebuilt from the base commit has "
                      f"fingerprint {str(result.manifest.get('fingerprint'))[:12]}, the "
                      f"promoted one {str(promoted.get('fingerprint'))[:12]}: it is not the "
                      "adapter whose latency the SLO compares with; a maintainer must "
                      "re-baseline", config=cv.adapter, threshold="latency")
    return Path(result.run_dir) / "adapter", base_resolved.adapter.serve_merged


def _same_base_weights(cv: ConfigVerdict, baseline: dict | None, manifest: dict) -> bool:
    """False, with MC827 (an error: nobody's change is at fault), unless the promoted
    baseline and the candidate were trained on the same base weights. Scores made on other
    base weights (another machine's build, a re-pinned model) say nothing about this
    change; a baseline that does not record them is refused too (fail closed). A new
    adapter is compared with the base model evaluated here, so there is nothing to check."""
    if baseline is None:
        return True
    theirs = (baseline.get("weights") or {}).get("base_sha256")
    ours = (manifest.get("weights") or {}).get("base_sha256")
    if theirs is not None and theirs == ours:
        return True
    what = ("does not record the sha256 of its base weights" if theirs is None else
            f"was made on base weights {theirs[:12]}, the candidate on {str(ours)[:12]}")
    cv.reasons.append(Reason("MC827", f"the promoted baseline of {ancestor(cv)} {what}: the "
                             "two are not compared; a maintainer must re-baseline on the "
                             "current base weights (docs/training.md)", config=cv.adapter,
                             field="weights.base_sha256"))
    cv.verdict = ERROR
    return False


def _judge_candidate(cv: ConfigVerdict, cand: Evaluator, tasks, specs: dict,
                     base_results: dict, n_docs: dict, facts: dict, ctx) -> list[Reason]:
    """The looks, then (if nothing blocked) every item of the capability tasks and the
    Holm-corrected gain claims on them."""
    sequential = ctx.thresholds.sequential
    outcomes, reasons = run_looks(cv.adapter, cand, tasks, specs, base_results, n_docs,
                                  sequential.looks, ctx.order_seed, facts)
    for t in tasks:
        outcomes.setdefault(t, {"kind": specs[t].kind, "metric": specs[t].metric,
                                "decision": "not evaluated", "items_used": cand.done.get(t, 0),
                                "items_available": n_docs[t]})
    if not reasons:
        reasons += direction.disagreements(specs, cand.results or {}, cv.adapter)
        reasons += full_set_gains(cv.adapter, cand, tasks, specs, base_results, n_docs,
                                  ctx.order_seed, outcomes)
    if not reasons:
        reasons += [Reason(r.code, r.message, config=cv.adapter, task=r.task,
                           threshold=r.threshold)
                    for r in verdict.judge_gains(outcomes, specs,
                                                 ctx.thresholds.defaults.alpha)]
    cv.tasks = outcomes
    return reasons


def _measured_cost(cv: ConfigVerdict, cand: Evaluator, manifest: dict, n_docs: dict, ctx
                   ) -> list[Reason]:
    timing = (cand.results or {}).get("timing", {})
    measured = dict(manifest.get("cost", {}))
    measured["eval_tokens_per_second"] = timing.get("tokens_per_second")
    measured.setdefault("trainable_params", measured.get("trainable_parameters"))
    cv.cost["measured"] = measured
    cv.cost["eval_items"] = sum(cand.done.values())
    cv.cost["eval_items_available"] = sum(n_docs.values())
    return [Reason(r.code, r.message, config=cv.adapter, field=r.field, threshold=r.threshold)
            for r in verdict.cost_reasons(measured, ctx.thresholds.cost)]
