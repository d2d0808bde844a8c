"""A repository's modelcfg documents, read from the working tree or from a git commit.

Everything that reads configs goes through a *tree*: :class:`FsTree` for the working tree,
:class:`GitTree` for a commit's objects. The gate uses the latter to read everything that
judges a change from the base commit, whatever the head's working tree says.

Layout (documented in docs/config-reference.md):

    configs/models/*.yaml      kind: Model
    configs/adapters/*.yaml    kind: Adapter
    configs/datasets/*.jsonl   training data (referenced by path + sha256)
    evals/suites/*.yaml        kind: EvalSuite
    evals/contract.yaml        kind: Contract
    evals/thresholds.yaml      kind: Thresholds
    evals/tasks/<task>/        lm-eval task YAML + data (lm-eval's format, not modelcfg's)
    evals/baselines/           gate evidence (JSON)

Any ``*.yaml``/``*.yml`` under ``configs/`` or ``evals/`` (except ``evals/tasks/``) is a
modelcfg document; its ``kind`` says what it is, so the folders are a convention.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.errors import Problem, UserError
from modelcfg.schema import check_document
from modelcfg.yamlload import Loaded, load_bytes

DOC_DIRS = ("configs", "evals")
NOT_DOCS = ("evals/tasks/",)
YAML_SUFFIXES = (".yaml", ".yml")


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


class GitTree:
    """The files of one commit, read from git objects (never the working tree).

    GitPython keeps one ``git cat-file --batch`` process per repository, so reading many
    blobs costs one process start, not one each."""

    def __init__(self, repo: Path, rev: str):
        import git

        self.repo = Path(repo)
        self.rev = rev
        try:
            self._repo = git.Repo(self.repo)
            out = self._repo.git.ls_tree("-r", "-z", "--full-tree", "--end-of-options", rev)
        except (git.exc.GitError, ValueError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise UserError("MC401", f"cannot read commit {rev!r} of {self.repo}: "
                            f"{' '.join(str(detail).split())}") from None
        self._entries: dict[str, tuple[str, str]] = {}
        for record in out.split("\0"):
            if record:
                meta, path = record.split("\t", 1)
                mode, _, sha = meta.split()
                self._entries[path] = (mode, sha)
        self._dirs = {posixpath.dirname(p) for p in self._entries}
        for d in list(self._dirs):
            while d:
                d = posixpath.dirname(d)
                self._dirs.add(d)

    def __repr__(self) -> str:
        return f"commit {self.rev}"

    def _blob(self, sha: str) -> bytes:
        return self._repo.odb.stream(bytes.fromhex(sha)).read()

    def documents(self) -> list[str]:
        return sorted(p for p in self._entries if p.endswith(YAML_SUFFIXES)
                      and p.split("/", 1)[0] in DOC_DIRS and not p.startswith(NOT_DOCS))

    def _resolve(self, rel: str) -> str:
        path = check_relative(rel)
        parts, done = path.split("/"), []
        for i, part in enumerate(parts):
            done.append(part)
            entry = self._entries.get("/".join(done))
            if entry and entry[0] == "120000":
                target = self._blob(entry[1]).decode()
                joined = posixpath.normpath(posixpath.join(posixpath.dirname("/".join(done)),
                                                           target, *parts[i + 1:]))
                if target.startswith("/") or joined.startswith("../") or joined == "..":
                    raise PathProblem(f"{rel!r} leads outside the repository through a "
                                      "symlink")
                return self._resolve(joined)
        return path

    def read(self, rel: str) -> bytes:
        path = self._resolve(rel)
        entry = self._entries.get(path)
        if entry is None:
            raise FileNotFoundError(rel)
        return self._blob(entry[1])

    def is_file(self, rel: str) -> bool:
        return self._resolve(rel) in self._entries

    def is_dir(self, rel: str) -> bool:
        return self._resolve(rel) in self._dirs

    def list_dir(self, rel: str) -> list[str]:
        prefix = self._resolve(rel).rstrip("/") + "/"
        return sorted({p[len(prefix):].split("/", 1)[0] for p in self._entries
                       if p.startswith(prefix)})

    def file_shas(self) -> dict[str, str]:
        """Every file of the commit with its blob id."""
        return {path: sha for path, (_mode, sha) in self._entries.items()}



@dataclass
class Document:
    path: str
    kind: str
    name: str
    data: dict
    loaded: Loaded | None  # None for a peeked stub (see _peek_adapter)
    valid: bool = True  # passed its schema; cross-file checks only trust valid documents

    def locate(self, *path) -> tuple[int, int]:
        return self.loaded.locate(path)


@dataclass
class Workspace:
    tree: object
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Files that could not be parsed into a document: their names are unknown, so
    # "not found" reference errors are held back until they are fixed.
    unreadable: list[str] = field(default_factory=list)
    _by_kind: dict = field(default_factory=dict, repr=False)

    def of_kind(self, kind: str) -> dict[str, Document]:
        """Documents of ``kind`` by name (the first one wins on a duplicate name)."""
        cached = self._by_kind.get(kind)
        if cached is not None and cached[0] == len(self.documents):
            return cached[1]
        out: dict[str, Document] = {}
        for doc in self.documents:
            if doc.kind == kind:
                out.setdefault(doc.name, doc)
        self._by_kind[kind] = (len(self.documents), out)
        return out

    @property
    def models(self) -> dict[str, Document]:
        return self.of_kind("Model")

    @property
    def adapters(self) -> dict[str, Document]:
        return self.of_kind("Adapter")

    @property
    def suites(self) -> dict[str, Document]:
        return self.of_kind("EvalSuite")

    def policy(self, kind: str) -> Document | None:
        """The Contract or Thresholds document (there must be exactly one)."""
        docs = self.of_kind(kind)
        return next(iter(docs.values())) if len(docs) == 1 else None

    def find(self, name_or_path: str, kind: str = "Adapter") -> Document:
        for doc in self.documents:
            if doc.kind == kind and (doc.name == name_or_path or doc.path == name_or_path):
                return doc
        raise UserError("MC404", f"no {kind} named or at {name_or_path!r}; `modelcfg validate` "
                        "lists the documents it finds", exit_code=2)


def load_document(tree, rel: str) -> tuple[Document | None, list[Problem]]:
    try:
        loaded = load_bytes(tree.read(rel), rel)
    except UserError as err:
        return None, [Problem(rel, err.line, err.col, err.code, err.message)]
    except (OSError, PathProblem) as exc:
        return None, [Problem(rel, 1, 1, "MC100", f"cannot read: {exc}")]
    kind, problems = check_document(rel, loaded)
    if kind is None:
        return None, problems
    name = loaded.value.get("name")
    doc = Document(rel, kind, name if isinstance(name, str) else "", loaded.value, loaded,
                   valid=not problems)
    return doc, problems


_PEEK_KIND = re.compile(rb"^kind:[ \t]*[\"']?Adapter[\"']?[ \t]*(?:#.*)?$", re.M)
_PEEK_NAME = re.compile(rb"^name:[ \t]*[\"']?([a-z0-9][a-z0-9._-]*)[\"']?[ \t]*(?:#.*)?$", re.M)


def _peek_adapter(tree, rel: str) -> Document | None:
    """Kind and name of a plain top-level adapter file, without parsing it. Nothing refers
    to adapters, so outside the focus only their names matter (for uniqueness)."""
    try:
        raw = tree.read(rel)
    except (OSError, PathProblem):
        return None
    name = _PEEK_NAME.findall(raw)
    if len(_PEEK_KIND.findall(raw)) != 1 or len(name) != 1:
        return None
    return Document(rel, "Adapter", name[0].decode(), {}, None, valid=False)


def load_workspace(tree, extra: list[str] = (), focus=None) -> Workspace:
    """Load every document (plus ``extra`` paths) and check each against its schema.

    With ``focus(path) -> bool``, adapters outside the focus are only peeked at for their
    name; everything else is loaded in full since other documents may refer to it.
    """
    ws = Workspace(tree)
    for rel in sorted(set(tree.documents()) | set(extra)):
        if focus is not None and not focus(rel):
            stub = _peek_adapter(tree, rel)
            if stub is not None:
                ws.documents.append(stub)
                continue
        doc, problems = load_document(tree, rel)
        ws.problems += problems
        if doc is not None:
            ws.documents.append(doc)
        else:
            ws.unreadable.append(rel)
    return ws


def repo_root(start: Path) -> Path:
    """The enclosing git work tree's root, else ``start`` itself."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


