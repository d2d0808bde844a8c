"""Where documents are read from: a working tree (:class:`FsTree`) or a commit's git objects
(:class:`GitTree`). Both answer the same questions (documents, read, is_file, is_dir,
list_dir) and confine every path to the repository."""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

from modelcfg.core import git

DOC_DIRS = ("configs", "evals")
NOT_DOCS = ("evals/tasks/",)
YAML_SUFFIXES = (".yaml", ".yml")
_KINDS = {git.REGULAR: "file", git.EXECUTABLE: "file", git.SYMLINK: "symlink",
          git.GITLINK: "gitlink"}
REGULAR_MODES = (git.REGULAR, git.EXECUTABLE)


class PathProblem(ValueError):
    """A referenced path that is absolute, climbs out with '..', or leaves via a symlink."""


class NotRegular(PathProblem):
    """A commit's entry that is not a regular file at a plain path (a symlink, a submodule,
    a name like '..' or '.git'): never written into a judge tree."""


def is_document(rel: str) -> bool:
    """Whether a repository path is read as a modelcfg document: a YAML file under
    ``configs/`` or ``evals/`` (not ``evals/tasks/``), no part of its path hidden. Both trees
    answer with this one rule, so a working tree and a commit list the same documents."""
    parts = rel.split("/")
    return (parts[0] in DOC_DIRS and rel.endswith(YAML_SUFFIXES)
            and not rel.startswith(NOT_DOCS) and not any(p.startswith(".") for p in parts))


def plain_path(rel: str) -> bool:
    """No empty, '.', '..' or '.git' part and no backslash: the path names one file, here."""
    return "\\" not in rel and all(part not in ("", ".", "..") and part.lower() != ".git"
                                    for part in rel.split("/"))


def check_relative(rel: str) -> str:
    """Normalise a repository-relative path from a config, or raise PathProblem."""
    if not rel or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise PathProblem(f"{rel!r} is absolute; give a path relative to the repository root")
    parts = rel.replace("\\", "/").split("/")
    if ".." in parts:
        raise PathProblem(f"{rel!r} climbs out with '..'; give a path inside the repository")
    return posixpath.normpath("/".join(parts))


