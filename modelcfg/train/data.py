"""Training data: each dataset's records (a JSONL file or a hub dataset) -> text in the
dataset's layout (:mod:`modelcfg.train.text`) -> training and validation examples -> token
ids (modelcfg.core.batching) -> epoch order."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

from modelcfg.config.formats import record_problem
from modelcfg.config.model import DatasetRef, ResolvedAdapter
from modelcfg.core.batching import IGNORE, encode_example
from modelcfg.core.errors import UserError


def read_jsonl(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def dataset_rows(d: DatasetRef) -> list[dict]:
    """The records of one dataset entry: its committed file, or its pinned hub dataset."""
    if d.abs_path is not None:
        return read_jsonl(d.abs_path)
    from modelcfg.train.hub_data import hub_rows

    return hub_rows(d)


def examples(resolved: ResolvedAdapter, tokenizer) -> tuple[list[dict], list[dict]]:
    """``(train, validation)`` examples as text, in config order. Validation examples come
    from datasets with ``role: validation``, or are ``training.validation_fraction`` of the
    training examples drawn by the seed (:func:`split_validation`)."""
    from modelcfg.train.text import record_text

    adapter = resolved.adapter
    t = adapter.training
    train, validation = [], []
    for d in resolved.datasets:
        fmt = d.record_format(adapter.method)
        rows = dataset_rows(d)
        if d.hub is not None:  # committed files were checked by validate (MC317)
            for i, row in enumerate(rows):
                problem = record_problem(row, fmt, d.fields)
                if problem:
                    raise UserError("MC508", f"hub dataset {d.hub}@{d.revision}: row {i}: "
                                    f"{problem}; map its columns with datasets[].fields")
        texts = [record_text(r, fmt, d.fields, t.chat_template, tokenizer) for r in rows]
        (validation if d.is_validation else train).extend(texts)
    if t.validation_fraction is not None:
        train, validation = split_validation(train, t.validation_fraction, t.seed)
    return train, validation


def split_validation(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """``(kept, held_out)``: ``ceil(fraction x n)`` rows (at least one, and one left to
    train on) drawn by ``seed``; both keep the rows' order."""
    n = len(rows)
    k = min(max(1, math.ceil(fraction * n)), n - 1)
    order = list(range(n))
    random.Random(f"validation:{seed}").shuffle(order)
    held = set(order[:k])
    return ([r for i, r in enumerate(rows) if i not in held],
            [r for i, r in enumerate(rows) if i in held])


def encode_records(tokenizer, records: list[dict], max_len: int) -> list[dict]:
    return [encode_templated(tokenizer, r, max_len) if r.get("templated")
            else encode_example(tokenizer, r["prompt"], r["completion"], max_len)
            for r in records]


def encode_templated(tokenizer, record: dict, max_len: int) -> dict:
    """A chat-template example: the rendered prompt, then the rendered answer (its turn's
    end included) and eos; only the answer and eos carry loss."""
    p = tokenizer(record["prompt"], add_special_tokens=False)["input_ids"]
    c = tokenizer(record["completion"], add_special_tokens=False)["input_ids"]
    c = c + [tokenizer.eos_token_id]
    return {"input_ids": (p + c)[:max_len], "labels": ([IGNORE] * len(p) + c)[:max_len]}


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """The order rows are visited in one epoch: a permutation fixed by (seed, epoch), so a
    resumed run can recompute it from the checkpointed position alone."""
    order = list(range(n))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    return order
