"""Every git operation of the package, with one error model.

Commands go through :func:`run` (the git CLI; a failure is a :class:`UserError` with the
caller's code and git's own message, never an uncaught ``CalledProcessError``). Reading a
commit's files goes through :class:`Objects`: GitPython keeps one ``git cat-file --batch``
process per repository, so reading many blobs costs one process start, not one each.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from modelcfg.core.errors import UserError

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
# Tree entry modes (git's own numbers).
REGULAR, EXECUTABLE, SYMLINK, GITLINK = "100644", "100755", "120000", "160000"


def run(repo: Path, *args: str, code: str = "MC401", env: dict | None = None,
        data: bytes | None = None, exit_code: int = 2) -> bytes:
    """``git -C repo args...``'s stdout (bytes); a failure raises UserError ``code``."""
    proc = _spawn(repo, args, env, data)
    if proc.returncode:
        detail = proc.stderr.decode(errors="replace").strip() or \
            proc.stdout.decode(errors="replace").strip()
        raise UserError(code, f"git {' '.join(args[:3])} failed: {detail}",
                        exit_code=exit_code)
    return proc.stdout


def text(repo: Path, *args: str, **kwargs) -> str:
    """:func:`run`'s stdout as stripped text."""
    return run(repo, *args, **kwargs).decode(errors="replace").strip()


def attempt(repo: Path, *args: str, env: dict | None = None,
            data: bytes | None = None) -> tuple[bool, str]:
    """For commands whose failure is an answer, not an error: ``(succeeded, output)`` with
    stdout on success and stdout + stderr on failure."""
    proc = _spawn(repo, args, env, data)
    out = proc.stdout.decode(errors="replace")
    if proc.returncode:
        return False, out + proc.stderr.decode(errors="replace")
    return True, out.strip()


def _spawn(repo: Path, args, env: dict | None, data: bytes | None):
    try:
        return subprocess.run(["git", "-C", str(repo), *args], input=data,
                              capture_output=True, env={**os.environ, **env} if env else None)
    except OSError as err:  # no git on PATH, or repo is not a folder
        raise UserError("MC401", f"cannot run git: {err}", exit_code=2) from None


def commit_of(repo: Path, rev: str) -> str | None:
    """The commit ``rev`` names, or None when it names none."""
    ok, out = attempt(repo, "rev-parse", "--verify", "--quiet", "--end-of-options",
                      f"{rev}^{{commit}}")
    return out if ok else None


def resolve_commit(repo: Path, rev: str, code: str = "MC401") -> str:
    sha = commit_of(repo, rev)
    if sha is None:
        raise UserError(code, f"{rev!r} is not a commit in {repo}", exit_code=2)
    return sha


def init(path: Path, *, bare: bool = False, branch: str = "main") -> None:
    Path(path).mkdir(parents=True, exist_ok=True)
    run(Path(path), "init", "-q", *(["--bare"] if bare else []), "-b", branch)


def worktree_files(root: Path) -> list[str] | None:
    """Tracked and untracked-but-not-ignored files of a work tree; None outside git."""
    ok, out = attempt(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if not ok:
        return None
    return [p for p in out.split("\0") if p]


@dataclass(frozen=True)
class Entry:
    """One file of a commit's tree: its mode and object id."""

    mode: str
    sha: str


class Objects:
    """Read access to one repository's object database."""

    def __init__(self, repo: Path):
        import git

        self.path = Path(repo)
        try:
            self._repo = git.Repo(self.path)
        except (git.exc.GitError, ValueError) as exc:
            raise UserError("MC401", f"{self.path} is not a git repository: {exc}",
                            exit_code=2) from None

    def tree(self, rev: str) -> dict[str, Entry]:
        """Every entry of ``rev``'s tree, recursively, by path."""
        import git

        try:
            out = self._repo.git.ls_tree("-r", "-z", "--full-tree", "--end-of-options", rev)
        except (git.exc.GitError, ValueError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise UserError("MC401", f"cannot read commit {rev!r} of {self.path}: "
                            f"{' '.join(str(detail).split())}", exit_code=2) from None
        entries = {}
        for record in out.split("\0"):
            if record:
                meta, path = record.split("\t", 1)
                mode, _, sha = meta.split()
                entries[path] = Entry(mode, sha)
        return entries

    def blob(self, sha: str) -> bytes:
        try:
            return self._repo.odb.stream(bytes.fromhex(sha)).read()
        except Exception as exc:  # noqa: BLE001 - gitdb raises several types for one cause
            raise UserError("MC401", f"git object {sha} is missing or unreadable in "
                            f"{self.path}: {exc}", exit_code=2) from None
