"""Semantic diff and impact classification, on real temp git repositories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from repo_helpers import GOLDEN, commit_all, git, make_repo

from modelcfg.config.diff import diff_trees, field_changes, tree_for
from modelcfg.config.trees import FsTree, GitTree

ADAPTER = "configs/adapters/a.yaml"


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path, GOLDEN / "base")


def edit(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text()
    assert old in text, (old, rel)
    path.write_text(text.replace(old, new, 1))


def diff_head(repo: Path):
    head = commit_all(repo, "change")
    return diff_trees(GitTree(repo, "HEAD~1"), GitTree(repo, head))


def impacts(result) -> dict:
    return {c.name: c.impact for c in result if c.kind == "Adapter"}


@pytest.mark.parametrize("rel, old, new, want", [
    (ADAPTER, "rationale: A golden test adapter.", "rationale: Better words.", {"a": "none"}),
    (ADAPTER, "budget:\n  max_train_tokens: 10000", "budget:\n  max_train_tokens: 20000",
     {"a": "none"}),
    (ADAPTER, "suites: [cap]", "suites: [cap, cap2]", {"a": "re-evaluate"}),
    (ADAPTER, "r: 8", "r: 16", {"a": "retrain"}),
    (ADAPTER, "max_steps: 10", "max_steps: 10\n  checkpoint_every: 5", {"a": "none"}),
    (ADAPTER, "max_steps: 10", "max_steps: 10\n  seed: 0", {}),  # spelling out a default
    (ADAPTER, "max_steps: 10", "max_steps: 11", {"a": "retrain"}),
    # how a file's records are read is part of the trained result, like its bytes
    (ADAPTER, "b0a87486fb5ec\n", "b0a87486fb5ec\n    fields: {completion: completion}\n",
     {"a": "retrain"}),
    ("configs/models/tiny.yaml", "context_length: 128", "context_length: 128\ndtype: bfloat16",
     {"a": "retrain", "p": "retrain"}),
    ("configs/models/tiny.yaml", "family: llama", "family: llama\ndescription: words", {}),
    ("evals/suites/cap.yaml", "tasks: [t1, t2", "tasks: [t1", {"a": "re-evaluate",
                                                               "p": "re-evaluate"}),
    ("evals/tasks/t1/t1.yaml", "task: t1", "task: t1\n# scorer tweak", {
        "a": "re-evaluate", "p": "re-evaluate"}),
])
def test_impact_table(repo, rel, old, new, want):
    edit(repo, rel, old, new)
    if "cap2" in new:
        (repo / "evals/suites/cap2.yaml").write_text(
            "apiVersion: modelcfg/v1\nkind: EvalSuite\nname: cap2\ntasks: [t1]\n")
    assert impacts(diff_head(repo)) == want


def test_field_paths_and_values(repo):
    edit(repo, ADAPTER, "r: 8", "r: 16")
    edit(repo, ADAPTER, "target_modules: [q_proj, v_proj]", "target_modules: [q_proj]")
    result = diff_head(repo)
    (change,) = list(result)
    assert (change.kind, change.name, change.status) == ("Adapter", "a", "modified")
    assert [f.to_dict() for f in change.fields] == [
        {"field": "lora.r", "old": 8, "new": 16},
        {"field": "lora.target_modules", "old": ["q_proj", "v_proj"], "new": ["q_proj"]}]
    assert change.reasons == ["lora.r is in the training fingerprint",
                              "lora.target_modules is in the training fingerprint"]
    text = result.render_text()
    assert "Adapter a (configs/adapters/a.yaml): modified; impact: retrain" in text
    assert "  lora.r: 8 -> 16" in text
    json.dumps(result.to_dict())  # JSON-able


def test_comment_whitespace_and_key_order_are_not_changes(repo):
    path = repo / ADAPTER
    lines = path.read_text().splitlines()
    # move `rationale` to the top, add comments and blank lines, requote a string
    body = [line for line in lines if not line.startswith("rationale")]
    text = "# a comment\n" + "rationale: 'A golden test adapter.'\n\n" + "\n".join(body) + "\n"
    path.write_text(text.replace("r: 8", "r: 8   # rank"))
    result = diff_head(repo)
    assert list(result) == []
    assert result.changed_paths == [ADAPTER]
    assert result.policy_paths == []


def test_dataset_bytes_changed_without_updating_the_pin_is_retrain(repo):
    with open(repo / "configs/datasets/d.jsonl", "a") as fh:
        fh.write('{"prompt": "1+1=", "completion": "2"}\n')
    result = diff_head(repo)
    change = result.adapters()["a"]
    assert change.status == "unchanged" and change.fields == []
    assert change.impact == "retrain"
    assert change.reasons == ["dataset configs/datasets/d.jsonl: its bytes changed (the "
                              "sha256 pin was not updated)"]
    assert "p" not in result.adapters()


def test_dataset_renamed_with_same_bytes_is_no_retrain(repo):
    git(repo, "mv", "configs/datasets/d.jsonl", "configs/datasets/e.jsonl")
    edit(repo, ADAPTER, "datasets/d.jsonl", "datasets/e.jsonl")
    change = diff_head(repo).adapters()["a"]
    assert change.impact == "none"
    assert [f.path for f in change.fields] == ["datasets[0].path"]


def test_added_removed_and_renamed_configs(repo):
    (repo / "configs/adapters/b.yaml").write_text(
        (repo / ADAPTER).read_text().replace("name: a", "name: b"))
    git(repo, "rm", "-q", "configs/adapters/p.yaml")
    git(repo, "mv", "evals/suites/cap.yaml", "evals/suites/capability.yaml")
    result = diff_head(repo)
    got = {(c.kind, c.name): (c.status, c.old_path, c.new_path, c.impact) for c in result}
    assert got == {
        ("Adapter", "b"): ("added", None, "configs/adapters/b.yaml", "retrain"),
        ("Adapter", "p"): ("removed", "configs/adapters/p.yaml", None, "none"),
        ("EvalSuite", "cap"): ("renamed", "evals/suites/cap.yaml",
                               "evals/suites/capability.yaml", None),
    }
    assert result.policy_paths == ["evals/suites/cap.yaml", "evals/suites/capability.yaml"]


def test_policy_paths_are_listed(repo):
    edit(repo, "evals/thresholds.yaml", "apiVersion", "# looser\napiVersion")
    (repo / "evals/baselines").mkdir()
    (repo / "evals/baselines/a.json").write_text("{}\n")
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/gate.yml").write_text("on: push\n")
    (repo / "README.md").write_text("hi\n")
    result = diff_head(repo)
    assert list(result) == []
    assert result.policy_paths == [".github/workflows/gate.yml", "evals/baselines/a.json",
                                   "evals/thresholds.yaml"]
    assert "README.md" in result.changed_paths
    assert "Policy paths changed" in result.render_text()


def test_protected_paths_come_from_the_base_contract(repo):
    edit(repo, "evals/contract.yaml", "apiVersion", "protected_paths: [docs/**]\napiVersion")
    commit_all(repo, "contract")
    (repo / "docs").mkdir()
    (repo / "docs/x.md").write_text("x\n")
    # The head's contract would say otherwise; the base one decides.
    edit(repo, "evals/contract.yaml", "protected_paths: [docs/**]", "protected_paths: []")
    result = diff_head(repo)
    assert "docs/x.md" in result.policy_paths


def test_working_tree_head_includes_untracked_files(repo):
    edit(repo, ADAPTER, "r: 8", "r: 4")
    (repo / "configs/adapters/new.yaml").write_text(
        (repo / ADAPTER).read_text().replace("name: a", "name: new"))
    result = diff_trees(GitTree(repo, "HEAD"), tree_for(repo, None))
    assert impacts(result) == {"a": "retrain", "new": "retrain"}
    assert isinstance(tree_for(repo, None), FsTree)


def test_field_changes_paths():
    assert [f.to_dict() for f in field_changes(
        {"a": {"b.c": 1}, "l": [{"x": 1}], "t": True}, {"a": {"b.c": 2}, "l": [{"x": 2}], "t": 1})
    ] == [{"field": 'a["b.c"]', "old": 1, "new": 2}, {"field": "l[0].x", "old": 1, "new": 2},
          {"field": "t", "old": True, "new": 1}]


def test_json_of_a_non_finite_value_is_strict_and_keeps_its_yaml_spelling(repo):
    from modelcfg.cli.render import render_diff_json
    from modelcfg.core.numbers import strict_json

    edit(repo, ADAPTER, "learning_rate: 0.001", "learning_rate: .nan")
    edit(repo, ADAPTER, "r: 8", "r: -.inf")
    data = strict_json(render_diff_json(diff_head(repo).to_dict()))  # no bare NaN
    fields = {f["field"]: f["new"] for c in data["changes"] for f in c["fields"]}
    assert fields["training.learning_rate"] == ".nan" and fields["lora.r"] == "-.inf"
