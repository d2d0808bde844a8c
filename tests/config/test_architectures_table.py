"""The committed architecture table is what the pinned transformers builds (drift check), and
the table expands to a real model's layer count."""

from __future__ import annotations

import pytest

from modelcfg.config.architectures import build, table


def test_committed_table_matches_installed_transformers():
    pytest.importorskip("transformers")
    assert build.main(["--check"]) == 0, "run python -m modelcfg.config.architectures.build"


def test_required_architectures_are_in_the_table():
    assert set(build.TINY) <= set(table.known())
    assert {"llama", "mixtral", "qwen3_moe", "gemma3_text", "gpt2", "deepseek_v3",
            "falcon", "opt", "bloom", "olmo2", "starcoder2"} <= set(table.known())


def test_layers_expand_to_the_declared_count():
    rows = table.modules("llama", 24)
    paths = {r.path for r in rows}
    assert "model.layers.23.self_attn.q_proj" in paths
    assert "model.layers.24.self_attn.q_proj" not in paths
    assert sum(p.endswith(".q_proj") for p in paths) == 24
    # DeepSeek-V3's dense first layer stays dense; the others repeat the MoE layer
    ds = {r.path: r.cls for r in table.modules("deepseek_v3", 5)}
    assert ds["model.layers.0.mlp"] == "DeepseekV3MLP"
    assert ds["model.layers.4.mlp"] == "DeepseekV3MoE"
    assert table.modules("llama") == table.architecture("llama").rows


def test_train_refuses_a_checkpoint_of_another_model_type(tmp_path):
    """MC509 before any weight loads: the checkpoint's config.json model_type is checked."""
    pytest.importorskip("transformers")
    from modelcfg.config.model import Model
    from modelcfg.core.errors import UserError
    from modelcfg.train.base_model import check_model_type

    build.tiny_config("llama").save_pretrained(tmp_path)
    doc = {"apiVersion": "modelcfg/v1", "kind": "Model", "name": "m", "context_length": 64,
           "source": {"path": "m"}}
    check_model_type(Model.from_document({**doc, "family": "llama"}), str(tmp_path), False,
                     None)
    with pytest.raises(UserError) as err:
        check_model_type(Model.from_document({**doc, "family": "mistral"}), str(tmp_path),
                         False, None)
    assert err.value.code == "MC509" and "'llama'" in err.value.message
