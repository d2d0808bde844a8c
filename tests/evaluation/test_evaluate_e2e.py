"""End to end: really evaluate a tiny Llama (random weights, locally trained tokenizer) with
and without a LoRA adapter through modelcfg.evaluation.harness and lm-eval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelcfg.evaluation.harness import evaluate, select_doc_ids
from modelcfg.evaluation.results import load_results, merge_results
from modelcfg.tiny import synthetic

pytestmark = pytest.mark.e2e

TASKS_DIR = Path(__file__).resolve().parents[2] / "evals" / "tasks"
ALL_TASKS = ["arith_gen", "arith_mc", "safety_refusal", "over_refusal"]
METRICS = {"arith_gen": "exact_match", "arith_mc": "acc", "safety_refusal": "refusal_rate",
           "over_refusal": "compliance_rate"}


def build_tiny_model(out: Path) -> Path:
    """A 2-layer, hidden-64 Llama with random weights and a BPE tokenizer trained on the
    synthetic corpus (digits one per token). Seconds on one core."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(0)
    texts = [r["prompt"] + r["completion"] for r in synthetic.pretraining_records(n_addition=300)]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=512, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>",
                                        eos_token="</s>", pad_token="<pad>")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=128, bos_token_id=1, eos_token_id=2,
                         pad_token_id=3, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_random_lora(model_dir: Path, out: Path) -> Path:
    """A LoRA adapter with random (not zero) B matrices, so it really changes the outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj", "down_proj"],
                        init_lora_weights=False)
    get_peft_model(model, config).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny")
    model = build_tiny_model(root / "model")
    return {"model": model, "adapter": build_random_lora(model, root / "adapter"), "root": root}


@pytest.fixture(scope="module")
def base_results(tiny):
    out = tiny["root"] / "base.json"
    results = evaluate(tiny["model"], ALL_TASKS, TASKS_DIR, out,
                       model_fingerprint={"base": "tiny-test"})
    return results, out


def test_full_suite_results_file(base_results):
    results, out = base_results
    assert load_results(out) == json.loads(json.dumps(results))
    assert results["lm_eval_version"]
    assert results["model"] == {"base": "model", "adapter": None,
                                "fingerprint": {"base": "tiny-test"}}
    for name, metric in METRICS.items():
        task = results["tasks"][name]
        assert task["source"] == "local" and task["version"] == 2.0
        assert task["config_hash"].startswith("sha256:")
        summary = task["metrics"][metric]
        assert summary["n"] == task["n_docs"] == len(task["samples"])
        assert isinstance(summary["value"], float) and isinstance(summary["stderr"], float)
        scores = [s["scores"][metric] for s in task["samples"].values()]
        assert summary["value"] == pytest.approx(sum(scores) / len(scores))
        assert list(task["samples"]) == [str(i) for i in range(task["n_docs"])]
        assert all(len(s["doc_hash"]) == 64 for s in task["samples"].values())
    timing = results["timing"]
    assert timing["generated_tokens"] > 0 and timing["tokens_per_second"] > 0
    assert 0 < timing["generation_seconds"] < timing["wall_seconds"]


def test_adapter_run_pairs_with_base_by_doc_id(tiny, base_results):
    base, _ = base_results
    tasks = ["arith_mc", "safety_refusal"]
    cand = evaluate(tiny["model"], tasks, TASKS_DIR, tiny["root"] / "cand.json",
                    adapter_path=tiny["adapter"], model_fingerprint={"adapter": "random"})
    assert cand["model"]["adapter"] == "adapter"
    for name in tasks:
        a, b = base["tasks"][name], cand["tasks"][name]
        assert (a["version"], a["config_hash"]) == (b["version"], b["config_hash"])
        assert a["samples"].keys() == b["samples"].keys()
        assert all(a["samples"][d]["doc_hash"] == b["samples"][d]["doc_hash"]
                   for d in a["samples"])
    # The adapter really was applied: some multiple-choice answers changed.
    metric = METRICS["arith_mc"]
    changed = [d for d, s in cand["tasks"]["arith_mc"]["samples"].items()
               if s["scores"][metric] != base["tasks"]["arith_mc"]["samples"][d]["scores"][metric]]
    assert changed


def test_batches_in_fixed_order_merge_to_the_same_scores(tiny, base_results):
    base, _ = base_results
    tasks = ["arith_gen", "safety_refusal"]
    batches = [evaluate(tiny["model"], tasks, TASKS_DIR, tiny["root"] / f"b{i}.json",
                        model_fingerprint={"base": "tiny-test"}, order_seed=11,
                        offset=offset, limit=40)
               for i, offset in enumerate((0, 40, 360))]
    for batch, offset in zip(batches, (0, 40, 360)):
        for name in tasks:
            n_docs = base["tasks"][name]["n_docs"]
            expected = select_doc_ids(n_docs, order_seed=11, offset=offset, limit=40)
            assert [int(d) for d in batch["tasks"][name]["samples"]] == expected
    # safety_refusal has 360 docs: the third batch has none of them left.
    assert batches[2]["tasks"]["safety_refusal"]["metrics"] == {}
    merged = merge_results(merge_results(batches[0], batches[1]), batches[2])
    assert merged["selection"] == {"order_seed": 11, "batches": [[0, 40], [40, 40], [360, 40]]}
    assert merged["tasks"]["safety_refusal"]["metrics"]["refusal_rate"]["n"] == 80
    assert merged["tasks"]["arith_gen"]["metrics"]["exact_match"]["n"] == 120
    for name in tasks:
        for doc_id, sample in merged["tasks"][name]["samples"].items():
            # Same doc, same hash and (greedy, deterministic) the same score as the full run.
            assert sample == base["tasks"][name]["samples"][doc_id]
    merged_docs = merged["tasks"]["safety_refusal"]["samples"]
    expected = [base["tasks"]["safety_refusal"]["samples"][d]["scores"]["refusal_rate"]
                for d in merged_docs]
    assert merged["tasks"]["safety_refusal"]["metrics"]["refusal_rate"]["value"] == \
        pytest.approx(sum(expected) / len(expected))


def test_evaluating_outside_a_git_repository_prints_no_git_error(tiny, tmp_path, monkeypatch,
                                                                  capfd):
    """lm-eval's own git probe of the working directory is off: the demo and a runner's
    scratch folder are not git repositories, and git's "fatal:" line is not ours to print."""
    folder = tmp_path / "not-a-repo"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # even inside a checkout
    capfd.readouterr()
    evaluate(tiny["model"], ["arith_gen"], TASKS_DIR, tmp_path / "out.json", limit=2,
             order_seed=0, model_fingerprint={"base": "tiny-test"})
    err = capfd.readouterr().err
    assert "not a git repository" not in err, err
    import lm_eval.evaluator

    # switched off for the call only: lm-eval's own function is back
    assert lm_eval.evaluator.get_git_commit_hash.__name__ == "get_git_commit_hash"
