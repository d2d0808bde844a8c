"""A repository's modelcfg documents, each loaded from a tree (:mod:`modelcfg.config.trees`)
and checked against its schema, collected in a :class:`Workspace`. The gate reads the base
commit's through a GitTree, whatever the head's working tree says.

Layout (documented in docs/config-reference.md). Each kind is read only from its place
(:mod:`modelcfg.config.places`); a document elsewhere is refused (MC318) and never resolves:

    configs/models/*.yaml      kind: Model
    configs/adapters/*.yaml    kind: Adapter
    configs/datasets/*.jsonl   training data (referenced by path + sha256)
    evals/suites/*.yaml        kind: EvalSuite
    evals/contract.yaml        kind: Contract
    evals/thresholds.yaml      kind: Thresholds
    evals/tasks/<task>/        lm-eval task YAML + data (lm-eval's format, not modelcfg's)
    evals/baselines/           gate evidence (JSON)

Any ``*.yaml``/``*.yml`` under ``configs/`` or ``evals/`` (except ``evals/tasks/``) is read and
checked; its ``kind`` must match its place. Two documents of one kind and name resolve to
neither (MC300 on both): nothing is picked by path order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.config.loader import Loaded, load_bytes
from modelcfg.config.model import Contract, Thresholds
from modelcfg.config.places import in_place, misplaced
from modelcfg.config.schema import check_document
from modelcfg.config.trees import PathProblem
from modelcfg.core.errors import Problem, UserError


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
    # Documents of a known kind outside their kind's place (MC318): never resolved.
    misplaced: list[Document] = field(default_factory=list)
    _by_kind: dict = field(default_factory=dict, repr=False)

    def _named(self, kind: str) -> dict[str, list[Document]]:
        out: dict[str, list[Document]] = {}
        for doc in self.documents:
            if doc.kind == kind:
                out.setdefault(doc.name, []).append(doc)
        return out

    def of_kind(self, kind: str) -> dict[str, Document]:
        """Documents of ``kind`` by name. A name two documents share resolves to neither
        (see :meth:`ambiguous`): nothing is ever picked by path order."""
        cached = self._by_kind.get(kind)
        if cached is not None and cached[0] == len(self.documents):
            return cached[1]
        out = {name: docs[0] for name, docs in self._named(kind).items() if len(docs) == 1}
        self._by_kind[kind] = (len(self.documents), out)
        return out

    def ambiguous(self) -> dict[tuple[str, str], list[str]]:
        """``(kind, name)`` -> the paths of the documents sharing it, for every name used
        twice within a kind."""
        return {(kind, name): [d.path for d in docs]
                for kind in sorted({d.kind for d in self.documents})
                for name, docs in self._named(kind).items() if name and len(docs) > 1}

    def resolved(self) -> dict[tuple[str, str], Document]:
        """Every document that resolves, by ``(kind, name)``."""
        return {(kind, name): doc for kind in sorted({d.kind for d in self.documents})
                for name, doc in self.of_kind(kind).items() if name}

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

    def contract(self) -> Contract | None:
        """The Contract as a typed value; None unless there is exactly one and it is valid
        (a typed value is only ever built from a document that passed its schema)."""
        doc = self.policy("Contract")
        return Contract.from_document(doc.data) if doc is not None and doc.valid else None

    def thresholds(self) -> Thresholds | None:
        """The Thresholds as a typed value; None unless there is exactly one and it is
        valid."""
        doc = self.policy("Thresholds")
        return Thresholds.from_document(doc.data) if doc is not None and doc.valid else None

    def find(self, name_or_path: str, kind: str = "Adapter") -> Document:
        for doc in self.documents:
            if doc.kind == kind and (doc.name == name_or_path or doc.path == name_or_path):
                break
        else:
            raise UserError("MC404", f"no {kind} named or at {name_or_path!r}; `modelcfg "
                            "validate` lists the documents it finds", exit_code=2)
        paths = self.ambiguous().get((kind, doc.name))
        if paths:
            raise UserError("MC300", f"{kind} name {doc.name!r} is used by {' and '.join(paths)}"
                            "; names must be unique per kind: rename or remove one",
                            path=doc.path, line=1, col=1, exit_code=2)
        return doc


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
    """Load every document (plus ``extra`` paths) and check each against its schema and its
    kind's place.

    With ``focus(path) -> bool``, adapters outside the focus are only peeked at for their
    name; everything else is loaded in full since other documents may refer to it.
    """
    ws = Workspace(tree)
    for rel in sorted(set(tree.documents()) | set(extra)):
        if focus is not None and not focus(rel) and in_place("Adapter", rel):
            stub = _peek_adapter(tree, rel)
            if stub is not None:
                ws.documents.append(stub)
                continue
        doc, problems = load_document(tree, rel)
        ws.problems += problems
        if doc is None:
            ws.unreadable.append(rel)
        elif not in_place(doc.kind, rel):
            ws.problems.append(misplaced(doc.kind, rel, *doc.locate("kind")))
            ws.misplaced.append(doc)
        else:
            ws.documents.append(doc)
    return ws


def repo_root(start: Path) -> Path:
    """The enclosing git work tree's root, else ``start`` itself."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start
