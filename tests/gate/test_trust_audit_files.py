"""The gate reads the base commit's ledger and baselines as regular files only: a symlink
there (even to an identical copy) is never followed (MC727), and a ledger the gate cannot
read never hides the verdict."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from repo_helpers import commit_all, git
from test_trust_identity import World, codes

LEDGER, BASELINE = "evals/ledger.jsonl", "evals/baselines/tiny-arith.json"


def linked_base(world: World, rel: str) -> None:
    """Main's ``rel`` becomes a symlink to a copy of itself (the same bytes)."""
    repo = world.repo
    copy = repo / "evals" / f"copy-of-{os.path.basename(rel)}"
    shutil.move(repo / rel, copy)
    os.symlink(os.path.relpath(copy, (repo / rel).parent), repo / rel)
    commit_all(repo, f"{rel} through a symlink")
    assert git(repo, "ls-tree", "HEAD", rel).startswith("120000")


def test_a_symlinked_base_ledger_is_not_read_and_refuses_with_a_report(tmp_path):
    """A base whose evals/ holds a symlink is a broken policy: every change is refused with
    an error (fail closed), the report says which file, and the ledger is never followed."""
    world = World(tmp_path)
    linked_base(world, LEDGER)
    report = world.gate(world.branch("a human edit of a protected path"))
    assert report["verdict"] == "error" and codes(report) == {"MC820"}
    assert LEDGER in report["reasons"][0]["message"]
    assert "symlink" in report["reasons"][0]["message"]
    (note,) = [n for n in report["notes"] if "metric history" in n]
    assert "MC727" in note and LEDGER in note and "symlink" in note
    assert "MC727" in (world.tmp / f"gate-{world.count}" / "report.md").read_text()


@pytest.mark.e2e
def test_a_symlinked_base_baseline_is_refused_before_training(tmp_path, tiny_model):
    world = World(tmp_path)
    linked_base(world, BASELINE)
    repo = world.repo
    git(repo, "checkout", "-q", "-b", "steps")
    path = repo / "configs/adapters/tiny-arith.yaml"
    path.write_text(path.read_text().replace("max_steps: 1200", "max_steps: 1190"))
    commit_all(repo, "fewer steps")
    git(repo, "checkout", "-q", "main")
    report = world.gate("steps", model_cache=Path(os.environ["MODELCFG_CACHE"]))
    assert report["verdict"] == "error" and codes(report) == {"MC820"}
    assert report["configs"] == []  # refused before any adapter is judged: nothing trained
    (reason,) = report["reasons"]
    assert BASELINE in reason["message"] and "symlink" in reason["message"]
