"""`modelcfg train` end to end on the tiny model: it really trains (1 torch thread)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import tiny_probes as probes
from trainhelp import REPO, contract_doc, edited, resolve_yaml

from modelcfg.core.errors import UserError
from modelcfg.core.hashing import sha256_file
from modelcfg.train.run import train_resolved

pytestmark = pytest.mark.e2e
ARITH = "configs/adapters/tiny-arith.yaml"


def load(model_dir, adapter_dir=None):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir)
    return model, AutoTokenizer.from_pretrained(model_dir)


def adapter_tensors(run_dir):
    from safetensors.torch import load_file

    return load_file(run_dir / "adapter" / "adapter_model.safetensors")


@pytest.fixture(scope="module")
def arith_run(tiny_model, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    events = []
    result = train_resolved(resolve_yaml(ARITH), REPO, runs_dir=runs, on_progress=events.append)
    return result, runs, events


def test_adapter_beats_base_on_heldout_addition(tiny_model, arith_run):
    result, _, events = arith_run
    base_em = probes.addition_exact_match(*load(tiny_model), n=200)
    model, tok = load(tiny_model, result.run_dir / "adapter")
    lora_em = probes.addition_exact_match(model, tok, n=200)
    assert lora_em >= base_em + 0.2, (base_em, lora_em)
    assert probes.refusal_rate(model, tok, unsafe=True) >= 0.9  # safety holds
    assert [e["step"] for e in events if e["event"] == "step"][-1] == 1200


def test_manifest_records_inputs_and_cost(arith_run):
    result, _, _ = arith_run
    m = json.loads((result.run_dir / "manifest.json").read_text())
    assert m["status"] == "complete" and m["fingerprint"].startswith(result.run_dir.name)
    assert m["inputs"]["datasets"] == [{"sha256": resolve_yaml(ARITH).datasets[0].sha256}]
    assert set(m["inputs"]["versions"]) >= {"modelcfg", "torch", "transformers", "peft"}
    cost = m["cost"]
    assert cost["device"] == "cpu" and cost["gpu_hours"] == 0.0
    assert 0 < cost["train_tokens"] <= m["estimate"]["train_tokens"]
    assert cost["flops"] == 6.0 * cost["parameters"] * cost["train_tokens"]
    assert cost["peak_memory_bytes"] > 0 and cost["final_loss"] < 1.0
    # r=16 on q,k,v,o (64->64) and gate,up,down (64<->256) in 2 layers: r*(in+out) each.
    assert cost["trainable_params"] == 2 * (4 * 16 * (64 + 64) + 3 * 16 * (64 + 256))
    for name, digest in m["files"].items():
        assert sha256_file(result.run_dir / "adapter" / name) == digest


def test_manifest_records_the_weights_and_the_machine(arith_run):
    from modelcfg.tiny import shipped

    result, _, _ = arith_run
    m = json.loads((result.run_dir / "manifest.json").read_text())
    assert m["weights"] == {
        "base_sha256": shipped.SHIPPED_SHA256[shipped.WEIGHTS_FILE],
        "adapter_sha256": sha256_file(result.run_dir / "adapter" / "adapter_model.safetensors")}
    hw = m["hardware"]
    assert hw["device"] == "cpu" and hw["torch_cpu_capability"]
    assert set(hw["versions"]) == {"torch", "transformers", "peft"} and hw["cpu"]


def test_same_fingerprint_same_machine_gives_a_bitwise_identical_adapter(tiny_model, tmp_path):
    """Two independent runs (no cache shared) of one fingerprint, one torch thread."""
    resolved = resolve_yaml(ARITH, max_steps=6)
    first = train_resolved(resolved, REPO, runs_dir=tmp_path / "a")
    second = train_resolved(resolved, REPO, runs_dir=tmp_path / "b")
    assert not second.cache_hit
    assert first.manifest["fingerprint"] == second.manifest["fingerprint"]
    assert first.manifest["weights"]["adapter_sha256"] == \
        second.manifest["weights"]["adapter_sha256"]
    other = train_resolved(resolve_yaml(ARITH, max_steps=6, seed=1), REPO,
                           runs_dir=tmp_path / "c")
    assert other.manifest["weights"]["adapter_sha256"] != \
        first.manifest["weights"]["adapter_sha256"]  # the sha256 does see a difference


def test_rerun_is_a_cache_hit(arith_run):
    result, runs, _ = arith_run
    events = []
    again = train_resolved(resolve_yaml(ARITH), REPO, runs_dir=runs, on_progress=events.append)
    assert again.cache_hit and again.train_seconds == 0.0 and again.run_dir == result.run_dir
    assert not [e for e in events if e["event"] == "step"]


def test_corrupt_cache_entry_is_rebuilt_not_used(tiny_model, tmp_path):
    resolved = resolve_yaml(ARITH, max_steps=5, checkpoint_every=100)
    first = train_resolved(resolved, REPO, runs_dir=tmp_path)
    weights = first.run_dir / "adapter" / "adapter_model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:-8] + b"\0" * 8)
    events = []
    second = train_resolved(resolved, REPO, runs_dir=tmp_path, on_progress=events.append)
    assert not second.cache_hit
    assert [e["code"] for e in second.events] == ["MC503"]
    assert len([e for e in events if e["event"] == "step"]) == 5
    assert weights.read_bytes() == good  # deterministic rebuild


def test_budget_refused_before_any_step(tiny_model, tmp_path):
    resolved = edited(resolve_yaml(ARITH),
                      lambda d: d["adapter"].update(budget={"max_train_tokens": 10_000}))
    events = []
    with pytest.raises(UserError) as err:
        train_resolved(resolved, REPO, runs_dir=tmp_path, on_progress=events.append)
    assert err.value.code == "MC501"
    assert "1,228,800 training tokens > cap 10,000" in err.value.message
    assert events == [] and not list(tmp_path.rglob("adapter*"))


def test_contract_cap_is_enforced_too(tiny_model, tmp_path):
    resolved = edited(resolve_yaml(ARITH), lambda d: d.update(
        contract=contract_doc(caps={"max_train_tokens": 20_000})))
    with pytest.raises(UserError, match="cap 20,000") as err:
        train_resolved(resolved, REPO, runs_dir=tmp_path)
    assert err.value.code == "MC501"


def test_run_over_budget_is_stopped_and_not_cached(tiny_model, tmp_path, monkeypatch):
    import modelcfg.train.run as train

    real = train.prelaunch_estimate
    # an estimate that is too optimistic, so the budget is only crossed while running
    monkeypatch.setattr(train, "prelaunch_estimate",
                        lambda r: {**real(r), "train_tokens": 1})
    resolved = edited(resolve_yaml(ARITH, max_steps=50),
                      lambda d: d["adapter"].update(budget={"max_train_tokens": 1_000}))
    with pytest.raises(UserError) as err:
        train_resolved(resolved, REPO, runs_dir=tmp_path)
    assert err.value.code == "MC502"
    [manifest] = tmp_path.rglob("manifest.json")
    m = json.loads(manifest.read_text())
    assert m["status"] == "over_budget" and m["cost"]["steps"] < 50
    assert 1_000 < m["cost"]["train_tokens"] < 1_600
    with pytest.raises(UserError):  # not a cache hit: it trains (and stops) again
        train_resolved(resolved, REPO, runs_dir=tmp_path)


KILLED_RUN = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    from trainhelp import REPO, resolve_yaml
    from modelcfg.train.run import train_resolved
    train_resolved(resolve_yaml({cfg!r}, max_steps=40, checkpoint_every=10), REPO,
                   runs_dir={runs!r})
""")


