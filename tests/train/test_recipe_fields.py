"""Every training and dataset field of the Adapter schema reaches the training code and
takes effect: one short SFT run and one short DPO run on the tiny model set (almost) all of
them at once and check each from what really ran; the rest are cheaper checks on the
same code. test_every_training_and_dataset_field_is_exercised fails when the schema gains
a field no run sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from trainhelp import REPO

from modelcfg.config.builtin import BUILTIN
from modelcfg.config.model import Adapter, DatasetRef, Model, ResolvedAdapter
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import sha256_file
from modelcfg.train.run import train_resolved

pytestmark = pytest.mark.e2e

ALPACA = [{"task": f"Add {a} and {b}.", "input": f"{a} + {b}" if a % 2 else "",
           "output": str(a + b)} for a in range(1, 9) for b in (1, 2)]
CHAT = [{"conversation": [{"role": "system", "content": "You add numbers."},
                          {"role": "user", "content": f"What is {a} + 3?"},
                          {"role": "assistant", "content": str(a + 3)}]} for a in range(8)]
QA = [{"q": f"Q: What is {a} + 4?\nA:", "a": f" {a + 4}"} for a in range(8)]
PAIRS = [{"question": f"Q: What is {a} + 5?\nA:", "good": f" {a + 5}", "bad": f" {a + 6}"}
         for a in range(12)]
HELD_PAIRS = [{"question": f"Q: What is {a} + 7?\nA:", "good": f" {a + 7}", "bad": f" {a + 9}"}
              for a in range(4)]

# The two runs' configs: between them they set every training and dataset field of the
# schema except the hub ones (tests/train/test_hub_dataset.py) and devices > 1
# (test_train.py's two-process run); devices is written out as 1.
SFT_TRAINING = {"max_steps": 4, "learning_rate": 0.05, "lr_scheduler": "cosine",
                "warmup_ratio": 0.5, "batch_size": 4, "gradient_accumulation_steps": 2,
                "max_seq_length": 128, "packing": False, "seed": 3, "precision": "fp32",
                "weight_decay": 0.01, "devices": 1, "checkpoint_every": 2,
                "optimizer": "sgd", "gradient_checkpointing": True, "max_grad_norm": None,
                "chat_template": "chatml", "validation_fraction": 0.25}
SFT_DATA = [
    {"file": "alpaca.jsonl", "rows": ALPACA, "format": "alpaca",
     "fields": {"instruction": "task"}},
    {"file": "chat.jsonl", "rows": CHAT, "format": "messages",
     "fields": {"messages": "conversation"}, "role": "train"},
    {"file": "qa.jsonl", "rows": QA, "fields": {"prompt": "q", "completion": "a"},
     "split": "train"},
]
DPO_TRAINING = {"epochs": 1, "learning_rate": 0.01, "lr_scheduler": "linear",
                "warmup_steps": 1, "batch_size": 4, "max_seq_length": 128, "seed": 0,
                "precision": "fp32", "max_grad_norm": None, "dpo_beta": 0.2,
                "optimizer": "adafactor", "gradient_checkpointing": True,
                "chat_template": "chatml"}
DPO_DATA = [
    {"file": "pairs.jsonl", "rows": PAIRS, "format": "preference",
     "fields": {"prompt": "question", "chosen": "good", "rejected": "bad"}},
    {"file": "held.jsonl", "rows": HELD_PAIRS,
     "fields": {"prompt": "question", "chosen": "good", "rejected": "bad"},
     "role": "validation"},
]


def write_data(tmp: Path, specs: list[dict]) -> list[dict]:
    """The JSONL files of ``specs`` under ``tmp`` and their dataset entries."""
    entries = []
    for spec in specs:
        path = tmp / spec["file"]
        path.write_text("".join(json.dumps(r) + "\n" for r in spec["rows"]))
        entry = {"path": spec["file"], "sha256": sha256_file(path)}
        entry.update({k: v for k, v in spec.items() if k not in ("file", "rows")})
        entries.append(entry)
    return entries


def resolved_for(tmp: Path, method: str, training: dict, entries: list[dict],
                 model: dict | None = None) -> ResolvedAdapter:
    """An adapter over ``entries`` (files under ``tmp``) on the tiny model, written to
    ``tmp/adapter.yaml`` (errors point into it) and checked against the schema."""
    from modelcfg.config.loader import load_bytes
    from modelcfg.config.schema import check_document

    doc = {"apiVersion": "modelcfg/v1", "kind": "Adapter", "name": f"recipe-{method}",
           "base": "tiny-llama", "method": method,
           "lora": {"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"]},
           "training": training, "datasets": entries, "evals": {"suites": ["s"]},
           "budget": {"max_train_tokens": 10_000_000}, "rationale": "recipe fields"}
    text = yaml.safe_dump(doc, sort_keys=False)
    (tmp / "adapter.yaml").write_text(text)
    _, problems = check_document("adapter.yaml", load_bytes(text.encode(), "adapter.yaml"))
    assert problems == []
    model = model or yaml.safe_load((REPO / "configs/models/tiny-llama.yaml").read_text())
    return ResolvedAdapter(
        adapter=Adapter.from_document(doc), adapter_path="adapter.yaml",
        model=Model.from_document(model),
        datasets=tuple(DatasetRef.from_document(e, str(tmp / e["path"])) for e in entries),
        suites=(), tasks=(), model_parameters=BUILTIN["tiny-llama"]["parameters"],
        contract=None)


def tiny_tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


# ------------------------------------------------------------------------------- SFT


@pytest.fixture(scope="module")
def sft_run(tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sft")
    resolved = resolved_for(tmp, "sft", SFT_TRAINING, write_data(tmp, SFT_DATA))
    events = []
    result = train_resolved(resolved, tmp, runs_dir=tmp / "runs", on_progress=events.append)
    return resolved, result, events


def test_sft_run_used_every_field(sft_run):
    resolved, result, events = sft_run
    m = result.manifest
    assert m["status"] == "complete" and m["cost"]["steps"] == 4
    assert m["recipe"] == {"optimizer": "torch.optim.sgd.SGD", "gradient_checkpointing": True,
                           "max_grad_norm": None, "chat_template": "chatml",
                           "train_examples": 24}  # 32 examples, a quarter held out
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [2]
    lrs = [e["lr"] for e in events if e["event"] == "step"]
    assert lrs[:2] == pytest.approx([0.025, 0.05])  # warmup_ratio 0.5 of 4 steps: 2 steps
    assert m["inputs"]["adapter"]["training"]["optimizer"] == "sgd"  # in the fingerprint


def test_layouts_and_chat_template_give_the_expected_text(sft_run, tiny_model):
    from modelcfg.train.data import examples

    resolved, _, _ = sft_run
    train, held = examples(resolved, tiny_tokenizer(tiny_model))
    texts = train + held
    alpaca = next(t for t in texts if "Add 1 and 1." in t["prompt"])
    assert alpaca["prompt"] == ("<|im_start|>user\nAdd 1 and 1.\n\n1 + 1<|im_end|>\n"
                                "<|im_start|>assistant\n")
    assert alpaca["completion"] == "2<|im_end|>\n" and alpaca["templated"]
    chat = next(t for t in texts if "What is 0 + 3?" in t["prompt"])
    assert chat["prompt"] == ("<|im_start|>system\nYou add numbers.<|im_end|>\n"
                              "<|im_start|>user\nWhat is 0 + 3?<|im_end|>\n"
                              "<|im_start|>assistant\n")
    qa = next(t for t in texts if "What is 0 + 4?" in t["prompt"])
    assert qa["completion"] == " 4<|im_end|>\n"


def test_alpaca_without_a_template_uses_the_alpaca_prompt(tiny_model):
    from modelcfg.train.text import record_text

    rec = record_text({"task": "Add 1 and 2.", "output": "3"}, "alpaca",
                      {"instruction": "task"}, None, tiny_tokenizer(tiny_model))
    assert rec["prompt"].endswith("### Instruction:\nAdd 1 and 2.\n\n### Response:\n")
    assert rec["prompt"].startswith("Below is an instruction") and "### Input" not in rec["prompt"]
    assert rec["completion"] == "3" and not rec["templated"]


def test_validation_loss_is_of_the_held_out_rows_only(sft_run, tiny_model):
    import torch
    import torch.nn.functional as F
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from modelcfg.train.data import encode_records, examples, split_validation

    resolved, result, _ = sft_run
    tok = tiny_tokenizer(tiny_model)
    every = examples(_without_fraction(resolved), tok)[0]
    kept, held = split_validation(every, 0.25, 3)
    assert len(held) == 8 and len(kept) == 24
    assert not {json.dumps(r) for r in kept} & {json.dumps(r) for r in held}
    assert split_validation(every, 0.25, 3) == (kept, held)  # drawn by the seed
    assert split_validation(every, 0.25, 4)[1] != held
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model),
                                      result.run_dir / "adapter").eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for row in encode_records(tok, held, 128):
            logits = model(input_ids=torch.tensor([row["input_ids"]])).logits[0, :-1]
            labels = torch.tensor(row["labels"][1:])
            total += float(F.cross_entropy(logits, labels, reduction="sum"))
            count += int((labels != -100).sum())
    recorded = result.manifest["validation"]
    assert recorded["examples"] == 8 and recorded["tokens"] == count
    assert recorded["loss"] == pytest.approx(total / count, rel=1e-4)


def _without_fraction(resolved):
    data = resolved.to_dict()
    data["adapter"]["training"].pop("validation_fraction")
    return ResolvedAdapter.from_dict(data)


def test_null_max_grad_norm_does_not_clip():
    """The loop's own gradient step: SGD at lr 1 on a gradient of norm 100."""
    import types

    import torch

    from modelcfg.train.sft import apply_gradients

    def step(max_grad_norm):
        p = torch.nn.Parameter(torch.zeros(1))
        p.grad = torch.tensor([100.0])
        opt = torch.optim.SGD([p], lr=1.0)
        loop = types.SimpleNamespace(
            scaler=None, optimizer=opt, trainable=[p],
            scheduler=torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0),
            training=types.SimpleNamespace(max_grad_norm=max_grad_norm))
        apply_gradients(loop)
        return float(p.detach()[0])

    assert step(None) == -100.0
    assert step(1.0) == pytest.approx(-1.0)


