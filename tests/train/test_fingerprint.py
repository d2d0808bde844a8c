"""Fingerprint unit tests: pure, torch-free."""

from __future__ import annotations

import subprocess
import sys

import pytest
from trainhelp import edited, resolve_yaml, with_changes

from modelcfg.core.hashing import canonical_json
from modelcfg.train.fingerprint import fingerprint, fingerprint_inputs

ARITH = "configs/adapters/tiny-arith.yaml"


def test_same_inputs_same_fingerprint():
    assert fingerprint(resolve_yaml(ARITH)) == fingerprint(resolve_yaml(ARITH))


def test_fields_that_do_not_change_the_result_are_left_out():
    base = resolve_yaml(ARITH)
    def change(data):
        data["adapter"]["rationale"] = "different words"
        data["adapter"]["budget"] = {"max_train_tokens": 1}
        data["adapter"]["evals"] = {"suites": ["safety"]}
        data["model"]["description"] = "other"

    changed = edited(with_changes(base, checkpoint_every=7), change)
    assert fingerprint(changed) == fingerprint(base)


def test_everything_that_changes_the_result_is_in():
    base = resolve_yaml(ARITH)
    fp = fingerprint(base)
    assert fingerprint(with_changes(base, learning_rate=0.001)) != fp
    assert fingerprint(with_changes(base, devices=2)) != fp
    lora = edited(base, lambda d: d["adapter"]["lora"].update(r=4))
    assert fingerprint(lora) != fp
    data = edited(base, lambda d: d["datasets"][0].update(sha256="0" * 64))
    assert fingerprint(data) != fp
    renamed = edited(base, lambda d: d["datasets"][0].update(path="elsewhere.jsonl"))
    assert fingerprint(renamed) == fp  # the content hash, not the path, counts


def test_inputs_name_versions_and_base_revision():
    inputs = fingerprint_inputs(resolve_yaml(ARITH))
    assert set(inputs["versions"]) == {"modelcfg", "torch", "transformers", "peft"}
    assert inputs["base_revision"].startswith("builtin:tiny-llama:")
    assert "trl" in fingerprint_inputs(resolve_yaml("configs/adapters/tiny-arith-dpo.yaml"))[
        "versions"]


def test_canonical_json_is_order_independent():
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1})


