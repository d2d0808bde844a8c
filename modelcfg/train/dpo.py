"""The DPO recipe: trl's DPOTrainer on (prompt, chosen, rejected) with a LoRA adapter.

The reference model is the base with the adapter disabled (``ref_model=None`` on a peft
model), so no second copy of the weights is loaded. Progress, the running budget check and
the token count come from a TrainerCallback; checkpoints are Trainer's own
(``checkpoints/checkpoint-N``) and ``resume`` continues from the newest.
"""

from __future__ import annotations

import time
from pathlib import Path

from modelcfg.config.cost import exceeded
from modelcfg.config.model import ResolvedAdapter, TrainingSpec
from modelcfg.train.recipe import Prepared, prepare, run_stats


def run_dpo(resolved: ResolvedAdapter, root: Path, run_dir: Path, *, resume: bool, emit,
            caps: dict, model_cache: str | Path | None = None) -> dict:
    """Train ``resolved``'s adapter with DPO into ``run_dir/adapter``; returns the stats."""
    import torch
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOTrainer

    t = resolved.adapter.training
    prep = prepare(resolved, root, model_cache, own_process_group=False)
    data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")}
                              for r in prep.records])
    state = {"loss": None, "over": False, "start": time.perf_counter()}
    trainer = DPOTrainer(model=prep.model, ref_model=None, args=dpo_args(t, run_dir, prep.cuda),
                         train_dataset=data, processing_class=prep.tokenizer,
                         callbacks=[progress_callback(state, emit, caps, prep)])
    trainer.remove_callback(PrinterCallback)  # library code does not print; emit() reports
    emit({"event": "start", "total_steps": t.max_steps, "step": 0, "device": prep.device,
          "processes": prep.world})
    if prep.cuda:
        torch.cuda.reset_peak_memory_stats()
    checkpoint = latest_trainer_checkpoint(run_dir) if resume else None
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    train_seconds = time.perf_counter() - start
    if prep.rank == 0:
        prep.model.save_pretrained(run_dir / "adapter", safe_serialization=True)
    ts = trainer.state
    return run_stats(prep, status="over_budget" if state["over"] else "complete",
                     steps=ts.global_step, total_steps=ts.max_steps,
                     train_tokens=int(ts.num_input_tokens_seen), final_loss=state["loss"],
                     train_seconds=train_seconds, resumed=checkpoint is not None)


def dpo_args(t: TrainingSpec, run_dir: Path, cuda: bool):
    """trl's DPOConfig for the ``training`` block. Optional fields the config leaves out
    (warmup, ``dpo_beta``) are left to trl's own defaults."""
    from trl import DPOConfig

    length = ({"max_steps": t.max_steps} if t.max_steps is not None
              else {"num_train_epochs": t.epochs})
    if t.warmup_steps is not None:
        warmup = {"warmup_steps": t.warmup_steps}
    else:
        warmup = {} if t.warmup_ratio is None else {"warmup_ratio": t.warmup_ratio}
    beta = {} if t.dpo_beta is None else {"beta": t.dpo_beta}
    saving = ({"save_strategy": "steps", "save_steps": t.checkpoint_every}
              if t.checkpoint_every else {"save_strategy": "no"})
    return DPOConfig(
        output_dir=str(run_dir / "checkpoints"), per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler,
        weight_decay=t.weight_decay, max_grad_norm=t.max_grad_norm,
        max_length=t.max_seq_length, seed=t.seed, data_seed=t.seed,
        bf16=t.precision == "bf16", fp16=t.precision == "fp16", use_cpu=not cuda,
        save_total_limit=2, logging_steps=1, report_to="none", disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", dataloader_num_workers=0,
        gradient_checkpointing=False, **length, **warmup, **beta, **saving)


def progress_callback(state: dict, emit, caps: dict, prep: Prepared):
    """A TrainerCallback that reports steps and checkpoints through ``emit``, keeps the
    last loss in ``state`` and stops training (``state["over"]``) once over budget."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_log(self, args, tstate, control, logs=None, **kw):
            if logs and "loss" in logs:
                state["loss"] = float(logs["loss"])

        def on_step_end(self, args, tstate, control, **kw):
            elapsed = time.perf_counter() - state["start"]
            tokens = int(tstate.num_input_tokens_seen)
            emit({"event": "step", "step": tstate.global_step, "total_steps": tstate.max_steps,
                  "loss": state["loss"], "tokens": tokens,
                  "tokens_per_s": tokens / max(elapsed, 1e-9)})
            gpu_hours = elapsed * prep.world / 3600 if prep.cuda else 0.0
            if exceeded({"train_tokens": tokens, "gpu_hours": gpu_hours}, caps):
                state["over"] = True
                control.should_training_stop = True

        def on_save(self, args, tstate, control, **kw):
            emit({"event": "checkpoint", "step": tstate.global_step})

    return Progress()


def latest_trainer_checkpoint(run_dir: Path) -> Path | None:
    found = sorted((run_dir / "checkpoints").glob("checkpoint-*"),
                   key=lambda p: int(p.name.split("-")[-1]))
    return found[-1] if found else None
