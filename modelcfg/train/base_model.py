"""Loading the base model and wrapping it in a LoRA adapter (shared by SFT and DPO)."""

from __future__ import annotations

from pathlib import Path

from modelcfg.core.errors import UserError

# The config's lora block maps 1:1 onto peft.LoraConfig; these are the fields passed through.
LORA_FIELDS = ("r", "lora_alpha", "lora_dropout", "target_modules", "bias", "modules_to_save",
               "use_rslora", "use_dora", "init_lora_weights", "layers_to_transform",
               "layers_pattern", "rank_pattern", "alpha_pattern", "exclude_modules",
               "fan_in_fan_out")
PRECISION_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def base_model_path(model: dict, root: Path, cache_dir: str | Path | None = None) -> tuple[str, dict]:
    """Where ``from_pretrained`` loads the base from, and the extra kwargs (revision)."""
    source = model["source"]
    if "builtin" in source:
        if source["builtin"] != "tiny-llama":
            raise UserError("MC505", f"unknown builtin model {source['builtin']!r}; "
                            "the built-in model is 'tiny-llama'")
        from modelcfg.tiny.build import ensure_tiny_model

        return str(ensure_tiny_model(cache_dir)), {}
    if "path" in source:
        return str((root / source["path"]).resolve()), {}
    hub = source["hub"]
    return hub["id"], {"revision": hub["revision"]}


def load_base(model: dict, root: Path, precision: str, device: str,
              cache_dir: str | Path | None = None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, kwargs = base_model_path(model, root, cache_dir)
    dtype = getattr(torch, PRECISION_DTYPES[precision])
    trust = bool(model.get("trust_remote_code", False))
    quant = model.get("quantization")
    if quant:
        kwargs["quantization_config"] = _bnb_config(quant)
        kwargs["device_map"] = {"": device}
    model_obj = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, trust_remote_code=trust,
                                                     **kwargs)
    if quant:
        from peft import prepare_model_for_kbit_training

        model_obj = prepare_model_for_kbit_training(model_obj, use_gradient_checkpointing=False)
    else:
        model_obj.to(device)
    tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=trust,
                                              **{k: v for k, v in kwargs.items() if k == "revision"})
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return model_obj, tokenizer


def _bnb_config(quant: dict):
    try:
        import bitsandbytes  # noqa: F401
        import torch
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise UserError("MC505", "quantization needs bitsandbytes and a CUDA GPU: "
                        "pip install bitsandbytes") from exc
    compute = getattr(torch, quant.get("compute_dtype", "bfloat16"))
    if quant["bits"] == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True,
                              bnb_4bit_quant_type=quant.get("quant_type", "nf4"),
                              bnb_4bit_use_double_quant=bool(quant.get("double_quant", False)),
                              bnb_4bit_compute_dtype=compute)


def lora_config(lora: dict):
    """A peft LoraConfig with every field the config sets (and nothing it does not)."""
    from peft import LoraConfig

    kwargs = {k: lora[k] for k in LORA_FIELDS if k in lora}
    return LoraConfig(task_type="CAUSAL_LM", **kwargs)


def count_parameters(model) -> int:
    """Parameters of the base model (adapter weights excluded) for the 6·N·T FLOP estimate."""
    return sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
