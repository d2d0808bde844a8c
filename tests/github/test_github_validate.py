"""`modelcfg github validate`: validate's problems as the check run modelcfg/validate, one
annotation per problem on its file, line and column, with the gate's batching code."""

from __future__ import annotations

import pytest
from github_env import SHA, fake_github
from repo_helpers import GOLDEN, broken_golden_repo, make_repo

from modelcfg.cli.app import main


@pytest.fixture
def gh(monkeypatch, tmp_path):
    with fake_github(monkeypatch, tmp_path) as fake:
        yield fake


def test_problems_become_a_failing_check_with_an_annotation_each(gh, tmp_path, capsys):
    repo = broken_golden_repo(tmp_path)
    assert main(["github", "validate", "--root", str(repo), "--sha", SHA]) == 1
    [check] = gh.state.check_runs.values()
    assert (check["name"], check["head_sha"], check["conclusion"], check["external_id"]) == \
        ("modelcfg/validate", SHA, "failure", "manual")
    assert check["output"]["title"] == "modelcfg validate: 2 error(s)"
    notes = check["output"]["annotations"]
    assert [(n["path"], n["title"], n["annotation_level"]) for n in notes] == [
        ("configs/adapters/a.yaml", "MC202", "failure"),
        ("configs/adapters/p.yaml", "MC301", "failure")]
    assert all(n["start_line"] == n["end_line"] > 1 and n["start_column"] == n["end_column"]
               for n in notes)
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("# modelcfg validate: 2 error(s)\n\n- `configs/adapters/a.yaml:")
    assert check["output"]["summary"] == summary
    assert "validate: 2 error(s), 0 warning(s)" in capsys.readouterr().out


def test_a_valid_repository_is_a_successful_check(gh, tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    assert main(["github", "validate", "--root", str(repo), "--pr", "7"]) == 0
    [check] = gh.state.check_runs.values()
    assert (check["conclusion"], check["output"]["title"], check["head_sha"]) == \
        ("success", "modelcfg validate: valid", SHA)
    assert not gh.state.comments[7] and not gh.state.labels[7]  # a check run only


def test_an_api_failure_never_exits_0(gh, tmp_path, capsys):
    repo = make_repo(tmp_path, GOLDEN / "base")
    gh.down = True
    assert main(["github", "validate", "--root", str(repo), "--sha", SHA]) == 1
    assert "error: MC013 GitHub did not take the validate check: MC013 create the check run " \
        "modelcfg/validate: HTTP 503" in capsys.readouterr().err


def test_batches_of_50_past_the_cap(gh, tmp_path, monkeypatch):
    """The gate's batching: 50 per update, most severe first, "and N more" past the cap."""
    from modelcfg.core.errors import Problem

    problems = [Problem("configs/x.yaml", i + 1, 2, "MC324", "small", "warning")
                for i in range(70)] + [Problem("configs/y.yaml", 3, 4, "MC202", "bad")]
    monkeypatch.setattr("modelcfg.config.validate.validate", lambda *a, **k: problems)
    monkeypatch.setattr("modelcfg.github.report.ANNOTATION_CAP", 60)
    monkeypatch.setattr("modelcfg.github.validate.ANNOTATION_CAP", 60)
    assert main(["github", "validate", "--root", str(tmp_path), "--sha", SHA]) == 1
    [check] = gh.state.check_runs.values()
    assert [len(u.body["output"]["annotations"]) for u in gh.calls("PATCH", "/check-runs/")] \
        == [50, 10]
    notes = check["output"]["annotations"]
    assert (notes[0]["title"], notes[0]["annotation_level"], notes[0]["start_column"]) == \
        ("MC202", "failure", 4)
    assert {n["annotation_level"] for n in notes[1:]} == {"warning"}
    assert check["output"]["text"] == ("60 annotations shown, and 11 more: every reason is in "
                                       "the report above.")
    assert check["output"]["title"] == "modelcfg validate: 1 error(s), 70 warning(s)"
