"""Semantic diff of two trees' modelcfg documents, and what each change costs to judge.

Documents are matched by ``kind`` + ``name`` (a file moved with the same name is a rename,
not a removal and an addition) and compared as parsed data with schema defaults filled in,
so comments, key order, quoting, whitespace and spelling out a default are not changes.
An Adapter whose name changed is a rename too (status ``renamed`` with ``replaces``: the old
name) when :mod:`modelcfg.config.lineage` pairs the removed and the added document
(``replaces:``, the same file, or mostly the same lines); it is compared with the old one.

Each Adapter on the head side gets an *impact*:

- ``retrain``: something in its training fingerprint changed (any field except
  config.model.NON_RESULT_FIELDS and training.NON_RESULT_TRAINING_FIELDS), the bytes of a
  dataset it trains on changed (even with its ``sha256`` pin left alone), or its base Model's
  result fields (or local model files) changed; new adapters are ``retrain`` too;
- ``re-evaluate``: only its ``evals`` block, the EvalSuite documents it uses, or the task
  folders of those suites changed;
- ``none``: rationale, description, budget, comments.

Paths outside the documents that judge a change (thresholds, contract, baselines, ledger,
eval tasks, workflows, the gate code: the Contract's ``protected_paths``, read from the
*base* tree) are listed as ``policy_paths`` for the gate to flag; they never change an
adapter's impact, since the gate reads them from the base commit anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from dataclasses import dataclass, field
from typing import Any

from modelcfg.config.lineage import pair_renames
from modelcfg.config.model import NON_RESULT_FIELDS, NON_RESULT_TRAINING_FIELDS
from modelcfg.config.schema import with_defaults
from modelcfg.config.trees import FsTree, GitTree, PathProblem
from modelcfg.config.workspace import load_workspace
from modelcfg.core import git
from modelcfg.core.globs import matches_any
from modelcfg.core.hashing import canonical_json

RETRAIN, REEVALUATE, NONE = "retrain", "re-evaluate", "none"
_RANK = {NONE: 0, REEVALUATE: 1, RETRAIN: 2}
TASKS_DIR = "evals/tasks"
# Used when the base tree has no valid Contract: what judges a change (docs/gate.md).
DEFAULT_PROTECTED = ("evals/**", "configs/models/**", "modelcfg/**", ".github/**", ".ci/**",
                     "pyproject.toml", "constraints.txt", "CODEOWNERS", "**/CODEOWNERS")
_ABSENT = object()


@dataclass
class FieldChange:
    """One changed field, as a dotted path (``lora.r``, ``datasets[0].sha256``)."""

    path: str
    old: Any = _ABSENT
    new: Any = _ABSENT

    def to_dict(self) -> dict:
        out: dict = {"field": self.path}
        if self.old is not _ABSENT:
            out["old"] = self.old
        if self.new is not _ABSENT:
            out["new"] = self.new
        return out

    def render(self) -> str:
        show = lambda v: "(absent)" if v is _ABSENT else json.dumps(v, ensure_ascii=False)
        return f"{self.path}: {show(self.old)} -> {show(self.new)}"


@dataclass
class ConfigChange:
    """One document that differs between the trees, or an unchanged Adapter whose impact
    comes from a document it depends on (``status == "unchanged"``)."""

    kind: str
    name: str
    status: str  # added | removed | modified | renamed | unchanged
    old_path: str | None
    new_path: str | None
    fields: list[FieldChange] = field(default_factory=list)
    impact: str | None = None  # Adapters only: retrain | re-evaluate | none
    reasons: list[str] = field(default_factory=list)
    replaces: str | None = None  # a renamed Adapter's old name (its lineage)
    lineage: str | None = None  # how that rename was recognised

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "name": self.name, "status": self.status,
               "old_path": self.old_path, "new_path": self.new_path,
               "fields": [f.to_dict() for f in self.fields], "impact": self.impact,
               "reasons": list(self.reasons)}
        if self.replaces is not None:
            out.update(replaces=self.replaces, lineage=self.lineage)
        return out


@dataclass
class TreeDiff:
    """Everything :func:`diff_trees` found; iterating it yields the :class:`ConfigChange` s."""

    changes: list[ConfigChange]
    changed_paths: list[str]  # every file that differs, config or not
    policy_paths: list[str]  # changed files that judge a change (protected paths)
    unreadable: list[str]  # documents that failed to parse on either side
    base: str = ""
    head: str = ""

    def __iter__(self):
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def adapters(self) -> dict[str, ConfigChange]:
        return {c.name: c for c in self.changes if c.kind == "Adapter"}

    def renames(self) -> dict[str, str]:
        """Renamed adapters: new name -> the old name whose history it continues."""
        return {c.name: c.replaces for c in self.changes
                if c.kind == "Adapter" and c.replaces is not None}

    def impact(self, adapter: str) -> str:
        """The impact on one head-side adapter (``none`` when nothing touches it)."""
        change = self.adapters().get(adapter)
        return change.impact if change is not None and change.impact else NONE

    def to_dict(self) -> dict:
        return {"base": self.base, "head": self.head,
                "changes": [c.to_dict() for c in self.changes],
                "impacts": {c.name: c.impact for c in self.changes
                            if c.kind == "Adapter" and c.status != "removed"},
                "changed_paths": list(self.changed_paths),
                "policy_paths": list(self.policy_paths),
                "unreadable": list(self.unreadable)}

    def render_text(self) -> str:
        lines: list[str] = []
        for c in self.changes:
            where = c.path if c.status != "renamed" else f"{c.old_path} -> {c.new_path}"
            head = f"{c.kind} {c.name} ({where}): {c.status}"
            if c.replaces is not None:
                head += f" from {c.replaces} ({c.lineage})"
            if c.impact is not None:
                head += f"; impact: {c.impact}"
            lines.append(head)
            lines += [f"  {f.render()}" for f in c.fields]
            lines += [f"  because {r}" for r in c.reasons]
        if self.policy_paths:
            lines.append("Policy paths changed (the gate judges with the base versions):")
            lines += [f"  {p}" for p in self.policy_paths]
        if self.unreadable:
            lines.append("Unreadable documents (run `modelcfg validate`):")
            lines += [f"  {p}" for p in self.unreadable]
        if not lines:
            lines.append("No changes to modelcfg documents or policy paths.")
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- field diff


def _key(prefix: str, key) -> str:
    key = str(key)
    if "." in key or "[" in key or not key:
        return f"{prefix}[{json.dumps(key)}]"
    return f"{prefix}.{key}" if prefix else key


def field_changes(old, new, prefix: str = "") -> list[FieldChange]:
    """Changed leaves between two parsed values. Mappings recurse by key, lists of mappings
    of equal length by index; anything else is compared whole, as the fingerprint sees it
    (canonical JSON, so ``1`` and ``1.0`` differ and ``true`` and ``1`` differ)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[FieldChange] = []
        for key in sorted(set(old) | set(new), key=str):
            path = _key(prefix, key)
            if key not in new:
                out.append(FieldChange(path, old[key], _ABSENT))
            elif key not in old:
                out.append(FieldChange(path, _ABSENT, new[key]))
            else:
                out += field_changes(old[key], new[key], path)
        return out
    if (isinstance(old, list) and isinstance(new, list) and len(old) == len(new)
            and any(isinstance(v, dict) for v in old + new)):
        out = []
        for i, (a, b) in enumerate(zip(old, new)):
            out += field_changes(a, b, f"{prefix}[{i}]")
        return out
    if _canon(old) != _canon(new):
        return [FieldChange(prefix or "document", old, new)]
    return []


