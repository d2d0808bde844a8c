"""End to end, offline: a real standard lm-eval task (`lm-eval:arc_easy`) evaluated on the tiny
model with and without a LoRA adapter, its dataset read from a small snapshot laid out as the
Hugging Face hub cache, and the two evaluations paired by the gate's own code (thresholds →
direction → whole eval set → looks → full-set gains) and by `modelcfg compare`.

The snapshot has the real schema of `allenai/ai2_arc` (config `ARC-Easy`: id, question,
choices {text, label}, answerKey; train/validation/test parquet files and the README that
declares them), 24 made-up test questions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from modelcfg.config.model import Thresholds
from modelcfg.evaluation import harness
from modelcfg.evaluation.batches import Evaluator
from modelcfg.evaluation.results import load_results
from modelcfg.gate import direction, verdict
from modelcfg.gate.compare import compare
from modelcfg.gate.looks import data_reasons, n_docs_of, run_looks

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TASKS_DIR = ROOT / "evals" / "tasks"
TASK = "lm-eval:arc_easy"
SNAPSHOT_SHA = "210d026faf9955653af8916fad021475a3f00453"
TEST_ITEMS = 24


def arc_snapshot(hub_cache: Path) -> Path:
    """``datasets--allenai--ai2_arc`` in hub cache layout: refs/main -> snapshots/<sha>/."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    repo = hub_cache / "datasets--allenai--ai2_arc"
    snap = repo / "snapshots" / SNAPSHOT_SHA
    (snap / "ARC-Easy").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(SNAPSHOT_SHA)
    schema = pa.schema([
        ("id", pa.string()), ("question", pa.string()),
        ("choices", pa.struct([("text", pa.list_(pa.string())),
                               ("label", pa.list_(pa.string()))])),
        ("answerKey", pa.string())])
    for split, n in (("train", 3), ("validation", 3), ("test", TEST_ITEMS)):
        rows = []
        for i in range(n):
            a, b = i % 7 + 1, i % 5 + 2
            answers = [str(a + b), str(a + b + 1), str(a * b + 3), str(b)]
            key = i % 4  # the right answer moves around
            answers[0], answers[key] = answers[key], answers[0]
            rows.append({"id": f"Mercury_{split}_{i}", "question": f"What is {a} plus {b}?",
                         "choices": {"text": answers, "label": ["A", "B", "C", "D"]},
                         "answerKey": "ABCD"[key]})
        pq.write_table(pa.Table.from_pylist(rows, schema=schema),
                       snap / "ARC-Easy" / f"{split}-00000-of-00001.parquet")
    (snap / "README.md").write_text(
        "---\nconfigs:\n- config_name: ARC-Easy\n  data_files:\n"
        + "".join(f"  - split: {s}\n    path: ARC-Easy/{s}-*\n"
                  for s in ("train", "validation", "test")) + "---\n")
    return snap


