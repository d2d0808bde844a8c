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
from modelcfg.train.recipe import Prepared, prepare, recipe_record, run_stats

PAIR = ("prompt", "chosen", "rejected")


def run_dpo(resolved: ResolvedAdapter, root: Path, run_dir: Path, *, resume: bool, emit,
            caps: dict, model_cache: str | Path | None = None) -> dict:
    """Train ``resolved``'s adapter with DPO into ``run_dir/adapter``; returns the stats."""
    import torch
    from datasets import Dataset
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOTrainer

    t = resolved.adapter.training
    prep = prepare(resolved, root, model_cache, own_process_group=False)
    data = Dataset.from_list([{k: r[k] for k in PAIR} for r in prep.records])
    held = (Dataset.from_list([{k: r[k] for k in PAIR} for r in prep.validation])
            if prep.validation else None)
    state = {"loss": None, "over": False, "start": time.perf_counter()}
    warmup = t.warmup_for(t.total_steps(len(data), prep.world))
    trainer = DPOTrainer(model=prep.model, ref_model=None,
                         args=dpo_args(t, run_dir, prep.cuda, warmup),
                         train_dataset=data, eval_dataset=held, processing_class=prep.tokenizer,
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
    validation = held_out_loss(trainer, len(held)) if held is not None else None
    if prep.rank == 0:
        prep.model.save_pretrained(run_dir / "adapter", safe_serialization=True)
    ts = trainer.state
    return run_stats(prep, status="over_budget" if state["over"] else "complete",
                     steps=ts.global_step, total_steps=ts.max_steps,
                     train_tokens=int(ts.num_input_tokens_seen), final_loss=state["loss"],
                     train_seconds=train_seconds, resumed=checkpoint is not None,
                     recipe=recipe_record(prep, t, trainer.optimizer), validation=validation)


def held_out_loss(trainer, examples: int) -> dict:
    """The DPO loss and reward margin (chosen minus rejected, times beta) of the held-out
    pairs after training."""
    metrics = trainer.evaluate()
    return {"examples": examples, "loss": float(metrics["eval_loss"]),
            "reward_margin": float(metrics["eval_rewards/margins"])}


def dpo_args(t: TrainingSpec, run_dir: Path, cuda: bool, warmup_steps: int):
    """trl's DPOConfig for the ``training`` block. Every field is passed explicitly, so
    trl's own defaults (gradient checkpointing on, the fused AdamW, bf16 on) never decide:
    ``warmup_steps`` is the run's warmup in steps (``TrainingSpec.warmup_for``: the pinned
    TrainingArguments have no ``warmup_ratio``), a null ``max_grad_norm`` is 0 (Trainer
    clips only above 0), ``dpo_beta`` alone is left to trl when not written."""
    from trl import DPOConfig

    length = ({"max_steps": t.max_steps} if t.max_steps is not None
              else {"num_train_epochs": t.epochs})
    beta = {} if t.dpo_beta is None else {"beta": t.dpo_beta}
    saving = ({"save_strategy": "steps", "save_steps": t.checkpoint_every}
              if t.checkpoint_every else {"save_strategy": "no"})
    return DPOConfig(
        output_dir=str(run_dir / "checkpoints"), per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate, lr_scheduler_type=t.lr_scheduler,
        weight_decay=t.weight_decay, optim=t.optimizer or "adamw_torch",
        max_grad_norm=0.0 if t.max_grad_norm is None else t.max_grad_norm,
        warmup_steps=warmup_steps, per_device_eval_batch_size=t.batch_size,
        max_length=t.max_seq_length, seed=t.seed, data_seed=t.seed,
        bf16=t.precision == "bf16", fp16=t.precision == "fp16", use_cpu=not cuda,
        save_total_limit=2, logging_steps=1, report_to="none", disable_tqdm=True,
        include_num_input_tokens_seen="non_padding", dataloader_num_workers=0,
        activation_checkpointing=bool(t.gradient_checkpointing),
        activation_checkpointing_kwargs={"use_reentrant": False}, **length, **beta, **saving)


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
