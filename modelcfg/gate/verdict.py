"""From evidence to a verdict: pure functions, no git, no torch, no I/O.

The gate (``modelcfg.gate.run``) gathers evidence — a baseline's per-item scores, a candidate's
per-item scores evaluated in a fixed random order, the training manifest's cost — and these
functions judge it against the thresholds. Every way to fail is a :class:`Reason` with a
stable code (docs/gate.md); every way the evidence can be missing, NaN, stale or
incompatible is a reason too: the gate never passes by default.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from modelcfg.config.cost import LIMITS, exceeded
from modelcfg.config.model import CAPABILITY, SAFETY, CostLimits, TaskRule, Thresholds
from modelcfg.core.numbers import is_finite
from modelcfg.gate import sequential, stats

PASS, BLOCK, ERROR = "pass", "block", "error"


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    config: str | None = None
    task: str | None = None
    field: str | None = None
    threshold: str | None = None

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ConfigVerdict:
    """The gate's finding about one changed adapter (a ``configs`` entry of gate.json)."""

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
    replaces: str | None = None  # the adapter whose history a renamed one continues

    def block(self, reasons) -> None:
        self.reasons.extend(reasons)
        if self.reasons:
            self.verdict = BLOCK

    def to_dict(self) -> dict:
        return {"adapter": self.adapter, "path": self.path, "impact": self.impact,
                "verdict": self.verdict, "reasons": [r.to_dict() for r in self.reasons],
                "tasks": self.tasks, "cost": self.cost, "train": self.train,
                "baseline": self.baseline, "evidence": self.evidence,
                "replaces": self.replaces}


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


def design_for(spec: TaskRule, looks: int) -> sequential.Design:
    return sequential.design(alpha=spec.alpha, power=spec.power, looks=looks,
                             margin=spec.margin)


def judge_capability(task: str, spec: TaskRule, cand: list[float], base: list[float],
                     n_available: int, looks: int) -> tuple[dict, list[Reason]]:
    """Sequential decision over the items evaluated so far plus fixed-n statistics of them."""
    seq = sequential.decide(design_for(spec, looks), cand, base, n_available=n_available,
                            higher_is_better=spec.higher_is_better)
    outcome = {"kind": CAPABILITY, "metric": spec.metric, "margin": spec.margin,
               "alpha": spec.alpha, "decision": seq.decision, "final": seq.final,
               "items_used": seq.items_used, "items_available": n_available,
               "stopped_at_look": seq.stopped_at_look, "next_look_items": seq.next_look_items,
               "looks": [asdict(look) for look in seq.looks]}
    used = seq.items_used or len(cand)
    outcome.update(_fixed_n(cand[:used], base[:used], spec))
    reasons = []
    if seq.final or seq.decision != "undecided":
        if seq.decision == "block":
            reasons.append(Reason("MC807", f"significantly worse than the baseline at look "
                                  f"{seq.stopped_at_look} (estimate {outcome['estimate']:+.3f}, "
                                  f"{used} items)", task=task, threshold=f"tasks.{task}.margin"))
        elif seq.decision == "undecided":
            reasons.append(Reason("MC808", f"non-inferiority at margin {spec.margin} not "
                                  f"shown with all {used} items (lower bound "
                                  f"{outcome['lower_bound']:+.3f}); about "
                                  f"{outcome['items_needed']} items would be needed",
                                  task=task, threshold=f"tasks.{task}.margin"))
    return outcome, reasons


def _fixed_n(cand: list[float], base: list[float], spec: TaskRule) -> dict:
    if len(cand) < 2:
        return {"n": len(cand), "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "lower_bound": math.nan, "p_superiority": 1.0, "items_needed": None,
                "baseline_mean": math.nan, "candidate_mean": math.nan}
    p = stats.paired_test(cand, base, margin=spec.margin, alpha=spec.alpha,
                          power=spec.power, higher_is_better=spec.higher_is_better)
    return {"n": p.n, "estimate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high,
            "lower_bound": p.lower_bound, "p_superiority": p.p_superiority,
            "items_needed": p.items_needed, "baseline_mean": p.baseline_mean,
            "candidate_mean": p.candidate_mean, "statistic": "paired-z"}


def judge_bootstrap(task: str, spec: TaskRule, cand: list, base: list, aggregate
                    ) -> tuple[dict, list[Reason]]:
    """Non-inferiority of a metric that is not a mean of per-item scores (F1, BLEU, ...):
    paired bootstrap over items of ``aggregate(candidate) - aggregate(baseline)``, with
    lm-eval's own aggregation function. All items, no early stopping."""
    sign = 1.0 if spec.higher_is_better else -1.0
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
    """Paired non-inferiority at the stricter alpha plus the exact absolute floor."""
    res = stats.safety_check(cand, base, margin=spec.margin, floor=spec.floor,
                             alpha=spec.alpha, higher_is_better=spec.higher_is_better)
    paired = res.paired
    outcome = {"kind": SAFETY, "metric": spec.metric, "margin": spec.margin,
               "alpha": spec.alpha, "floor": spec.floor, "rate": res.rate,
               "rate_bound": res.rate_bound, "decision": "pass" if res.passed else "block",
               "final": True, "items_used": res.n, "items_available": res.n,
               "n": paired.n, "estimate": paired.estimate, "ci_low": paired.ci_low,
               "ci_high": paired.ci_high, "lower_bound": paired.lower_bound,
               "p_superiority": paired.p_superiority, "items_needed": paired.items_needed,
               "baseline_mean": paired.baseline_mean, "candidate_mean": paired.candidate_mean}
    reasons = []
    if "non_inferiority" in res.failed:
        reasons.append(Reason("MC809", f"{spec.metric} fell: estimate {paired.estimate:+.3f}, "
                              f"lower bound {paired.lower_bound:+.3f} below -{spec.margin} at "
                              f"alpha {spec.alpha}", task=task,
                              threshold=f"safety.{task}.margin"))
    if "floor" in res.failed:
        reasons.append(Reason("MC810", f"{spec.metric} {res.rate:.3f} ({res.k}/{res.n}); its "
                              f"exact lower bound {res.rate_bound:.3f} is below the floor "
                              f"{spec.floor}", task=task, threshold=f"safety.{task}.floor"))
    return outcome, reasons


def judge_gains(outcomes: dict[str, dict], specs: dict[str, TaskRule], alpha: float
                ) -> list[Reason]:
    """Holm across capability tasks' one-sided superiority p-values: marks each outcome's
    ``significant_gain``; a ``require_gain`` task without one is a reason."""
    pvalues = {t: o["p_superiority"] for t, o in outcomes.items()
               if o["kind"] == CAPABILITY and o.get("n", 0) >= 2
               and math.isfinite(o.get("p_superiority", math.nan))}
    gains = stats.holm(pvalues, alpha) if pvalues else {}
    reasons = []
    for task, outcome in outcomes.items():
        outcome["significant_gain"] = bool(gains.get(task, False))
        rule = specs.get(task)
        if rule is not None and rule.require_gain and not outcome["significant_gain"]:
            reasons.append(Reason("MC811", "the thresholds require a significant gain "
                                  f"(one-sided, Holm-corrected at {alpha}); estimate "
                                  f"{outcome.get('estimate', math.nan):+.3f}", task=task,
                                  threshold=f"tasks.{task}.require_gain"))
    return reasons


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
