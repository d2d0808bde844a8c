"""Importing any module of the package loads none of torch, transformers, peft, trl,
accelerate, datasets or lm_eval: heavy libraries are imported inside the functions that use
them, so `validate`, `diff`, the gate's logic and the ledger stay cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "lm_eval")


def test_no_module_imports_a_heavy_library_at_import_time():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts)
                     for p in (ROOT / "modelcfg").rglob("*.py")
                     if p.name not in ("__init__.py", "__main__.py"))
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert len(modules) > 50  # the walk found the package


def test_gate_plan_runs_without_a_heavy_library(tmp_path):
    """`modelcfg gate plan` (the workflow's planning job) runs torch-free, end to end."""
    import shutil

    from repo_helpers import commit_all, git, make_repo

    source = tmp_path / "source"
    for folder in ("configs", "evals"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    repo = make_repo(tmp_path, source)
    git(repo, "checkout", "-q", "-b", "pr")
    adapter = repo / "configs/adapters/tiny-arith.yaml"
    adapter.write_text(adapter.read_text().replace("  seed: 0\n", "  seed: 1\n"))
    commit_all(repo, "reseed")
    args = ["gate", "plan", "--base", "main", "--head", "pr", "--root", str(repo)]
    code = ("import sys\nfrom modelcfg.cli.app import main\n"
            f"rc = main({args!r})\n"
            f"print(rc, sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    plan, verdict = out.stdout.strip().splitlines()
    assert '"matrix": {"include": [{"adapter": "tiny-arith"}]}' in plan
    assert verdict == "0 []"
