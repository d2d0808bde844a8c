"""Training data: JSONL records -> token ids (modelcfg.core.batching) -> epoch order."""

from __future__ import annotations

import json
from pathlib import Path

from modelcfg.core.batching import encode_example


def read_jsonl(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def encode_records(tokenizer, records: list[dict], max_len: int) -> list[dict]:
    return [encode_example(tokenizer, r["prompt"], r["completion"], max_len) for r in records]


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The order rows are visited in one epoch: a permutation fixed by (seed, epoch), so a
    resumed run can recompute it from the checkpointed position alone."""
    import random

    order = list(range(n))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return order
