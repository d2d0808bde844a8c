"""The torch-free matcher on the committed table: verdicts, codes and locations (fast)."""

from __future__ import annotations

import pytest

from modelcfg.config.architectures.match import findings, plan, save_findings


def codes(lora, model_type="llama", num_layers=None):
    return [(f.code, f.where) for f in plan(lora, model_type, num_layers).findings]


@pytest.mark.parametrize("targets", [["q_proj"], ["self_attn.q_proj"],
                                     ["model.layers.0.self_attn.q_proj"],
                                     r".*\.(q|v)_proj", "all-linear",
                                     r"model\.layers\.1\.mlp\.(gate|up|down)_proj"])
def test_what_peft_adapts_validates(targets):
    assert codes({"target_modules": targets}) == []


def test_bare_string_is_a_full_match_and_selects_nothing():
    assert codes({"target_modules": "q_proj"}) == [("MC302", ("lora", "target_modules"))]


def test_norms_and_blocks_are_refused_at_their_entry():
    assert codes({"target_modules": ["q_proj", "input_layernorm"]}) == [
        ("MC302", ("lora", "target_modules", 1))]
    assert codes({"target_modules": ["mlp"]}) == [("MC302", ("lora", "target_modules", 0))]


def test_gpt2_conv1d_needs_no_fan_in_fan_out():
    assert codes({"target_modules": ["c_attn"]}, "gpt2") == []
    assert len(plan({"target_modules": "all-linear"}, "gpt2").modules) == 8  # no lm_head


def test_layer_index_regex_follows_the_declared_layer_count():
    lora = {"target_modules": r"model\.layers\.(2[0-3])\.self_attn\.q_proj"}
    assert codes(lora) == [("MC302", ("lora", "target_modules"))]
    assert len(plan(lora, "llama", 24).modules) == 4


def test_without_num_layers_a_deep_layer_asks_for_num_layers_not_a_new_name():
    deep = {"target_modules": r"model\.layers\.(2[0-3])\.self_attn\.q_proj"}
    (only,) = findings(deep, "llama")
    assert (only.code, only.where) == ("MC302", ("lora", "target_modules"))
    assert "set num_layers" in only.message
    assert findings(deep, "llama", 24) == []
    (short,) = findings(deep, "llama", 16)  # declared, and too shallow: no such layer
    assert "set num_layers" not in short.message and "matches no module" in short.message
    listed = {"target_modules": ["q_proj"], "layers_to_transform": [30]}
    assert "set num_layers" in findings(listed, "llama")[0].message
    assert findings(listed, "llama", 32) == []
    (typo,) = findings({"target_modules": ["q_prj"]}, "llama")  # a wrong name stays a wrong name
    assert "set num_layers" not in typo.message and "did you mean 'q_proj'" in typo.message


def test_mixtral_v4_expert_names_become_parameters_and_refuse_dropout():
    lora = {"target_modules": ["q_proj", "w1", "w2", "w3"]}
    assert codes(lora, "mixtral") == []
    assert "model.layers.0.mlp.experts.gate_up_proj" in plan(lora, "mixtral").parameters
    assert codes({**lora, "lora_dropout": 0.05}, "mixtral") == [
        ("MC331", ("lora", "lora_dropout"))]
    assert codes({"target_modules": ["w1", "w2"]}, "mixtral") == [
        ("MC302", ("lora", "target_modules"))]


def test_target_parameters():
    lora = {"target_modules": ["q_proj"], "target_parameters": ["mlp.experts.gate_up_proj"]}
    assert codes(lora, "qwen2_moe") == []
    assert codes({**lora, "lora_dropout": 0.1}, "qwen2_moe") == [
        ("MC331", ("lora", "lora_dropout"))]
    assert codes(lora, "llama") == [("MC302", ("lora", "target_parameters", 0))]


def test_config_combinations_peft_refuses():
    assert codes({"target_modules": "all-linear", "layers_to_transform": [0]}) == [
        ("MC332", ("lora", "layers_to_transform"))]
    assert codes({"target_modules": ["q_proj"], "layers_pattern": "layers"}) == [
        ("MC332", ("lora", "layers_pattern"))]


def test_exclusions_and_layers():
    assert codes({"target_modules": ["q_proj"], "exclude_modules": ["q_proj"]}) == [
        ("MC302", ("lora", "target_modules", 0))]
    assert codes({"target_modules": ["q_proj"], "layers_to_transform": [5]}) == [
        ("MC302", ("lora", "target_modules", 0))]


def test_modules_to_save_checked_against_real_paths():
    assert save_findings({"target_modules": ["q_proj"], "modules_to_save": ["lm_head"]},
                         "llama") == []
    [f] = save_findings({"target_modules": ["q_proj"], "modules_to_save": ["score"]}, "llama")
    assert (f.code, f.where) == ("MC302", ("lora", "modules_to_save", 0))