def _canon(value) -> bytes:
    try:
        return canonical_json(value)
    except (TypeError, ValueError):  # NaN or a non-JSON value from YAML: compare its repr
        return repr(value).encode()


# ----------------------------------------------------------------------------- file index


def _git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def file_index(tree) -> dict[str, str]:
    """Every file of a tree with a content id (git's blob id), to list changed paths.

    A working tree lists tracked and untracked-but-not-ignored files (``git ls-files``);
    a folder outside git is walked (skipping dot-folders)."""
    if isinstance(tree, GitTree):
        return tree.file_shas()
    root = str(tree.root)
    paths = git.worktree_files(tree.root)
    if paths is None:
        paths = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel_dir = os.path.relpath(dirpath, root)
            paths += [posixpath.normpath(posixpath.join(rel_dir.replace(os.sep, "/"), f))
                      for f in filenames]
    out = {}
    for rel in set(paths):
        full = os.path.join(root, rel)
        if os.path.islink(full):
            out[rel] = _git_blob_sha(os.readlink(full).encode())
        elif os.path.isfile(full):
            with open(full, "rb") as fh:
                out[rel] = _git_blob_sha(fh.read())
    return out


# ----------------------------------------------------------------------------- the diff


class _Side:
    """One tree's documents, indexed by (kind, name), and its file index."""

    def __init__(self, tree):
        self.tree = tree
        self.ws = load_workspace(tree)
        # What resolves, exactly as the judge sees it: a document out of its kind's place or
        # sharing its kind and name with another is no side of any change.
        self.docs = self.ws.resolved()
        self.files = file_index(tree)
        self._bytes: dict[str, str | None] = {}

    def data(self, kind: str, name: str) -> dict | None:
        doc = self.docs.get((kind, name))
        if doc is None:
            return None
        try:
            return with_defaults(kind, doc.data)
        except (TypeError, ValueError):
            return json.loads(json.dumps(doc.data, default=str))

    def content(self, rel) -> str | None:
        """sha256 of a referenced file's bytes (following in-repo symlinks), or None."""
        if not isinstance(rel, str):
            return None
        if rel not in self._bytes:
            try:
                self._bytes[rel] = hashlib.sha256(self.tree.read(rel)).hexdigest()
            except (OSError, PathProblem, KeyError):
                self._bytes[rel] = None
        return self._bytes[rel]


