"""Capability tasks: the sequential non-inferiority decision and its honest labels, and the
gain claims (full item set, Holm). Pure: evidence in, outcome and reasons out.

Robustness tasks (the thresholds' ``robustness:``) are judged by the same decision with
their own reason codes (:data:`CODES`) and no gain claims."""

from __future__ import annotations

import math
from dataclasses import asdict

from modelcfg.config.model import CAPABILITY, ROBUSTNESS, SECTION, TaskRule
from modelcfg.gate import sequential, stats
from modelcfg.gate.reasons import Reason

# kind -> (worse by more than the margin, futility stop, undecided after the last look)
CODES = {CAPABILITY: ("MC807", "MC825", "MC808"), ROBUSTNESS: ("MC860", "MC862", "MC861")}
# How a robustness reason says what the scores were measured on.
_UNDER = {CAPABILITY: "", ROBUSTNESS: " under perturbation"}


def design_for(spec: TaskRule, looks: int) -> sequential.Design:
    return sequential.design(alpha=spec.alpha, power=spec.power, looks=looks,
                             margin=spec.margin)


def judge_capability(task: str, spec: TaskRule, cand: list[float], base: list[float],
                     n_available: int, looks: int) -> tuple[dict, list[Reason]]:
    """Sequential decision over the items evaluated so far. The outcome's ``interval`` is
    the repeated confidence interval of the last look (valid whenever the walk stops);
    when the scores given are the whole suite, ``gain`` holds the full-set test too."""
    seq = sequential.decide(design_for(spec, looks), cand, base, n_available=n_available,
                            higher_is_better=spec.higher_is_better)
    used = seq.items_used or len(cand)
    prefix = _fixed_n(cand[:used], base[:used], spec)
    last = seq.looks[-1] if seq.looks else None
    outcome = {"kind": spec.kind, "metric": spec.metric, "margin": spec.margin,
               "alpha": spec.alpha, "decision": seq.decision, "finding": seq.finding,
               "final": seq.final, "items_used": seq.items_used,
               "items_available": n_available, "stopped_at_look": seq.stopped_at_look,
               "next_look_items": seq.next_look_items, "statistic": seq.statistic,
               "looks": [asdict(look) for look in seq.looks],
               "n": prefix["n"], "estimate": prefix["estimate"],
               "baseline_mean": prefix["baseline_mean"],
               "candidate_mean": prefix["candidate_mean"],
               "items_needed": prefix["items_needed"],
               "ci_low": last.rci_low if last else math.nan,
               "ci_high": last.rci_high if last else math.nan,
               "lower_bound": last.rci_low if last else math.nan,
               "interval": None if last is None else {
                   "kind": "repeated", "low": last.rci_low, "high": last.rci_high,
                   "level": 1.0 - 2.0 * spec.alpha, "look": last.look, "n": last.n}}
    if len(cand) == n_available:
        add_gain(outcome, spec, cand, base)
    reasons = []
    if seq.final or seq.decision != "undecided":
        reasons = _capability_reasons(task, spec, seq, outcome)
    return outcome, reasons


def _capability_reasons(task: str, spec: TaskRule, seq, outcome: dict) -> list[Reason]:
    """MC807 only for a valid finding that the candidate is worse by more than the margin;
    MC825 for a futility stop; MC808 for undecided after the last look. A robustness task
    says the same with MC860, MC862 and MC861."""
    worse, futile, undecided = CODES[spec.kind]
    under = _UNDER[spec.kind]
    used, where = outcome["items_used"], f"{SECTION[spec.kind]}.{task}.margin"
    head = (f"estimate {outcome['estimate']:+.3f}, repeated {1 - 2 * spec.alpha:.0%} "
            f"interval [{outcome['ci_low']:+.3f}, {outcome['ci_high']:+.3f}], {used} of "
            f"{outcome['items_available']} items")
    if seq.finding == "worse":
        return [Reason(worse, f"worse than the baseline{under} by more than the margin "
                       f"{spec.margin} at look {seq.stopped_at_look}: the interval lies below "
                       f"-{spec.margin} ({head})",
                       task=task, threshold=where)]
    if seq.finding == "futility":
        return [Reason(futile, f"not shown non-inferior{under} at margin {spec.margin}: stopped "
                       f"for futility at look {seq.stopped_at_look} of "
                       f"{len(seq.look_sizes)} ({head}); {_shortfall(outcome, spec)}",
                       task=task, threshold=where)]
    if seq.decision == "undecided":
        return [Reason(undecided, f"non-inferiority{under} at margin {spec.margin} not shown after "
                       f"the final look ({head}); {_shortfall(outcome, spec)}",
                       task=task, threshold=where)]
    return []


