"""The one git module: every failure is a UserError with a code and git's own message, and
commits are read from objects (never the working tree)."""

from __future__ import annotations

import pytest
from repo_helpers import commit_all, make_repo

from modelcfg.config.trees import GitTree, PathProblem, materialize
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
    (repo / "configs/link.yaml").symlink_to("a.yaml")
    commit_all(repo, "configs")
    (repo / "configs/a.yaml").write_text("edited, not committed\n")
    out = materialize({"configs": GitTree(repo, "HEAD")}, tmp_path / "judge")
    assert (out / "configs/a.yaml").read_text() == "committed\n"
    assert (out / "configs/run.sh").stat().st_mode & 0o111
    assert (out / "configs/link.yaml").is_symlink()
    assert (out / "configs/link.yaml").read_text() == "committed\n"


def test_export_refuses_a_symlink_out_of_the_folder(tmp_path):
    repo = make_repo(tmp_path)
    (repo / "configs").mkdir()
    (repo / "configs/escape.yaml").symlink_to("../secret.txt")
    (repo / "secret.txt").write_text("x")
    commit_all(repo, "escape")
    with pytest.raises(PathProblem, match="symlink out of configs/"):
        materialize({"configs": GitTree(repo, "HEAD")}, tmp_path / "judge")