def _protected_patterns(side: _Side) -> tuple[str, ...]:
    contract = side.ws.policy("Contract")
    paths = contract.data.get("protected_paths") if contract is not None else None
    if isinstance(paths, list) and all(isinstance(p, str) for p in paths):
        return tuple(paths) + ("evals/baselines/**", "evals/ledger.jsonl")
    return DEFAULT_PROTECTED


def diff_trees(base_tree, head_tree) -> TreeDiff:
    """Semantic diff from ``base_tree`` to ``head_tree`` (GitTree or FsTree)."""
    base, head = _Side(base_tree), _Side(head_tree)
    changed = sorted(p for p in set(base.files) | set(head.files)
                     if base.files.get(p) != head.files.get(p))
    changes: list[ConfigChange] = []
    for kind, name in sorted(set(base.docs) | set(head.docs)):
        old, new = base.docs.get((kind, name)), head.docs.get((kind, name))
        if old is None:
            changes.append(ConfigChange(kind, name, "added", None, new.path))
            continue
        if new is None:
            changes.append(ConfigChange(kind, name, "removed", old.path, None))
            continue
        fields = field_changes(base.data(kind, name), head.data(kind, name))
        if old.path != new.path:
            changes.append(ConfigChange(kind, name, "renamed", old.path, new.path, fields))
        elif fields:
            changes.append(ConfigChange(kind, name, "modified", old.path, new.path, fields))
    changes = _with_renames(changes, base, head)
    by_key = {(c.kind, c.name): c for c in changes}
    for (kind, name), doc in sorted(head.docs.items()):
        if kind != "Adapter":
            continue
        impact, reasons = _adapter_impact(name, base, head, by_key, changed)
        change = by_key.get((kind, name))
        if change is None:
            if impact == NONE:
                continue
            change = ConfigChange(kind, name, "unchanged", doc.path, doc.path)
            changes.append(change)
        change.impact, change.reasons = impact, reasons
    for change in changes:
        if change.kind == "Adapter" and change.status == "removed":
            change.impact, change.reasons = NONE, ["it was removed: nothing to train or judge"]
    order = {"Model": 0, "EvalSuite": 1, "Adapter": 2}
    changes.sort(key=lambda c: (order.get(c.kind, 3), c.kind, c.name))
    protected = _protected_patterns(base)
    policy = [p for p in changed if matches_any(protected, p)]
    unreadable = sorted(set(base.ws.unreadable) | set(head.ws.unreadable))
    return TreeDiff(changes, changed, policy, unreadable, repr(base_tree), repr(head_tree))


