"""Training throughput: `modelcfg train` versus a plain transformers Trainer + peft script.

Same model, data, LoRA config and hyperparameters; each side runs in its own subprocess so
peak memory (RSS on CPU, max_memory_allocated on CUDA) is its own. Throughput counts real
(non-padding) tokens per second of training loop; each side runs ``--repeats`` times,
interleaved, and the best is kept (a shared machine only ever slows a run down). "loss" is
the last step's loss for modelcfg and the mean training loss for Trainer (what each reports).

    python bench/bench_train.py                          # CPU, tiny model, both data sets
    python bench/bench_train.py --device cuda --size 0.5b --steps 30 --batch-size 16

Data: "uniform" = the committed arith-sft.jsonl (short, similar lengths); "mixed" = 1-6
synthetic Q/A pairs per example (mixed lengths), where packing pays off. ``--size 0.5b``
builds a ~0.5B-parameter Llama from a config with random weights (no hub access) and
reports model FLOPs utilisation (6·N·T per second / the GPU's peak bf16 FLOP/s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "bias": "none",
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                           "down_proj"]}
SIZES = {"0.5b": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                  "num_attention_heads": 16, "num_key_value_heads": 16,
                  "max_position_embeddings": 2048, "vocab_size": 32000}}
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def make_data(kind: str, out: Path) -> Path:
    from modelcfg.tiny import synthetic

    rng = random.Random(0)
    records = synthetic.sft_records(seed=0, n_addition=3000)
    if kind == "mixed":
        mixed = []
        for _ in range(2000):
            group = [rng.choice(records) for _ in range(rng.randint(1, 6))]
            context = "\n".join(r["prompt"] + r["completion"] for r in group[:-1])
            mixed.append({"prompt": (context + "\n" if context else "") + group[-1]["prompt"],
                          "completion": group[-1]["completion"]})
        records = mixed
    path = out / f"{kind}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def make_model(size: str, out: Path) -> Path:
    if size == "tiny":
        from modelcfg.tiny.build import ensure_tiny_model

        return ensure_tiny_model()
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from modelcfg.tiny.build import ensure_tiny_model

    tok = AutoTokenizer.from_pretrained(ensure_tiny_model())
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**SIZES[size], pad_token_id=tok.pad_token_id,
                                         eos_token_id=tok.eos_token_id, tie_word_embeddings=True))
    path = out / f"model-{size}"
    model.to(torch.bfloat16).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def training(args, packing: bool) -> dict:
    return {"max_steps": args.steps, "learning_rate": 1e-3, "lr_scheduler": "linear",
            "warmup_steps": 2, "batch_size": args.batch_size, "gradient_accumulation_steps": 1,
            "max_seq_length": args.seq_len, "packing": packing, "seed": 0,
            "precision": "bf16" if args.device == "cuda" else "fp32", "weight_decay": 0.0,
            "max_grad_norm": 1.0}


# --- the two sides (each runs in its own process) ---------------------------------------

def bench_resolved(args, model_dir: Path, data: Path, packing: bool):
    """The benchmark's adapter as ``modelcfg train`` gets it: documents built in code (a
    path model outside any repository, one dataset file, no contract)."""
    from modelcfg.config.model import Adapter, DatasetRef, Model, ResolvedAdapter
    from modelcfg.core.hashing import sha256_file

    v1 = {"apiVersion": "modelcfg/v1"}
    dataset = {"path": data.name, "sha256": sha256_file(data)}
    adapter = Adapter.from_document({
        **v1, "kind": "Adapter", "name": "bench", "base": "bench", "method": "sft",
        "lora": LORA, "training": training(args, packing), "datasets": [dataset],
        "evals": {"suites": []}, "budget": {}, "rationale": "benchmark"})
    model = Model.from_document({**v1, "kind": "Model", "name": "bench", "family": "llama",
                                 "context_length": args.seq_len,
                                 "source": {"path": str(model_dir)}})
    return ResolvedAdapter(adapter=adapter, adapter_path="bench.yaml", model=model,
                           model_parameters=1, suites=(), tasks=(), contract=None,
                           datasets=(DatasetRef(**dataset, abs_path=str(data)),))


def run_modelcfg(args, model_dir: Path, data: Path, packing: bool) -> dict:
    from modelcfg.train.run import train_resolved

    root = data.parent
    result = train_resolved(bench_resolved(args, model_dir, data, packing), root,
                            runs_dir=tempfile.mkdtemp(dir=root))
    cost = result.manifest["cost"]
    return {"tokens": cost["train_tokens"], "seconds": cost["train_seconds"],
            "peak_memory_bytes": cost["peak_memory_bytes"], "parameters": cost["parameters"],
            "final_loss": cost["final_loss"]}


def run_trainer(args, model_dir: Path, data: Path) -> dict:
    import resource

    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    from modelcfg.train.data import encode_records, read_jsonl

    t = training(args, False)
    cuda = args.device == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **LORA))
    examples = encode_records(tok, read_jsonl(data), t["max_seq_length"])
    ds = Dataset.from_list([{**e, "attention_mask": [1] * len(e["input_ids"])} for e in examples])
    targs = TrainingArguments(
        output_dir=tempfile.mkdtemp(), per_device_train_batch_size=t["batch_size"],
        max_steps=t["max_steps"], learning_rate=t["learning_rate"], lr_scheduler_type="linear",
        warmup_steps=t["warmup_steps"], weight_decay=0.0, max_grad_norm=1.0, seed=0,
        bf16=cuda, use_cpu=not cuda, save_strategy="no", report_to="none", logging_steps=10**6,
        disable_tqdm=True, dataloader_num_workers=0, include_num_input_tokens_seen="non_padding",
        remove_unused_columns=False)
    trainer = Trainer(model=model, args=targs, train_dataset=ds,
                      data_collator=DataCollatorForSeq2Seq(tok, padding=True))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = trainer.train()
    seconds = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    return {"tokens": int(trainer.state.num_input_tokens_seen), "seconds": seconds,
            "peak_memory_bytes": peak, "final_loss": out.training_loss,
            "parameters": sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)}


def worker(args) -> None:
    import torch

    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    model_dir, data = Path(args.model_dir), Path(args.data_file)
    if args.worker == "trainer":
        stats = run_trainer(args, model_dir, data)
    else:
        stats = run_modelcfg(args, model_dir, data, packing=args.worker == "modelcfg-packed")
    stats["threads"] = torch.get_num_threads()
    print("BENCH " + json.dumps(stats), flush=True)


# --- driver --------------------------------------------------------------------------------

def side(args, name: str, model_dir: Path, data: Path) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--model-dir", str(model_dir),
           "--data-file", str(data), "--device", args.device, "--steps", str(args.steps),
           "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len),
           "--threads", str(args.threads)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [x for x in proc.stdout.splitlines() if x.startswith("BENCH ")]
    if proc.returncode or not lines:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    stats = json.loads(lines[-1][6:])
    stats["tokens_per_s"] = stats["tokens"] / stats["seconds"]
    return stats


def peak_flops(device: str, override: float | None) -> float | None:
    if override:
        return override * 1e12
    if device != "cuda":
        return None
    import torch

    name = torch.cuda.get_device_name()
    return next((v * 1e12 for k, v in PEAK_TFLOPS.items() if k in name), None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--size", choices=["tiny", *SIZES], default="tiny")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", nargs="*", default=["uniform", "mixed"])
    p.add_argument("--peak-tflops", type=float, default=None)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--model-dir", help=argparse.SUPPRESS)
    p.add_argument("--data-file", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(tempfile.mkdtemp(prefix="bench-train-"))
    model_dir = make_model(args.size, out)
    flops_peak = peak_flops(args.device, args.peak_tflops)
    results = []
    for kind in args.data:
        data = make_data(kind, out)
        row = {"data": kind}
        # interleaved repeats, best of each: other load on a shared machine only slows down
        for _ in range(args.repeats):
            for name in ("trainer", "modelcfg", "modelcfg_packed"):
                s = side(args, name.replace("_", "-"), model_dir, data)
                if name not in row or s["tokens_per_s"] > row[name]["tokens_per_s"]:
                    row[name] = s
        base = row["trainer"]["tokens_per_s"]
        for name in ("trainer", "modelcfg", "modelcfg_packed"):
            s = row[name]
            s["speedup_vs_trainer"] = s["tokens_per_s"] / base
            if flops_peak:
                s["mfu"] = 6 * s["parameters"] * s["tokens_per_s"] / flops_peak
        results.append(row)
        print(f"\n{kind} data ({args.size}, {args.device}, {args.steps} steps x "
              f"{args.batch_size}, seq {args.seq_len}):")
        print(f"  {'side':16} {'tokens/s':>10} {'x Trainer':>9} {'peak MiB':>9} "
              f"{'loss':>10}" + ("  MFU" if flops_peak else ""))
        for name in ("trainer", "modelcfg", "modelcfg_packed"):
            s = row[name]
            print(f"  {name:16} {s['tokens_per_s']:10.0f} {s['speedup_vs_trainer']:9.2f} "
                  f"{s['peak_memory_bytes'] / 2**20:9.0f} {s['final_loss']:10.4f}"
                  + (f"  {s['mfu']:.1%}" if flops_peak else ""), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
