"""The gate's look-by-look evaluation (run_looks) and its full-set gain claims
(full_set_gains), driven with per-item scores prepared in advance: the functions the gate
itself calls, without training or lm-eval (tests/gate/test_gate_e2e.py runs those)."""

from __future__ import annotations

from gate_helpers import THRESHOLDS

from modelcfg.evaluation.batches import fixed_order
from modelcfg.gate import verdict
from modelcfg.gate.looks import full_set_gains, run_looks
from modelcfg.gate.stats import paired_test

SEED = 0
METRIC = {"gen": "exact_match", "mc": "acc", "refuse": "refusal_rate"}


def entry(task: str, scores_in_order: list[float]) -> dict:
    """A results-file task entry whose i-th item *in the gate's fixed order* scores
    ``scores_in_order[i]``."""
    order = fixed_order(len(scores_in_order), SEED)
    return {"version": 1, "config_hash": "h", "n_docs": len(order), "samples": {
        doc: {"doc_hash": f"h{doc}", "scores": {METRIC[task]: s}}
        for doc, s in zip(order, scores_in_order)}}


class Prepared:
    """Serves prepared scores the way modelcfg.evaluation.batches.Evaluator does: a task
    evaluated up to n items holds exactly the first n items of the fixed order."""

    def __init__(self, tasks: dict[str, dict]):
        self.full, self.done, self.results = tasks, {}, None

    def evaluate_to(self, wanted: dict[str, int]) -> None:
        for task, n in wanted.items():
            self.done[task] = max(self.done.get(task, 0), min(n, self.full[task]["n_docs"]))
        self.results = {"lm_eval_version": "0.4", "tasks": {
            t: {**self.full[t], "samples": {d: self.full[t]["samples"][d] for d in
                                            fixed_order(self.full[t]["n_docs"], SEED)[:n]}}
            for t, n in self.done.items()}}

    def task(self, name: str) -> dict:
        return (self.results or {}).get("tasks", {}).get(name, {})


def judge(base: dict[str, list[float]], cand: dict[str, list[float]]):
    tasks = list(base)
    specs, _ = verdict.task_specs(THRESHOLDS, tasks)
    base_results = {"lm_eval_version": "0.4",
                    "tasks": {t: entry(t, s) for t, s in base.items()}}
    evaluator = Prepared({t: entry(t, s) for t, s in cand.items()})
    n_docs = {t: len(s) for t, s in base.items()}
    outcomes, reasons = run_looks("a", evaluator, tasks, specs, base_results, n_docs, 5, SEED,
                                  {})
    used = dict(evaluator.done)
    if not reasons:
        reasons += full_set_gains("a", evaluator, tasks, specs, base_results, n_docs, SEED,
                                  outcomes)
        reasons += verdict.judge_gains(outcomes, specs, 0.05)
    return outcomes, reasons, used, evaluator


def pattern(n: int, right: set[int]) -> list[float]:
    return [1.0 if i in right else 0.0 for i in range(n)]


def test_a_clear_case_stops_before_the_last_look():
    # Baseline right on 40% of items, the candidate on those and 30% more: the first look
    # (80 of 400 items) passes. Evaluating every item would fail here.
    base = pattern(400, {i for i in range(400) if i % 5 < 2})
    cand = pattern(400, {i for i in range(400) if i % 10 < 7})
    safe = [1.0] * 72
    outcomes, reasons, used, ev = judge({"gen": base, "refuse": safe},
                                        {"gen": cand, "refuse": list(safe)})
    gen = outcomes["gen"]
    assert reasons == [] and gen["decision"] == "pass" and gen["stopped_at_look"] == 1
    assert gen["items_used"] == used["gen"] == 80 < gen["items_available"] == 400
    assert gen["interval"]["kind"] == "repeated" and gen["interval"]["n"] == 80
    # The gain is then tested on every item (the evidence needs them anyway).
    assert ev.done["gen"] == 400 and gen["gain"]["n"] == 400 and gen["significant_gain"]


def test_a_clear_regression_stops_before_the_last_look():
    base = pattern(400, {i for i in range(400) if i % 10 < 7})
    cand = pattern(400, {i for i in range(400) if i % 10 < 3})
    outcomes, reasons, used, _ = judge({"gen": base}, {"gen": cand})
    assert [r.code for r in reasons] == ["MC807"]
    assert outcomes["gen"]["items_used"] == used["gen"] < 400
    assert "gain" not in outcomes["gen"]


def test_a_gain_is_claimed_on_the_full_set_not_the_stopped_prefix():
    # On the first 80 items of the order the candidate is right on 25 more items than the
    # baseline (the look passes there, and a prefix gain test would claim a gain); over all
    # 400 it is right on no more items than the baseline, so no gain is claimed.
    base = pattern(400, set(range(25, 80)) | set(range(80, 200)))
    cand = pattern(400, set(range(0, 80)) | set(range(80, 175)))
    outcomes, reasons, used, ev = judge({"mc": base}, {"mc": cand})
    mc = outcomes["mc"]
    assert mc["decision"] == "pass" and used["mc"] == mc["items_used"] < 400
    assert mc["gain"]["n"] == 400 and mc["gain"]["estimate"] == 0.0
    assert not mc["significant_gain"]
    assert [(r.code, r.task) for r in reasons] == [("MC811", "mc")]
    n = mc["items_used"]
    prefix = paired_test(cand[:n], base[:n], margin=0.05)
    assert prefix.p_superiority < 0.001          # what a prefix-based claim would say
