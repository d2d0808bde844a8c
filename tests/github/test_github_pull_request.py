"""`modelcfg github pull-request N`: the gate workflow's facts about a pull request, read
through the API (no gh CLI), as $GITHUB_OUTPUT lines."""

from __future__ import annotations

import pytest
from github_env import SHA, fake_github

from modelcfg.cli.app import main

BASE = "b" * 40


@pytest.fixture
def gh(monkeypatch, tmp_path):
    with fake_github(monkeypatch, tmp_path) as fake:
        fake.add_pull(12, SHA, author="agent-bot[bot]", base_sha=BASE, base_ref="main")
        fake.state.labels[12] = ["agent", "gate:block"]
        yield fake


def test_the_lines_are_printed_and_appended_to_github_output(gh, tmp_path, monkeypatch,
                                                             capsys):
    out = tmp_path / "output"
    out.write_text("earlier=1\n")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    assert main(["github", "pull-request", "12", "--github-output"]) == 0
    expected = (f"number=12\nauthor=agent-bot[bot]\nlabels=[\"agent\",\"gate:block\"]\n"
                f"base_sha={BASE}\nbase_ref=main\nhead_sha={SHA}\n")
    assert capsys.readouterr().out == expected
    assert out.read_text() == "earlier=1\n" + expected
    assert [(r.method, r.path) for r in gh.requests] == [("GET", "/repos/octo/configs/pulls/12")]


def test_without_github_output_only_stdout(gh, capsys):
    assert main(["github", "pull-request", "12", "--repo", "octo/configs"]) == 0
    assert capsys.readouterr().out.startswith("number=12\nauthor=agent-bot[bot]\nlabels=")


def test_github_output_unset_is_a_usage_error(gh, capsys):
    assert main(["github", "pull-request", "12", "--github-output"]) == 2
    assert "error: MC017 --github-output needs GITHUB_OUTPUT" in capsys.readouterr().err


def test_a_value_with_a_line_break_is_refused(gh, tmp_path, monkeypatch, capsys):
    gh.add_pull(13, SHA, base_ref="main\nhead_sha=evil")
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
    assert main(["github", "pull-request", "13", "--github-output"]) == 2
    assert "error: MC017 the pull request's base_ref holds a line break" in \
        capsys.readouterr().err
    assert not (tmp_path / "output").exists()


def test_an_unknown_pull_request_and_an_outage(gh, capsys):
    assert main(["github", "pull-request", "99"]) == 2
    assert "error: MC014 the pull request was not read: MC014 read pull request #99: HTTP " \
        "404 Not Found" in capsys.readouterr().err
    gh.down = True
    assert main(["github", "pull-request", "12"]) == 2
    assert "MC013 read pull request #12: HTTP 503 Service Unavailable (after 5 attempts)" in \
        capsys.readouterr().err
