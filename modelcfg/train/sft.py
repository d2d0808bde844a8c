"""The LoRA SFT recipe: setup, train loop, save. Reads top to bottom; no classes.

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
from pathlib import Path

from modelcfg.config.cost import exceeded
from modelcfg.config.model import ResolvedAdapter
from modelcfg.core.batching import collate, pack_examples
from modelcfg.train.data import encode_records, epoch_order, read_jsonl

FAULT_ENV = "MODELCFG_TEST_KILL_AFTER_STEP"  # tests only: SIGKILL self after this step


def run_sft(resolved: ResolvedAdapter, root: Path, run_dir: Path, *, resume: bool, emit,
            caps: dict, model_cache: str | Path | None = None) -> dict:
    import torch
    import torch.distributed as dist
    from transformers import get_scheduler

    from modelcfg.train.base_model import count_parameters, load_base, lora_config

    adapter, model_cfg = resolved.adapter, resolved.model
    t = adapter.training
    bs, accum = t.batch_size, t.gradient_accumulation_steps
    seed, max_len = t.seed, t.max_seq_length
    precision = t.precision

    # --- setup: processes, device, seeds ------------------------------------------------
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    cuda = torch.cuda.is_available()
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if cuda else "cpu"
    if cuda:
        torch.cuda.set_device(device)
        torch.cuda.reset_peak_memory_stats()
    random.seed(seed)
    torch.manual_seed(seed)

    # --- setup: model, adapter, data ----------------------------------------------------
    from peft import get_peft_model

    base, tokenizer = load_base(model_cfg, root, precision, device, model_cache)
    parameters = count_parameters(base)
    torch.manual_seed(seed)  # adapter init must not depend on what loading consumed
    model = get_peft_model(base, lora_config(adapter.lora))
    records = [r for d in resolved.datasets for r in read_jsonl(d.abs_path)]
    examples = encode_records(tokenizer, records, max_len)
    packed = t.packing
    rows = pack_examples(examples, max_len) if packed else examples

    total_steps = t.total_steps(len(rows), world)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=t.learning_rate, weight_decay=t.weight_decay)
    scheduler = get_scheduler(t.lr_scheduler, optimizer,
                              num_warmup_steps=t.warmup_for(total_steps),
                              num_training_steps=total_steps)
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" and cuda else None
    train_model = model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if cuda else None)

    # --- resume ------------------------------------------------------------------------
    state = {"step": 0, "epoch": 0, "offset": 0, "tokens": 0, "elapsed": 0.0, "loss": None}
    if resume:
        ckpt = latest_checkpoint(run_dir)
        saved = torch.load(ckpt / "state.pt", weights_only=False, map_location=device)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if p.requires_grad:
                    p.copy_(saved["trainable"][name])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        random.setstate(saved["rng"]["python"])
        torch.set_rng_state(saved["rng"]["torch"])
        if cuda and saved["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state(saved["rng"]["cuda"])
        state = saved["position"]
        emit({"event": "resumed", "step": state["step"], "checkpoint": str(ckpt)})

    # --- train loop ----------------------------------------------------------------------
    kill_after = int(os.environ.get(FAULT_ENV, "0"))
    every = t.checkpoint_every
    order = epoch_order(len(rows), seed, state["epoch"])
    status = "complete"
    model.train()
    emit({"event": "start", "total_steps": total_steps, "step": state["step"],
          "device": device, "processes": world})
    start = time.perf_counter() - state["elapsed"]

    def next_rows():
        """This rank's share of the next global batch; a batch that runs past the end of
        an epoch continues into the next one, so every global batch is full and every rank
        agrees on the position."""
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

    while state["step"] < total_steps:
        step_loss = torch.zeros((), device=device)
        step_tokens = torch.zeros((), device=device, dtype=torch.long)
        for micro in range(accum):
            mine = next_rows()
            batch = {k: v.to(device) for k, v in
                     collate(mine, tokenizer.pad_token_id, packed).items()}
            sync = micro == accum - 1 or world == 1
            ctx = train_model.no_sync() if (world > 1 and not sync) else _null()
            with ctx, torch.autocast(device.split(":")[0], dtype=autocast_dtype,
                                     enabled=autocast_dtype is not None):
                loss = train_model(**batch, use_cache=False).loss / accum
            (scaler.scale(loss) if scaler else loss).backward()
            step_loss += loss.detach()
            step_tokens += sum(len(r["input_ids"]) for r in mine)
        if scaler:
            scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(trainable, t.max_grad_norm)
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if world > 1:
            dist.all_reduce(step_loss)
            dist.all_reduce(step_tokens)
            step_loss /= world
        state["step"] += 1
        state["tokens"] += int(step_tokens)
        state["loss"] = float(step_loss)
        state["elapsed"] = time.perf_counter() - start
        emit({"event": "step", "step": state["step"], "total_steps": total_steps,
              "loss": state["loss"], "lr": scheduler.get_last_lr()[0], "tokens": state["tokens"],
              "tokens_per_s": state["tokens"] / max(state["elapsed"], 1e-9)})

        gpu_hours = state["elapsed"] * world / 3600 if cuda else 0.0
        if exceeded({"train_tokens": state["tokens"], "gpu_hours": gpu_hours}, caps):
            status = "over_budget"
            break
        if every and state["step"] % every == 0 and state["step"] < total_steps and rank == 0:
            path = save_checkpoint(run_dir, model, optimizer, scheduler, state, cuda)
            emit({"event": "checkpoint", "step": state["step"], "path": str(path)})
        if world > 1 and every and state["step"] % every == 0:
            dist.barrier()
        if kill_after and state["step"] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    # --- save ----------------------------------------------------------------------------
    train_seconds = time.perf_counter() - start
    if rank == 0:
        model.save_pretrained(run_dir / "adapter", safe_serialization=True)
    if cuda:
        peak, peak_kind = torch.cuda.max_memory_allocated(device), "cuda_max_memory_allocated"
    else:
        peak, peak_kind = _peak_rss(), "process_max_rss"
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return {"status": status, "steps": state["step"], "total_steps": total_steps,
            "train_tokens": state["tokens"], "final_loss": state["loss"],
            "train_seconds": train_seconds, "device": _device_name(device), "processes": world,
            "gpu_hours": train_seconds * world / 3600 if cuda else 0.0,
            "parameters": parameters, "peak_memory_bytes": peak, "peak_memory_kind": peak_kind,
            "resumed": resume}


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return "cpu"


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
