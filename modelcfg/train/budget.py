"""A training run's budget: the caps that apply (budget and contract, the tighter) and the
pre-launch refusal when the estimate is already over them (MC501)."""

from __future__ import annotations

from modelcfg.config.cost import effective_caps, exceeded
from modelcfg.config.model import ResolvedAdapter
from modelcfg.core.errors import UserError


def budget_caps(resolved: ResolvedAdapter) -> dict:
    """The tighter of the adapter's budget and the contract's caps."""
    return effective_caps(resolved.adapter.budget, resolved.caps)


def prelaunch_estimate(resolved: ResolvedAdapter) -> dict:
    """The same upper-bound estimate ``validate`` shows (modelcfg.config.cost): every row counted at
    max_seq_length, 6·N·T FLOPs, GPU-hours at the contract's assumed TFLOP/s."""
    from modelcfg.config.cost import CostUnknown, estimate_cost

    try:
        return estimate_cost(resolved).to_dict()
    except CostUnknown as exc:
        raise UserError("MC501", f"cannot check the budget before training: {exc}") from exc


def refuse_over_budget(estimate: dict, caps: dict) -> None:
    words = {"max_train_tokens": "{:,} training tokens > cap {:,}",
             "max_gpu_hours": "{:.4g} GPU-hours > cap {:.4g}"}
    over = [words[key].format(value, limit) for key, value, limit in exceeded(estimate, caps)]
    if over:
        raise UserError("MC501", "refused before training: the pre-launch estimate exceeds "
                        "the budget: " + "; ".join(over) + " (estimate: "
                        f"{estimate['flops']:.3g} FLOPs = 6 x {estimate['parameters']:,} "
                        "parameters x tokens). Lower max_steps/batch_size/max_seq_length or "
                        "raise budget within the contract's caps")


def caps_text(caps: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in caps.items() if k != "assumed_tflops") or "none"
