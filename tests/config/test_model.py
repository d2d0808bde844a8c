"""Typed configs (modelcfg.config.model): built from schema-defaulted documents, defaults
from the schemas only, JSON round trip, thresholds rules, and config keys unchanged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from modelcfg.config.model import (
    LORA_FIELDS,
    Adapter,
    AgentRules,
    Budget,
    BuiltinSource,
    CapabilityThreshold,
    Caps,
    Contract,
    CostLimits,
    EvalSuite,
    HubSource,
    LoraSpec,
    Model,
    PathSource,
    Planning,
    Quantization,
    ResolvedAdapter,
    SafetyThreshold,
    Sequential,
    TaskRule,
    ThresholdDefaults,
    Thresholds,
    TrainingSpec,
    config_key,
)
from modelcfg.config.resolve import resolve_adapter
from modelcfg.config.schema import schema, with_defaults
from modelcfg.config.trees import FsTree
from modelcfg.config.workspace import load_workspace
from modelcfg.train.fingerprint import fingerprint

REPO = Path(__file__).resolve().parents[2]
V1 = {"apiVersion": "modelcfg/v1"}


def yaml_doc(rel: str) -> dict:
    return yaml.safe_load((REPO / rel).read_text())


def minimal_adapter(**fields) -> dict:
    """An Adapter document that sets only what the schema requires."""
    return {**V1, "kind": "Adapter", "name": "a", "base": "m", "rationale": "x",
            "lora": {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]},
            "training": {"max_steps": 5, "learning_rate": 0.001, "batch_size": 2,
                         "max_seq_length": 32},
            "datasets": [{"path": "d.jsonl", "sha256": "0" * 64}],
            "evals": {"suites": ["s"]}, "budget": {}, **fields}


@pytest.fixture(scope="module")
def repo_ws():
    return load_workspace(FsTree(REPO))


# --- defaults come from the schemas, and only from there ------------------------------

# Each typed value and the schema block it is built from.
BLOCKS = [(Model, "Model", ()), (Quantization, "Model", ("quantization",)),
          (Adapter, "Adapter", ()), (LoraSpec, "Adapter", ("lora",)),
          (TrainingSpec, "Adapter", ("training",)), (Budget, "Adapter", ("budget",)),
          (EvalSuite, "EvalSuite", ()), (Contract, "Contract", ()),
          (Caps, "Contract", ("caps",)), (AgentRules, "Contract", ("agents",)),
          (Thresholds, "Thresholds", ()), (ThresholdDefaults, "Thresholds", ("defaults",)),
          (CostLimits, "Thresholds", ("cost",)), (Sequential, "Thresholds", ("sequential",))]


def block_schema(kind: str, path: tuple) -> dict:
    node = schema(kind)
    for key in path:
        node = node["properties"][key]
    return node


@pytest.mark.parametrize("cls, kind, path", BLOCKS, ids=[c.__name__ for c, _, _ in BLOCKS])
def test_schema_defaulted_fields_have_no_python_default(cls, kind, path):
    props = block_schema(kind, path)["properties"]
    for f in dataclasses.fields(cls):
        has_default = f.default is not dataclasses.MISSING
        if "default" in props.get(f.name, {}) or f.name in block_schema(kind, path).get(
                "required", []):
            assert not has_default, f"{cls.__name__}.{f.name}: the schema decides"
        elif f.name in props:
            assert has_default and f.default is None, f"{cls.__name__}.{f.name}"


def test_an_adapter_that_leaves_defaults_out_gets_the_schemas():
    adapter = Adapter.from_document(minimal_adapter())
    training = block_schema("Adapter", ("training",))["properties"]
    lora = block_schema("Adapter", ("lora",))["properties"]
    assert adapter.method == schema("Adapter")["properties"]["method"]["default"] == "sft"
    for name in ("seed", "gradient_accumulation_steps", "precision", "lr_scheduler",
                 "packing", "weight_decay", "max_grad_norm", "devices"):
        assert getattr(adapter.training, name) == training[name]["default"], name
    for name in ("lora_dropout", "bias", "use_rslora", "use_dora", "init_lora_weights",
                 "fan_in_fan_out"):
        assert getattr(adapter.lora, name) == lora[name]["default"], name
    assert adapter.training.warmup_steps is None and adapter.training.epochs is None
    assert adapter.data == with_defaults("Adapter", minimal_adapter())


def test_a_changed_schema_default_is_what_the_typed_value_gets(monkeypatch):
    seed = schema("Adapter")["properties"]["training"]["properties"]["seed"]
    monkeypatch.setitem(seed, "default", 7)
    assert Adapter.from_document(minimal_adapter()).training.seed == 7
    assert TrainingSpec.from_document({"max_steps": 1, "learning_rate": 0.1, "batch_size": 1,
                                       "max_seq_length": 16}).seed == 7


def test_written_out_and_implicit_defaults_build_the_same_value():
    explicit = minimal_adapter(method="sft")
    explicit["training"].update(seed=0, precision="fp32", gradient_accumulation_steps=1)
    assert Adapter.from_document(explicit) == Adapter.from_document(minimal_adapter())
    assert Adapter.from_document(explicit).data == Adapter.from_document(minimal_adapter()).data


def test_building_needs_what_the_schema_requires():
    doc = minimal_adapter()
    del doc["training"]["batch_size"]
    with pytest.raises(ValueError, match="batch_size"):
        Adapter.from_document(doc)


def test_typed_values_are_frozen():
    adapter = Adapter.from_document(minimal_adapter())
    with pytest.raises(dataclasses.FrozenInstanceError):
        adapter.training.seed = 1
    assert adapter.lora.target_modules == ("q_proj",)  # lists become tuples


# --- construction from the repository's documents -------------------------------------


def test_repository_adapter_and_model():
    adapter = Adapter.from_document(yaml_doc("configs/adapters/tiny-arith.yaml"))
    assert adapter.name == "tiny-arith" and adapter.base == "tiny-llama"
    assert adapter.training.max_steps == 1200 and adapter.training.checkpoint_every == 400
    assert adapter.suites == ("capability", "safety", "robustness")
    assert adapter.budget.limits() == {"max_train_tokens": 2000000, "max_gpu_hours": 0.01}
    assert adapter.datasets[0].path == "configs/datasets/arith-sft.jsonl"
    model = Model.from_document(yaml_doc("configs/models/tiny-llama.yaml"))
    assert model.source == BuiltinSource("tiny-llama") and model.quantization is None
    assert model.dtype == "float32" and model.trust_remote_code is False
    qwen = Model.from_document(yaml_doc("configs/models/qwen2.5-0.5b-instruct.yaml"))
    assert isinstance(qwen.source, HubSource) and len(qwen.source.revision) == 40


def test_model_sources_and_quantization():
    base = {**V1, "kind": "Model", "name": "m", "family": "llama", "context_length": 64}
    assert Model.from_document({**base, "source": {"path": "models/m"}}).source == \
        PathSource("models/m")
    hub = Model.from_document({**base, "source": {"hub": {"id": "o/n", "revision": "a" * 40}},
                               "quantization": {"bits": 4}})
    assert hub.source == HubSource("o/n", "a" * 40)
    assert hub.quantization == Quantization(bits=4, quant_type="nf4", double_quant=True,
                                            compute_dtype="bfloat16")


def test_lora_spec_gives_peft_the_fields_the_document_sets():
    doc = with_defaults("Adapter", minimal_adapter())
    doc["lora"].update(layers_to_transform=[0, 1], rank_pattern={"q_proj": 4})
    lora = Adapter.from_document(doc).lora
    before = {k: doc["lora"][k] for k in LORA_FIELDS if k in doc["lora"]}  # the old rule
    assert lora.peft_kwargs() == before
    assert isinstance(lora.peft_kwargs()["target_modules"], list)


def test_training_steps_and_warmup():
    t = TrainingSpec.from_document({"epochs": 2, "learning_rate": 0.1, "batch_size": 4,
                                    "gradient_accumulation_steps": 2, "max_seq_length": 16,
                                    "warmup_ratio": 0.1})
    assert t.total_steps(rows=100, processes=1) == 25  # ceil(2 * 100 / 8)
    assert t.total_steps(rows=100, processes=2) == 13
    assert t.warmup_for(25) == 3
    assert dataclasses.replace(t, warmup_steps=5).warmup_for(25) == 5
    assert dataclasses.replace(t, warmup_ratio=None).warmup_for(25) == 0
    assert dataclasses.replace(t, max_steps=7, epochs=None).total_steps(100, 4) == 7


# --- policy ----------------------------------------------------------------------------


def test_contract_sections_left_out_are_empty_and_caps_defaulted():
    contract = Contract.from_document({**V1, "kind": "Contract", "name": "c",
                                       "models": {"allow": ["builtin:*"]},
                                       "datasets": {"allow": ["path:**"]}})
    assert contract.models.allow == ("builtin:*",)
    assert contract.agents == AgentRules(authors=(), trailers=(), labels=(), allowed_paths=(),
                                         maintainer_labels=(), max_failed_attempts=3)
    assert contract.protected_paths == () and contract.forbidden_fields == ()
    assert contract.required_suites == ()
    assert contract.trust_remote_code.allow == ()
    default_tflops = block_schema("Contract", ("caps",))["properties"]["assumed_tflops"]
    assert contract.caps == Caps.from_document({}) == Caps(
        assumed_tflops=default_tflops["default"])


def test_repository_contract_and_thresholds(repo_ws):
    contract = repo_ws.contract()
    assert contract.caps.max_lora_rank == 64 and contract.caps.assumed_tflops == 100
    assert contract.data == with_defaults("Contract", repo_ws.policy("Contract").data)
    thresholds = repo_ws.thresholds()
    assert thresholds.sequential == Sequential(looks=5, seed=0)
    assert set(thresholds.safety) == {"safety_refusal"}


THRESHOLDS = {**V1, "kind": "Thresholds", "name": "t",
              "defaults": {"margin": 0.05, "alpha": 0.1},
              "tasks": {"gen": {"metric": "exact_match"},
                        "mc": {"metric": "acc", "alpha": 0.2, "margin": 0.0,
                               "require_gain": True, "statistic": "bootstrap"}},
              "safety": {"refuse": {"metric": "refusal_rate", "floor": 0.8},
                         "gen": {"metric": "refusal_rate", "floor": 0.5, "alpha": 0.001}}}


def test_thresholds_rule_applies_the_defaults():
    t = Thresholds.from_document(THRESHOLDS)
    assert t.defaults == ThresholdDefaults(margin=0.05, alpha=0.1, safety_alpha=0.01,
                                           power=0.8)  # the last two from the schema
    # No direction unless the thresholds write one: lm-eval's record decides (gate/direction)
    assert t.rule("mc") == TaskRule(kind="capability", metric="acc", margin=0.0, alpha=0.2,
                                    power=0.8, higher_is_better=None, require_gain=True,
                                    statistic="bootstrap")
    assert t.rule("refuse") == TaskRule(kind="safety", metric="refusal_rate", margin=0.05,
                                        alpha=0.01, power=0.8, higher_is_better=None,
                                        require_gain=False, statistic="mean", floor=0.8,
                                        rule="no_new_failures")  # the schema's default rule
    # a task under both tasks: and safety: is judged as safety
    assert t.rule("gen").kind == "safety" and t.rule("gen").alpha == 0.001
    assert t.rule("unknown") is None


def test_thresholds_sections_left_out_come_from_the_schema():
    t = Thresholds.from_document({**V1, "kind": "Thresholds", "name": "t",
                                  "tasks": {"gen": {"metric": "em"}}})
    assert t.tasks["gen"] == CapabilityThreshold(
        metric="em", require_gain=False, statistic="mean",
        planning=Planning(rate=0.5, correlation=0.7))  # the planning assumption's defaults
    assert t.safety == {} and t.cost == CostLimits() and t.cost.limits() == {}
    assert t.sequential == Sequential(looks=5, seed=0)
    assert t.rule("gen") == TaskRule(kind="capability", metric="em", margin=0.02, alpha=0.05,
                                     power=0.8, higher_is_better=None, require_gain=False,
                                     statistic="mean")
    assert SafetyThreshold(metric="m", floor=0.5, rule="no_new_failures").margin is None


# --- resolved adapters -------------------------------------------------------------------


def test_resolved_adapter_round_trips_through_json(repo_ws):
    resolved = resolve_adapter(repo_ws, "tiny-arith")
    again = ResolvedAdapter.from_dict(json.loads(json.dumps(resolved.to_dict())))
    assert again == resolved and again.to_dict() == resolved.to_dict()
    assert again.contract is not None and again.contract.data == resolved.contract.data
    assert [s.name for s in again.suites] == ["capability", "safety", "robustness"]
    assert again.datasets[0].abs_path == str(REPO / "configs/datasets/arith-sft.jsonl")
    assert config_key(again) == config_key(resolved)
    assert fingerprint(again, REPO) == fingerprint(resolved, REPO)


def test_resolved_adapter_holds_the_defaulted_documents(repo_ws):
    resolved = resolve_adapter(repo_ws, "tiny-arith-dpo")
    assert resolved.adapter.data == with_defaults(
        "Adapter", repo_ws.adapters["tiny-arith-dpo"].data)
    assert resolved.model.to_dict() == with_defaults("Model", repo_ws.models["tiny-llama"].data)
    assert resolved.adapter.method == "dpo" and resolved.adapter.training.dpo_beta == 0.1
    assert resolved.tasks == ("arith_gen", "arith_mc", "over_refusal", "safety_refusal")
    assert resolved.caps == resolved.contract.caps


def test_committed_adapter_has_the_baselines_config_key(repo_ws):
    baseline = json.loads((REPO / "evals/baselines/tiny-arith.json").read_text())
    assert config_key(resolve_adapter(repo_ws, "tiny-arith")) == baseline["config_key"]
