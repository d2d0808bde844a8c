"""The recipe of the built-in tiny Llama, and the one way to regenerate its shipped files.

The model every machine loads is the shipped copy (:mod:`modelcfg.tiny.shipped`, checked
against committed sha256s): building is only for regenerating it, on purpose, with

    python -m modelcfg.tiny.build            # rebuild, rewrite weights/ and the hash table
    python -m modelcfg.tiny.build --check    # rebuild in a temp folder, compare, write nothing

because the same recipe gives different weights on CPUs that torch dispatches to different
kernels. Building:

1. trains a byte-level BPE tokenizer with ``tokenizers`` on the synthetic corpus, digits
   split one per token (so addition is learnable digit by digit);
2. initialises a small ``LlamaConfig`` from a fixed seed;
3. pretrains all weights briefly on :func:`modelcfg.tiny.synthetic.pretraining_records`. A LoRA
   adapter on a randomly initialised model does not learn; after this, the base answers in
   the right format, gets some held-out sums right and refuses unsafe requests, and a LoRA
   adapter measurably improves the sums.

:func:`ensure_tiny_model` (what training, evaluation and the gate call) returns the verified
shipped folder and never builds. This module imports torch only inside the functions that
build or run the model.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
from pathlib import Path

from modelcfg.core.extras import versions
from modelcfg.tiny import synthetic

TINY_VERSION = 1
SEED = 0
VOCAB_SIZE = 512
MODEL_CONFIG = {  # sizes shared with modelcfg.config.builtin.TINY_LLAMA (checked in tests)
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-5,
    "tie_word_embeddings": True,
}
PRETRAIN = {"steps": 900, "rows_per_batch": 8, "row_len": 128, "learning_rate": 3e-3,
            "warmup_steps": 30, "n_addition": 3000}
SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>"}
BUILD_FILE = "build.json"


def _versions() -> dict:
    return versions("torch", "transformers", "tokenizers")


def recipe_hash() -> str:
    """Content hash of the build recipe: what the built weights depend on. Torch-free, so
    fingerprints can use it as the builtin model's revision without building anything."""
    recipe = {"version": TINY_VERSION, "seed": SEED, "vocab": VOCAB_SIZE, "model": MODEL_CONFIG,
              "pretrain": PRETRAIN, "special": SPECIAL_TOKENS, "versions": _versions()}
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()


def ensure_tiny_model(cache_dir: str | Path | None = None) -> Path:
    """The folder of the shipped tiny model, verified against its committed hashes (MC611
    on a mismatch). ``cache_dir`` is accepted for older callers and unused: nothing is
    built or cached any more."""
    from modelcfg.tiny.shipped import shipped_model_dir

    return shipped_model_dir()


def _hash_files(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.iterdir()) if p.is_file()}


def build_tiny_model(out: Path) -> dict:
    """Build into ``out`` (tokenizer, then model, then pretraining); returns build stats.
    ``build.json`` records the recipe and the machine it was built on (no timings, so a
    rebuild on the same machine gives the same bytes)."""
    import torch

    records = synthetic.pretraining_records(seed=SEED, n_addition=PRETRAIN["n_addition"])
    tokenizer = train_tokenizer(records)
    model = init_model(tokenizer)
    with _torch_threads(1 if torch.get_num_threads() < 4 else None):
        loss = pretrain(model, tokenizer, records)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    stats = {"recipe_hash": recipe_hash(), "final_loss": loss,
             "parameters": sum(p.numel() for p in model.parameters()),
             "built_with": {"torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
                            **_versions()}}
    (out / BUILD_FILE).write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    return {**stats, "files": _hash_files(out)}


