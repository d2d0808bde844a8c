"""Loading the base model and wrapping it in a LoRA adapter (shared by SFT and DPO).

The config's ``lora`` block maps 1:1 onto ``peft.LoraConfig``
(:meth:`modelcfg.config.model.LoraSpec.peft_kwargs`)."""

from __future__ import annotations

from pathlib import Path

from modelcfg.config.model import (
    BuiltinSource,
    HubSource,
    LoraSpec,
    Model,
    Quantization,
)
from modelcfg.core.errors import UserError

PRECISION_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def base_model_path(model: Model, root: Path, cache_dir: str | Path | None = None
                    ) -> tuple[str, dict]:
    """Where ``from_pretrained`` loads the base from, and the extra kwargs (revision)."""
    source = model.source
    if isinstance(source, BuiltinSource):
        if source.name != "tiny-llama":
            raise UserError("MC505", f"unknown builtin model {source.name!r}; "
                            "the built-in model is 'tiny-llama'")
        from modelcfg.tiny.build import ensure_tiny_model

        return str(ensure_tiny_model(cache_dir)), {}
    if isinstance(source, HubSource):
        return source.id, {"revision": source.revision}
    return str((root / source.path).resolve()), {}


def load_base(model: Model, root: Path, precision: str, device: str,
              cache_dir: str | Path | None = None):
    """The base model on ``device`` (quantised when the Model says so) and its tokenizer,
    padding on the right with EOS when it has no pad token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, kwargs = base_model_path(model, root, cache_dir)
    dtype = getattr(torch, PRECISION_DTYPES[precision])
    trust = model.trust_remote_code
    check_model_type(model, where, trust, kwargs.get("revision"))
    quant = model.quantization
    if quant is not None:
        kwargs["quantization_config"] = _bnb_config(quant)
        kwargs["device_map"] = {"": device}
    model_obj = AutoModelForCausalLM.from_pretrained(where, dtype=dtype, trust_remote_code=trust,
                                                     **kwargs)
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model_obj = prepare_model_for_kbit_training(model_obj, use_gradient_checkpointing=False)
    else:
        model_obj.to(device)
    revision = {k: v for k, v in kwargs.items() if k == "revision"}
    tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=trust, **revision)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return model_obj, tokenizer


def check_model_type(model: Model, where: str, trust: bool, revision: str | None) -> None:
    """MC509 before any weight loads: the checkpoint's ``config.model_type`` must be the
    family the Model declares (validate matched target_modules against that family)."""
    from transformers import AutoConfig

    extra = {"revision": revision} if revision else {}
    actual = AutoConfig.from_pretrained(where, trust_remote_code=trust, **extra).model_type
    if actual != model.family:
        raise UserError("MC509", f"Model {model.name!r} declares family {model.family!r} but "
                        f"its checkpoint is a {actual!r} model (config.json model_type); set "
                        f"family: {actual} in the Model document (and check target_modules "
                        "with modelcfg validate)")


def _bnb_config(quant: Quantization):
    try:
        import bitsandbytes  # noqa: F401
        import torch
        from transformers import BitsAndBytesConfig
    except ImportError as exc:
        raise UserError("MC505", "quantization needs bitsandbytes and a CUDA GPU: "
                        "pip install bitsandbytes") from exc
    if quant.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant.quant_type,
                              bnb_4bit_use_double_quant=quant.double_quant,
                              bnb_4bit_compute_dtype=getattr(torch, quant.compute_dtype))


def lora_config(lora: LoraSpec):
    """A peft LoraConfig with every field the config sets (and nothing it does not)."""
    from peft import LoraConfig

    return LoraConfig(task_type="CAUSAL_LM", **lora.peft_kwargs())


def count_parameters(model) -> int:
    """Parameters of the base model (adapter weights excluded) for the 6·N·T FLOP estimate."""
    return sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
