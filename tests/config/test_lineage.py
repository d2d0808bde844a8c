"""Lineage: a removed and an added adapter recognised as one renamed adapter (explicit
``replaces``, a name changed in the same file, or mostly the same lines), on real temp git
repositories and working trees. The gate's use of it is tested in tests/gate/."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_helpers import GOLDEN, commit_all, git, make_repo

from modelcfg.config.diff import diff_trees
from modelcfg.config.lineage import SIMILAR, similarity
from modelcfg.config.trees import FsTree, GitTree

A = "configs/adapters/a.yaml"
# Another adapter of the same model sharing almost no lines with a.yaml.
OTHER = """apiVersion: modelcfg/v1
kind: Adapter
name: {name}
base: tiny
method: dpo
lora: {{r: 4, lora_alpha: 4, target_modules: [k_proj], lora_dropout: 0.1}}
training: {{epochs: 2, learning_rate: 0.0005, batch_size: 2, max_seq_length: 48, seed: 3}}
datasets: [{{path: configs/datasets/pref.jsonl, sha256: "{sha}"}}]
evals: {{suites: [cap]}}
budget: {{max_gpu_hours: 0.5}}
rationale: Something else entirely.
"""


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path, GOLDEN / "base")


def text(repo: Path, rel: str = A) -> str:
    return (repo / rel).read_text()


def changes_of(repo: Path, *, worktree: bool = False) -> dict:
    if worktree:
        result = diff_trees(GitTree(repo, "HEAD"), FsTree(repo))
    else:
        head = commit_all(repo, "change")
        result = diff_trees(GitTree(repo, "HEAD~1"), GitTree(repo, head))
    return {c.name: c for c in result if c.kind == "Adapter"}


def other(repo: Path, name: str) -> str:
    sha = git(repo, "hash-object", "configs/datasets/pref.jsonl")  # only needs to parse
    return OTHER.format(name=name, sha=(sha * 2)[:64])


@pytest.mark.parametrize("worktree", [False, True])
def test_a_moved_and_renamed_file_is_a_rename(repo, worktree):
    git(repo, "mv", A, "configs/adapters/a2.yaml")
    path = repo / "configs/adapters/a2.yaml"
    path.write_text(path.read_text().replace("name: a\n", "name: a2\n"))
    found = changes_of(repo, worktree=worktree)
    assert set(found) == {"a2"}
    change = found["a2"]
    assert (change.status, change.replaces, change.old_path, change.new_path) == (
        "renamed", "a", A, "configs/adapters/a2.yaml")
    assert change.lineage.endswith("of its lines unchanged")
    assert change.impact == "retrain"  # the name is part of the training fingerprint
    assert [f.path for f in change.fields] == ["name"]
    assert change.to_dict()["replaces"] == "a"


def test_a_name_changed_in_place_is_a_rename_whatever_else_changed(repo):
    (repo / A).write_text(other(repo, "fresh"))
    found = changes_of(repo)
    assert set(found) == {"fresh"}
    assert (found["fresh"].replaces, found["fresh"].lineage) == (
        "a", "name changed in the same file")


def test_replaces_pairs_however_different_the_content(repo):
    (repo / A).unlink()
    (repo / "configs/adapters/n.yaml").write_text(
        other(repo, "n").replace("rationale:", "replaces: a\nrationale:"))
    found = changes_of(repo)
    assert (found["n"].status, found["n"].replaces, found["n"].lineage) == (
        "renamed", "a", "replaces")


def test_a_different_adapter_is_a_removal_and_an_addition(repo):
    (repo / A).unlink()
    (repo / "configs/adapters/n.yaml").write_text(other(repo, "n"))
    assert similarity(text(repo, "configs/adapters/p.yaml"), other(repo, "n")) < SIMILAR
    found = changes_of(repo)
    assert {n: (c.status, c.replaces) for n, c in found.items()} == {
        "a": ("removed", None), "n": ("added", None)}


def test_replaces_naming_another_adapter_takes_no_part_in_detection(repo):
    git(repo, "mv", A, "configs/adapters/a2.yaml")
    path = repo / "configs/adapters/a2.yaml"
    path.write_text(path.read_text().replace("name: a\n", "name: a2\nreplaces: zzz\n"))
    found = changes_of(repo)
    assert {n: (c.status, c.replaces) for n, c in found.items()} == {
        "a": ("removed", None), "a2": ("added", None)}


def test_best_matches_pair_first(repo):
    """Two adapters renamed at once: each pairs with its own old version."""
    p_text = text(repo, "configs/adapters/p.yaml")
    a_text = text(repo)
    git(repo, "rm", "-q", A, "configs/adapters/p.yaml")
    (repo / "configs/adapters").mkdir()
    (repo / "configs/adapters/x.yaml").write_text(p_text.replace("name: p\n", "name: x\n"))
    (repo / "configs/adapters/y.yaml").write_text(a_text.replace("name: a\n", "name: y\n"))
    found = changes_of(repo)
    assert {n: c.replaces for n, c in found.items()} == {"x": "p", "y": "a"}


def test_similarity_ignores_comments_and_blank_lines():
    assert similarity("a: 1\n# note\n\nb: 2\n", "a: 1\nb: 2\n# other\n") == 1.0
    assert similarity("a: 1\nb: 2\n", "c: 3\nd: 4\n") == 0.0