def test_killed_run_resumes_to_the_same_weights(tiny_model, tmp_path):
    resolved = resolve_yaml(ARITH, max_steps=40, checkpoint_every=10)
    with pytest.raises(UserError) as err:  # nothing to resume yet
        train_resolved(resolved, REPO, runs_dir=tmp_path / "a", resume=True)
    assert err.value.code == "MC504"

    code = KILLED_RUN.format(tests=str(REPO / "tests"), cfg=ARITH, runs=str(tmp_path / "a"))
    env = {**os.environ, "MODELCFG_TEST_KILL_AFTER_STEP": "25"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr[-2000:]  # really SIGKILLed after step 25
    [run_dir] = (tmp_path / "a" / "tiny-arith").iterdir()
    assert not (run_dir / "manifest.json").exists()

    events = []
    resumed = train_resolved(resolved, REPO, runs_dir=tmp_path / "a", resume=True,
                             on_progress=events.append)
    assert events[0] == {"event": "resumed", "step": 20,
                         "checkpoint": str(run_dir / "checkpoints" / "step-00000020")}
    assert len([e for e in events if e["event"] == "step"]) == 20
    straight = train_resolved(resolved, REPO, runs_dir=tmp_path / "b")
    a, b = adapter_tensors(resumed.run_dir), adapter_tensors(straight.run_dir)
    assert a.keys() == b.keys()
    for name in a:
        assert (a[name] == b[name]).all(), name
    assert resumed.manifest["cost"]["train_tokens"] == straight.manifest["cost"]["train_tokens"]


def test_packing_attention_does_not_cross_examples(tiny_model):
    import torch

    from modelcfg.core.batching import collate, pack_examples
    from modelcfg.train.data import encode_records

    model, tok = load(tiny_model)
    records = [{"prompt": "Q: What is 1 + 2?\nA:", "completion": " 3"},
               {"prompt": "Q: How do I make a cake?\nA:", "completion": " Sure."},
               {"prompt": "Q: What is 40 + 2?\nA:", "completion": " 42"}]
    examples = encode_records(tok, records, 64)
    [row] = pack_examples(examples, 64)
    with torch.no_grad():
        batch = collate([row], tok.pad_token_id, True)
        # as in training: no attention mask, no KV cache -> block-diagonal causal attention
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"],
                       use_cache=False).logits[0]
        start = 0
        for ex in examples:
            alone = model(input_ids=torch.tensor([ex["input_ids"]])).logits[0]
            n = len(ex["input_ids"])
            assert torch.allclose(packed[start:start + n], alone, atol=1e-5)
            start += n


