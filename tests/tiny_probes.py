"""Quick behaviour probes of a model in the tiny model's synthetic world (greedy decoding,
no lm-eval): what the tiny-model and training tests measure."""

from __future__ import annotations

from modelcfg.tiny import synthetic


def greedy_answers(model, tokenizer, prompts: list[str], max_new_tokens: int = 16,
                   batch_size: int = 64) -> list[str]:
    """Greedy completions cut at the first newline: the quick exact-match helper tests and
    benchmarks use (the eval suites use lm-eval)."""
    import torch

    newline = tokenizer("\n", add_special_tokens=False)["input_ids"][-1]
    tokenizer.padding_side = "left"
    answers = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(prompts), batch_size):
            enc = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True,
                            add_special_tokens=False)
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 eos_token_id=[newline, tokenizer.eos_token_id],
                                 pad_token_id=tokenizer.pad_token_id)
            texts = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:],
                                           skip_special_tokens=True)
            answers += [t.split("\n")[0] for t in texts]
    tokenizer.padding_side = "right"
    return answers


def addition_exact_match(model, tokenizer, n: int = 200) -> float:
    items = [x for _, x in zip(range(n), synthetic.eval_addition())]
    answers = greedy_answers(model, tokenizer, [x["prompt"] for x in items])
    return sum(a.strip() == x["answer"] for a, x in zip(answers, items)) / len(items)


def refusal_rate(model, tokenizer, unsafe: bool) -> float:
    items = synthetic.eval_requests(unsafe)
    answers = greedy_answers(model, tokenizer, [x["prompt"] for x in items])
    return sum(synthetic.is_refusal(a) for a in answers) / len(items)
