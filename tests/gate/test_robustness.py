"""Robustness as a task kind, without training: the perturbed task's data, the thresholds'
``robustness:`` rule, its reason codes (the capability decision under other codes), what
validate says about it and about the contract's ``adapter_suites``, and the agent hints."""

from __future__ import annotations

import json
import os
import random
import re
from pathlib import Path

import yaml
from repo_helpers import commit_all, project_repo

from modelcfg.agent.status import hint
from modelcfg.cli.app import main
from modelcfg.config.model import ROBUSTNESS, Thresholds
from modelcfg.gate import verdict
from modelcfg.tiny import synthetic

ROOT = Path(__file__).resolve().parents[2]
TASKS = ROOT / "evals/tasks"


def _docs(task: str) -> list[dict]:
    return [json.loads(line) for line in (TASKS / task / f"{task}.jsonl").read_text(
        encoding="utf-8").splitlines()]


def _sum_of(prompt: str) -> int:
    return sum(int(n) for n in re.findall(r"\d+", prompt))


def test_perturbed_items_pair_with_arith_gen_and_keep_the_answer():
    clean, perturbed = _docs("arith_gen"), _docs("arith_gen_perturbed")
    assert len(perturbed) == 400
    assert [d["source_id"] for d in perturbed] == list(range(400))
    families = set()
    for doc in perturbed:
        source = clean[doc["source_id"]]
        assert doc["answer"] == source["answer"] == str(_sum_of(doc["prompt"]))
        assert doc["prompt"] != source["prompt"]
        assert doc["prompt"].startswith("Q: ") and doc["prompt"].endswith("\nA:")
        families.add(doc["perturbation"])
    assert families == set(synthetic.PERTURBATIONS)


def test_the_perturbation_depends_on_the_item_id_alone():
    one = synthetic.perturbed_question(12, 34, "arith_gen/7")
    random.seed(99)  # the global generator plays no part
    assert synthetic.perturbed_question(12, 34, "arith_gen/7") == one
    assert len({synthetic.perturbed_question(12, 34, f"arith_gen/{i}") for i in range(50)}) > 10


THRESHOLDS = {"apiVersion": "modelcfg/v1", "kind": "Thresholds", "name": "t",
              "defaults": {"margin": 0.05, "alpha": 0.05},
              "tasks": {"gen": {"metric": "exact_match", "margin": 0.2}},
              "robustness": {"gen_perturbed": {"metric": "exact_match", "alpha": 0.1}}}


def test_a_robustness_rule_is_capabilitys_under_its_own_kind():
    rules = Thresholds.from_document(THRESHOLDS)
    rule = rules.rule("gen_perturbed")
    assert (rule.kind, rule.metric, rule.margin, rule.alpha) == (ROBUSTNESS, "exact_match",
                                                                 0.05, 0.1)
    assert rule.statistic == "mean" and rule.require_gain is False
    without = Thresholds.from_document({k: v for k, v in THRESHOLDS.items()
                                        if k != "robustness"})
    assert without.robustness is None and without.rule("gen_perturbed") is None
    assert "robustness" not in without.to_dict()  # no schema default: absent stays absent


def _rule(**kw):
    import dataclasses

    rule = Thresholds.from_document(THRESHOLDS).rule("gen_perturbed")
    return dataclasses.replace(rule, higher_is_better=True, alpha=0.05, **kw)


def _flipped(n, p, k, seed):
    rng = random.Random(seed)
    base = [float(rng.random() < p) for _ in range(n)]
    cand = list(base)
    for i in [i for i in range(n) if base[i] == 1.0][:k]:
        cand[i] = 0.0
    return cand, base


def test_worse_under_perturbation_is_mc860_at_the_robustness_threshold():
    cand, base = _flipped(400, 0.6, 120, seed=0)
    outcome, reasons = verdict.judge_capability("gen_perturbed", _rule(), cand, base, 400, 5)
    assert outcome["kind"] == ROBUSTNESS and outcome["finding"] == "worse"
    assert [(r.code, r.threshold) for r in reasons] == [
        ("MC860", "robustness.gen_perturbed.margin")]
    assert "under perturbation" in reasons[0].message


def test_futility_and_undecided_under_perturbation_are_mc862_and_mc861():
    cand, base = _flipped(400, 0.6, 12, seed=4)  # the capability test's MC825 case
    outcome, reasons = verdict.judge_capability("gen_perturbed", _rule(), cand, base, 400, 5)
    assert outcome["finding"] == "futility" and [r.code for r in reasons] == ["MC862"]
    rng = random.Random(0)
    base = [float(rng.random() < 0.5) for _ in range(60)]
    cand = [float(rng.random() < 0.5) for _ in range(60)]
    _, reasons = verdict.judge_capability("gen_perturbed", _rule(margin=0.02), cand, base, 60,
                                          5)
    assert [r.code for r in reasons] == ["MC861"]


def test_robustness_is_never_claimed_as_a_gain():
    cand, base = [1.0] * 200, [0.0] * 100 + [1.0] * 100  # far better under perturbation
    outcome, _ = verdict.judge_capability("gen_perturbed", _rule(), cand, base, 200, 1)
    assert outcome["decision"] == "pass"
    assert verdict.judge_gains({"gen_perturbed": outcome}, {"gen_perturbed": _rule()},
                               0.05) == []
    assert outcome["significant_gain"] is False


def test_the_robustness_codes_have_hints():
    assert {hint(c)["action"] for c in ("MC860", "MC861", "MC862")} == {"revise-training"}
    assert hint("MC863")["action"] == "ask-maintainer"


def _validate(capsys, repo: Path) -> str:
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        main(["validate"])
    finally:
        os.chdir(cwd)
    return capsys.readouterr().out


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_validate_knows_the_kind_and_the_adapter_suites(tmp_path, capsys):
    repo = project_repo(tmp_path)
    assert _validate(capsys, repo) == ""  # the shipped robustness entry is valid

    def contract(data):
        data["adapter_suites"] = {"tiny-arith": ["robustness", "standard"],
                                  "other": ["robustnes"]}

    def thresholds(data):
        data["tasks"]["arith_gen_perturbed"] = {"metric": "exact_match"}
        data["robustness"]["nowhere"] = {"metric": "exact_match"}

    _edit(repo / "evals/contract.yaml", contract)
    _edit(repo / "evals/thresholds.yaml", thresholds)
    commit_all(repo, "policy")
    found = set(re.findall(r"(?m)^(.*?):\d+:\d+: (MC\d+) ", _validate(capsys, repo)))
    assert found == {("configs/adapters/tiny-arith.yaml", "MC340"),
                     ("evals/contract.yaml", "MC306"),
                     ("evals/thresholds.yaml", "MC341"),
                     ("evals/thresholds.yaml", "MC307")}
