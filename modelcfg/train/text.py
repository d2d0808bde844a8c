"""Training records as text: each record, read in its dataset's layout
(:mod:`modelcfg.config.formats`), becomes ``{prompt, completion}`` (SFT) or
``{prompt, chosen, rejected}`` (DPO) strings, through the adapter's chat template.

- ``chat_template`` none (or absent): prompt and completion as written (an example is then
  ``prompt + completion + "\\n" + eos``, :mod:`modelcfg.core.batching`); alpaca records use
  the Alpaca prompt below; messages need a template (``validate``: MC338).
- ``tokenizer`` / ``chatml``: the conversation (a prompt is one user message; alpaca's
  instruction and input one user message) is rendered by the template. The prompt is
  everything before the last assistant message plus the template's generation prompt; the
  completion is the rest of the rendered conversation (the answer and its end-of-turn
  marker), followed by eos. Only the last assistant message carries loss.
"""

from __future__ import annotations

from modelcfg.config.formats import canonical

# ChatML, as Qwen and many fine-tuning recipes write it.
CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
          "{{ message['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
# The Stanford Alpaca prompts (with and without an input).
ALPACA = ("Below is an instruction that describes a task, paired with an input that provides "
          "further context. Write a response that appropriately completes the request.\n\n"
          "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n")
ALPACA_NO_INPUT = ("Below is an instruction that describes a task. Write a response that "
                   "appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n"
                   "### Response:\n")


def record_text(record: dict, fmt: str, fields: dict | None, template: str | None,
                tokenizer) -> dict:
    """One record as the strings a recipe trains on; ``templated`` tells the SFT encoder
    whether the completion already ends its turn (then no newline is added)."""
    rec = canonical(record, fmt, fields)
    if fmt == "preference":
        if template in (None, "none"):
            return {k: rec[k] for k in ("prompt", "chosen", "rejected")}
        turn = [{"role": "user", "content": rec["prompt"]}]
        prompt = render(tokenizer, template, turn, generation=True)
        return {"prompt": prompt,
                "chosen": answer(tokenizer, template, turn, prompt, rec["chosen"]),
                "rejected": answer(tokenizer, template, turn, prompt, rec["rejected"])}
    if template in (None, "none"):
        if fmt == "alpaca":
            form = ALPACA if rec["input"] else ALPACA_NO_INPUT
            return {"prompt": form.format(**rec), "completion": rec["output"],
                    "templated": False}
        return {"prompt": rec["prompt"], "completion": rec["completion"], "templated": False}
    turns = conversation(rec, fmt)
    prompt = render(tokenizer, template, turns[:-1], generation=True)
    return {"prompt": prompt,
            "completion": answer(tokenizer, template, turns[:-1], prompt, turns[-1]["content"]),
            "templated": True}


def conversation(rec: dict, fmt: str) -> list[dict]:
    """The record as chat messages, the trained answer last."""
    if fmt == "messages":
        return [{"role": m["role"], "content": m["content"]} for m in rec["messages"]]
    if fmt == "alpaca":
        user = rec["instruction"] + (f"\n\n{rec['input']}" if rec["input"] else "")
        return [{"role": "user", "content": user}, {"role": "assistant", "content": rec["output"]}]
    return [{"role": "user", "content": rec["prompt"]},
            {"role": "assistant", "content": rec["completion"]}]


def render(tokenizer, template: str, messages: list[dict], *, generation: bool) -> str:
    """``messages`` rendered by the tokenizer's template or the built-in ChatML one."""
    extra = {"chat_template": CHATML} if template == "chatml" else {}
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=generation, **extra)


def answer(tokenizer, template: str, before: list[dict], prompt: str, content: str) -> str:
    """The assistant turn ``content`` as the template renders it after ``prompt``."""
    full = render(tokenizer, template, before + [{"role": "assistant", "content": content}],
                  generation=False)
    return full[len(prompt):] if full.startswith(prompt) else content