def test_fingerprint_module_stays_torch_free():
    code = ("import sys; import modelcfg.train.fingerprint, modelcfg.train.run, "
            "modelcfg.tiny.build; "
            "heavy = {'torch', 'transformers', 'peft', 'trl', 'accelerate'} & set(sys.modules); "
            "print(sorted(heavy)); sys.exit(1 if heavy else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# ------------------------------------------------------------ one case per result field
#
# Every field of the Model and Adapter schemas (nested blocks field by field) that is not
# declared a non-result field must change the fingerprint; a stale run must never be reused
# for a changed config. The field list is derived from the schemas, so a new field without
# a case below fails test_every_result_field_has_a_case.

HUB = {"hub": {"id": "org/model", "revision": "a" * 40}}
HUB_DATA = {"hub": "org/data", "revision": "b" * 40}


def _schema_fields(kind: str) -> set[str]:
    """``top`` and ``top.sub`` for every property of the schema (one level of nesting; the
    items of ``datasets`` and the variants of ``source`` by their keys)."""
    from modelcfg.config.schema import schema

    out = set()
    for name, prop in schema(kind)["properties"].items():
        subs = dict(prop.get("properties", {}))
        for variant in prop.get("oneOf", []) + prop.get("items", {}).get("oneOf", []):
            subs.update(variant.get("properties", {}))
        out |= {f"{name}.{s}" for s in subs} if subs else {name}
    return out


def result_field_names() -> set[str]:
    from modelcfg.config.model import NON_RESULT_FIELDS, NON_RESULT_TRAINING_FIELDS
    from modelcfg.train.fingerprint import NON_RESULT_DATASET_FIELDS

    dropped = {f"training.{f}" for f in NON_RESULT_TRAINING_FIELDS}
    dropped |= {f"datasets.{f}" for f in NON_RESULT_DATASET_FIELDS}
    fields = {f"model:{f}" for f in _schema_fields("Model")}
    fields |= {f"adapter:{f}" for f in _schema_fields("Adapter")}
    return {f for f in fields if f.split(":")[1].split(".")[0] not in NON_RESULT_FIELDS
            and f.split(":")[1] not in dropped}


def _m(**kv):
    return lambda d: d["model"].update(kv)


def _quant(**kv):
    return lambda d: d["model"].update(quantization={"bits": 4, **kv})


def _lora(**kv):
    return lambda d: d["adapter"]["lora"].update(kv)


def _train(**kv):
    return lambda d: d["adapter"]["training"].update(kv)


def _a(**kv):
    return lambda d: d["adapter"].update(kv)


def _epochs(d):
    d["adapter"]["training"].pop("max_steps")
    d["adapter"]["training"]["epochs"] = 2


def _hub_data(**kv):
    """The dataset swapped for a hub dataset (``kv`` changed), compared with the same swap
    without the change: each hub field on its own."""
    def change(d):
        d["datasets"][0] = {**HUB_DATA, **kv}
    return change


# field -> (how the change is made, the baseline it is compared with: None = the config)
CASES = {
    "model:name": (_m(name="other-model"), None),
    "model:source.builtin": (_m(source=HUB), None),
    "model:source.hub": (_m(source={"hub": {**HUB["hub"], "revision": "c" * 40}}), _m(source=HUB)),
    "model:source.path": (_m(source={"path": "configs"}), _m(source={"path": "models/x"})),
    "model:family": (_m(family="mistral"), None),
    "model:dtype": (_m(dtype="bfloat16"), None),
    "model:context_length": (_m(context_length=64), None),
    "model:trust_remote_code": (_m(trust_remote_code=True), None),
    "model:parameters": (_m(parameters=1234), None),
    "model:hidden_size": (_m(hidden_size=32), None),
    "model:num_layers": (_m(num_layers=3), None),
    "model:quantization.bits": (_quant(bits=8), _quant()),
    "model:quantization.quant_type": (_quant(quant_type="fp4"), _quant()),
    "model:quantization.double_quant": (_quant(double_quant=False), _quant()),
    "model:quantization.compute_dtype": (_quant(compute_dtype="float16"), _quant()),
    "adapter:name": (_a(name="other-adapter"), None),
    "adapter:base": (_a(base="other-model"), None),
    "adapter:method": (_a(method="dpo"), None),
    "adapter:lora.r": (_lora(r=4), None),
    "adapter:lora.lora_alpha": (_lora(lora_alpha=8), None),
    "adapter:lora.lora_dropout": (_lora(lora_dropout=0.1), None),
    "adapter:lora.target_modules": (_lora(target_modules=["q_proj"]), None),
    "adapter:lora.exclude_modules": (_lora(exclude_modules=["down_proj"]), None),
    "adapter:lora.bias": (_lora(bias="all"), None),
    "adapter:lora.modules_to_save": (_lora(modules_to_save=["lm_head"]), None),
    "adapter:lora.use_rslora": (_lora(use_rslora=True), None),
    "adapter:lora.use_dora": (_lora(use_dora=True), None),
    "adapter:lora.init_lora_weights": (_lora(init_lora_weights="gaussian"), None),
    "adapter:lora.layers_to_transform": (_lora(layers_to_transform=[0]), None),
    "adapter:lora.layers_pattern": (_lora(layers_pattern="layers"), None),
    "adapter:lora.rank_pattern": (_lora(rank_pattern={"q_proj": 4}), None),
    "adapter:lora.alpha_pattern": (_lora(alpha_pattern={"q_proj": 4}), None),
    "adapter:lora.fan_in_fan_out": (_lora(fan_in_fan_out=True), None),
    "adapter:lora.target_parameters": (_lora(target_parameters=["mlp.experts.down_proj"]), None),
    "adapter:training.epochs": (_epochs, None),
    "adapter:training.max_steps": (_train(max_steps=7), None),
    "adapter:training.learning_rate": (_train(learning_rate=0.001), None),
    "adapter:training.lr_scheduler": (_train(lr_scheduler="linear"), None),
    "adapter:training.warmup_steps": (_train(warmup_steps=3), None),
    "adapter:training.warmup_ratio": (_train(warmup_ratio=0.1), None),
    "adapter:training.batch_size": (_train(batch_size=4), None),
    "adapter:training.gradient_accumulation_steps": (_train(gradient_accumulation_steps=2),
                                                     None),
    "adapter:training.max_seq_length": (_train(max_seq_length=32), None),
    "adapter:training.packing": (_train(packing=True), None),
    "adapter:training.seed": (_train(seed=1), None),
    "adapter:training.precision": (_train(precision="bf16"), None),
    "adapter:training.weight_decay": (_train(weight_decay=0.1), None),
    "adapter:training.max_grad_norm": (_train(max_grad_norm=0.5), None),
    "adapter:training.devices": (_train(devices=2), None),
    "adapter:training.dpo_beta": (_train(dpo_beta=0.2), None),
    "adapter:training.optimizer": (_train(optimizer="sgd"), None),
    "adapter:training.gradient_checkpointing": (_train(gradient_checkpointing=True), None),
    "adapter:training.chat_template": (_train(chat_template="chatml"), None),
    "adapter:training.validation_fraction": (_train(validation_fraction=0.1), None),
    "adapter:datasets.sha256": (lambda d: d["datasets"][0].update(sha256="0" * 64), None),
    "adapter:datasets.split": (lambda d: d["datasets"][0].update(split="train"), None),
    "adapter:datasets.hub": (_hub_data(hub="org/other"), _hub_data()),
    "adapter:datasets.revision": (_hub_data(revision="c" * 40), _hub_data()),
    "adapter:datasets.subset": (_hub_data(subset="ARC-Easy"), _hub_data()),
    "adapter:datasets.format": (lambda d: d["datasets"][0].update(format="alpaca"), None),
    "adapter:datasets.fields": (lambda d: d["datasets"][0].update(fields={"prompt": "q"}),
                                None),
    "adapter:datasets.role": (lambda d: d["datasets"][0].update(role="validation"), None),
}

# Fields added after baselines were recorded: optional, absent = the old behaviour.
NEW_OPTIONAL = {"training": ("optimizer", "gradient_checkpointing", "chat_template",
                             "validation_fraction"),
                "datasets": ("format", "fields", "role", "subset")}


def test_new_optional_fields_leave_the_shipped_config_key_alone():
    """No schema default for the recipe fields (a default would enter every config's
    defaulted document and move its config key off the committed baseline's)."""
    import json

    from trainhelp import REPO

    from modelcfg.config.model import config_key
    from modelcfg.config.schema import schema

    adapter = schema("Adapter")["properties"]
    variants = adapter["datasets"]["items"]["oneOf"]
    for name in NEW_OPTIONAL["training"]:
        assert "default" not in adapter["training"]["properties"][name], name
    for name in NEW_OPTIONAL["datasets"]:
        assert all("default" not in v["properties"].get(name, {}) for v in variants), name
    baseline = json.loads((REPO / "evals/baselines/tiny-arith.json").read_text())
    assert config_key(resolve_yaml(ARITH)) == baseline["config_key"]


def test_every_result_field_has_a_case():
    assert sorted(result_field_names() ^ set(CASES)) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_result_field_changes_the_fingerprint(name, tmp_path):
    (tmp_path / "models" / "x").mkdir(parents=True)  # a local base for source.path
    (tmp_path / "models" / "x" / "config.json").write_text("{}")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "config.json").write_text("{\"other\": 1}")
    change, reference = CASES[name]
    config = resolve_yaml(ARITH)
    before = edited(config, reference) if reference else config
    after = edited(before, change)
    assert after.to_dict() != before.to_dict(), "the case changes nothing"
    assert fingerprint(after, tmp_path) != fingerprint(before, tmp_path)
