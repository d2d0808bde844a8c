"""Pre-launch training cost estimate (torch-free, documented in docs/config-reference.md).

    train_tokens = max_steps x batch_size x gradient_accumulation_steps x devices x max_seq_length
                   (or ceil(epochs x examples) x max_seq_length when training by epochs)
    flops        = 6 x parameters x train_tokens
    gpu_hours    = flops / (assumed_tflops x 1e12 x 3600)

Every budget rule compares through :func:`exceeded` (validate against the adapter's budget
and the contract's caps, training before its first step and after every step, the gate
against its thresholds), with the tighter of budget and caps from :func:`effective_caps`.

It is an upper bound on purpose: every row is counted at full ``max_seq_length`` (packing
only fills rows, it never adds any), and 6·N·T is the full-finetune FLOP count (forward 2N,
backward 4N) although a LoRA backward skips the frozen weight gradients. A budget that fits
this estimate fits the real run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from modelcfg.config.model import Budget, Caps, ResolvedAdapter, TrainingSpec

# A limit's field -> the figure it caps and the figure's unit.
LIMITS = {"max_train_tokens": ("train_tokens", "tokens"),
          "max_gpu_hours": ("gpu_hours", "GPU-hours"),
          "max_trainable_params": ("trainable_params", "trainable parameters")}
BUDGET = ("max_train_tokens", "max_gpu_hours")


def exceeded(figures: dict, limits: dict, keys=BUDGET) -> list[tuple[str, float, float]]:
    """``(limit field, value, limit)`` for each figure over its limit (a limit or figure that
    is not given is not over)."""
    out = []
    for key in keys:
        limit, value = limits.get(key), figures.get(LIMITS[key][0])
        if limit is not None and isinstance(value, (int, float)) and math.isfinite(value) \
                and value > limit:
            out.append((key, value, limit))
    return out


def effective_caps(budget: Budget, caps: Caps) -> dict:
    """The tighter of an adapter's budget and the contract's caps, per budget field, plus the
    contract's ``assumed_tflops``."""
    mine, theirs = budget.limits(), caps.limits()
    out = {}
    for key in BUDGET:
        values = [v for v in (mine.get(key), theirs.get(key)) if v is not None]
        if values:
            out[key] = min(values)
    out["assumed_tflops"] = caps.assumed_tflops
    return out


@dataclass(frozen=True)
class CostEstimate:
    parameters: int
    train_tokens: int
    flops: float
    gpu_hours: float
    assumed_tflops: float

    def to_dict(self) -> dict:
        return asdict(self)


class CostUnknown(ValueError):
    """The estimate needs a number the configs do not give (the message says which)."""


def estimate(training: TrainingSpec, parameters: int | None, examples: int | None,
             assumed_tflops: float) -> CostEstimate:
    if parameters is None:
        raise CostUnknown("the base Model does not give 'parameters' (its parameter count)")
    if training.max_steps is not None:
        rows = (training.max_steps * training.batch_size
                * training.gradient_accumulation_steps * training.devices)
    else:
        if examples is None:
            raise CostUnknown("training by epochs needs the number of examples of every "
                              "dataset; give 'examples' for hub datasets or use max_steps")
        rows = math.ceil(training.epochs * examples)
    tokens = rows * training.max_seq_length
    flops = 6.0 * parameters * tokens
    return CostEstimate(parameters, tokens, flops, flops / (assumed_tflops * 1e12 * 3600),
                        assumed_tflops)


def count_examples(path) -> int:
    """Non-blank lines of a JSONL dataset file."""
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def estimate_cost(resolved: ResolvedAdapter) -> CostEstimate:
    """The pre-launch estimate for a :func:`~modelcfg.config.resolve.resolve_adapter`
    result."""
    examples: int | None = 0
    for entry in resolved.datasets:
        count = count_examples(entry.abs_path) if entry.abs_path else entry.examples
        examples = None if examples is None or count is None else examples + count
    return estimate(resolved.adapter.training, resolved.model_parameters, examples,
                    resolved.caps.assumed_tflops)
