"""Timing the candidate and the baseline adapter against each other on one machine.

A latency recorded on another machine (or in another job) is not comparable, so both
adapters are loaded here, each served as its config says it will be deployed (merged into
the base weights, or as a separate LoRA), and timed on the same prompts: one warm-up run
each, then ``repeats`` alternating pairs whose order flips every pair (A B, B A, A B, ...)
so that drift in the machine's speed falls on both. A run generates ``new_tokens`` tokens
greedily for every prompt, one prompt at a time (the deployed shape: one request), and
gives seconds per generated token. :mod:`modelcfg.gate.latency` judges the pairs.
"""

from __future__ import annotations

import time
from pathlib import Path

from modelcfg.core.errors import UserError

# Fixed prompts of the tiny model's domain; the decode cost, not the answer, is measured.
PROMPTS = tuple(f"Q: What is {a} + {b}?\nA:" for a, b in
                ((12, 7), (31, 45), (8, 86), (53, 29), (64, 17), (25, 25), (90, 9), (41, 38)))


def _load(model_path: Path, adapter: Path | None, merge: bool):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_path, torch_dtype=torch.float32)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
        if merge:
            model = model.merge_and_unload()
    return model.eval()


def _run(model, tokenizer, prompts, new_tokens: int) -> float:
    """Seconds per generated token over ``prompts``, one request at a time."""
    import torch

    generated, seconds = 0, 0.0
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt")
            start = time.perf_counter()
            out = model.generate(**ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                 do_sample=False, pad_token_id=tokenizer.eos_token_id)
            seconds += time.perf_counter() - start
            generated += out.shape[1] - ids["input_ids"].shape[1]
    if generated == 0:
        raise UserError("MC852", "the latency run generated no tokens", exit_code=2)
    return seconds / generated


def measure_pair(model_path: Path, candidate: Path | None, baseline: Path | None, *,
                 candidate_merge: bool, baseline_merge: bool, repeats: int,
                 new_tokens: int = 16, prompts=PROMPTS) -> dict:
    """Alternating timings of the candidate and the baseline adapter (None: the base model
    alone), each loaded once and served merged or not: ``{"candidate": [...], "baseline":
    [...]}`` in seconds per generated token, one entry per pair, plus how it was measured."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    models = {"candidate": _load(model_path, candidate, candidate_merge),
              "baseline": _load(model_path, baseline, baseline_merge)}
    for name in models:  # warm-up: first-call allocations and caches are not measured
        _run(models[name], tokenizer, prompts[:2], new_tokens)
    timings: dict[str, list[float]] = {"candidate": [], "baseline": []}
    for i in range(repeats):
        order = ("candidate", "baseline") if i % 2 == 0 else ("baseline", "candidate")
        for name in order:
            timings[name].append(_run(models[name], tokenizer, prompts, new_tokens))
    return {**timings, "repeats": repeats, "new_tokens": new_tokens, "prompts": len(prompts),
            "candidate_merged": bool(candidate is not None and candidate_merge),
            "baseline_merged": bool(baseline is not None and baseline_merge),
            "order": "alternating, flipped every pair, after one warm-up run each"}
