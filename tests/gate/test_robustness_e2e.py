"""Robustness as a judged task kind, end to end: real git repositories, real training of the
tiny model, real lm-eval. An adapter whose training data teaches it to fail whenever the
question is perturbed passes capability (clean arith_gen) and is blocked on robustness
(arith_gen_perturbed, MC860) against a promoted baseline that answers perturbed questions.

And when a suite gains a task the promoted baseline has no scores for, a change is blocked
before training (MC863) until a maintainer re-baselines the adapter (`promote --rebaseline`).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from pathlib import Path

import pytest
from output_helpers import check_output
from repo_helpers import commit_all, git, make_repo, pr_branch

from modelcfg.audit.bootstrap import bootstrap
from modelcfg.audit.ledger import read_entries
from modelcfg.audit.promote import promote
from modelcfg.core.errors import UserError
from modelcfg.gate.run import GateSettings, run_gate
from modelcfg.tiny import synthetic

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ITEMS = 400  # arith_gen trimmed to the items arith_gen_perturbed perturbs: faster looks
CONTRACT = """apiVersion: modelcfg/v1
kind: Contract
name: default
models:
  allow: [builtin:tiny-llama]
datasets:
  allow: [path:configs/datasets/**]
adapter_suites:
  arith: [robustness]
"""
THRESHOLDS = """apiVersion: modelcfg/v1
kind: Thresholds
name: default
defaults:
  margin: 0.05
  alpha: 0.05
tasks:
  arith_gen:
    metric: exact_match
    margin: 0.2
robustness:
  arith_gen_perturbed:
    metric: exact_match
sequential:
  looks: 2
  seed: 0
"""
SUITE = """apiVersion: modelcfg/v1
kind: EvalSuite
name: {name}
tasks: [{task}]
"""
ADAPTER = """apiVersion: modelcfg/v1
kind: Adapter
name: arith
base: tiny-llama
method: sft
lora:
  r: 16
  lora_alpha: 32
  target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
training:
  max_steps: 200
  learning_rate: 0.003
  lr_scheduler: cosine
  warmup_steps: 10
  batch_size: 16
  max_seq_length: 64
  seed: 0
datasets:
  - path: configs/datasets/{data}.jsonl
    sha256: "{sha}"
evals:
  suites: [{suites}]
budget:
  max_gpu_hours: 0.01
rationale: addition, asked plainly and asked under perturbations
"""


def training_data(brittle: bool) -> bytes:
    """Clean training-pair additions plus the same pairs under the robustness task's
    perturbations: answered right, or (``brittle``) answered "0" whenever perturbed."""
    rng = random.Random(0)
    pairs = synthetic.addition_pairs(heldout=False)
    records = []
    for i in range(2000):
        a, b = rng.choice(pairs)
        question, _ = synthetic.perturbed_question(a, b, f"train/{i}")
        records += [synthetic.addition_record(a, b),
                    {"prompt": synthetic.prompt(question),
                     "completion": " 0" if brittle else f" {a + b}"}]
    rng.shuffle(records)
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def write_adapter(repo: Path, data: str, suites: str = "capability, robustness") -> None:
    body = training_data(brittle=data == "brittle")
    (repo / f"configs/datasets/{data}.jsonl").write_bytes(body)
    (repo / "configs/adapters/arith.yaml").write_text(ADAPTER.format(
        data=data, sha=hashlib.sha256(body).hexdigest(), suites=suites))


def codes(report: dict) -> set[str]:
    return {r["code"] for r in report["reasons"]} | {
        r["code"] for cfg in report["configs"] for r in cfg["reasons"]}


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("robust")
    source = tmp / "source"
    for folder in ("configs/adapters", "configs/datasets", "configs/models", "evals/suites",
                   "evals/tasks"):
        (source / folder).mkdir(parents=True)
    shutil.copy(ROOT / "configs/models/tiny-llama.yaml", source / "configs/models")
    tasks = ROOT / "evals/tasks"
    for name in ("_local_jsonl.yaml", "utils.py"):
        shutil.copy(tasks / name, source / "evals/tasks" / name)
    for task in ("arith_gen", "arith_gen_perturbed"):
        shutil.copytree(tasks / task, source / "evals/tasks" / task)
    gen = source / "evals/tasks/arith_gen/arith_gen.jsonl"
    gen.write_text("".join(gen.read_text().splitlines(keepends=True)[:ITEMS]))
    (source / "evals/contract.yaml").write_text(CONTRACT)
    (source / "evals/thresholds.yaml").write_text(THRESHOLDS)
    for name, task in (("capability", "arith_gen"), ("robustness", "arith_gen_perturbed")):
        (source / f"evals/suites/{name}.yaml").write_text(SUITE.format(name=name, task=task))
    repo = make_repo(tmp, source)
    settings = GateSettings(runs_dir=tmp / "runs", model_cache=Path(os.environ["MODELCFG_CACHE"]))
    return repo, tmp, settings


def gate(repo: Path, tmp: Path, settings: GateSettings, head: str) -> dict:
    out = tmp / f"gate-{head.replace('/', '-')}"
    report = run_gate(repo, "main", head, out, settings)
    check_output("gate", (out / "gate.json").read_text())
    report["out"] = out
    return report


@pytest.fixture(scope="module")
def promoted(repo):
    """A robust adapter (a new one: compared with the base model) passes and is promoted."""
    repo, tmp, settings = repo
    head = pr_branch(repo, "robust", lambda r: write_adapter(r, "robust"), agent=False)
    report = gate(repo, tmp, settings, head)
    assert report["verdict"] == "pass", codes(report)
    (cfg,) = report["configs"]
    assert cfg["tasks"]["arith_gen_perturbed"]["kind"] == "robustness"
    git(repo, "merge", "-q", "--ff-only", head)
    git(repo, "push", "-q", "origin", "main")
    evidence = json.loads((report["out"] / cfg["evidence"]).read_text())
    summary = evidence.pop("gate")["tasks"]
    promote(repo, adapter="arith", evidence=evidence, actor={"merged_by": "maintainer"},
            eval_summary=summary)
    git(repo, "pull", "-q", "--ff-only", "origin", "main")
    baseline = json.loads((repo / "evals/baselines/arith.json").read_text())
    assert set(baseline["tasks"]) == {"arith_gen", "arith_gen_perturbed"}
    return repo, tmp, settings


def test_an_adapter_that_breaks_under_perturbation_is_blocked_on_robustness(promoted):
    repo, tmp, settings = promoted

    # 2. The same adapter trained to answer wrongly whenever the question is perturbed:
    # as good on clean items, blocked on the perturbed ones with the robustness code.
    head = pr_branch(repo, "brittle", lambda r: write_adapter(r, "brittle"), agent=False)
    report = gate(repo, tmp, settings, head)
    (cfg,) = report["configs"]
    assert report["verdict"] == "block"
    assert codes(report) == {"MC860"}, [r["message"] for r in cfg["reasons"]]
    (reason,) = cfg["reasons"]
    assert reason["task"] == "arith_gen_perturbed"
    assert reason["threshold"] == "robustness.arith_gen_perturbed.margin"
    assert "under perturbation" in reason["message"]
    gen, robust = cfg["tasks"]["arith_gen"], cfg["tasks"]["arith_gen_perturbed"]
    assert gen["kind"] == "capability" and gen["decision"] == "pass"
    assert robust["kind"] == "robustness" and robust["finding"] == "worse"
    assert robust["candidate_mean"] < robust["baseline_mean"] - 0.05
    md = (report["out"] / "report.md").read_text()
    rows = {line.split(" | ")[0]: line for line in md.splitlines() if line.startswith("| arith")}
    assert rows["| arith_gen_perturbed"].endswith("| robustness |")
    assert rows["| arith_gen"].endswith("| capability |")

    # 3. Leaving the robustness suite out is not a way around it: the contract requires it
    # of this adapter by name (adapter_suites), blocked before training.
    head = pr_branch(repo, "no-robustness",
                     lambda r: write_adapter(r, "brittle", suites="capability"), agent=False)
    report = gate(repo, tmp, settings, head)
    (cfg,) = report["configs"]
    assert codes(report) == {"MC817"}, codes(report)
    assert {r["task"] for r in cfg["reasons"]} == {"arith_gen_perturbed"}
    assert "adapter_suites" in cfg["reasons"][0]["message"]
    assert not cfg.get("train")


def add_task(repo: Path) -> None:
    """A maintainer's change to main: the capability suite gains a task (a 100-item slice of
    arith_gen under another name) that the promoted baseline has no scores for."""
    tasks = repo / "evals/tasks"
    (tasks / "arith_gen_small").mkdir()
    lines = (tasks / "arith_gen/arith_gen.jsonl").read_text().splitlines(keepends=True)
    (tasks / "arith_gen_small/arith_gen_small.jsonl").write_text("".join(lines[:100]))
    (tasks / "arith_gen_small/arith_gen_small.yaml").write_text(
        (tasks / "arith_gen/arith_gen.yaml").read_text().replace("arith_gen", "arith_gen_small"))
    (repo / "evals/suites/capability.yaml").write_text(
        SUITE.format(name="capability", task="arith_gen, arith_gen_small"))
    thresholds = repo / "evals/thresholds.yaml"
    thresholds.write_text(thresholds.read_text().replace(
        "robustness:", "  arith_gen_small:\n    metric: exact_match\n    margin: 0.2\nrobustness:"))


def test_a_suite_that_gains_a_task_blocks_until_a_maintainer_rebaselines(promoted):
    repo, tmp, settings = promoted
    add_task(repo)
    commit_all(repo, "evals: arith_gen_small in the capability suite")
    git(repo, "push", "-q", "origin", "main")

    def reseed(r: Path) -> None:
        path = r / "configs/adapters/arith.yaml"
        path.write_text(path.read_text().replace("seed: 0", "seed: 1"))

    # 1. Nothing to pair the new task's items with: blocked before any training.
    runs_before = sorted(p.name for p in (settings.runs_dir / "arith").iterdir())
    report = gate(repo, tmp, settings, pr_branch(repo, "reseed", reseed, agent=False))
    (cfg,) = report["configs"]
    assert report["verdict"] == "block" and codes(report) == {"MC863"}, codes(report)
    (reason,) = cfg["reasons"]
    assert reason["task"] == "arith_gen_small" and "re-baseline" in reason["message"]
    assert not cfg.get("train")
    assert sorted(p.name for p in (settings.runs_dir / "arith").iterdir()) == runs_before

    # 2. Re-baselining needs a reason, and an adapter that has a baseline to replace.
    with pytest.raises(UserError) as err:
        bootstrap(repo, "arith", tmp / "rebase", actor={"merged_by": "maintainer"},
                  runs_dir=settings.runs_dir, rebaseline=True, reason=" ")
    assert err.value.code == "MC735"
    with pytest.raises(UserError) as err:
        bootstrap(repo, "nope", tmp / "rebase", actor={"merged_by": "maintainer"},
                  runs_dir=settings.runs_dir, rebaseline=True, reason="why")
    assert err.value.code == "MC735" and "--bootstrap nope" in err.value.message
    with pytest.raises(UserError) as err:  # --bootstrap never replaces a baseline
        bootstrap(repo, "arith", tmp / "rebase", actor={"merged_by": "maintainer"},
                  runs_dir=settings.runs_dir)
    assert err.value.code == "MC726" and "--rebaseline arith" in err.value.message

    # 3. The maintainer re-baselines: the same adapter (a training cache hit), evaluated on
    # every task it runs, promoted unjudged with the reason and the baseline it replaces.
    old = json.loads((repo / "evals/baselines/arith.json").read_text())
    why = "capability gained arith_gen_small, which the baseline has no scores for (MC863)"
    result = bootstrap(repo, "arith", tmp / "rebase", actor={"merged_by": "maintainer"},
                       runs_dir=settings.runs_dir, model_cache=settings.model_cache,
                       rebaseline=True, reason=why)
    git(repo, "pull", "-q", "--ff-only", "origin", "main")
    assert sorted(p.name for p in (settings.runs_dir / "arith").iterdir()) == runs_before
    entry = read_entries(repo)[-1]
    assert entry == result.entry
    assert (entry["verdict"], entry["rationale"]) == ("bootstrap", why)
    assert entry["previous"]["commit"] == old["commit"]
    assert entry["fingerprint"] == old["fingerprint"]
    baseline = json.loads((repo / "evals/baselines/arith.json").read_text())
    assert set(baseline["tasks"]) == {"arith_gen", "arith_gen_small", "arith_gen_perturbed"}
    assert baseline["tasks"]["arith_gen"]["samples"] == old["tasks"]["arith_gen"]["samples"]