def _with_renames(changes: list[ConfigChange], base: _Side, head: _Side
                  ) -> list[ConfigChange]:
    """Removed + added Adapters that :func:`pair_renames` recognises as one renamed one."""
    gone = {c.name: c for c in changes if c.kind == "Adapter" and c.status == "removed"}
    new = {c.name: c for c in changes if c.kind == "Adapter" and c.status == "added"}
    renames = pair_renames([base.docs[("Adapter", n)] for n in gone],
                           [head.docs[("Adapter", n)] for n in new],
                           lambda doc: _text(base, doc.path), lambda doc: _text(head, doc.path))
    for r in renames:
        old, now = gone.pop(r.old), new[r.new]
        fields = field_changes(base.data("Adapter", r.old), head.data("Adapter", r.new))
        changes[changes.index(now)] = ConfigChange("Adapter", r.new, "renamed", old.old_path,
                                                   now.new_path, fields, replaces=r.old,
                                                   lineage=r.how)
        changes.remove(old)
    return changes


def _text(side: _Side, rel: str) -> str:
    try:
        return side.tree.read(rel).decode("utf-8", "replace")
    except (OSError, PathProblem, KeyError):
        return ""


def _adapter_impact(name: str, base: _Side, head: _Side, by_key: dict,
                    changed: list[str]) -> tuple[str, list[str]]:
    own = by_key.get(("Adapter", name))
    old = base.data("Adapter", own.replaces if own and own.replaces else name)
    new = head.data("Adapter", name)
    if old is None:
        return RETRAIN, ["it is a new adapter: no accepted version to reuse"]
    found: list[tuple[str, str]] = []
    for change in own.fields if own else []:
        top, _, rest = change.path.partition(".")
        top = top.split("[", 1)[0]
        sub = rest.split(".", 1)[0].split("[", 1)[0]
        if top == "datasets":
            continue  # judged by content below: a path rename of the same bytes is no change
        if top == "evals":
            found.append((REEVALUATE, f"{change.path} changed (evaluation only)"))
        elif top == "serving":
            found.append((REEVALUATE, f"{change.path} changed: how it is served (the latency "
                          "SLO is measured again)"))
        elif top in NON_RESULT_FIELDS or (top == "training" and
                                          sub in NON_RESULT_TRAINING_FIELDS):
            found.append((NONE, f"{change.path} does not affect training or evaluation"))
        else:
            found.append((RETRAIN, f"{change.path} is in the training fingerprint"))
    found += _dataset_impact(old.get("datasets"), new.get("datasets"), base, head)
    found += _model_impact(old.get("base"), new.get("base"), base, head, changed)
    found += _eval_impact(new, base, head, changed)
    if not found:
        return NONE, []
    impact = max((f[0] for f in found), key=_RANK.__getitem__)
    reasons = [r for level, r in found if level == impact]
    return impact, reasons


def _dataset_identity(entries, side: _Side) -> list:
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            out.append(("?", _canon(entry)))
        elif "path" in entry:
            # every field but the path: how the records are read (format, fields, role)
            # changes the result as much as their bytes
            out.append(("file", side.content(entry.get("path")), entry.get("sha256"),
                        _canon({k: v for k, v in entry.items() if k not in ("path", "sha256")})))
        else:
            out.append(("other", _canon(entry)))
    return out


