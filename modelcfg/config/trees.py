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


class PathProblem(ValueError):
    """A referenced path that is absolute, climbs out with '..', or leaves via a symlink."""


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
                    elif entry.name.endswith(YAML_SUFFIXES):
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
        return sorted(p for p in self.entries if p.endswith(YAML_SUFFIXES)
                      and p.split("/", 1)[0] in DOC_DIRS and not p.startswith(NOT_DOCS))

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

    def export(self, folder: str, dest: Path) -> None:
        """Write ``folder``'s files under ``dest`` from the same objects the tree reads, so
        what is written is exactly what :meth:`read` and :meth:`file_shas` describe.
        Submodules are skipped; a symlink is written only when it stays inside ``folder``."""
        prefix = folder.rstrip("/") + "/"
        for path, entry in sorted(self.entries.items()):
            if not path.startswith(prefix) or entry.mode == git.GITLINK:
                continue
            target = Path(dest) / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if entry.mode == git.SYMLINK:
                link = self.objects.blob(entry.sha).decode()
                joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), link))
                if link.startswith("/") or not joined.startswith(prefix):
                    raise PathProblem(f"{path} is a symlink out of {folder}/ (to {link!r})")
                os.symlink(link, target)
                continue
            target.write_bytes(self.objects.blob(entry.sha))
            if entry.mode == git.EXECUTABLE:
                target.chmod(0o755)


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