def _shortfall(outcome: dict, spec: TaskRule) -> str:
    """How many more items a decision would need, from the items really evaluated."""
    need, used = outcome["items_needed"], outcome["items_used"]
    if need is None:
        return "too few items to estimate how many would be needed"
    if need > used:
        return (f"about {need - used} more items would be needed ({need} in all for "
                f"{spec.power:.0%} power at no true difference, at the observed spread; "
                f"the suite has {outcome['items_available']})")
    return (f"{used} items would suffice at no true difference: the estimate "
            f"{outcome['estimate']:+.3f} points to a loss")


def add_gain(outcome: dict, spec: TaskRule, cand: list[float], base: list[float]) -> None:
    """The superiority test on the full item set (``cand``/``base`` = every item of the
    task): Tango's score test (binary) or the paired z; what :func:`judge_gains` reads."""
    fixed = _fixed_n(cand, base, spec)
    outcome["gain"] = {"kind": "fixed", "n": fixed["n"], "estimate": fixed["estimate"],
                       "low": fixed["ci_low"], "high": fixed["ci_high"],
                       "level": 1.0 - 2.0 * spec.alpha, "p_superiority": fixed["p_superiority"],
                       "statistic": fixed["statistic"]}


def _fixed_n(cand: list[float], base: list[float], spec: TaskRule) -> dict:
    if len(cand) < 2:
        return {"n": len(cand), "estimate": math.nan, "ci_low": math.nan, "ci_high": math.nan,
                "lower_bound": math.nan, "p_superiority": 1.0, "items_needed": None,
                "baseline_mean": math.nan, "candidate_mean": math.nan, "statistic": None}
    p = stats.paired_test(cand, base, margin=spec.margin, alpha=spec.alpha,
                          power=spec.power, higher_is_better=spec.higher_is_better)
    return {"n": p.n, "estimate": p.estimate, "ci_low": p.ci_low, "ci_high": p.ci_high,
            "lower_bound": p.lower_bound, "p_superiority": p.p_superiority,
            "items_needed": p.items_needed, "baseline_mean": p.baseline_mean,
            "candidate_mean": p.candidate_mean, "statistic": p.statistic}


def judge_gains(outcomes: dict[str, dict], specs: dict[str, TaskRule], alpha: float
                ) -> list[Reason]:
    """Holm across capability tasks' one-sided superiority p-values on the full item set
    (``outcome["gain"]``, see :func:`add_gain`; never a stopped prefix): marks each
    outcome's ``significant_gain``; a ``require_gain`` task without one is a reason."""
    pvalues = {t: o["gain"]["p_superiority"] for t, o in outcomes.items()
               if o.get("kind") == CAPABILITY and (o.get("gain") or {}).get("n", 0) >= 2
               and math.isfinite(o["gain"].get("p_superiority", math.nan))}
    gains = stats.holm(pvalues, alpha) if pvalues else {}
    reasons = []
    for task, outcome in outcomes.items():
        outcome["significant_gain"] = bool(gains.get(task, False))
        rule = specs.get(task)
        if rule is not None and rule.require_gain and not outcome["significant_gain"]:
            gain = outcome.get("gain") or {}
            reasons.append(Reason("MC811", "the thresholds require a significant gain "
                                  f"(one-sided, Holm-corrected at {alpha}, on all items); "
                                  f"estimate {gain.get('estimate', math.nan):+.3f}, p "
                                  f"{gain.get('p_superiority', math.nan):.4f}", task=task,
                                  threshold=f"tasks.{task}.require_gain"))
    return reasons
