"""The LoRA SFT recipe in named steps: set up, resume, train step by step, save.

A plain torch loop rather than ``transformers.Trainer``: on small models Trainer's per-step
overhead dominates, and owning the loop makes answer-only loss, packing, checkpoint/resume
and budget stops a few lines each (bench/bench_train.py compares the two).

Runs in one process, or in each of N processes started by ``accelerate launch`` (then
``torch.distributed`` is initialised from the launcher's environment and the model is
wrapped in DDP; rank r takes its own slice of every global batch).
"""

from __future__ import annotations

import os
import random
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from modelcfg.config.cost import exceeded
from modelcfg.config.model import ResolvedAdapter, TrainingSpec
from modelcfg.core.batching import IGNORE, collate, pack_examples
from modelcfg.train.data import encode_records, epoch_order
from modelcfg.train.recipe import Prepared, prepare, recipe_record, run_stats

FAULT_ENV = "MODELCFG_TEST_KILL_AFTER_STEP"  # tests only: SIGKILL self after this step
# training.optimizer -> (module, class, keyword arguments), as transformers' Trainer builds
# each ``optim`` (tests/train/test_recipe_fields.py compares the two).
OPTIMIZERS = {
    "adamw_torch": ("torch.optim", "AdamW", {"betas": (0.9, 0.999), "eps": 1e-8}),
    "adamw_torch_fused": ("torch.optim", "AdamW", {"betas": (0.9, 0.999), "eps": 1e-8,
                                                   "fused": True}),
    "adafactor": ("transformers.optimization", "Adafactor",
                  {"scale_parameter": False, "relative_step": False}),
    "sgd": ("torch.optim", "SGD", {}),
    "paged_adamw_8bit": ("bitsandbytes.optim", "PagedAdamW8bit", {}),
    "paged_adamw_32bit": ("bitsandbytes.optim", "PagedAdamW32bit", {}),
    "adamw_8bit": ("bitsandbytes.optim", "AdamW8bit", {}),
}


def run_sft(resolved: ResolvedAdapter, root: Path, run_dir: Path, *, resume: bool, emit,
            caps: dict, model_cache: str | Path | None = None) -> dict:
    """Train ``resolved``'s adapter into ``run_dir/adapter``; returns the run's stats."""
    prep = prepare(resolved, root, model_cache, own_process_group=True)
    loop = setup_loop(prep, resolved.adapter.training)
    state = resume_from_checkpoint(loop, run_dir, emit) if resume else new_position()
    status, train_seconds = train_loop(loop, state, run_dir, emit, caps)
    return save_adapter(loop, state, run_dir, status, train_seconds, resume,
                        validation_loss(loop))


@dataclass
class SftLoop:
    """What every step uses: the rows, the schedule and the optimizer state."""

    prep: Prepared
    training: TrainingSpec
    rows: list[dict]
    total_steps: int
    trainable: list
    optimizer: object
    scheduler: object
    autocast_dtype: object  # None: no autocast (fp32)
    scaler: object  # a GradScaler for fp16 on CUDA, else None
    train_model: object  # the model, DDP-wrapped when several processes train


def new_position() -> dict:
    """Where a run starts: the data position and running totals a checkpoint records."""
    return {"step": 0, "epoch": 0, "offset": 0, "tokens": 0, "elapsed": 0.0, "loss": None}


def setup_loop(prep: Prepared, t: TrainingSpec) -> SftLoop:
    """Tokenised (optionally packed) rows, step count, optimizer and LR schedule."""
    import torch
    from transformers import get_scheduler

    examples = encode_records(prep.tokenizer, prep.records, t.max_seq_length)
    rows = pack_examples(examples, t.max_seq_length) if t.packing else examples
    total_steps = t.total_steps(len(rows), prep.world)
    if t.gradient_checkpointing:
        prep.model.get_base_model().activation_checkpointing_enable(
            activation_checkpointing_kwargs={"use_reentrant": False})
    trainable = [p for p in prep.model.parameters() if p.requires_grad]
    optimizer = make_optimizer(t, trainable)
    scheduler = get_scheduler(t.lr_scheduler, optimizer,
                              num_warmup_steps=t.warmup_for(total_steps),
                              num_training_steps=total_steps)
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(t.precision)
    scaler = torch.amp.GradScaler("cuda") if t.precision == "fp16" and prep.cuda else None
    train_model = prep.model
    if prep.world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            prep.model, device_ids=[prep.device] if prep.cuda else None)
    return SftLoop(prep, t, rows, total_steps, trainable, optimizer, scheduler, autocast_dtype,
                   scaler, train_model)


def make_optimizer(t: TrainingSpec, params: list):
    """``training.optimizer`` (absent: adamw_torch) over ``params``."""
    import importlib

    module, name, kwargs = OPTIMIZERS[t.optimizer or "adamw_torch"]
    cls = getattr(importlib.import_module(module), name)
    return cls(params, lr=t.learning_rate, weight_decay=t.weight_decay, **kwargs)


