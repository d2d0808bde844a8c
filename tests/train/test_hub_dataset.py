"""Hub datasets train, offline, from a small local snapshot laid out as the hub cache
(``datasets--<owner>--<name>/snapshots/<sha>/<files>``, ``refs/main``): at the pinned
revision, subset and split, read with the ``datasets`` library; what cannot be loaded is
MC508 before any model is loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from trainhelp import REPO

from modelcfg.config.builtin import BUILTIN
from modelcfg.config.model import Adapter, DatasetRef, Model, ResolvedAdapter
from modelcfg.core.errors import UserError

REPO_ID = "modelcfg-test/arith"
SHA = "0123456789abcdef0123456789abcdef01234567"
TRAIN = [{"question": f"Q: What is {a} + 2?\nA:", "answer": f" {a + 2}"} for a in range(12)]
TEST = [{"question": f"Q: What is {a} + 8?\nA:", "answer": f" {a + 8}"} for a in range(4)]
CARD = """---
configs:
- config_name: easy
  data_files:
  - split: train
    path: easy/train.jsonl
  - split: test
    path: easy/test.jsonl
- config_name: hard
  data_files:
  - split: train
    path: hard/train.jsonl
---
A tiny test dataset.
"""
# Every field a hub entry can have (tests/train/test_recipe_fields.py checks the schema's
# dataset fields are all set somewhere).
HUB_ENTRY = {"hub": REPO_ID, "revision": SHA, "subset": "easy", "split": "train",
             "examples": 12, "format": "prompt_completion",
             "fields": {"prompt": "question", "completion": "answer"}, "role": "train"}


def make_hub_cache(root: Path) -> Path:
    """A hub cache holding one dataset snapshot; returns the cache folder."""
    cache = root / "hub"
    repo = cache / f"datasets--{REPO_ID.replace('/', '--')}"
    snap = repo / "snapshots" / SHA
    for name, rows in (("easy/train.jsonl", TRAIN), ("easy/test.jsonl", TEST),
                       ("hard/train.jsonl", TRAIN[:2])):
        (snap / name).parent.mkdir(parents=True, exist_ok=True)
        (snap / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (snap / "README.md").write_text(CARD)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(SHA)
    return cache


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """The test's hub cache, offline, for this process: the environment a user sets, and
    the constants huggingface_hub and datasets read it into at import."""
    import datasets.config
    import huggingface_hub.constants as hub

    cache = make_hub_cache(tmp_path)
    for name, value in (("HF_HOME", tmp_path), ("HF_HUB_CACHE", cache),
                        ("HF_DATASETS_CACHE", tmp_path / "datasets"),
                        ("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1")):
        monkeypatch.setenv(name, str(value))
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return tmp_path


def resolved_hub(entries: list[dict]) -> ResolvedAdapter:
    doc = {"apiVersion": "modelcfg/v1", "kind": "Adapter", "name": "hub-sft", "base": "tiny-llama",
           "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
           "training": {"max_steps": 3, "learning_rate": 0.01, "batch_size": 4,
                        "max_seq_length": 32},
           "datasets": entries, "evals": {"suites": ["s"]},
           "budget": {"max_train_tokens": 1_000_000}, "rationale": "hub data"}
    model = yaml.safe_load((REPO / "configs/models/tiny-llama.yaml").read_text())
    return ResolvedAdapter(
        adapter=Adapter.from_document(doc), adapter_path="configs/adapters/hub-sft.yaml",
        model=Model.from_document(model),
        datasets=tuple(DatasetRef.from_document(e) for e in entries), suites=(), tasks=(),
        model_parameters=BUILTIN["tiny-llama"]["parameters"], contract=None)


@pytest.mark.e2e
def test_hub_dataset_trains_offline_at_its_revision_subset_and_split(tiny_model,
                                                                      offline_hub):
    from modelcfg.train.run import train_resolved

    held = {**HUB_ENTRY, "split": "test", "role": "validation"}
    result = train_resolved(resolved_hub([HUB_ENTRY, held]), REPO,
                            runs_dir=offline_hub / "runs")
    m = result.manifest
    assert m["status"] == "complete" and m["cost"]["steps"] == 3
    assert m["recipe"]["train_examples"] == 12  # subset easy, split train
    assert m["validation"]["examples"] == 4  # split test
    pins = m["inputs"]["datasets"]
    assert pins[0] == {k: v for k, v in HUB_ENTRY.items() if k != "examples"}
    assert pins[1]["split"] == "test" and pins[1]["role"] == "validation"


def test_rows_come_from_the_pinned_subset_and_split(offline_hub):
    from modelcfg.train.hub_data import hub_rows

    ref = DatasetRef.from_document(HUB_ENTRY)
    assert hub_rows(ref) == TRAIN
    assert hub_rows(DatasetRef.from_document({**HUB_ENTRY, "subset": "hard"})) == TRAIN[:2]
    assert hub_rows(DatasetRef.from_document({**HUB_ENTRY, "split": "test"})) == TEST


@pytest.mark.parametrize("change, words", [
    ({"revision": "f" * 40}, "not in the hub cache"),
    ({"hub": "modelcfg-test/other"}, "not in the hub cache"),
    ({"split": "validation"}, "split 'validation'"),
    ({"subset": "medium"}, "subset 'medium'"),
    ({"fields": {"prompt": "query"}}, "row 0: record lacks string field(s) query"),
])
def test_what_cannot_be_loaded_is_mc508(offline_hub, change, words):
    from modelcfg.train.data import dataset_rows, examples

    resolved = resolved_hub([{**HUB_ENTRY, **change}])
    with pytest.raises(UserError) as err:
        if "fields" in change:
            examples(resolved, tokenizer=None)
        else:
            dataset_rows(resolved.datasets[0])
    assert err.value.code == "MC508" and words in err.value.message, err.value.message


def test_offline_by_the_environment_alone(tmp_path):
    """A fresh process reads the hub cache from HF_HUB_CACHE with HF_HUB_OFFLINE=1 and
    HF_DATASETS_OFFLINE=1 set, as a runner without network would."""
    cache = make_hub_cache(tmp_path)
    code = ("import json, sys; from modelcfg.config.model import DatasetRef; "
            "from modelcfg.train.hub_data import hub_rows; "
            f"print(json.dumps(hub_rows(DatasetRef.from_document({HUB_ENTRY!r}))))")
    env = {**os.environ, "HF_HOME": str(tmp_path), "HF_HUB_CACHE": str(cache),
           "HF_DATASETS_CACHE": str(tmp_path / "datasets"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == TRAIN