def resolve_adapter(ws: Workspace, name_or_path: str,
                    problems: list[Problem] | None = None) -> dict:
    """Everything one adapter's training and evaluation need, as plain data.

    Refuses (MC403) when the workspace has problems that touch this adapter, its base
    model, its suites or the policy: never train or judge on top of an invalid config.
    ``problems`` are the workspace's problems when the caller has checked it already.
    """
    from modelcfg.schema import with_defaults
    from modelcfg.semantics import check_workspace, model_parameters

    doc = ws.find(name_or_path, "Adapter")
    model = ws.models.get(doc.data.get("base"))
    suites = [s for s in (ws.suites.get(n) for n in doc.data.get("evals", {}).get("suites", []))
              if s is not None]
    involved = {doc.path} | {d.path for d in [model, *suites] if d is not None}
    involved |= {d.path for d in ws.documents if d.kind in ("Contract", "Thresholds")}
    involved |= {d["path"] for d in doc.data.get("datasets", []) if isinstance(d, dict)
                 and isinstance(d.get("path"), str)}
    if problems is None:
        problems = ws.problems + check_workspace(ws)
    problems = [p for p in problems if p.path in involved]
    if problems:
        first = problems[0]
        raise UserError("MC403", f"{doc.path} is not valid ({len(problems)} problem(s); first: "
                        f"{first.render()}); run `modelcfg validate`", path=doc.path,
                        line=1, col=1)
    contract = ws.policy("Contract")
    datasets = []
    for entry in doc.data["datasets"]:
        item = dict(entry)
        if "path" in entry and hasattr(ws.tree, "local_path"):
            item["abs_path"] = str(ws.tree.local_path(entry["path"]))
        datasets.append(item)
    tasks: list[str] = []
    for suite in suites:
        tasks += [t for t in suite.data["tasks"] if t not in tasks]
    return {
        "adapter": with_defaults("Adapter", doc.data),
        "adapter_path": doc.path,
        "model": with_defaults("Model", model.data),
        "model_parameters": model_parameters(model.data),
        "datasets": datasets,
        "suites": {s.name: list(s.data["tasks"]) for s in suites},
        "tasks": tasks,
        "contract": contract.data if contract is not None else None,
    }
