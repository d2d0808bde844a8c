"""Benchmark: `modelcfg validate` against check-jsonschema on the same files and schemas.

Generates a repository of N adapter configs (default 1,000) plus their model, suite and
policy documents, then times, in the same run (median of --repeat cold processes each):

  A. `modelcfg validate` on the whole repository (YAML safety + schema + cross-file checks);
  B. `check-jsonschema --schemafile adapter.schema.json <N files>` (schema only);
  C. `modelcfg validate <one file>`;
  D. `python -c "import yaml, jsonschema"` (the floor for any Python validator).

Goals (issue 2): B/A >= 3 and C/D <= 2. Run: python bench/bench_validate.py [--n 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ADAPTER = """\
# yaml-language-server: $schema=../../schemas/adapter.schema.json
apiVersion: modelcfg/v1
kind: Adapter
name: adapter-{i:04d}
base: tiny
method: sft
lora:
  r: {r}
  lora_alpha: {alpha}
  lora_dropout: 0.05
  target_modules: [q_proj, k_proj, v_proj, o_proj]
  bias: none
training:
  max_steps: {steps}
  learning_rate: 0.0003
  lr_scheduler: cosine
  warmup_steps: 5
  batch_size: 8
  gradient_accumulation_steps: 2
  max_seq_length: 64
  packing: false
  seed: {i}
  precision: fp32
datasets:
  - path: configs/datasets/d.jsonl
    sha256: {sha}
evals:
  suites: [cap]
budget:
  max_train_tokens: 10000000
  max_gpu_hours: 1
rationale: Generated adapter {i} for the validation benchmark.
"""


def make_repo(root: Path, n: int) -> list[Path]:
    from modelcfg.config.schema import KINDS, schema_text

    (root / "schemas").mkdir(parents=True)
    for kind, stem in KINDS.items():
        (root / "schemas" / f"{stem}.schema.json").write_text(schema_text(kind))
    for sub in ("configs/models", "configs/adapters", "configs/datasets", "evals/suites",
                "evals/tasks/t1"):
        (root / sub).mkdir(parents=True)
    data = b"".join(json.dumps({"prompt": f"Q: {i}?\nA:", "completion": f" {i}"}).encode()
                    + b"\n" for i in range(200))
    (root / "configs/datasets/d.jsonl").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    (root / "configs/models/tiny.yaml").write_text(
        "apiVersion: modelcfg/v1\nkind: Model\nname: tiny\nsource: {builtin: tiny-llama}\n"
        "family: llama\ncontext_length: 128\n")
    (root / "evals/suites/cap.yaml").write_text(
        "apiVersion: modelcfg/v1\nkind: EvalSuite\nname: cap\ntasks: [t1]\n")
    (root / "evals/tasks/t1/t1.yaml").write_text("task: t1\n")
    (root / "evals/contract.yaml").write_text(
        "apiVersion: modelcfg/v1\nkind: Contract\nname: c\nmodels: {allow: ['builtin:*']}\n"
        "datasets: {allow: ['path:configs/**']}\n")
    (root / "evals/thresholds.yaml").write_text(
        "apiVersion: modelcfg/v1\nkind: Thresholds\nname: t\ntasks: {t1: {metric: acc}}\n")
    files = []
    for i in range(n):
        path = root / f"configs/adapters/adapter-{i:04d}.yaml"
        r = (4, 8, 16, 32)[i % 4]
        path.write_text(ADAPTER.format(i=i, r=r, alpha=2 * r, steps=10 + i % 50, sha=sha))
        files.append(path)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return files


def timed(commands: list[list[str]], cwd: Path, repeat: int) -> list[float]:
    """Median wall time of each command. The commands are interleaved, round after round,
    so that drift in the machine's load hits them alike and the ratios stay fair."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(repeat):
        for i, cmd in enumerate(commands):
            start = time.perf_counter()
            proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
            times[i].append(time.perf_counter() - start)
            if proc.returncode != 0:
                raise SystemExit(f"{' '.join(cmd[:3])} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    check_jsonschema = shutil.which("check-jsonschema") or str(
        Path(sys.executable).with_name("check-jsonschema"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = make_repo(root, args.n)
        rel = [str(f.relative_to(root)) for f in files]
        modelcfg = [sys.executable, "-m", "modelcfg", "validate"]
        full, cj = timed([modelcfg, [check_jsonschema, "--schemafile",
                                     "schemas/adapter.schema.json", *rel]], root, args.repeat)
        one, floor = timed([[*modelcfg, rel[0]], [sys.executable, "-c", "import yaml, jsonschema"]],
                           root, args.repeat * 4)
    figures = {
        "n_configs": args.n,
        "modelcfg_validate_repo_s": round(full, 3),
        "check_jsonschema_s": round(cj, 3),
        "speedup_vs_check_jsonschema": round(cj / full, 2),
        "modelcfg_validate_one_file_s": round(one, 3),
        "import_yaml_jsonschema_s": round(floor, 3),
        "one_file_vs_import_floor": round(one / floor, 2),
    }
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    ok = figures["speedup_vs_check_jsonschema"] >= 3 and figures["one_file_vs_import_floor"] <= 2
    print("goals met" if ok else "goals NOT met (>= 3x faster than check-jsonschema, "
          "single file <= 2x the import floor)")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
