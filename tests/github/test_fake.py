"""The fake itself: it rejects what GitHub's published description rejects (422, listed in
``violations``), and its statuses endpoint answers the real client."""

from __future__ import annotations

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
