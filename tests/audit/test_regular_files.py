"""The ledger and the baselines are regular files in every tree that is read: a symlink
(even to an identical copy inside the repository), a submodule (gitlink), a special file,
or a symlink on the way to them is MC727 with the path, never followed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from repo_helpers import GOLDEN, commit_all, git, make_repo
from test_promote import evidence

from modelcfg.audit.baseline import list_baselines, read_baseline
from modelcfg.audit.ledger import LEDGER, audit, read_entries, verify, verify_history
from modelcfg.audit.promote import promote
from modelcfg.audit.rollback import rollback
from modelcfg.config.trees import FsTree, GitTree
from modelcfg.core.errors import UserError

BASELINE = "evals/baselines/a.json"


@pytest.fixture
def repo(tmp_path):
    """A repository whose main has one promotion of ``a`` (a ledger and a baseline)."""
    repo = make_repo(tmp_path, GOLDEN / "base")
    promote(repo, adapter="a", evidence=evidence(repo), actor="ci")
    assert verify(FsTree(repo)) == []
    return repo


def link_to_copy(repo: Path, rel: str, copy: str) -> None:
    """Move ``rel`` to ``copy`` and leave a relative symlink to it: same bytes, read
    through a link."""
    path, target = repo / rel, repo / copy
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, target)
    os.symlink(os.path.relpath(target, path.parent), path)


def findings(problems) -> set[tuple[str, str]]:
    return {(p.path, p.code) for p in problems}


@pytest.mark.parametrize("rel, copy", [(LEDGER, "configs/ledger.jsonl"),
                                       (BASELINE, "configs/a.json")])
def test_a_symlinked_ledger_or_baseline_is_refused_in_a_commit_and_a_working_tree(
        repo, rel, copy):
    link_to_copy(repo, rel, copy)
    assert findings(verify(FsTree(repo))) == {(rel, "MC727")}
    commit = commit_all(repo, "the same bytes, through a symlink")
    assert git(repo, "ls-tree", commit, rel).startswith("120000")
    assert findings(verify(GitTree(repo, commit))) == {(rel, "MC727")}
    assert findings(audit(repo, "HEAD", history=False)) == {(rel, "MC727")}


def test_readers_refuse_them_too(repo):
    link_to_copy(repo, BASELINE, "configs/a.json")
    link_to_copy(repo, LEDGER, "configs/ledger.jsonl")
    commit_all(repo, "links")
    for tree in (FsTree(repo), GitTree(repo, "HEAD")):
        for read in (lambda t: read_baseline(t, "a"), read_entries):
            with pytest.raises(UserError) as err:
                read(tree)
            assert err.value.code == "MC727" and err.value.path in (BASELINE, LEDGER)
            assert "symlink" in err.value.message


@pytest.mark.parametrize("step, copy", [("evals/baselines", "configs/baselines"),
                                        ("evals", "configs/evals")])
def test_a_symlinked_folder_on_the_way_is_refused(repo, step, copy):
    link_to_copy(repo, step, copy)
    commit = commit_all(repo, f"{step} through a symlink")
    for tree in (FsTree(repo), GitTree(repo, commit)):
        (finding,) = verify(tree)
        assert finding.code == "MC727"
        assert finding.message.startswith(f"{step} ") and "is a symlink" in finding.message
    with pytest.raises(UserError) as err:
        list_baselines(GitTree(repo, commit)) if step == "evals/baselines" else \
            read_entries(GitTree(repo, commit))
    assert err.value.code == "MC727"


def test_a_gitlink_at_the_ledger_is_refused_and_history_does_not_crash(repo):
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "rm", "-q", "--cached", LEDGER)
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{head},{LEDGER}")
    git(repo, "commit", "-q", "-m", "a submodule where the ledger was")
    assert findings(verify(GitTree(repo, "HEAD"))) == {(LEDGER, "MC727")}
    (finding,) = verify_history(repo)
    assert finding.code == "MC727" and "gitlink" in finding.message
    assert git(repo, "rev-parse", "--short=12", "HEAD") in finding.message


def test_history_reports_a_commit_that_made_the_ledger_a_symlink(repo):
    link_to_copy(repo, LEDGER, "configs/ledger.jsonl")
    linked = commit_all(repo, "ledger through a symlink")
    os.unlink(repo / LEDGER)
    shutil.move(repo / "configs/ledger.jsonl", repo / LEDGER)
    commit_all(repo, "and back")
    assert verify(FsTree(repo)) == []
    (finding,) = verify_history(repo)
    assert finding.code == "MC727" and linked[:12] in finding.message


def test_a_special_file_is_refused(repo):
    os.unlink(repo / BASELINE)
    os.mkfifo(repo / BASELINE)
    assert findings(verify(FsTree(repo))) == {(BASELINE, "MC727")}


def test_promote_refuses_a_branch_whose_ledger_is_a_symlink(repo):
    link_to_copy(repo, LEDGER, "configs/ledger.jsonl")
    commit_all(repo, "ledger through a symlink")
    git(repo, "push", "-q", "origin", "main")
    before = git(repo.parent / "work-remote.git", "rev-parse", "main")
    with pytest.raises(UserError) as err:
        promote(repo, adapter="p", evidence=evidence(repo, "p"), actor="ci")
    assert err.value.code == "MC727" and err.value.path == LEDGER
    assert git(repo.parent / "work-remote.git", "rev-parse", "main") == before


def test_rollback_refuses_a_target_whose_baseline_is_a_symlink(repo):
    link_to_copy(repo, BASELINE, "configs/a.json")
    target = commit_all(repo, "baseline through a symlink")
    os.unlink(repo / BASELINE)
    shutil.move(repo / "configs/a.json", repo / BASELINE)
    commit_all(repo, "and back")
    git(repo, "push", "-q", "origin", "main")
    with pytest.raises(UserError) as err:
        rollback(repo, adapter="a", to_rev=target, actor="maintainer")
    assert err.value.code == "MC727" and err.value.path == BASELINE
