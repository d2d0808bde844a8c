"""What the SFT and DPO recipes share, done one way for both: before the first step, the
process's place (device, world size, rank), the seeds, the base model wrapped in its LoRA
adapter and the training records; after the last, the stats a run reports. Heavy imports
stay inside the functions."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from modelcfg.config.model import ResolvedAdapter
from modelcfg.core.errors import UserError
from modelcfg.train.data import examples

# transformers ``optim`` names that need bitsandbytes and a CUDA GPU.
BITSANDBYTES_OPTIMIZERS = ("paged_adamw_8bit", "paged_adamw_32bit", "adamw_8bit")


@dataclass
class Prepared:
    """A recipe's starting point."""

    device: str  # "cpu" or "cuda:<local rank>"
    world: int  # processes training together
    rank: int
    cuda: bool
    model: object  # the base wrapped by peft, adapter freshly initialised
    tokenizer: object
    parameters: int  # of the base model, for the 6·N·T FLOP count
    records: list[dict]  # the training examples as text, in config order
    validation: list[dict]  # held-out examples (role: validation, validation_fraction)


def prepare(resolved: ResolvedAdapter, root: Path, model_cache: str | Path | None, *,
            own_process_group: bool) -> Prepared:
    """Set up one training process. ``own_process_group``: the recipe runs its own DDP loop
    and so starts ``torch.distributed`` itself (Trainer-based recipes leave it to
    accelerate)."""
    import torch
    from peft import get_peft_model

    from modelcfg.train.base_model import count_parameters, load_base, lora_config

    training = resolved.adapter.training
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = torch.cuda.is_available()
    if own_process_group and world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if cuda else "gloo")
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(device)
        torch.cuda.reset_peak_memory_stats()
    random.seed(training.seed)
    torch.manual_seed(training.seed)
    base, tokenizer = load_base(resolved.model, root, training.precision, device, model_cache)
    if training.chat_template == "tokenizer" and not getattr(tokenizer, "chat_template", None):
        raise UserError("MC511", "training.chat_template: tokenizer, but the base model's "
                        "tokenizer has no chat template; use chat_template: chatml, or a base "
                        "whose tokenizer_config.json has one",
                        **config_place(resolved, root, "training", "chat_template"))
    records, validation = examples(resolved, tokenizer)
    parameters = count_parameters(base)
    torch.manual_seed(training.seed)  # adapter init must not depend on what loading consumed
    model = get_peft_model(base, lora_config(resolved.adapter.lora))
    return Prepared(device, world, rank, cuda, model, tokenizer, parameters, records,
                    validation)


def check_optimizer(resolved: ResolvedAdapter, root: Path) -> None:
    """MC510 before anything is loaded: a bitsandbytes optimizer on a machine without
    bitsandbytes or without a CUDA GPU (``validate`` cannot know the runner)."""
    name = resolved.adapter.training.optimizer
    if name not in BITSANDBYTES_OPTIMIZERS:
        return
    import importlib.util

    import torch

    missing = [what for what, ok in (("bitsandbytes", importlib.util.find_spec("bitsandbytes")),
                                     ("a CUDA GPU", torch.cuda.is_available())) if not ok]
    if missing:
        raise UserError("MC510", f"training.optimizer {name} needs bitsandbytes and a CUDA "
                        f"GPU; this machine lacks {' and '.join(missing)}. Train on a GPU "
                        "runner with `pip install bitsandbytes`, or use adamw_torch",
                        **config_place(resolved, root, "training", "optimizer"))


def config_place(resolved: ResolvedAdapter, root: Path, *keys) -> dict:
    """``path``, ``line`` and ``col`` of a field of the adapter's file, for an error that
    only training can find (the file's first line when it cannot be read)."""
    from modelcfg.config.loader import load_bytes

    try:
        loaded = load_bytes((Path(root) / resolved.adapter_path).read_bytes(),
                            resolved.adapter_path)
        line, col = loaded.locate(list(keys))
    except (OSError, UserError):
        line, col = 1, 1
    return {"path": resolved.adapter_path, "line": line, "col": col}


def run_stats(prep: Prepared, *, status: str, steps: int, total_steps: int,
              train_tokens: int, final_loss: float | None, train_seconds: float,
              resumed: bool, recipe: dict | None = None,
              validation: dict | None = None) -> dict:
    """The stats a recipe returns (the manifest's cost section is built from them), with
    this process's device, peak memory and GPU-hours; ``recipe``: what the run really used
    (optimizer class, checkpointing, clipping, template); ``validation``: the held-out
    loss."""
    peak, peak_kind = peak_memory(prep)
    return {"status": status, "steps": steps, "total_steps": total_steps,
            "train_tokens": train_tokens, "final_loss": final_loss,
            "train_seconds": train_seconds, "device": device_name(prep.device),
            "processes": prep.world,
            "gpu_hours": train_seconds * prep.world / 3600 if prep.cuda else 0.0,
            "parameters": prep.parameters, "peak_memory_bytes": peak,
            "peak_memory_kind": peak_kind, "resumed": resumed, "recipe": recipe,
            "validation": validation}


def recipe_record(prep: Prepared, training, optimizer) -> dict:
    """What the run really trained with, read from the objects themselves."""
    inner = getattr(optimizer, "optimizer", optimizer)  # accelerate wraps Trainer's
    checkpointing = any(getattr(m, "gradient_checkpointing", False)
                        for m in prep.model.modules())
    return {"optimizer": f"{type(inner).__module__}.{type(inner).__name__}",
            "gradient_checkpointing": checkpointing,
            "max_grad_norm": training.max_grad_norm,
            "chat_template": training.chat_template or "none",
            "train_examples": len(prep.records)}


def peak_memory(prep: Prepared) -> tuple[int, str]:
    """Peak memory of this process and what was measured: allocated CUDA memory on a GPU,
    the process's max RSS on CPU."""
    if prep.cuda:
        import torch

        return torch.cuda.max_memory_allocated(prep.device), "cuda_max_memory_allocated"
    import resource

    # Linux reports KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process_max_rss"


def device_name(device: str) -> str:
    """The device as the manifest names it (the GPU model for CUDA)."""
    if device.startswith("cuda"):
        import torch

        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"