def regenerate(check: bool = False) -> tuple[dict[str, str], list[str]]:
    """Rebuild the tiny model; unless ``check``, rewrite the shipped files and their hash
    table. Returns the new hashes and how they differ from the committed ones."""
    from modelcfg.core.atomic import write_bytes, write_text
    from modelcfg.tiny import shipped

    with tempfile.TemporaryDirectory(prefix="tiny-build-") as tmp:
        stats = build_tiny_model(Path(tmp))
        files = stats["files"]
        differ = shipped.mismatches(Path(tmp)) + [
            f"{n} is new" for n in files if n not in shipped.SHIPPED_SHA256]
        if check:
            return files, differ
        for name in files:
            write_bytes(shipped.WEIGHTS_DIR / name, (Path(tmp) / name).read_bytes())
            (shipped.WEIGHTS_DIR / name).chmod(0o644)  # package data, readable by all
    for old in shipped.WEIGHTS_DIR.iterdir():
        if old.name not in files:
            old.unlink()
    source = Path(shipped.__file__)
    table = "".join(f'    "{n}": "{h}",\n' for n, h in sorted(files.items()))
    text = re.sub(r"SHIPPED_SHA256 = \{\n.*?\}\n", lambda _: f"SHIPPED_SHA256 = {{\n{table}}}\n",
                  source.read_text(), count=1, flags=re.S)
    write_text(source, text)
    return files, differ


def main(argv: list[str] | None = None) -> int:
    """``python -m modelcfg.tiny.build [--check]``: the documented way to regenerate the
    shipped tiny model (the exit status is 1 when --check finds a difference)."""
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    files, differ = regenerate(check=check)
    for name, sha in sorted(files.items()):
        sys.stdout.write(f"{sha}  {name}\n")
    for line in differ:
        sys.stdout.write(f"differs from the shipped copy: {line}\n")
    return 1 if check and differ else 0


class _torch_threads:
    """Two threads fighting over two busy cores are slower than one (measured)."""

    def __init__(self, n):
        self.n, self.old = n, None

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


def train_tokenizer(records: list[dict]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    texts = [r["prompt"] + r["completion"] + "\n" for r in records]
    texts += [synthetic.helpful_answer(o) for o in synthetic.UNSAFE_OBJECTS]
    # The corpus the shipped tokenizer was trained on: three held-out phrasings, not all.
    texts += [e["prompt"] for unsafe in (True, False)
              for e in synthetic.eval_requests(unsafe, synthetic.TOKENIZER_TEMPLATES)]
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=MODEL_CONFIG[
        "max_position_embeddings"], padding_side="right", **SPECIAL_TOKENS)


def init_model(tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         **MODEL_CONFIG)
    torch.manual_seed(SEED)
    return LlamaForCausalLM(config)


def pretrain(model, tokenizer, records: list[dict]) -> float:
    """Full-weight pretraining on packed rows (loss on every token: this is language
    modelling, not instruction tuning). Deterministic for the seed."""
    import math

    import torch

    from modelcfg.core.batching import collate, encode_example, pack_examples

    examples = []
    for r in records:
        ex = encode_example(tokenizer, r["prompt"], r["completion"], PRETRAIN["row_len"])
        ex["labels"] = list(ex["input_ids"])
        examples.append(ex)
    rows = pack_examples(examples, PRETRAIN["row_len"])
    steps, bs, warm = PRETRAIN["steps"], PRETRAIN["rows_per_batch"], PRETRAIN["warmup_steps"]
    opt = torch.optim.AdamW(model.parameters(), lr=PRETRAIN["learning_rate"], weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (
        1 + math.cos(math.pi * min(s, steps) / steps)))
    gen = torch.Generator().manual_seed(SEED)
    model.train()
    loss = float("nan")
    order: list[int] = []
    for _ in range(steps):
        if len(order) < bs:
            order += torch.randperm(len(rows), generator=gen).tolist()
        batch = collate([rows[i] for i in order[:bs]], tokenizer.pad_token_id, packed=True)
        order = order[bs:]
        out = model(**batch, use_cache=False)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        loss = out.loss.item()
    model.eval()
    return loss


if __name__ == "__main__":
    raise SystemExit(main())