def resume_from_checkpoint(loop: SftLoop, run_dir: Path, emit) -> dict:
    """Restore weights, optimizer, schedule and every RNG from the newest checkpoint, so
    the rest of the run is bit-for-bit the one that was interrupted; returns its position."""
    import torch

    prep = loop.prep
    ckpt = latest_checkpoint(run_dir)
    saved = torch.load(ckpt / "state.pt", weights_only=False, map_location=prep.device)
    with torch.no_grad():
        for name, p in prep.model.named_parameters():
            if p.requires_grad:
                p.copy_(saved["trainable"][name])
    loop.optimizer.load_state_dict(saved["optimizer"])
    loop.scheduler.load_state_dict(saved["scheduler"])
    random.setstate(saved["rng"]["python"])
    torch.set_rng_state(saved["rng"]["torch"])
    if prep.cuda and saved["rng"].get("cuda") is not None:
        torch.cuda.set_rng_state(saved["rng"]["cuda"])
    state = saved["position"]
    emit({"event": "resumed", "step": state["step"], "checkpoint": str(ckpt)})
    return state


def row_feeder(loop: SftLoop, state: dict):
    """A function giving this rank's share of the next global batch. A batch that runs
    past the end of an epoch continues into the next one, so every global batch is full
    and every rank agrees on the position (kept in ``state``)."""
    rows, seed = loop.rows, loop.training.seed
    bs, world, rank = loop.training.batch_size, loop.prep.world, loop.prep.rank
    order = epoch_order(len(rows), seed, state["epoch"])

    def next_rows() -> list[dict]:
        nonlocal order
        take = []
        while len(take) < bs * world:
            if state["offset"] >= len(order):
                state["epoch"], state["offset"] = state["epoch"] + 1, 0
                order = epoch_order(len(rows), seed, state["epoch"])
            part = order[state["offset"]:state["offset"] + bs * world - len(take)]
            take += part
            state["offset"] += len(part)
        return [rows[i] for i in take[rank * bs:(rank + 1) * bs]]

    return next_rows


def train_loop(loop: SftLoop, state: dict, run_dir: Path, emit, caps: dict
               ) -> tuple[str, float]:
    """Steps until ``total_steps`` or the budget stops the run; returns the status and the
    training seconds (resumed runs count the time before the interruption too)."""
    prep = loop.prep
    kill_after = int(os.environ.get(FAULT_ENV, "0"))
    next_rows = row_feeder(loop, state)
    status = "complete"
    prep.model.train()
    emit({"event": "start", "total_steps": loop.total_steps, "step": state["step"],
          "device": prep.device, "processes": prep.world})
    start = time.perf_counter() - state["elapsed"]
    while state["step"] < loop.total_steps:
        train_step(loop, state, next_rows)
        state["elapsed"] = time.perf_counter() - start
        emit({"event": "step", "step": state["step"], "total_steps": loop.total_steps,
              "loss": state["loss"], "lr": loop.scheduler.get_last_lr()[0],
              "tokens": state["tokens"],
              "tokens_per_s": state["tokens"] / max(state["elapsed"], 1e-9)})
        gpu_hours = state["elapsed"] * prep.world / 3600 if prep.cuda else 0.0
        if exceeded({"train_tokens": state["tokens"], "gpu_hours": gpu_hours}, caps):
            status = "over_budget"
            break
        checkpoint_if_due(loop, state, run_dir, emit)
        if kill_after and state["step"] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    return status, time.perf_counter() - start


def train_step(loop: SftLoop, state: dict, next_rows) -> None:
    """One optimizer step over ``gradient_accumulation_steps`` micro-batches (gradients
    synchronised across processes on the last one); updates ``state``.

    The loss is the mean over every answer token of the step's global batch (all processes,
    all micro-batches): each micro-batch's summed token loss is divided by that global count
    (``num_items_in_batch``) and, since DDP averages gradients over processes, multiplied
    by the number of processes. So N processes of ``batch_size`` rows take the same step as
    one process of ``N x batch_size`` rows (docs/training.md, Scale-out)."""
    import torch
    import torch.distributed as dist

    prep, accum = loop.prep, loop.training.gradient_accumulation_steps
    micro_batches = [next_rows() for _ in range(accum)]
    targets = None  # one micro-batch in one process: its own mean is the global one
    if accum * prep.world > 1:
        targets = torch.tensor(sum(answer_tokens(r) for mine in micro_batches for r in mine),
                               device=prep.device)
        if prep.world > 1:
            dist.all_reduce(targets)
    normalise = {} if targets is None else {"num_items_in_batch": targets}
    step_loss = torch.zeros((), device=prep.device)
    step_tokens = torch.zeros((), device=prep.device, dtype=torch.long)
    for micro, mine in enumerate(micro_batches):
        batch = {k: v.to(prep.device) for k, v in
                 collate(mine, prep.tokenizer.pad_token_id, loop.training.packing).items()}
        sync = micro == accum - 1 or prep.world == 1
        ctx = loop.train_model.no_sync() if (prep.world > 1 and not sync) else nullcontext()
        with ctx, torch.autocast(prep.device.split(":")[0], dtype=loop.autocast_dtype,
                                 enabled=loop.autocast_dtype is not None):
            loss = loop.train_model(**batch, use_cache=False, **normalise).loss
        scaled = loss * prep.world if prep.world > 1 else loss
        (loop.scaler.scale(scaled) if loop.scaler else scaled).backward()
        step_loss += loss.detach()
        step_tokens += sum(len(r["input_ids"]) for r in mine)
    apply_gradients(loop)
    if prep.world > 1:
        dist.all_reduce(step_loss)
        dist.all_reduce(step_tokens)
    state["step"] += 1
    state["tokens"] += int(step_tokens)
    state["loss"] = float(step_loss)


