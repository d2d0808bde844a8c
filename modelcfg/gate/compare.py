"""``modelcfg compare``: the gate's per-task decisions on two results files, no git, no model.

Pure: two documents in (results files, ``modelcfg-eval-results/1``, or baseline files, which
are read in results form), a :class:`Thresholds`, a :class:`Comparison` out. Items are paired
by ``doc_id`` with their ``doc_hash`` checked (:func:`verdict.pair`), each metric's direction
comes from lm-eval's record (:mod:`modelcfg.gate.direction`), and each task is judged by the
gate's own rules with a single look on all its items:

* capability tasks: :func:`verdict.judge_capability` with ``looks=1``;
* safety tasks: :func:`verdict.judge_safety`;
* then the gain claims across capability tasks (:func:`verdict.judge_gains`).

Verdict: ``pass``; ``block`` with the gate's reasons; ``error`` when the evidence cannot be
compared at all (different data or harness, MC805; missing or non-numeric scores, MC806).
Metrics that need lm-eval's own aggregation (``statistic: bootstrap``) are not judged here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelcfg.audit.baseline import BASELINE_FORMAT
from modelcfg.config.model import SAFETY, Thresholds
from modelcfg.core.errors import UserError
from modelcfg.evaluation.results import RESULTS_FORMAT
from modelcfg.gate import direction, verdict
from modelcfg.gate.evidence import baseline_as_results
from modelcfg.gate.verdict import BLOCK, ERROR, PASS, Reason

# Reasons that mean the two files cannot be compared (exit 2), not that the candidate failed.
CANNOT_COMPARE = ("MC805", "MC806")


@dataclass
class Comparison:
    verdict: str
    thresholds: str  # where the thresholds came from
    tasks: dict[str, dict] = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "thresholds": self.thresholds, "tasks": self.tasks,
                "reasons": [r.to_dict() for r in self.reasons], "notes": self.notes}


def as_results(doc, which: str) -> dict:
    """A results file as it is, a baseline file in results form; MC007 (exit 2) for
    anything else. ``which`` names the file in the message."""
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if fmt == RESULTS_FORMAT and isinstance(doc.get("tasks"), dict):
        return doc
    if fmt == BASELINE_FORMAT and isinstance(doc.get("tasks"), dict):
        return baseline_as_results(doc)
    raise UserError("MC007", f"{which} is not a results file ({RESULTS_FORMAT}, written by "
                    f"`modelcfg eval`) or a baseline file ({BASELINE_FORMAT}, under "
                    f"evals/baselines/); its format is {fmt!r}: pass the results.json of a "
                    "run or a baseline", exit_code=2)


def default_thresholds(baseline: dict, candidate: dict) -> Thresholds:
    """Schema defaults, every task both files hold judged as capability on its first metric
    (as the baseline lists it)."""
    tasks = {}
    for task, entry in baseline.get("tasks", {}).items():
        metrics = list((entry.get("metrics") or {}))
        if task in candidate.get("tasks", {}) and metrics:
            tasks[task] = {"metric": metrics[0]}
    return Thresholds.from_document({"apiVersion": "modelcfg/v1", "kind": "Thresholds",
                                     "name": "defaults", "tasks": tasks})


def compare(baseline: dict, candidate: dict, thresholds: Thresholds, source: str
            ) -> Comparison:
    """The per-task decisions on ``candidate`` against ``baseline`` (both in results form,
    see :func:`as_results`) under ``thresholds`` (read from ``source``)."""
    result = Comparison(PASS, source)
    base_tasks, cand_tasks = baseline.get("tasks", {}), candidate.get("tasks", {})
    if not set(base_tasks) & set(cand_tasks):
        raise UserError("MC007", "the two files have no task in common (baseline: "
                        f"{', '.join(sorted(base_tasks)) or 'none'}; candidate: "
                        f"{', '.join(sorted(cand_tasks)) or 'none'}): compare evaluations of "
                        "the same tasks", exit_code=2)
    judged = [t for t in base_tasks if thresholds.rule(t) is not None]
    result.notes += [f"task {t!r} has no threshold: not judged" for t in base_tasks
                     if t not in judged]
    result.notes += [f"task {t!r} is only in the candidate: not judged" for t in cand_tasks
                     if t not in base_tasks]
    if baseline.get("lm_eval_version") != candidate.get("lm_eval_version"):
        result.reasons.append(Reason("MC805", f"lm-eval {candidate.get('lm_eval_version')} "
                                     f"made the candidate, {baseline.get('lm_eval_version')} "
                                     "the baseline: evaluate both with one harness",
                                     field="harness"))
    missing = [t for t in judged if t not in cand_tasks]
    result.reasons += [Reason("MC806", f"the candidate has no results for task {t!r}, which "
                              "the baseline has", task=t) for t in missing]
    specs, _ = verdict.task_specs(thresholds, [t for t in judged if t not in missing])
    specs, wrong_way = direction.resolve(specs, baseline, candidate)
    result.reasons += wrong_way
    for task, spec in specs.items():
        outcome, why = _judge(task, spec, base_tasks[task], cand_tasks[task])
        result.reasons += why
        if outcome is not None:
            result.tasks[task] = outcome
    if not result.reasons:
        result.reasons += verdict.judge_gains(result.tasks, specs, thresholds.defaults.alpha)
    codes = {r.code for r in result.reasons}
    result.verdict = ERROR if codes & set(CANNOT_COMPARE) else BLOCK if codes else PASS
    return result


def _judge(task: str, spec, base: dict, cand: dict) -> tuple[dict | None, list[Reason]]:
    """One task on all its items, with a single look."""
    if spec.statistic == "bootstrap":
        return None, [Reason("MC806", f"{spec.metric!r} is judged by a paired bootstrap with "
                             "lm-eval's aggregation, which compare does not load: use "
                             "`modelcfg gate`", task=task, field=spec.metric)]
    ids = set(base.get("samples", {})) | set(cand.get("samples", {}))
    order = sorted(ids, key=lambda d: (len(d), d))  # doc ids are decimal strings
    c, b, bad = verdict.pair(task, spec.metric, base, cand, order)
    if bad:
        return None, bad
    try:
        if spec.kind == SAFETY:
            return verdict.judge_safety(task, spec, c, b)
        return verdict.judge_capability(task, spec, c, b, len(c), looks=1)
    except ValueError as err:  # e.g. a safety metric whose scores are not 0/1
        return None, [Reason("MC806", f"cannot judge {spec.metric!r}: {err}", task=task,
                             field=spec.metric)]