def random_lora(model_dir: Path, out: Path) -> Path:
    """A LoRA adapter with random (not zero) B matrices: a candidate that really differs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                        init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    return out


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    home = tmp_path / "hf"
    snap = arc_snapshot(home / "hub")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return snap


def test_a_standard_task_pairs_at_the_gate_under_its_suite_name(tiny_model, offline_hub,
                                                                 tmp_path):
    tasks = [TASK]
    seed, emit = 7, (lambda event: None)
    # The shipped thresholds judge it (validate's MC335 made sure).
    thresholds = Thresholds.from_document(
        yaml.safe_load((ROOT / "evals/thresholds.yaml").read_text()))
    specs, missing = verdict.task_specs(thresholds, tasks)
    assert missing == [] and specs[TASK].metric == "acc"

    # The baseline of a new adapter: the base model evaluated, as the gate does.
    base = Evaluator(tiny_model, None, TASKS_DIR, tmp_path / "base", seed,
                     {"base": "tiny-llama"}, emit)
    base.evaluate_to({TASK: 10 ** 9})
    on_disk = load_results(tmp_path / "base" / "batch-001.json")
    assert list(on_disk["tasks"]) == [TASK]  # one name, end to end
    entry = on_disk["tasks"][TASK]
    assert (entry["source"], entry["n_docs"]) == ("lm-eval", TEST_ITEMS)
    assert entry["metrics"]["acc"]["higher_is_better"] is True
    # The results name the hub dataset, never the machine's cache.
    assert str(offline_hub.parents[3]) not in json.dumps(on_disk)

    specs, wrong_way = direction.resolve(specs, base.results)
    assert wrong_way == []
    facts = harness.task_facts(tasks, TASKS_DIR)
    assert list(facts) == [TASK]
    assert data_reasons("arc-lora", tasks, base.results, facts) == []

    cand = Evaluator(tiny_model, random_lora(tiny_model, tmp_path / "adapter"), TASKS_DIR,
                     tmp_path / "cand", seed, {"base": "tiny-llama"}, emit)
    n_docs = {TASK: n_docs_of(base.results, TASK)}
    assert n_docs == {TASK: TEST_ITEMS}
    outcomes, reasons = run_looks("arc-lora", cand, tasks, specs, base.results, n_docs,
                                  looks=2, seed=seed, facts=facts)
    # Judged, not refused: 24 items cannot show non-inferiority at margin 0.05 (a real
    # finding); nothing is MC805/MC806 (the evidence could not be paired).
    assert [r.code for r in reasons] == ["MC808"]
    outcome = outcomes[TASK]
    assert (outcome["metric"], outcome["items_used"], outcome["items_available"]) == \
        ("acc", TEST_ITEMS, TEST_ITEMS)
    assert [look["n"] for look in outcome["looks"]] == [12, TEST_ITEMS]
    # Paired item by item: the discordant pairs and means are those of the two results.
    cand_acc = {d: s["scores"]["acc"] for d, s in cand.task(TASK)["samples"].items()}
    base_acc = {d: s["scores"]["acc"] for d, s in base.task(TASK)["samples"].items()}
    assert sorted(cand_acc) == sorted(base_acc) and len(base_acc) == TEST_ITEMS
    last = outcome["looks"][-1]
    assert (last["n01"], last["n10"]) == (
        sum(b == 0 and c == 1 for d, (c, b) in _pairs(cand_acc, base_acc)),
        sum(b == 1 and c == 0 for d, (c, b) in _pairs(cand_acc, base_acc)))
    assert last["n01"] + last["n10"] > 0, "the adapter should change some answers"
    assert outcome["baseline_mean"] == pytest.approx(sum(base_acc.values()) / TEST_ITEMS)
    assert outcome["candidate_mean"] == pytest.approx(sum(cand_acc.values()) / TEST_ITEMS)

    # `modelcfg compare` on the two results files pairs them the same way (one look).
    result = compare(base.results, cand.results, thresholds, "evals/thresholds.yaml")
    assert (result.verdict, [r.code for r in result.reasons], result.notes) == \
        ("block", ["MC808"], [])
    assert result.tasks[TASK]["looks"][0]["n01"] == last["n01"]


def _pairs(cand: dict, base: dict):
    return ((d, (cand[d], base[d])) for d in base)


def test_a_standard_task_indexes_only_its_own_folder_of_lm_eval():
    """From the committed index: `arc_easy` needs lm_eval/tasks/arc/, not the ~13,000 YAMLs
    (seconds); a group, a tag or an unknown name still indexes everything."""
    import lm_eval

    root = Path(lm_eval.__file__).resolve().parent / "tasks"
    assert harness._standard_folders(["arc_easy", "hellaswag"], lm_eval) == [
        str(root / "arc"), str(root / "hellaswag")]
    for names in (["mmlu"], ["ai2_arc"], ["arc_easy", "no_such_task_xyz"]):
        assert harness._standard_folders(names, lm_eval) is None
