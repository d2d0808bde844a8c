"""Judging one changed adapter: each step either records what it found on the verdict and
hands on, or blocks the adapter with reasons and stops the chain (fail closed).

    valid config → cost estimate within thresholds → baseline (promoted, or the base model
    for a new adapter), checked against the base config and the whole eval set → train
    (cached) → candidate look by look → measured cost → evidence for promotion
"""

from __future__ import annotations

from pathlib import Path

from modelcfg.audit.baseline import read_baseline
from modelcfg.config.cost import estimate_cost, exceeded
from modelcfg.config.model import ResolvedAdapter, config_key
from modelcfg.config.resolve import resolve_adapter
from modelcfg.core.errors import UserError
from modelcfg.evaluation.batches import Evaluator
from modelcfg.gate import verdict
from modelcfg.gate.evidence import baseline_as_results, write_evidence
from modelcfg.gate.looks import data_reasons, n_docs_of, run_looks
from modelcfg.gate.verdict import PASS, ConfigVerdict, Reason

ALL_ITEMS = 10 ** 9


def judge_adapter(cv: ConfigVerdict, ctx) -> None:
    """Fill ``cv`` (verdict, reasons, tasks, cost, train, baseline, evidence) for the adapter
    it names, judged in ``ctx`` (a :class:`modelcfg.gate.run.Judging`)."""
    resolved = _valid_config(cv, ctx)
    if resolved is None or not _within_estimate(cv, resolved, ctx):
        return
    if cv.impact == "none":
        cv.train = {"skipped": "no change that affects training or evaluation"}
        return
    specs, missing = verdict.task_specs(ctx.thresholds, resolved.tasks)
    if missing:
        cv.block([Reason(r.code, r.message, config=cv.adapter, task=r.task) for r in missing])
        return
    from modelcfg.evaluation.harness import task_facts
    from modelcfg.train.runs import model_dir

    base_model = model_dir(resolved.model, ctx.judge, ctx.settings.model_cache)
    base_results = _baseline_results(cv, resolved, base_model, ctx)
    if base_results is None:
        return
    facts = task_facts(resolved.tasks, ctx.tasks_dir)
    incompatible = data_reasons(cv.adapter, resolved.tasks, base_results, facts)
    if incompatible:
        cv.block(incompatible)
        return
    manifest, run_dir = _train(cv, resolved, ctx)
    if manifest is None:
        return
    cand = Evaluator(base_model, run_dir / "adapter", ctx.tasks_dir,
                     ctx.out_dir / "runs" / cv.adapter / "candidate",
                     ctx.thresholds.sequential.seed,
                     {"base": resolved.model.name, "fingerprint": manifest["fingerprint"]},
                     ctx.emit)
    n_docs = {t: n_docs_of(base_results, t) for t in resolved.tasks}
    reasons = _judge_candidate(cv, cand, resolved.tasks, specs, base_results, n_docs, facts,
                               ctx)
    reasons += _measured_cost(cv, cand, manifest, n_docs, ctx)
    cv.block(reasons)
    if cv.verdict == PASS:
        write_evidence(cv, cand, resolved, manifest, ctx.head, n_docs, ctx.out_dir,
                       complete=ctx.settings.complete_evidence)


def _valid_config(cv: ConfigVerdict, ctx) -> ResolvedAdapter | None:
    """The resolved adapter, or None with MC801 when it is not valid under the base policy."""
    doc = ctx.ws.adapters[cv.adapter]
    mine = [p for p in ctx.problems if p.path == doc.path]
    if mine or not doc.valid:
        cv.block([Reason("MC801", p.render(), config=cv.adapter) for p in mine]
                 or [Reason("MC801", "the config does not pass its schema", config=cv.adapter)])
        return None
    try:
        return resolve_adapter(ctx.ws, cv.adapter, ctx.problems)
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


def _baseline_results(cv: ConfigVerdict, resolved: ResolvedAdapter, base_model: Path, ctx
                      ) -> dict | None:
    """What the candidate is compared with, in results form: the promoted baseline of the
    base commit, or (a new adapter) the base model evaluated without an adapter. None with
    MC804/MC815 when the baseline is missing or stale."""
    existed = cv.adapter in ctx.base_ws.adapters
    baseline = read_baseline(ctx.base_ws.tree, cv.adapter)
    if baseline is None and existed:
        cv.block([Reason("MC804", f"{cv.adapter} exists in the base commit but "
                         f"evals/baselines/{cv.adapter}.json does not; promote it first",
                         config=cv.adapter)])
        return None
    if baseline is not None:
        base_resolved = _resolve_in_base(ctx.base_ws, cv.adapter)
        if base_resolved is not None and baseline.get("config_key") != config_key(base_resolved):
            cv.block([Reason("MC815", "the baseline does not describe the base commit's config "
                             "(its config_key differs): re-baseline before judging",
                             config=cv.adapter, field="config_key")])
            return None
        cv.baseline = {"source": "baseline", "commit": baseline.get("commit"),
                       "fingerprint": baseline.get("fingerprint")}
        return baseline_as_results(baseline)
    ctx.emit({"event": "baseline_eval", "adapter": cv.adapter})
    ev = Evaluator(base_model, None, ctx.tasks_dir,
                   ctx.out_dir / "runs" / cv.adapter / "base-model",
                   ctx.thresholds.sequential.seed, {"base": resolved.model.name}, ctx.emit)
    ev.evaluate_to({t: ALL_ITEMS for t in resolved.tasks})
    cv.baseline = {"source": "base model", "model": resolved.model.name}
    return ev.results


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


def _judge_candidate(cv: ConfigVerdict, cand: Evaluator, tasks, specs: dict,
                     base_results: dict, n_docs: dict, facts: dict, ctx) -> list[Reason]:
    """The looks, then (if nothing blocked) the Holm-corrected gain claims."""
    sequential = ctx.thresholds.sequential
    outcomes, reasons = run_looks(cv.adapter, cand, tasks, specs, base_results, n_docs,
                                  sequential.looks, sequential.seed, facts)
    for t in tasks:
        outcomes.setdefault(t, {"kind": specs[t].kind, "metric": specs[t].metric,
                                "decision": "not evaluated", "items_used": cand.done.get(t, 0),
                                "items_available": n_docs[t]})
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
