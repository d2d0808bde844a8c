"""Token sequences for causal-LM training: answer-only labels, packing, padded batches.

Pure functions over plain lists; torch only where tensors are made. Shared by the tiny
model's pretraining and the SFT recipe. One example is ``prompt + completion + "\\n" + eos``:
the prompt and the completion are tokenized separately (as at generation time, when the
model sees the prompt alone) and only the completion, the newline that ends an answer and
eos carry a loss (labels of prompt tokens are -100).

Packing concatenates whole examples into rows of ``max_seq_length`` tokens. Position ids
restart at 0 for every example, and the batch is passed with ``attention_mask=None``:
transformers (with ``use_cache=False``) derives a block-diagonal causal mask from them, so
attention never crosses from one example into another (the same as training them
unpacked, minus the padding). An example longer than ``max_seq_length`` is truncated.
"""

from __future__ import annotations

IGNORE = -100


def encode_example(tokenizer, prompt: str, completion: str, max_len: int) -> dict:
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = tokenizer(completion + "\n", add_special_tokens=False)["input_ids"]
    c = c + [tokenizer.eos_token_id]
    ids = (p + c)[:max_len]
    labels = ([IGNORE] * len(p) + c)[:max_len]
    return {"input_ids": ids, "labels": labels}


def pack_examples(examples: list[dict], max_len: int) -> list[dict]:
    """Greedy first-fit in the given order: each row holds whole examples, positions restart."""
    rows, cur = [], {"input_ids": [], "labels": [], "position_ids": []}
    for ex in examples:
        n = len(ex["input_ids"])
        if cur["input_ids"] and len(cur["input_ids"]) + n > max_len:
            rows.append(cur)
            cur = {"input_ids": [], "labels": [], "position_ids": []}
        cur["input_ids"] += ex["input_ids"]
        cur["labels"] += ex["labels"]
        cur["position_ids"] += list(range(n))
    if cur["input_ids"]:
        rows.append(cur)
    return rows


def collate(rows: list[dict], pad_id: int, packed: bool) -> dict:
    """Pad to the longest row. Packed rows get no attention mask (positions carry the
    example boundaries; the padding tail restarts at 0 so it is its own segment)."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids, labels, pos, mask = [], [], [], []
    for r in rows:
        n, pad = len(r["input_ids"]), width - len(r["input_ids"])
        ids.append(r["input_ids"] + [pad_id] * pad)
        labels.append(r["labels"] + [IGNORE] * pad)
        if packed:
            pos.append(r["position_ids"] + list(range(pad)))
        else:
            mask.append([1] * n + [0] * pad)
    batch = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}
    if packed:
        batch["position_ids"] = torch.tensor(pos)
    else:
        batch["attention_mask"] = torch.tensor(mask)
    return batch
