"""`modelcfg train`, `eval` and `diff` as users run them: real processes in a temp git
repository holding this repository's configs and evals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from repo_helpers import commit_all, make_repo

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("cli")
    source = tmp / "source"
    source.mkdir()
    for folder in ("configs", "evals"):
        shutil.copytree(ROOT / folder, source / folder)
    # A quick variant of tiny-arith keeps this module fast.
    adapter = source / "configs/adapters/tiny-arith.yaml"
    adapter.write_text(adapter.read_text().replace("max_steps: 1200", "max_steps: 40"))
    return make_repo(tmp, source)


def modelcfg(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "modelcfg", *args], cwd=repo,
                          capture_output=True, text=True, env=env)


def test_train_then_cache_hit(repo):
    first = modelcfg(repo, "train", "tiny-arith", "-q")
    assert first.returncode == 0, first.stderr
    run_dir = Path(first.stdout.splitlines()[0])
    assert (run_dir / "manifest.json").is_file() and "trained in" in first.stdout
    again = modelcfg(repo, "train", "configs/adapters/tiny-arith.yaml", "-q")
    assert again.returncode == 0
    assert again.stdout.splitlines()[0] == str(run_dir)
    assert "cache hit, 0 training seconds" in again.stdout


def test_eval_writes_paired_results(repo):
    out = repo / "results.json"
    proc = modelcfg(repo, "eval", "tiny-arith", "--limit", "12", "--seed", "3",
                    "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    results = json.loads(out.read_text())
    assert set(results["tasks"]) == {"arith_gen", "arith_gen_perturbed", "arith_mc",
                                     "over_refusal", "safety_refusal"}
    assert results["selection"] == {"order_seed": 3, "batches": [[0, 12]]}
    gen = results["tasks"]["arith_gen"]
    assert len(gen["samples"]) == 12
    assert all(len(s["doc_hash"]) == 64 for s in gen["samples"].values())
    assert "arith_gen" in proc.stdout and "(n=12)" in proc.stdout
    base = repo / "base.json"
    assert modelcfg(repo, "eval", "tiny-arith", "--base-only", "--limit", "12", "--seed", "3",
                    "--out", str(base)).returncode == 0
    base_gen = json.loads(base.read_text())["tasks"]["arith_gen"]["samples"]
    assert {d: s["doc_hash"] for d, s in base_gen.items()} == \
        {d: s["doc_hash"] for d, s in gen["samples"].items()}


def test_eval_without_a_run_is_a_clear_error(repo):
    proc = modelcfg(repo, "eval", "tiny-arith-dpo", "--limit", "2")
    assert proc.returncode == 1
    assert "MC610" in proc.stderr and "modelcfg train" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_train_refuses_an_invalid_config(repo):
    adapter = repo / "configs/adapters/tiny-arith.yaml"
    text = adapter.read_text()
    adapter.write_text(text.replace("lora_alpha: 32", "lora_alpha: 3200"))
    try:
        proc = modelcfg(repo, "train", "tiny-arith")
        assert proc.returncode == 1
        assert "MC403" in proc.stderr and "MC303" in proc.stderr
    finally:
        adapter.write_text(text)


def test_diff_reports_fields_and_impact(repo):
    adapter = repo / "configs/adapters/tiny-arith.yaml"
    text = adapter.read_text()
    adapter.write_text(text.replace("r: 16", "r: 8").replace("lora_alpha: 32",
                                                             "lora_alpha: 16"))
    commit_all(repo, "smaller rank")
    proc = modelcfg(repo, "diff", "HEAD~1", "HEAD", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["impacts"]["tiny-arith"] == "retrain"
    change = next(c for c in result["changes"] if c["name"] == "tiny-arith")
    assert {f["field"] for f in change["fields"]} == {"lora.r", "lora.lora_alpha"}
    text_out = modelcfg(repo, "diff", "HEAD~1").stdout
    assert "impact: retrain" in text_out and "lora.r: 16 -> 8" in text_out


def test_bootstrap_gives_an_existing_adapter_its_first_baseline(repo):
    from repo_helpers import git

    git(repo, "push", "-q", "origin", "main")
    proc = modelcfg(repo, "promote", "--bootstrap", "tiny-arith-dpo", "--actor", "maintainer")
    assert proc.returncode == 0, proc.stderr
    assert "bootstrapped tiny-arith-dpo" in proc.stdout
    git(repo, "pull", "-q", "--ff-only", "origin", "main")
    baseline = json.loads((repo / "evals/baselines/tiny-arith-dpo.json").read_text())
    assert baseline["commit"] == git(repo, "rev-parse", "HEAD~1")
    assert set(baseline["tasks"]) == {"arith_gen", "arith_mc", "over_refusal",
                                      "safety_refusal"}
    assert baseline["tasks"]["arith_gen"]["metrics"]["exact_match"]["n"] == 1000
    entry = json.loads((repo / "evals/ledger.jsonl").read_text().splitlines()[-1])
    assert entry["verdict"] == "bootstrap" and entry["adapter"] == "tiny-arith-dpo"
    assert modelcfg(repo, "audit", "verify").returncode == 0
    again = modelcfg(repo, "promote", "--bootstrap", "tiny-arith-dpo", "--actor", "m")
    assert again.returncode == 2 and "MC726" in again.stderr


def test_tiny_command_prints_the_shipped_model(repo, tiny_model):
    proc = modelcfg(repo, "tiny")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tiny_model)
    assert (tiny_model / "config.json").is_file()
