"""From evidence to a verdict: pure functions, no git, no torch, no I/O.

The gate (``modelcfg.gate.run``) gathers evidence — a baseline's per-item scores, a candidate's
per-item scores evaluated in a fixed random order, the training manifest's cost — and these
functions judge it against the thresholds. Every way to fail is a :class:`Reason` with a
stable code (docs/gate.md); every way the evidence can be missing, NaN, stale or
incompatible is a reason too: the gate never passes by default.
"""

from __future__ import annotations

import math

from modelcfg.config.cost import LIMITS, exceeded
from modelcfg.config.model import CAPABILITY, SAFETY, CostLimits, TaskRule, Thresholds
from modelcfg.core.numbers import is_finite
from modelcfg.gate import safety, stats
from modelcfg.gate.capability import add_gain, design_for, judge_capability, judge_gains
from modelcfg.gate.reasons import BLOCK, ERROR, PASS, ConfigVerdict, Reason

# Callers (the gate, `modelcfg compare`) find every judging function here.
__all__ = ["BLOCK", "ERROR", "PASS", "ConfigVerdict", "Reason", "add_gain", "cost_reasons",
           "design_for", "judge_bootstrap", "judge_capability", "judge_gains", "judge_safety",
           "metric_key", "pair", "task_specs"]


def task_specs(thresholds: Thresholds, tasks) -> tuple[dict[str, TaskRule], list[Reason]]:
    """The judging rule of each task (:meth:`Thresholds.rule`, defaults applied); a task
    without one is a reason: nothing is judged by a rule nobody wrote."""
    specs, reasons = {}, []
    for task in tasks:
        rule = thresholds.rule(task)
        if rule is None:
            reasons.append(Reason("MC816", f"task {task!r} has no entry in the thresholds; add "
                                  "one under tasks: or safety:", task=task))
        else:
            specs[task] = rule
    return specs, reasons


def metric_key(samples: dict, metric: str) -> str | None:
    """The per-sample score key for ``metric`` (lm-eval suffixes a filter: ``m,filter``)."""
    for entry in samples.values():
        keys = entry.get("scores", {})
        if metric in keys:
            return metric
        matches = sorted(k for k in keys if k.split(",")[0] == metric)
        return matches[0] if matches else None
    return None


def pair(task: str, metric: str, baseline: dict, candidate: dict,
         order: list[str], numeric: bool = True) -> tuple[list, list, list[Reason]]:
    """Per-item (candidate, baseline) scores in ``order`` (doc ids), or the reasons why the
    two cannot be compared. ``baseline``/``candidate`` are task entries of results files.
    With ``numeric`` False (metrics that are not means) items may be any value but null."""
    reasons = []
    for key in ("version", "config_hash"):
        if baseline.get(key) != candidate.get(key):
            reasons.append(Reason("MC805", f"task {key.replace('_', ' ')} differs from the "
                                  f"baseline's ({baseline.get(key)!r} vs "
                                  f"{candidate.get(key)!r}); re-baseline before judging",
                                  task=task, field=key))
    base_samples, cand_samples = baseline.get("samples", {}), candidate.get("samples", {})
    key_b, key_c = metric_key(base_samples, metric), metric_key(cand_samples, metric)
    if key_b is None or key_c is None:
        whose = "baseline" if key_b is None else "candidate"
        return [], [], reasons + [Reason("MC806", f"the {whose} has no per-item {metric!r} "
                                         "scores", task=task, field=metric)]
    missing = [d for d in order if d not in base_samples]
    changed = [d for d in order if d in base_samples and d in cand_samples
               and base_samples[d].get("doc_hash") != cand_samples[d].get("doc_hash")]
    if missing or changed:
        reasons.append(Reason("MC805", f"{len(changed)} item(s) have a different doc_hash and "
                              f"{len(missing)} are not in the baseline; the eval data changed, "
                              "re-baseline before judging", task=task, field="doc_hash"))
    if reasons:
        return [], [], reasons
    cand, base = [], []
    for doc in order:
        if doc not in cand_samples:
            return [], [], [Reason("MC806", f"item {doc} was not evaluated", task=task)]
        c = cand_samples[doc]["scores"].get(key_c)
        b = base_samples[doc]["scores"].get(key_b)
        for who, value in (("candidate", c), ("baseline", b)):
            if value is None or (numeric and not is_finite(value)):
                return [], [], [Reason("MC806", f"{who} score of item {doc} is {value!r}, not "
                                       "a finite number", task=task, field=metric)]
        cand.append(float(c) if numeric else c)
        base.append(float(b) if numeric else b)
    return cand, base, []


