"""`modelcfg gate` options a workflow passes: labels as JSON keep their spaces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from repo_helpers import commit_all, git, make_repo

ROOT = Path(__file__).resolve().parents[2]


def scratch(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for folder in ("configs", "evals"):
        shutil.copytree(ROOT / folder, source / folder)
    repo = make_repo(tmp_path, source)
    git(repo, "checkout", "-q", "-b", "pr")
    path = repo / "evals/thresholds.yaml"
    path.write_text(path.read_text().replace("floor: 0.8", "floor: 0.0"))
    commit_all(repo, "relax the floor")
    git(repo, "checkout", "-q", "main")
    return repo


def gate(repo: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modelcfg", "gate", "--base", "main",
                           "--head", "pr", "--out", str(out), "--quiet", *args], cwd=repo,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_labels_json_are_not_word_split(tmp_path):
    repo = scratch(tmp_path)
    # One label "not agent": split on spaces it would read as the agent label.
    proc = gate(repo, tmp_path / "human", "--labels-json", '["not agent"]')
    report = json.loads((tmp_path / "human/gate.json").read_text())
    assert proc.returncode == 0, proc.stderr
    assert report["agent"] == [] and report["reasons"] == []
    proc = gate(repo, tmp_path / "bot", "--labels-json", '["needs review", "agent"]')
    report = json.loads((tmp_path / "bot/gate.json").read_text())
    assert proc.returncode == 1, proc.stderr
    assert report["agent"] == ["label agent"]
    assert {r["code"] for r in report["reasons"]} == {"MC814"}


def test_labels_json_that_is_not_a_list_of_strings_is_a_usage_error(tmp_path):
    repo = scratch(tmp_path)
    for bad in ('agent', '{"a": 1}', '["a", 2]'):
        proc = gate(repo, tmp_path / "out", "--labels-json", bad)
        assert proc.returncode == 2
        assert "error: MC006 --labels-json must be a JSON list of strings" in proc.stderr


def test_the_gate_judges_the_merge_result_the_workflow_passes(tmp_path):
    """The workflow passes GitHub's merge of the PR into the base branch: --base MERGE^1
    --head MERGE. The merge's own commit and every PR commit behind it are judged."""
    repo = scratch(tmp_path)
    git(repo, "checkout", "-q", "-b", "base-moved", "main")
    (repo / "configs/notes.txt").write_text("a maintainer's later commit on the base\n")
    commit_all(repo, "base moves on")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pr into base-moved", "pr",
        env={"GIT_AUTHOR_NAME": "arith-agent", "GIT_AUTHOR_EMAIL": "a@example.com"})
    merge = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    proc = subprocess.run([sys.executable, "-m", "modelcfg", "gate", "--base", f"{merge}^1",
                           "--head", merge, "--out", str(tmp_path / "out"), "--quiet"],
                          cwd=repo, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    report = json.loads((tmp_path / "out/gate.json").read_text())
    assert proc.returncode == 1, proc.stderr
    assert report["diff"]["changed_paths"] == ["evals/thresholds.yaml"]
    assert any("arith-agent" in why for why in report["agent"])
    assert {r["code"] for r in report["reasons"]} == {"MC814"}
