"""Who wrote a change cannot be hidden from the gate: each evasion of the contract's agent
rules, tried on a real repository with this repository's own configs/ and evals/.

Every pull request here edits a protected path (evals/thresholds.yaml, judged by the base
anyway) and nothing else, so nothing is trained: an agent-authored one is blocked with
exactly MC814, and the same edit by a human passes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from repo_helpers import commit_all, git, make_repo

from modelcfg.gate.run import GateSettings, run_gate

ROOT = Path(__file__).resolve().parents[2]
HUMAN = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
         "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def codes(report: dict) -> set[str]:
    found = {r["code"] for r in report["reasons"]}
    for cfg in report["configs"]:
        found |= {r["code"] for r in cfg["reasons"]}
    return found


def touch_protected(repo: Path, n: int) -> None:
    path = repo / "evals/thresholds.yaml"
    path.write_text(path.read_text() + f"# edit {n}\n")


class World:
    def __init__(self, tmp: Path):
        source = tmp / "source"
        source.mkdir()
        for folder in ("configs", "evals"):
            shutil.copytree(ROOT / folder, source / folder)
        self.repo = make_repo(tmp, source)
        self.tmp = tmp
        self.count = 0

    def branch(self, message: str, env: dict | None = None) -> str:
        """A pull request branch of one commit, from main, editing a protected path."""
        self.count += 1
        name = f"pr-{self.count}"
        git(self.repo, "checkout", "-q", "-B", name, "main")
        touch_protected(self.repo, self.count)
        commit_all(self.repo, message, env={**HUMAN, **(env or {})})
        git(self.repo, "checkout", "-q", "main")
        return name

    def gate(self, head: str, repo: Path | None = None, base: str = "main", **settings
             ) -> dict:
        self.count += 1
        out = self.tmp / f"gate-{self.count}"
        report = run_gate(repo or self.repo, base, head, out,
                          GateSettings(runs_dir=self.tmp / "runs", **settings))
        assert (out / "gate.json").is_file() and (out / "report.md").is_file()
        return report


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return World(tmp_path_factory.mktemp("identity"))


def blocked_as_agent(report: dict) -> bool:
    assert report["verdict"] == "block", report["reasons"]
    assert codes(report) == {"MC814"}, report["reasons"]
    assert [r["field"] for r in report["reasons"]] == ["evals/thresholds.yaml"]
    return bool(report["agent"])


def test_the_same_edit_by_a_human_passes(world):
    report = world.gate(world.branch("tune the thresholds\n\nHuman: yes"))
    assert report["verdict"] == "pass" and codes(report) == set() and report["agent"] == []


@pytest.mark.parametrize("env", [
    {"GIT_AUTHOR_NAME": "arith-agent"},  # the one commit of a change was once not read
    {"GIT_AUTHOR_NAME": "Arith-Agent"},
    {"GIT_AUTHOR_NAME": "ARITH-AGENT"},
    {"GIT_AUTHOR_NAME": "arith-agent\u200b"},
    {"GIT_AUTHOR_NAME": "Dependabot[BOT]"},
    {"GIT_AUTHOR_EMAIL": "Arith-Agent@example.com"},
    {"GIT_AUTHOR_EMAIL": "49699333+arith-agent[bot]@users.noreply.github.com"},
    {"GIT_COMMITTER_NAME": "arith-agent"},  # a human author, an agent committing
], ids=["exact", "Title", "UPPER", "zero-width", "bot-upper", "email", "noreply", "committer"])
def test_agent_identity_in_any_spelling_is_an_agent(world, env):
    assert blocked_as_agent(world.gate(world.branch("tune the thresholds", env)))


@pytest.mark.parametrize("message", [
    "tune\n\nagent: arith",
    "tune\n\nAGENT:arith",
    "tune\n\nAgent :arith",
    "tune\n\nAgent:\n  arith",
    "tune\n\nAgent: openai/codex",
    "tune\n\nAgent: arith\n\nA paragraph after the trailer hides it from git's parser.",
    "tune\n\nAgent: none\nHuman: yes",
    "tune\n\nco-authored-by: Helper\n  <helper[BOT]@example.com>",
    "tune\n\nCo-authored-by: Arith-Agent <a@example.com>",
], ids=["lower", "upper-nospace", "space-before-colon", "folded", "slash", "not-last",
        "agent-none", "co-author-folded", "co-author-name"])
def test_agent_trailer_in_any_form_is_an_agent(world, message):
    assert blocked_as_agent(world.gate(world.branch(message)))


def test_a_control_character_in_the_author_does_not_hide_the_commit(world):
    head = world.branch("tune\n\nAgent: arith", {"GIT_AUTHOR_NAME": "Dev\x1fX"})
    assert blocked_as_agent(world.gate(head))


def test_the_pull_request_author_and_labels_decide_whatever_the_commits_say(world):
    head = world.branch("tune\n\nHuman: yes")
    for settings in ({"pr_author": "Arith-Agent"}, {"pr_author": "arith-agent[bot]"},
                     {"labels": ["AGENT"]}, {"labels": [" Agent "]}):
        report = world.gate(head, **settings)
        assert blocked_as_agent(report), settings


def test_agent_commits_behind_a_merge_count(world):
    """An agent's commit on a side branch, merged into the pull request by a human merge
    commit, and an agent's merge commit over human commits: both are the agent's change."""
    repo = world.repo
    git(repo, "checkout", "-q", "-B", "side", "main")
    touch_protected(repo, 100)
    commit_all(repo, "agent work", env={**HUMAN, "GIT_AUTHOR_NAME": "arith-agent"})
    git(repo, "checkout", "-q", "-B", "merged", "main")
    (repo / "configs/datasets/notes.txt").write_text("human work\n")
    commit_all(repo, "human work", env=HUMAN)
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side", env=HUMAN)
    assert blocked_as_agent(world.gate("merged"))

    git(repo, "checkout", "-q", "-B", "side2", "main")
    touch_protected(repo, 101)
    commit_all(repo, "human work", env=HUMAN)
    git(repo, "checkout", "-q", "-B", "merged2", "main")
    (repo / "configs/datasets/notes.txt").write_text("more human work\n")
    commit_all(repo, "human work", env=HUMAN)
    git(repo, "merge", "-q", "--no-ff", "-m", "merge\n\nAgent: arith", "side2", env=HUMAN)
    git(repo, "checkout", "-q", "main")
    assert blocked_as_agent(world.gate("merged2"))


def test_a_shallow_clone_that_hides_commits_blocks(world, tmp_path):
    """A clone whose history stops inside the change cannot tell who wrote the commits
    behind the cut: here the agent's commit is hidden below a human one (a merge of main
    keeps the merge base reachable), so the gate blocks with MC824 instead of guessing."""
    repo = world.repo
    base = git(repo, "rev-parse", "main")
    git(repo, "checkout", "-q", "-B", "hidden", "main")
    touch_protected(repo, 200)
    commit_all(repo, "agent work", env={**HUMAN, "GIT_AUTHOR_NAME": "arith-agent"})
    (repo / "configs/datasets/notes.txt").write_text("a human commit on top\n")
    human = commit_all(repo, "human work", env=HUMAN)
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    merge = git(repo, "commit-tree", tree, "-p", human, "-p", base, "-m", "merge main",
                env=HUMAN)
    git(repo, "push", "-q", "origin", f"{merge}:refs/heads/hidden")
    git(repo, "checkout", "-q", "main")
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--no-local", "--depth", "2", "--branch", "hidden",
                    str(repo.parent / "work-remote.git"), str(clone)], check=True)
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    report = world.gate("HEAD", repo=clone, base=base)
    assert report["verdict"] == "block" and codes(report) == {"MC824"}, report["reasons"]
    assert "fetch the full history" in report["reasons"][0]["message"]
    git(clone, "fetch", "-q", "--unshallow")
    assert blocked_as_agent(world.gate("HEAD", repo=clone, base=base))
