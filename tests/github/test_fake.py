"""The fake itself: it rejects what GitHub's published description rejects (422, listed in
``violations``), and its statuses endpoint answers the real client."""

from __future__ import annotations

import pytest

from modelcfg.demo.fake_github import FakeGitHub


def client(fake):
    from github import Auth, Github

    return Github(base_url=fake.url, auth=Auth.Token("t"), retry=None, lazy=True,
                  seconds_between_requests=None, seconds_between_writes=None)


def test_a_request_off_the_schema_is_refused_and_listed():
    from github import GithubException

    with FakeGitHub() as fake:
        repo = client(fake).get_repo(fake.repo)
        try:
            repo.create_check_run(name="x", head_sha="a" * 40, conclusion="failure",
                                  status="completed",
                                  output={"title": "t", "summary": "s", "annotations": [
                                      {"path": "a", "start_line": 1, "end_line": 1,
                                       "annotation_level": "error", "message": "m"}]})
        except GithubException as exc:
            assert exc.status == 422
        else:
            raise AssertionError("accepted an annotation_level the API does not have")
        assert len(fake.violations) == 1
        assert "'error' is not one of ['notice', 'warning', 'failure']" in fake.violations[0]


def test_pygithubs_bare_label_list_is_not_the_published_body():
    """Why modelcfg posts {"labels": [...]} itself rather than Issue.add_to_labels."""
    from github import GithubException

    with FakeGitHub() as fake:
        fake.add_pull(3, "a" * 40)
        issue = client(fake).get_repo(fake.repo).get_issue(3)
        try:
            issue.add_to_labels("gate:pass")
        except GithubException as exc:
            assert exc.status == 422
        assert fake.state.labels[3] == []


def test_commit_statuses():
    with FakeGitHub() as fake:
        commit = client(fake).get_repo(fake.repo).get_commit("a" * 40)
        commit.create_status("failure", description="blocked", context="modelcfg/gate")
        assert fake.state.statuses["a" * 40][0]["state"] == "failure"
        assert fake.violations == []


def test_a_pull_request_merged_through_the_api_is_a_merge_commit_in_the_remote(tmp_path):
    """What `modelcfg demo`'s maintainer does: PUT .../pulls/N/merge makes the merge commit
    in the bare remote (both parents, the head's tree), once; a stale sha is refused."""
    from github import GithubException
    from repo_helpers import commit_all, git

    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    (work / "a.txt").write_text("one\n")
    commit_all(work, "one")
    git(work, "branch", "-M", "main")
    git(work, "push", "-q", "origin", "main")
    base = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "-b", "topic")
    (work / "b.txt").write_text("two\n")
    commit_all(work, "two")
    git(work, "push", "-q", "origin", "topic")
    head = git(work, "rev-parse", "HEAD")
    with FakeGitHub() as fake:
        fake.remote = remote
        repo = client(fake).get_repo(fake.repo)
        pull = repo.create_pull(base="main", head="topic", title="t", body="b")
        with pytest.raises(GithubException) as stale:
            pull.merge(sha=base)  # not the pull request's head
        assert stale.value.status == 409
        status = pull.merge(merge_method="merge", sha=head)
        assert status.merged
        merged = git(remote, "rev-parse", "refs/heads/main")
        assert merged == status.sha
        assert git(remote, "rev-list", "--parents", "-n", "1", merged).split()[1:] == [base, head]
        assert git(remote, "rev-parse", f"{merged}^{{tree}}") == \
            git(remote, "rev-parse", f"{head}^{{tree}}")
        again = repo.get_pull(pull.number)
        assert again.merged and again.state == "closed" and again.merge_commit_sha == merged
        with pytest.raises(GithubException) as twice:
            pull.merge(sha=head)
        assert twice.value.status == 405
        assert [p.number for p in repo.get_pulls(state="open")] == []
        assert fake.violations == []