class FsTree:
    """The working tree of a repository (or any folder)."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return "working tree"

    def documents(self) -> list[str]:
        found: list[str] = []
        self._plain: set[str] = set()  # regular files reached without any symlink
        stack = [d for d in DOC_DIRS if os.path.isdir(self.root / d)
                 and not os.path.islink(self.root / d)]
        while stack:
            rel_dir = stack.pop()
            with os.scandir(self.root / rel_dir) as entries:
                for entry in entries:
                    rel = f"{rel_dir}/{entry.name}"
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if not (rel + "/").startswith(NOT_DOCS):
                            stack.append(rel)
                    elif is_document(rel):
                        found.append(rel)
                        if entry.is_file(follow_symlinks=False):
                            self._plain.add(rel)
        return sorted(found)

    def _inside(self, rel: str) -> Path:
        path = self.root / check_relative(rel)
        real = Path(os.path.realpath(path))
        if real != self.root and self.root not in real.parents:
            raise PathProblem(f"{rel!r} leads outside the repository through a symlink")
        return real

    def read(self, rel: str) -> bytes:
        if rel in getattr(self, "_plain", ()):
            with open(os.path.join(self.root, rel), "rb") as fh:
                return fh.read()
        return self._inside(rel).read_bytes()

    def is_file(self, rel: str) -> bool:
        return self._inside(rel).is_file()

    def is_dir(self, rel: str) -> bool:
        return self._inside(rel).is_dir()

    def list_dir(self, rel: str) -> list[str]:
        return sorted(p.name for p in self._inside(rel).iterdir())

    def local_path(self, rel: str) -> Path:
        return self._inside(rel)

    def entry_kind(self, rel: str) -> str:
        """What is at ``rel`` itself, following no symlink at its end: file, dir, symlink,
        other (a fifo, a device) or missing. A symlink on the way to it is followed: ask
        about each step (see modelcfg.audit.files)."""
        try:
            mode = os.lstat(self.root / check_relative(rel)).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return "missing"
        if stat.S_ISLNK(mode):
            return "symlink"
        return "file" if stat.S_ISREG(mode) else "dir" if stat.S_ISDIR(mode) else "other"


class GitTree:
    """The files of one commit, read from git objects (never the working tree)."""

    def __init__(self, repo: Path, rev: str, objects: git.Objects | None = None):
        self.repo = Path(repo)
        self.rev = rev
        self.objects = objects or git.Objects(self.repo)
        self.entries = self.objects.tree(rev)
        self._dirs = {posixpath.dirname(p) for p in self.entries}
        for d in list(self._dirs):
            while d:
                d = posixpath.dirname(d)
                self._dirs.add(d)

    def __repr__(self) -> str:
        return f"commit {self.rev}"

    def documents(self) -> list[str]:
        return sorted(p for p in self.entries if is_document(p))

    def _resolve(self, rel: str) -> str:
        path = check_relative(rel)
        parts, done = path.split("/"), []
        for i, part in enumerate(parts):
            done.append(part)
            entry = self.entries.get("/".join(done))
            if entry and entry.mode == git.SYMLINK:
                target = self.objects.blob(entry.sha).decode()
                joined = posixpath.normpath(posixpath.join(posixpath.dirname("/".join(done)),
                                                           target, *parts[i + 1:]))
                if target.startswith("/") or joined.startswith("../") or joined == "..":
                    raise PathProblem(f"{rel!r} leads outside the repository through a "
                                      "symlink")
                return self._resolve(joined)
        return path

    def read(self, rel: str) -> bytes:
        path = self._resolve(rel)
        entry = self.entries.get(path)
        if entry is None:
            raise FileNotFoundError(rel)
        return self.objects.blob(entry.sha)

    def is_file(self, rel: str) -> bool:
        return self._resolve(rel) in self.entries

    def is_dir(self, rel: str) -> bool:
        return self._resolve(rel) in self._dirs

    def list_dir(self, rel: str) -> list[str]:
        prefix = self._resolve(rel).rstrip("/") + "/"
        return sorted({p[len(prefix):].split("/", 1)[0] for p in self.entries
                       if p.startswith(prefix)})

    def entry_kind(self, rel: str) -> str:
        """What the commit holds at ``rel`` itself, following no symlink: file, dir,
        symlink, gitlink, other or missing (also when a step on the way is no folder)."""
        path = check_relative(rel)
        entry = self.entries.get(path)
        if entry is None:
            return "dir" if path in self._dirs else "missing"
        return _KINDS.get(entry.mode, "other")

    def file_shas(self) -> dict[str, str]:
        """Every file of the commit with its blob id."""
        return {path: entry.sha for path, entry in self.entries.items()}

    def irregular(self, folder: str) -> list[tuple[str, str]]:
        """``(path, what it is)`` for every entry under ``folder`` that is not a regular file
        at a plain path: a symlink (even one that stays inside), a submodule, anything else;
        and ``folder`` itself when it is an entry (a symlink or file), not a folder."""
        folder = folder.rstrip("/")
        out = []
        for path, entry in sorted(self.entries.items()):
            if path == folder:
                out.append((path, _what(entry.mode, path) + " where a folder belongs"))
            elif path.startswith(folder + "/") and (entry.mode not in REGULAR_MODES
                                                   or not plain_path(path)):
                out.append((path, _what(entry.mode, path)))
        return out

    def export(self, folder: str, dest: Path) -> None:
        """Write ``folder``'s files under ``dest`` from the same objects the tree reads, so
        what is written is exactly what :meth:`read` and :meth:`file_shas` describe. Only
        regular files at plain paths: anything else raises :class:`NotRegular` (nothing is
        skipped, no symlink is written)."""
        bad = self.irregular(folder)
        if bad:
            path, what = bad[0]
            raise NotRegular(f"{path} in {self!r} is {what}, not a regular file; only "
                             f"regular files are read from {folder}/")
        prefix = folder.rstrip("/") + "/"
        for path, entry in sorted(self.entries.items()):
            if not path.startswith(prefix):
                continue
            target = Path(dest) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.objects.blob(entry.sha))
            if entry.mode == git.EXECUTABLE:
                target.chmod(0o755)


def _what(mode: str, path: str) -> str:
    if not plain_path(path):
        return "a path with an empty, '.', '..' or '.git' part"
    return {git.SYMLINK: "a symlink", git.GITLINK: "a submodule (gitlink)",
            git.REGULAR: "a file", git.EXECUTABLE: "a file"}.get(mode, f"an entry of mode {mode}")


def materialize(folders: dict, dest: Path) -> Path:
    """A fresh folder ``dest`` holding, for each ``folder: GitTree``, that folder of that
    commit (the gate's judge tree: head ``configs/`` + base ``evals/``)."""
    import shutil

    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for folder, tree in folders.items():
        tree.export(folder, dest)
    return dest
