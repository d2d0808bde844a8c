"""Regenerate the committed table of module paths per architecture (imports torch).

    python -m modelcfg.config.architectures.build            # rewrite the table
    python -m modelcfg.config.architectures.build --check    # compare, write nothing

Each architecture (keyed by transformers' ``model_type``) is instantiated from the tiny
config in :data:`TINY` on the meta device with the installed transformers; the table records
every module path with its class and what peft's LoRA can do with it, the parameter names of
each module, the layer container and the output head, and the v4 -> v5 target conversion peft
applies to fused-expert MoE models. ``validate`` reads the table through
:mod:`modelcfg.config.architectures.table` and never imports this module.

To add an architecture, add its tiny config to :data:`TINY` and run this script.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "data" / "architectures.json"

_BASE = {"vocab_size": 64, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64}
_MOE = {"num_local_experts": 4, "num_experts": 4, "num_experts_per_tok": 2,
        "moe_intermediate_size": 32, "shared_expert_intermediate_size": 32}
# Tiny configs (attribute names as each config class accepts them). Layer 0 of deepseek_v3 is
# dense (first_k_dense_replace) and layer 1 is MoE, as in the real model.
TINY: dict[str, dict] = {
    "llama": _BASE,
    "mistral": _BASE,
    "mixtral": {**_BASE, **_MOE},
    "qwen2": _BASE,
    "qwen2_moe": {**_BASE, **_MOE},
    "qwen3": {**_BASE, "head_dim": 8},
    "qwen3_moe": {**_BASE, **_MOE, "head_dim": 8},
    "gemma": {**_BASE, "head_dim": 8},
    "gemma2": {**_BASE, "head_dim": 8},
    "gemma3_text": {**_BASE, "head_dim": 8},
    "phi": _BASE,
    "phi3": _BASE,
    "gpt2": {"vocab_size": 64, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64},
    "gpt_neox": {**_BASE, "num_key_value_heads": 4},
    "falcon": {"vocab_size": 64, "hidden_size": 32, "num_hidden_layers": 2,
               "num_attention_heads": 4},
    "opt": {"vocab_size": 64, "hidden_size": 32, "ffn_dim": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "word_embed_proj_dim": 32,
            "max_position_embeddings": 64},
    "bloom": {"vocab_size": 64, "hidden_size": 32, "n_layer": 2, "n_head": 4},
    "olmo": _BASE,
    "olmo2": _BASE,
    "starcoder2": _BASE,
    "deepseek_v3": {**_BASE, **_MOE, "n_routed_experts": 4, "n_shared_experts": 1,
                    "first_k_dense_replace": 1, "n_group": 1, "topk_group": 1,
                    "kv_lora_rank": 16, "q_lora_rank": 16, "qk_rope_head_dim": 8,
                    "qk_nope_head_dim": 8, "v_head_dim": 8, "head_dim": 8},
}

# What peft's LoRA makes of a module (peft.tuners.lora.layer.dispatch_default):
# L nn.Linear, C transformers Conv1D (peft sets fan_in_fan_out itself), E nn.Embedding,
# V nn.Conv1d/2d/3d, A nn.MultiheadAttention, N anything else (peft raises on it).
KINDS = "LCEVAN"


def tiny_config(model_type: str):
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type, **{"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, **TINY[model_type]})


def tiny_model(model_type: str, device: str = "meta"):
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device(device):
        return AutoModelForCausalLM.from_config(tiny_config(model_type))


def kind_of(module) -> str:
    import torch
    from transformers.pytorch_utils import Conv1D

    if isinstance(module, torch.nn.Embedding):
        return "E"
    if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d)):
        return "V"
    if isinstance(module, torch.nn.MultiheadAttention):
        return "A"
    if isinstance(module, torch.nn.Linear):
        return "L"
    if isinstance(module, Conv1D):
        return "C"
    return "N"


def moe_conversion(model_type: str) -> dict | None:
    """The v4 -> v5 target conversion peft applies to this model type (None: none)."""
    from peft.utils import transformers_weight_conversion as conv
    from transformers.conversion_mapping import get_checkpoint_conversion_mapping

    if get_checkpoint_conversion_mapping(model_type) is None:
        return None
    base = conv._MODEL_TO_CONVERSION_PATTERN.get(model_type)
    mapping = conv._MOE_TARGET_MODULE_MAPPING.get(base)
    fused = conv._MOE_FUSED_TARGETS.get(base, {})
    if not mapping or not fused:
        return None
    return {"mapping": dict(mapping), "fused": {k: list(v) for k, v in fused.items()}}


def describe(model_type: str) -> dict:
    import torch

    config = tiny_config(model_type)
    model = tiny_model(model_type)
    layers = config.num_hidden_layers
    containers = [name for name, m in model.named_modules()
                  if isinstance(m, torch.nn.ModuleList) and len(m) == layers
                  and name.rsplit(".", 1)[-1] in ("layers", "h")]
    if len(containers) != 1:
        raise SystemExit(f"{model_type}: cannot tell the layer container among {containers}")
    head = model.get_output_embeddings()
    modules = []
    for name, module in model.named_modules():
        if not name:
            continue
        params = ",".join(p for p, _ in module.named_parameters(recurse=False))
        modules.append([name, type(module).__name__, kind_of(module), params])
    return {
        "class": type(model).__name__,
        "layers": containers[0],
        "tiny_layers": layers,
        "head": next(n for n, m in model.named_modules() if m is head) if head is not None
        else None,
        "moe_conversion": moe_conversion(model_type),
        "modules": modules,
    }


def build() -> dict:
    from modelcfg.core.extras import versions

    return {"versions": versions("torch", "transformers", "peft"),
            "architectures": {t: describe(t) for t in sorted(TINY)}}


def dumps(table: dict) -> str:
    head = {k: v for k, v in table.items() if k != "architectures"}
    lines = ["{" + json.dumps(head, sort_keys=True)[1:-1] + ',\n"architectures": {']
    arches = table["architectures"]
    for i, (name, spec) in enumerate(sorted(arches.items())):
        rows = ",\n".join(json.dumps(row, separators=(",", ":")) for row in spec["modules"])
        meta = {k: v for k, v in spec.items() if k != "modules"}
        sep = "," if i < len(arches) - 1 else ""
        lines.append(f'{json.dumps(name)}: {{{json.dumps(meta, sort_keys=True)[1:-1]}, '
                     f'"modules": [\n{rows}]}}{sep}')
    lines.append("}}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = dumps(build())
    if "--check" in argv:
        if not TABLE.is_file() or TABLE.read_text() != text:
            print(f"{TABLE.name} is out of date: run python -m modelcfg.config.architectures."
                  "build", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