def _dataset_impact(old, new, base: _Side, head: _Side) -> list[tuple[str, str]]:
    ids_old, ids_new = _dataset_identity(old, base), _dataset_identity(new, head)
    if ids_old == ids_new:
        if _canon(old) != _canon(new):
            return [(NONE, "datasets moved or renamed with the same bytes")]
        return []
    reasons = []
    news = new if isinstance(new, list) else []
    for i, entry in enumerate(news):
        if i >= len(ids_old) or ids_old[i] != ids_new[i]:
            label = entry.get("path") or entry.get("hub") if isinstance(entry, dict) else i
            bytes_only = (i < len(ids_old) and ids_old[i][0] == ids_new[i][0] == "file"
                          and ids_old[i][2] == ids_new[i][2])
            what = ("its bytes changed (the sha256 pin was not updated)" if bytes_only
                    else "it changed")
            reasons.append((RETRAIN, f"dataset {label}: {what}"))
    if len(news) < len(ids_old):
        reasons.append((RETRAIN, f"{len(ids_old) - len(news)} dataset(s) removed"))
    return reasons


def _model_impact(old_name, new_name, base: _Side, head: _Side,
                  changed: list[str]) -> list[tuple[str, str]]:
    if old_name != new_name:
        return []  # the adapter's own ``base`` field changed: already a retrain
    old, new = base.data("Model", new_name), head.data("Model", new_name)
    if new is None:
        return [(RETRAIN, f"its base model {new_name} is missing on the head side")]
    if old is None:
        return [(RETRAIN, f"its base model {new_name} is new")]
    out = []
    for change in field_changes(old, new):
        top = change.path.split(".", 1)[0].split("[", 1)[0]
        if top not in NON_RESULT_FIELDS:
            out.append((RETRAIN, f"its base model {new_name} changed {change.path}"))
    source = new.get("source") if isinstance(new.get("source"), dict) else {}
    local = source.get("path")
    if isinstance(local, str) and local.strip("/"):
        prefix = local.strip("/") + "/"
        moved = [p for p in changed if p.startswith(prefix)]
        if moved:
            out.append((RETRAIN, f"files of its base model {new_name} under {local} changed "
                        f"({len(moved)} file(s))"))
    return out


def _eval_impact(adapter: dict, base: _Side, head: _Side,
                 changed: list[str]) -> list[tuple[str, str]]:
    out = []
    evals = adapter.get("evals") if isinstance(adapter.get("evals"), dict) else {}
    suites = evals.get("suites") if isinstance(evals.get("suites"), list) else []
    tasks: list[str] = []
    for suite in suites:
        old, new = base.data("EvalSuite", suite), head.data("EvalSuite", suite)
        if new is None:
            continue  # a missing suite is for validate to report
        if old is None or _canon(old.get("tasks")) != _canon(new.get("tasks")):
            out.append((REEVALUATE, f"the tasks of eval suite {suite} changed"))
        tasks += [t for t in new.get("tasks") or [] if isinstance(t, str) and t not in tasks]
    shared = [p for p in changed if p.startswith(TASKS_DIR + "/") and
              "/" not in p[len(TASKS_DIR) + 1:]]
    if shared and tasks:
        out.append((REEVALUATE, f"shared task files changed: {', '.join(shared)}"))
    for task in tasks:
        prefix = f"{TASKS_DIR}/{task}/"
        touched = [p for p in changed if p.startswith(prefix)]
        if touched:
            out.append((REEVALUATE, f"eval task {task} changed ({len(touched)} file(s))"))
    return out


def tree_for(repo, rev: str | None):
    """``GitTree(repo, rev)`` for a revision, the working tree (FsTree) for ``None``."""
    return FsTree(repo) if rev is None else GitTree(repo, rev)