def test_optimizers_are_built_as_transformers_builds_them():
    import importlib

    from transformers import Trainer, TrainingArguments

    from modelcfg.config.schema import schema
    from modelcfg.train.recipe import BITSANDBYTES_OPTIMIZERS
    from modelcfg.train.sft import OPTIMIZERS

    names = schema("Adapter")["properties"]["training"]["properties"]["optimizer"]["enum"]
    assert set(OPTIMIZERS) == set(names)
    for name in set(names) - set(BITSANDBYTES_OPTIMIZERS):
        args = TrainingArguments(output_dir="unused", optim=name, learning_rate=0.1,
                                 use_cpu=True, report_to="none")
        cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
        module, cls_name, ours = OPTIMIZERS[name]
        assert getattr(importlib.import_module(module), cls_name) is cls, name
        assert {k: v for k, v in kwargs.items() if k != "lr"} == ours, name


def test_bitsandbytes_optimizer_is_refused_before_anything_loads(tmp_path):
    resolved = resolved_for(tmp_path, "sft", {**SFT_TRAINING, "optimizer": "paged_adamw_8bit"},
                            write_data(tmp_path, SFT_DATA))
    with pytest.raises(UserError) as err:
        train_resolved(resolved, tmp_path, runs_dir=tmp_path / "runs")
    e = err.value
    assert e.code == "MC510" and "bitsandbytes" in e.message
    line = (tmp_path / "adapter.yaml").read_text().splitlines()[e.line - 1]
    assert (e.path, line[e.col - 1:]) == ("adapter.yaml", "paged_adamw_8bit")
    assert not (tmp_path / "runs").exists()


