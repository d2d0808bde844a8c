"""What LoRA can target in each architecture family, by module name (torch-free).

Names are the leaf module names transformers uses for each family; ``target_modules`` are
matched against them the way peft does (a leaf name, or a regular expression over the full
dotted module path).
"""

from __future__ import annotations

import re

_LLAMA_LIKE = {
    "linear": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "other": ("embed_tokens", "lm_head", "norm", "input_layernorm", "post_attention_layernorm"),
    "layers": "layers",
}
FAMILIES: dict[str, dict] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": {**_LLAMA_LIKE, "other": _LLAMA_LIKE["other"] + (
        "pre_feedforward_layernorm", "post_feedforward_layernorm")},
    "phi": {
        "linear": ("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
        "other": ("embed_tokens", "lm_head", "final_layernorm", "input_layernorm"),
        "layers": "layers",
    },
    "phi3": {
        "linear": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
        "other": ("embed_tokens", "lm_head", "norm", "input_layernorm",
                  "post_attention_layernorm"),
        "layers": "layers",
    },
    # GPT-2 uses Conv1D layers: peft needs fan_in_fan_out: true for them.
    "gpt2": {
        "linear": ("c_attn", "c_proj", "c_fc"),
        "other": ("wte", "wpe", "lm_head", "ln_1", "ln_2", "ln_f"),
        "layers": "h",
        "conv1d": True,
    },
    "gpt_neox": {
        "linear": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
        "other": ("embed_in", "embed_out", "input_layernorm", "post_attention_layernorm",
                  "final_layer_norm"),
        "layers": "layers",
    },
}


def module_names(family: str) -> tuple[str, ...]:
    spec = FAMILIES[family]
    return spec["linear"] + spec["other"]


def regex_matches_any(pattern: str, family: str) -> bool:
    """Does a peft-style regex ``target_modules`` select at least one linear layer?"""
    spec = FAMILIES[family]
    regex = re.compile(pattern)
    return any(regex.fullmatch(f"model.{spec['layers']}.0.block.{name}")
               or regex.fullmatch(f"model.{spec['layers']}.0.{name}")
               or regex.fullmatch(name) for name in spec["linear"])