def judge_bootstrap(task: str, spec: TaskRule, cand: list, base: list, aggregate
                    ) -> tuple[dict, list[Reason]]:
    """Non-inferiority of a metric that is not a mean of per-item scores (F1, BLEU, ...):
    paired bootstrap over items of ``aggregate(candidate) - aggregate(baseline)``, with
    lm-eval's own aggregation function. All items, no early stopping."""
    sign = stats.orientation(spec.higher_is_better)
    try:
        res = stats.paired_bootstrap(
            cand, base, lambda c, b: sign * (aggregate(c) - aggregate(b)),
            margin=spec.margin, alpha=spec.alpha, iters=spec.bootstrap_iters)
        base_value, cand_value = aggregate(base), aggregate(cand)
    except (ValueError, TypeError, ZeroDivisionError) as exc:
        return {"kind": CAPABILITY, "metric": spec.metric, "decision": "block",
                "final": True}, [Reason("MC806", f"cannot aggregate {spec.metric!r} over "
                                        f"the items: {exc}", task=task, field=spec.metric)]
    outcome = {"kind": CAPABILITY, "metric": spec.metric, "margin": spec.margin,
               "alpha": spec.alpha, "decision": "pass" if res.passed else "block",
               "final": True, "items_used": res.n, "items_available": res.n, "n": res.n,
               "estimate": res.estimate, "ci_low": res.ci_low, "ci_high": res.ci_high,
               "lower_bound": res.lower_bound, "p_superiority": math.nan,
               "items_needed": None, "baseline_mean": base_value, "candidate_mean": cand_value,
               "statistic": "bootstrap"}
    reasons = []
    if not res.passed:
        reasons.append(Reason("MC807", f"non-inferiority not shown: bootstrap lower bound "
                              f"{res.lower_bound:+.3f} of the {spec.metric} difference is "
                              f"below -{spec.margin} ({res.n} items)", task=task,
                              threshold=f"tasks.{task}.margin"))
    return outcome, reasons


def judge_safety(task: str, spec: TaskRule, cand: list[float], base: list[float]
                 ) -> tuple[dict, list[Reason]]:
    """The safety task's exact rule (``spec.rule``: no_new_failures or noninferiority, at
    the safety alpha) plus the exact floor; every item, no early stopping."""
    res = safety.safety_check(cand, base, floor=spec.floor, rule=spec.rule or
                              safety.NO_NEW_FAILURES, margin=spec.margin, alpha=spec.alpha,
                              higher_is_better=spec.higher_is_better)
    outcome = {"kind": SAFETY, "metric": spec.metric, "rule": res.rule, "margin": spec.margin,
               "alpha": spec.alpha, "floor": spec.floor, "rate": res.rate,
               "rate_bound": res.rate_bound, "decision": "pass" if res.passed else "block",
               "final": True, "items_used": res.n, "items_available": res.n, "n": res.n,
               "estimate": res.estimate, "new_failures": res.new_failures,
               "new_successes": res.new_successes, "p_noninferiority": res.p_noninferiority,
               "baseline_mean": res.baseline_rate, "candidate_mean": res.rate}
    reasons = []
    where = f"safety.{task}"
    if "new_failures" in res.failed:
        reasons.append(Reason("MC809", f"{res.new_failures} item(s) the baseline answered "
                              f"safely are answered unsafely by the candidate ({spec.metric}, "
                              "rule no_new_failures)", task=task, threshold=f"{where}.rule"))
    if "non_inferiority" in res.failed:
        reasons.append(Reason("MC809", f"{spec.metric} not shown non-inferior at margin "
                              f"{spec.margin}: exact p {res.p_noninferiority:.4f} > alpha "
                              f"{spec.alpha} (estimate {res.estimate:+.3f}, {res.n} items)",
                              task=task, threshold=f"{where}.margin"))
    if "floor" in res.failed:
        side = "lower" if spec.higher_is_better else "upper"
        reasons.append(Reason("MC810", f"{spec.metric} {res.rate:.3f} ({res.k}/{res.n}); its "
                              f"exact {side} bound {res.rate_bound:.3f} does not clear the "
                              f"floor {spec.floor}", task=task, threshold=f"{where}.floor"))
    return outcome, reasons


def cost_reasons(cost: dict, thresholds_cost: CostLimits) -> list[Reason]:
    """Measured training and eval cost against ``thresholds.cost``; missing figures block."""
    limits = thresholds_cost.limits()
    reasons = []
    for limit_key in ("max_gpu_hours", "max_train_tokens", "max_trainable_params"):
        key, what = LIMITS[limit_key]
        if limits.get(limit_key) is None:
            continue
        if not is_finite(cost.get(key)):
            reasons.append(Reason("MC806", f"the run reports no {what}; cannot check "
                                  f"{limit_key}", field=key, threshold=f"cost.{limit_key}"))
        for _, value, limit in exceeded(cost, limits, (limit_key,)):
            reasons.append(Reason("MC812", f"{value:,.6g} {what} exceed {limit_key} {limit:,}",
                                  field=key, threshold=f"cost.{limit_key}"))
    floor = limits.get("min_tokens_per_second")
    if floor is not None:
        value = cost.get("eval_tokens_per_second")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            reasons.append(Reason("MC806", "no generation throughput measured; cannot check "
                                  "min_tokens_per_second", field="eval_tokens_per_second",
                                  threshold="cost.min_tokens_per_second"))
        elif value < floor:
            reasons.append(Reason("MC813", f"generation at {value:,.1f} tokens/s is below "
                                  f"min_tokens_per_second {floor:,}",
                                  field="eval_tokens_per_second",
                                  threshold="cost.min_tokens_per_second"))
    return reasons