def answer_tokens(row: dict) -> int:
    """Tokens of ``row`` that carry a loss: labels other than IGNORE after the causal shift
    (the first position predicts nothing)."""
    return sum(label != IGNORE for label in row["labels"][1:])


def apply_gradients(loop: SftLoop) -> None:
    """Clip, step the optimizer (through the fp16 scaler when there is one) and the LR
    schedule, and clear the gradients."""
    import torch

    if loop.scaler:
        loop.scaler.unscale_(loop.optimizer)
    if loop.training.max_grad_norm is not None:  # null: no clipping
        torch.nn.utils.clip_grad_norm_(loop.trainable, loop.training.max_grad_norm)
    if loop.scaler:
        loop.scaler.step(loop.optimizer)
        loop.scaler.update()
    else:
        loop.optimizer.step()
    loop.scheduler.step()
    loop.optimizer.zero_grad(set_to_none=True)


def checkpoint_if_due(loop: SftLoop, state: dict, run_dir: Path, emit) -> None:
    """Every ``checkpoint_every`` steps (but not after the last), rank 0 saves a
    checkpoint; the other processes wait for it."""
    every, prep = loop.training.checkpoint_every, loop.prep
    due = bool(every) and state["step"] % every == 0
    if due and state["step"] < loop.total_steps and prep.rank == 0:
        path = save_checkpoint(run_dir, prep.model, loop.optimizer, loop.scheduler, state,
                               prep.cuda)
        emit({"event": "checkpoint", "step": state["step"], "path": str(path)})
    if prep.world > 1 and due:
        import torch.distributed as dist

        dist.barrier()


def validation_loss(loop: SftLoop) -> dict | None:
    """Mean loss per answer token (answer, end and eos, as trained) of the held-out
    examples after training, unpacked, in batches of ``batch_size``; every process computes
    the same figure. None without validation examples."""
    import torch
    import torch.nn.functional as F

    prep, t = loop.prep, loop.training
    if not prep.validation:
        return None
    rows = encode_records(prep.tokenizer, prep.validation, t.max_seq_length)
    total, count = 0.0, 0
    prep.model.eval()
    with torch.no_grad(), torch.autocast(prep.device.split(":")[0], dtype=loop.autocast_dtype,
                                         enabled=loop.autocast_dtype is not None):
        for i in range(0, len(rows), t.batch_size):
            batch = {k: v.to(prep.device) for k, v in
                     collate(rows[i:i + t.batch_size], prep.tokenizer.pad_token_id,
                             False).items()}
            logits = prep.model(input_ids=batch["input_ids"],
                                attention_mask=batch["attention_mask"], use_cache=False).logits
            labels = batch["labels"][:, 1:]
            total += float(F.cross_entropy(logits[:, :-1].float().flatten(0, 1),
                                           labels.flatten(), reduction="sum"))
            count += int((labels != -100).sum())
    prep.model.train()
    return {"examples": len(rows), "loss": total / max(count, 1), "tokens": count}


def save_adapter(loop: SftLoop, state: dict, run_dir: Path, status: str,
                 train_seconds: float, resumed: bool, validation: dict | None = None) -> dict:
    """Rank 0 saves the adapter; every process reports the run's stats."""
    prep = loop.prep
    if prep.rank == 0:
        prep.model.save_pretrained(run_dir / "adapter", safe_serialization=True)
    stats = run_stats(prep, status=status, steps=state["step"], total_steps=loop.total_steps,
                      train_tokens=state["tokens"], final_loss=state["loss"],
                      train_seconds=train_seconds, resumed=resumed,
                      recipe=recipe_record(prep, loop.training, loop.optimizer),
                      validation=validation)
    if prep.world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return stats


def save_checkpoint(run_dir: Path, model, optimizer, scheduler, position: dict, cuda: bool) -> Path:
    """Adapter weights, optimizer, scheduler, RNG states and data position, written to a
    temporary folder and renamed into place (a half-written checkpoint is never found).
    Only the newest two are kept."""
    import shutil

    import torch

    ckpts = run_dir / "checkpoints"
    final = ckpts / f"step-{position['step']:08d}"
    tmp = ckpts / f".tmp-{final.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save({
        "trainable": {n: p.detach().cpu().clone() for n, p in model.named_parameters()
                      if p.requires_grad},
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": {"python": random.getstate(), "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state() if cuda else None},
        "position": dict(position),
    }, tmp / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in sorted(p for p in ckpts.glob("step-*"))[:-2]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted(p for p in (run_dir / "checkpoints").glob("step-*")
                   if (p / "state.pt").is_file())
    return found[-1] if found else None
