"""The one git module: every failure is a UserError with a code and git's own message, and
commits are read from objects (never the working tree)."""

from __future__ import annotations

import pytest
from repo_helpers import GIT_ENV, commit_all, make_repo

from modelcfg.config.trees import GitTree, NotRegular, materialize
from modelcfg.core import git
from modelcfg.core.errors import UserError


def test_a_failing_command_is_a_user_error_with_gits_message(tmp_path):
    repo = make_repo(tmp_path)
    with pytest.raises(UserError) as err:
        git.text(repo, "rev-parse", "--verify", "no-such-branch", code="MC724")
    assert err.value.code == "MC724" and err.value.exit_code == 2
    assert "git rev-parse --verify no-such-branch failed: fatal:" in err.value.message
    assert git.attempt(repo, "rev-parse", "--verify", "no-such-branch")[0] is False


def test_resolving_revisions(tmp_path):
    repo = make_repo(tmp_path)
    head = git.text(repo, "rev-parse", "HEAD")
    assert git.resolve_commit(repo, "main") == head
    assert git.commit_of(repo, "nope") is None
    with pytest.raises(UserError) as err:
        git.resolve_commit(repo, "nope", code="MC722")
    assert err.value.code == "MC722"


def test_not_a_repository(tmp_path):
    with pytest.raises(UserError) as err:
        git.Objects(tmp_path)
    assert err.value.code == "MC401"
    with pytest.raises(UserError) as err:
        git.text(tmp_path / "missing", "status")
    assert err.value.code == "MC401"


def test_a_missing_object_is_a_user_error(tmp_path):
    repo = make_repo(tmp_path)
    with pytest.raises(UserError) as err:
        git.Objects(repo).blob("0" * 40)
    assert err.value.code == "MC401" and "is missing or unreadable" in err.value.message


def test_export_writes_the_objects_not_the_working_tree(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "configs").mkdir()
    (repo / "configs/a.yaml").write_text("committed\n")
    (repo / "configs/run.sh").write_text("#!/bin/sh\n")
    (repo / "configs/run.sh").chmod(0o755)
    commit_all(repo, "configs")
    (repo / "configs/a.yaml").write_text("edited, not committed\n")
    out = materialize({"configs": GitTree(repo, "HEAD")}, tmp_path / "judge")
    assert (out / "configs/a.yaml").read_text() == "committed\n"
    assert (out / "configs/run.sh").stat().st_mode & 0o111


@pytest.mark.parametrize("target", ["a.yaml", "../secret.txt"])
def test_export_refuses_any_symlink_even_one_that_stays_inside(tmp_path, target):
    repo = make_repo(tmp_path)
    (repo / "configs").mkdir()
    (repo / "configs/a.yaml").write_text("x\n")
    (repo / "configs/link.yaml").symlink_to(target)
    (repo / "secret.txt").write_text("x")
    commit_all(repo, "link")
    with pytest.raises(NotRegular, match="configs/link.yaml in commit HEAD is a symlink"):
        materialize({"configs": GitTree(repo, "HEAD")}, tmp_path / "judge")
    assert GitTree(repo, "HEAD").irregular("configs") == [("configs/link.yaml", "a symlink")]


def test_export_refuses_a_submodule_instead_of_skipping_it(tmp_path):
    repo = make_repo(tmp_path)
    head = git.text(repo, "rev-parse", "HEAD")
    git.run(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},configs/sub")
    git.run(repo, "commit", "-q", "-m", "submodule", env=GIT_ENV)
    with pytest.raises(NotRegular, match="configs/sub .* is a submodule"):
        materialize({"configs": GitTree(repo, "HEAD")}, tmp_path / "judge")


def test_export_refuses_a_dot_dot_entry_that_would_write_outside_its_folder(tmp_path):
    repo = make_repo(tmp_path)
    blob = git.run(repo, "hash-object", "-w", "--stdin", data=b"kind: EvalSuite\n").decode()
    tree = blob_tree(repo, blob.strip(), ["configs", "..", "evals", "suites"], "x.yaml")
    commit = git.text(repo, "commit-tree", tree, "-m", "dot dot", env=GIT_ENV)
    bad = GitTree(repo, commit)
    assert list(bad.entries) == ["configs/../evals/suites/x.yaml"]
    with pytest.raises(NotRegular, match="'..'"):
        materialize({"configs": bad}, tmp_path / "judge")
    assert not (tmp_path / "judge" / "evals").exists()


def blob_tree(repo, blob: str, folders: list[str], name: str) -> str:
    """A tree holding ``blob`` at ``folders/name``, built with git mktree (which, unlike
    the index, accepts names such as '..')."""
    sha = git.run(repo, "mktree", data=f"100644 blob {blob}\t{name}\n".encode()).decode()
    for folder in reversed(folders):
        sha = git.run(repo, "mktree", data=f"040000 tree {sha.strip()}\t{folder}\n"
                      .encode()).decode()
    return sha.strip()
