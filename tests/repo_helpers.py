"""Real git repositories for tests: a work tree with a local bare remote, no mocks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parent.parent
GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"}


def git(repo: Path, *args: str, env: dict | None = None) -> str:
    import os

    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          env=full_env)
    if proc.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


def make_repo(tmp: Path, source: Path | None = None, name: str = "work") -> Path:
    """A git work tree (copy of ``source``) with one commit, pushed to a local bare remote."""
    repo = tmp / name
    if source is not None:
        shutil.copytree(source, repo, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        repo.mkdir()
    remote = tmp / f"{name}-remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", "initial")
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    return repo


def project_repo(tmp: Path, name: str = "work") -> Path:
    """:func:`make_repo` of this repository's own configs/ and evals/."""
    source = tmp / "source"
    source.mkdir()
    for folder in ("configs", "evals"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return make_repo(tmp, source, name)


def broken_golden_repo(tmp: Path) -> Path:
    """The golden base repository with two problems: an unknown key (rank) in a.yaml and an
    unknown base model in p.yaml."""
    repo = make_repo(tmp, GOLDEN / "base")
    adapter = repo / "configs/adapters/a.yaml"
    adapter.write_text(adapter.read_text().replace("r: 8", "r: 8\n  rank: 3"))
    other = repo / "configs/adapters/p.yaml"
    other.write_text(other.read_text().replace("base: tiny", "base: nope"))
    return repo


def commit_all(repo: Path, message: str, env: dict | None = None) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD")


AGENT = {"GIT_AUTHOR_NAME": "arith-agent", "GIT_AUTHOR_EMAIL": "arith-agent@example.com"}


def pr_branch(repo: Path, name: str, change, *, agent: bool) -> str:
    """Branch ``name`` off main with ``change(repo)`` committed (by the arith agent, with an
    ``Agent:`` trailer, when ``agent``); main stays checked out."""
    git(repo, "checkout", "-q", "-B", name, "main")
    change(repo)
    commit_all(repo, f"{name}\n\nAgent: arith-agent" if agent else name,
               env=AGENT if agent else None)
    git(repo, "checkout", "-q", "main")
    return name
