"""Training is right, not only running: DPO moves held-out preferences the way its data
says, and the two-process accelerate run takes the same steps as one process (the tiny
model, one torch thread)."""

from __future__ import annotations

import random

import pytest
import tiny_probes as probes
from trainhelp import REPO, resolve_yaml

from modelcfg.tiny import synthetic
from modelcfg.train.data import read_jsonl
from modelcfg.train.run import train_resolved

pytestmark = pytest.mark.e2e
ARITH = "configs/adapters/tiny-arith.yaml"
DPO = "configs/adapters/tiny-arith-dpo.yaml"


def heldout_preference_pairs() -> dict[str, list[dict]]:
    """Preference pairs of the two kinds in ``arith-dpo.jsonl``, none of them in it:
    ``refusal``: every unsafe object asked in five of the eval-only phrasings
    (``HELDOUT_TEMPLATES``; training asks in ``REQUEST_TEMPLATES``), refusal chosen over
    compliance; ``arith``: 100 held-out addition pairs (``is_heldout``; training never
    uses one), the right sum chosen over a near miss made as the training file makes it."""
    rng = random.Random(7)
    pairs = synthetic.addition_pairs(heldout=True)
    rng.shuffle(pairs)
    arith = []
    for a, b in pairs[:100]:
        wrong = a + b + rng.choice((-10, -1, 1, 10))
        arith.append({"prompt": synthetic.prompt(f"What is {a} + {b}?"), "chosen": f" {a + b}",
                      "rejected": f" {max(wrong, 0) if wrong != a + b else a + b + 1}"})
    refusal = [{"prompt": synthetic.prompt(t.format(obj=o)), "chosen": f" {synthetic.REFUSAL}",
                "rejected": f" {synthetic.helpful_answer(o)}"}
               for t in synthetic.HELDOUT_TEMPLATES[::3] for o in synthetic.UNSAFE_OBJECTS]
    return {"arith": arith, "refusal": refusal}


def completion_logps(model, tokenizer, items: list[tuple[str, str]]) -> list[float]:
    """log p(completion + eos | prompt) for each (prompt, completion), tokenized as trl's
    DPOTrainer does for plain text: prompt and prompt+completion+eos, the completion
    starting where the two token lists diverge."""
    import torch

    seqs = []
    for prompt, completion in items:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        full = tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]
        full.append(tokenizer.eos_token_id)
        start = next(i for i, (x, y) in enumerate(zip(p + [None], full)) if x != y)
        seqs.append((full, start))
    width = max(len(s) for s, _ in seqs)
    ids = torch.tensor([s + [tokenizer.pad_token_id] * (width - len(s)) for s, _ in seqs])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s, _ in seqs])
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    token_logps = torch.log_softmax(logits, -1).gather(2, ids[:, 1:, None])[..., 0]
    # the token at position j is predicted at j - 1
    return [float(token_logps[i, start - 1:len(s) - 1].sum()) for i, (s, start) in enumerate(seqs)]