def test_tokenizer_template_needs_one(tiny_model, tmp_path):
    resolved = resolved_for(tmp_path, "sft", {**SFT_TRAINING, "chat_template": "tokenizer"},
                            write_data(tmp_path, SFT_DATA))
    with pytest.raises(UserError) as err:
        train_resolved(resolved, tmp_path, runs_dir=tmp_path / "runs")
    assert err.value.code == "MC511"
    line = (tmp_path / "adapter.yaml").read_text().splitlines()[err.value.line - 1]
    assert line[err.value.col - 1:] == "tokenizer"


def test_tokenizer_template_renders_with_the_tokenizers_own(tiny_model):
    from modelcfg.train.text import record_text

    tok = tiny_tokenizer(tiny_model)
    tok.chat_template = ("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n"
                         "{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}")
    rec = record_text({"prompt": "hi", "completion": "yo"}, "prompt_completion", None,
                      "tokenizer", tok)
    assert (rec["prompt"], rec["completion"]) == ("[user] hi\n[assistant] ", "yo\n")


# ------------------------------------------------------------------------------- DPO


@pytest.fixture(scope="module")
def dpo_run(tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dpo")
    resolved = resolved_for(tmp, "dpo", DPO_TRAINING, write_data(tmp, DPO_DATA))
    return resolved, train_resolved(resolved, tmp, runs_dir=tmp / "runs")


def test_dpo_run_used_every_field(dpo_run):
    _, result = dpo_run
    m = result.manifest
    assert m["status"] == "complete" and m["cost"]["steps"] == 3  # 12 pairs / 4 a step
    assert m["recipe"] == {"optimizer": "transformers.optimization.Adafactor",
                           "gradient_checkpointing": True, "max_grad_norm": None,
                           "chat_template": "chatml", "train_examples": 12}
    v = m["validation"]
    assert v["examples"] == 4 and v["loss"] > 0 and "reward_margin" in v


def test_dpo_config_maps_every_training_field():
    """The DPOConfig the recipe builds (the pinned trl has no warmup_ratio: before, a DPO
    adapter with warmup_ratio and no warmup_steps failed with a TypeError)."""
    from modelcfg.config.model import TrainingSpec
    from modelcfg.train.dpo import dpo_args

    fields = {k: v for k, v in DPO_TRAINING.items() if k not in ("epochs", "warmup_steps")}
    t = TrainingSpec.from_document({**fields, "max_steps": 10, "warmup_ratio": 0.5})
    args = dpo_args(t, Path("unused"), False, t.warmup_for(10))
    assert args.warmup_steps == 5 and args.max_steps == 10
    assert args.optim == "adafactor" and args.max_grad_norm == 0.0  # Trainer clips above 0
    assert args.activation_checkpointing and args.beta == 0.2 and not args.bf16
    assert args.lr_scheduler_type == "linear" and args.learning_rate == 0.01
    default = dpo_args(TrainingSpec.from_document({"max_steps": 2, "learning_rate": 0.1,
                                                   "batch_size": 1, "max_seq_length": 16}),
                       Path("unused"), False, 0)
    assert default.optim == "adamw_torch" and not default.activation_checkpointing
    assert default.max_grad_norm == 1.0  # the schema's default


# ------------------------------------------------------------------- field coverage


def test_every_training_and_dataset_field_is_exercised():
    """Walks adapter.schema.json: every training and dataset property is set by one of the
    runs above or by the hub dataset test."""
    from test_hub_dataset import HUB_ENTRY

    from modelcfg.config.schema import schema

    adapter = schema("Adapter")["properties"]
    training = set(adapter["training"]["properties"])
    dataset = {k for v in adapter["datasets"]["items"]["oneOf"] for k in v["properties"]}
    set_training = set(SFT_TRAINING) | set(DPO_TRAINING)
    set_dataset = {k for spec in SFT_DATA + DPO_DATA for k in spec if k not in ("file", "rows")}
    set_dataset |= {"path", "sha256"} | set(HUB_ENTRY)
    assert sorted(training - set_training) == []
    assert sorted(dataset - set_dataset) == []
