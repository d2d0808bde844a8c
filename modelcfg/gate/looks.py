"""The candidate's evaluation, look by look: each look evaluates a longer prefix of the fixed
item order and judges every task still undecided, until all are decided or one blocks."""

from __future__ import annotations

from modelcfg.config.model import TaskRule
from modelcfg.evaluation.batches import fixed_order
from modelcfg.gate import verdict
from modelcfg.gate.sequential import look_sizes
from modelcfg.gate.verdict import Reason


def run_looks(adapter: str, cand, tasks, specs: dict[str, TaskRule], base_results: dict,
              n_docs: dict[str, int], looks: int, seed: int, facts: dict
              ) -> tuple[dict, list[Reason]]:
    """Evaluate look by look until every task is decided; stop at the first block.

    Capability tasks start with the design's first look and continue while undecided;
    safety tasks (their floor needs every item) and bootstrapped metrics (not means, so no
    z-statistic to walk the looks with) are evaluated in full at once."""
    def whole(t: str) -> bool:
        return specs[t].kind == verdict.SAFETY or specs[t].statistic == "bootstrap"

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
            outcome, why = _judge_task(adapter, t, specs[t], cand, base_results, order,
                                       n_docs[t], looks, facts)
            reasons += why
            if outcome is None:
                continue
            outcomes[t] = outcome
            if not outcome["final"] and outcome["decision"] == "undecided":
                pending[t] = outcome["next_look_items"]
    for outcome in outcomes.values():
        if not outcome["final"] and outcome["decision"] == "undecided":
            outcome["decision"] = "stopped"  # another task already blocked the config
    return outcomes, reasons


def full_set_gains(adapter: str, cand, tasks, specs: dict[str, TaskRule], base_results: dict,
                   n_docs: dict[str, int], seed: int, outcomes: dict) -> list[Reason]:
    """Every capability task (means) evaluated on all its items and its full-set superiority
    test added to its outcome (:func:`verdict.add_gain`): gains are claimed on the full set,
    never on the prefix a look stopped at, so early stopping cannot bias them."""
    means = [t for t in tasks if specs[t].kind == verdict.CAPABILITY
             and specs[t].statistic != "bootstrap" and t in outcomes]
    cand.evaluate_to({t: n_docs[t] for t in means})
    reasons = []
    for t in means:
        spec = specs[t]
        c, b, bad = verdict.pair(t, spec.metric, base_results["tasks"].get(t, {}),
                                 cand.task(t), fixed_order(n_docs[t], seed))
        if bad:
            reasons += [Reason(r.code, r.message, config=adapter, task=t, field=r.field)
                        for r in bad]
            continue
        verdict.add_gain(outcomes[t], spec, c, b)
    return reasons


def _judge_task(adapter: str, t: str, spec: TaskRule, cand, base_results: dict,
                order: list[str], n_docs: int, looks: int, facts: dict
                ) -> tuple[dict | None, list[Reason]]:
    """One task at this look, by its rule: its outcome and reasons, or no outcome when the
    evidence cannot be compared at all."""
    bootstrap = spec.statistic == "bootstrap"
    c, b, bad = verdict.pair(t, spec.metric, base_results["tasks"].get(t, {}), cand.task(t),
                             order, numeric=not bootstrap)
    if bad:
        return None, [Reason(r.code, r.message, config=adapter, task=t, field=r.field)
                      for r in bad]
    if spec.kind == verdict.SAFETY:
        outcome, why = verdict.judge_safety(t, spec, c, b)
    elif bootstrap:
        aggregate = facts.get(t, {}).get("aggregations", {}).get(spec.metric.split(",")[0])
        if aggregate is None:
            return None, [Reason("MC806", f"lm-eval has no aggregation for {spec.metric!r} in "
                                 f"task {t}", config=adapter, task=t, field=spec.metric)]
        outcome, why = verdict.judge_bootstrap(t, spec, c, b, aggregate)
    else:
        outcome, why = verdict.judge_capability(t, spec, c, b, n_docs, looks)
    return outcome, [Reason(r.code, r.message, config=adapter, task=t, threshold=r.threshold)
                     for r in why]


def data_reasons(adapter: str, tasks: list[str], base_results: dict, facts: dict
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


def n_docs_of(results: dict, task: str) -> int:
    entry = results.get("tasks", {}).get(task, {})
    n = entry.get("n_docs")
    return int(n) if isinstance(n, int) else len(entry.get("samples", {}))