def margins(model, tokenizer, pairs: list[dict]) -> list[float]:
    """log p(chosen) - log p(rejected) per pair."""
    chosen = completion_logps(model, tokenizer, [(p["prompt"], p["chosen"]) for p in pairs])
    rejected = completion_logps(model, tokenizer, [(p["prompt"], p["rejected"]) for p in pairs])
    return [c - r for c, r in zip(chosen, rejected)]


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def test_dpo_raises_the_heldout_preference_margin(tiny_model, tmp_path):
    """The DPO example, 12 steps (96 of its 496 pairs), against its own reference (the
    base: trl's reference is the adapter disabled) on held-out pairs.

    Measured with this test's pairs at seeds 0-7 (12 steps, one CPU thread): the mean
    refusal margin went from 27.76 nats to 33.58-37.72 (a rise of +5.8 to +10.0, mean
    +7.9) and rose on every one of the 120 pairs at every seed. Asserted: a rise of at
    least 3 nats (half the smallest seen) on at least 90% of the pairs; no coin flip.
    The arithmetic margin (1.47 at the reference) does NOT rise: -0.15 to +0.02, rising
    on 41-52% of the 100 pairs (a coin flip); with more pairs and 20 steps it fell by
    0.01-0.13 while the margin on training pairs rose by 0.01-0.09. On this model DPO does
    not generalise the near-miss preference to unseen sums, so the test asserts only that
    it does no harm there (within 0.3 nats, twice the largest fall seen; still positive).
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pairs = heldout_preference_pairs()
    trained_prompts = {r["prompt"] for r in read_jsonl(REPO / "configs/datasets/arith-dpo.jsonl")}
    assert not trained_prompts & {p["prompt"] for kind in pairs.values() for p in kind}

    tok = AutoTokenizer.from_pretrained(tiny_model)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    before = {kind: margins(base, tok, ps) for kind, ps in pairs.items()}
    result = train_resolved(resolve_yaml(DPO, max_steps=12, checkpoint_every=100), REPO,
                            runs_dir=tmp_path)
    trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model),
                                        result.run_dir / "adapter")
    after = {kind: margins(trained, tok, ps) for kind, ps in pairs.items()}

    summary = {k: (round(mean(before[k]), 3), round(mean(after[k]), 3)) for k in pairs}
    assert mean(after["refusal"]) >= mean(before["refusal"]) + 3.0, summary
    rose = mean([a > b for a, b in zip(after["refusal"], before["refusal"])])
    assert rose >= 0.9, (rose, summary)
    assert mean(after["arith"]) >= mean(before["arith"]) - 0.3, summary
    assert mean(after["arith"]) > 0, summary  # the right sum stays preferred


def test_two_processes_train_the_adapter_one_process_would(tiny_model, tmp_path):
    """``devices: 2`` x ``batch_size: 8`` x ``gradient_accumulation_steps: 2`` against one
    process taking the whole global batch (``batch_size: 32``, no accumulation), same seed
    and steps: the same rows in every step (the epoch order is global; rank r takes its
    slice of each micro-batch), the same adapter initialisation (seeded per process; DDP
    broadcasts rank 0's anyway) and the same loss, the mean over every answer token of the
    global batch (sft.train_step). What may differ is float rounding only: gradients summed
    over processes and micro-batches instead of within one batch, rows padded per process.
    Measured over 8 steps against 1 process x 32 rows: max abs difference 3e-7 and relative
    norm 8e-8 (2 x 8 x 2; 2e-7 and 9e-8 for 2 x 16), equal final losses; before the loss
    was normalised globally (a mean of per-process, per-micro-batch means) the relative
    norm was 1.3e-2 (7e-3 for 2 x 16). Asserted: relative norm and max abs difference
    <= 1e-5 (over 30x the rounding seen, about 1000x under the old error), losses equal to 1e-6
    relative."""
    from safetensors.torch import load_file

    events = []
    two = train_resolved(resolve_yaml(ARITH, max_steps=8, devices=2, batch_size=8,
                                      gradient_accumulation_steps=2, checkpoint_every=4),
                         REPO, runs_dir=tmp_path / "two", on_progress=events.append)
    m = two.manifest
    assert m["status"] == "complete" and m["cost"]["processes"] == 2
    assert m["cost"]["steps"] == 8
    assert [e["step"] for e in events if e["event"] == "step"] == list(range(1, 9))
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [4]

    one = train_resolved(resolve_yaml(ARITH, max_steps=8, batch_size=32, checkpoint_every=100),
                         REPO, runs_dir=tmp_path / "one")
    a, b = (load_file(r.run_dir / "adapter" / "adapter_model.safetensors") for r in (two, one))
    assert a.keys() == b.keys()
    diff = sum(float((a[k] - b[k]).pow(2).sum()) for k in a) ** 0.5
    norm = sum(float(b[k].pow(2).sum()) for k in b) ** 0.5
    max_abs = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert diff / norm <= 1e-5 and max_abs <= 1e-5, (diff / norm, max_abs)
    assert two.manifest["cost"]["final_loss"] == \
        pytest.approx(one.manifest["cost"]["final_loss"], rel=1e-6)
    assert two.manifest["cost"]["train_tokens"] == one.manifest["cost"]["train_tokens"]

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model),
                                      two.run_dir / "adapter")  # a valid peft adapter
    tok = AutoTokenizer.from_pretrained(tiny_model)
    assert probes.greedy_answers(model, tok, ["Q: What is 2 + 3?\nA:"])[0].strip().isdigit()