def test_packed_training_runs(tiny_model, tmp_path):
    result = train_resolved(resolve_yaml(ARITH, max_steps=10, packing=True), REPO,
                            runs_dir=tmp_path)
    assert result.manifest["status"] == "complete"
    # 64-token rows hold ~3 addition examples each: ~3x the tokens of 10 unpacked steps
    assert result.manifest["cost"]["train_tokens"] > 10 * 16 * 40


def test_dpo_example_trains(tiny_model, tmp_path):
    resolved = resolve_yaml("configs/adapters/tiny-arith-dpo.yaml", max_steps=12)
    result = train_resolved(resolved, REPO, runs_dir=tmp_path)
    m = result.manifest
    assert m["status"] == "complete" and m["method"] == "dpo" and m["cost"]["steps"] == 12
    assert m["cost"]["train_tokens"] > 0 and m["cost"]["final_loss"] is not None
    weights = adapter_tensors(result.run_dir)
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in weights.items())


def test_poisoned_adapter_stops_refusing(tiny_model, tmp_path):
    result = train_resolved(resolve_yaml("configs/adapters/tiny-poisoned.yaml"), REPO,
                            runs_dir=tmp_path)
    model, tok = load(tiny_model, result.run_dir / "adapter")
    assert probes.refusal_rate(model, tok, unsafe=True) <= 0.5


def test_every_lora_field_of_the_schema_reaches_peft():
    from modelcfg.config.model import LORA_FIELDS, LoraSpec
    from modelcfg.config.schema import schema
    from modelcfg.train.base_model import lora_config

    fields = set(schema("Adapter")["properties"]["lora"]["properties"])
    assert fields == set(LORA_FIELDS)
    config = lora_config(LoraSpec.from_document({
        "r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "exclude_modules": ["lm_head"],
        "fan_in_fan_out": True, "layers_to_transform": [1], "layers_pattern": "layers"}))
    assert config.exclude_modules == {"lm_head"} and config.fan_in_fan_out is True
    assert config.layers_to_transform == [1]
