"""The environment every `modelcfg github` test starts from: the fake on a GitHub
Enterprise-style prefix, a token, the repository, fast backoff, nothing of the runner's."""

from __future__ import annotations

import contextlib

from modelcfg.demo.fake_github import FakeGitHub

SHA = "a" * 40
CLEARED = ("GITHUB_EVENT_PATH", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_OUTPUT",
           "GITHUB_SERVER_URL", "MODELCFG_GITHUB_APP_ID", "MODELCFG_GITHUB_APP_PRIVATE_KEY",
           "MODELCFG_GITHUB_APP_INSTALLATION_ID")


@contextlib.contextmanager
def fake_github(monkeypatch, tmp_path):
    with FakeGitHub(prefix="/api/v3") as fake:
        fake.add_pull(7, SHA)
        monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.setenv("GITHUB_REPOSITORY", fake.repo)
        monkeypatch.setenv("MODELCFG_GITHUB_BACKOFF", "0.001")
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
        for name in CLEARED:
            monkeypatch.delenv(name, raising=False)
        yield fake
        assert fake.violations == []  # every body matched GitHub's published schemas
