"""The audit ledger: an append-only, hash-chained JSONL file, ``evals/ledger.jsonl``.

Each line is one entry in canonical JSON (sorted keys, no spaces, UTF-8): ``seq`` (1, 2, ...),
``prev`` (the previous entry's hash; 64 zeros for the first), ``time``, ``action``,
``adapter``, ``commit`` and ``hash`` = sha256 of the canonical JSON of the entry without
``hash``. ``promote`` and ``rollback`` entries set a baseline (``baseline_sha256``, ``actor``,
``diff``, ``eval``, ``scores``, ...); ``anchor`` entries re-anchor an adapter's drift cap at
its current baseline; ``attempt`` entries record one gate attempt of an agent's change
(``pr``, ``base``, ``lineage``, ``verdict``, ``reasons``). Format and limits in docs/audit.md.

:func:`verify` checks the chain (every byte of every line, seq, prev, hash) and cross-checks
the baselines, each of which names the ledger entry it was promoted with: that catches a
deleted tail and a rewritten chain, which the chain alone cannot. :func:`verify_history`
checks, through git history, that every commit only ever appended to the ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from modelcfg.audit.baseline import (
    baseline_path,
    baseline_sha256,
    card_path,
    list_baselines,
    read_baseline,
)
from modelcfg.audit.files import regular_file
from modelcfg.config.trees import FsTree, GitTree, PathProblem
from modelcfg.core import git
from modelcfg.core.errors import Problem, UserError
from modelcfg.core.hashing import canonical_json, sha256_bytes
from modelcfg.core.names import HEX64, NAME
from modelcfg.core.numbers import strict_json

LEDGER = "evals/ledger.jsonl"
CODE = re.compile(r"^MC\d{3}$")
SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
GENESIS = "0" * 64
BASELINE_ACTIONS = ("promote", "rollback")  # entries that set the adapter's baseline
ATTEMPT = "attempt"
ACTIONS = BASELINE_ACTIONS + ("anchor", ATTEMPT)
_FIELDS = {"seq": int, "prev": str, "time": str, "action": str, "adapter": str, "commit": str,
           "baseline_sha256": str, "hash": str}
# An attempt sets no baseline: it names the pull request, the base it was judged on, the
# adapter's lineage (its name and the names it continues) and the outcome's reason codes.
_ATTEMPT_FIELDS = {"seq": int, "prev": str, "time": str, "action": str, "adapter": str,
                   "commit": str, "pr": str, "base": str, "lineage": list, "verdict": str,
                   "reasons": list, "agent": bool, "hash": str}


def entry_hash(entry: dict) -> str:
    return sha256_bytes(canonical_json({k: v for k, v in entry.items() if k != "hash"}))


def render_line(entry: dict) -> bytes:
    return canonical_json(entry) + b"\n"


def _tree(tree_or_root):
    return FsTree(Path(tree_or_root)) if isinstance(tree_or_root, (str, Path)) else tree_or_root


def read_text(tree_or_root) -> bytes:
    """The ledger's bytes (empty when there is none); MC727 when its path holds no regular
    file, MC710 when it cannot be read."""
    tree = _tree(tree_or_root)
    if not regular_file(tree, LEDGER):
        return b""
    try:
        return tree.read(LEDGER)
    except (OSError, PathProblem) as err:
        raise UserError("MC710", f"cannot read the ledger: {err}", path=LEDGER) from err


def parse(data: bytes) -> tuple[list[tuple[int, dict]], list[Problem]]:
    """The entries as ``(line number, entry)`` and the problems of each line on its own:
    not JSON, not canonical, a missing or mistyped field, a hash that does not match."""
    entries, problems = [], []
    if data and not data.endswith(b"\n"):
        problems.append(Problem(LEDGER, data.count(b"\n") + 1, 1, "MC710",
                                "the last line has no newline: a torn or hand-made write"))
    for number, raw in enumerate(data.splitlines(), start=1):
        def add(code, message):
            problems.append(Problem(LEDGER, number, 1, code, message))
        try:
            entry = strict_json(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            add("MC710", f"not a JSON entry ({err})")
            entries.append((number, None))
            continue
        if not isinstance(entry, dict):
            add("MC710", "not a JSON object")
            entries.append((number, None))
            continue
        attempt = entry.get("action") == ATTEMPT
        bad = attempt_problems(entry) if attempt else _field_problems(entry, _FIELDS)
        if bad:
            add("MC729" if attempt else "MC710", f"{'attempt entry: ' if attempt else ''}"
                f"missing or mistyped field(s): {', '.join(bad)}")
        elif entry_hash(entry) != entry["hash"]:
            add("MC711", f"entry {entry['seq']} was edited: its hash does not match its "
                "content")
        elif raw != canonical_json(entry):
            add("MC711", f"entry {entry['seq']} was edited: the line is not in canonical form")
        entries.append((number, entry))
    return entries, problems


def _field_problems(entry: dict, fields: dict) -> list[str]:
    """The fields of ``fields`` that ``entry`` lacks or has of another type (a bool is no
    int), and ``adapter`` when it is no adapter name."""
    bad = [k for k, t in fields.items() if not isinstance(entry.get(k), t)
           or (isinstance(entry.get(k), bool) and t is not bool)]
    if "adapter" not in bad and not NAME.match(entry["adapter"]):
        bad.append("adapter")
    return bad


def attempt_problems(entry: dict) -> list[str]:
    """What is malformed in an attempt entry: its fields, its lineage (adapter names, its
    own adapter among them), its reasons (codes) and its shas."""
    bad = _field_problems(entry, _ATTEMPT_FIELDS)
    lineage = entry.get("lineage")
    if "lineage" not in bad and (not all(isinstance(n, str) and NAME.match(n) for n in lineage)
                                 or entry.get("adapter") not in lineage):
        bad.append("lineage")
    if "reasons" not in bad and not all(isinstance(c, str) and CODE.match(c)
                                        for c in entry["reasons"]):
        bad.append("reasons")
    bad += [k for k in ("commit", "base") if k not in bad and not SHA.match(entry[k])]
    if "pr" not in bad and not entry["pr"].strip():
        bad.append("pr")
    return bad


def _chain(entries: list[tuple[int, dict | None]]) -> list[Problem]:
    problems = []
    prev = GENESIS
    for position, (number, entry) in enumerate(entries, start=1):
        if entry is None or not isinstance(entry.get("seq"), int):
            prev = None
            continue
        seq = entry["seq"]
        if seq != position:
            why = ("entries before it are missing (deleted)" if seq > position else
                   "it is out of order, duplicated or inserted")
            problems.append(Problem(LEDGER, number, 1, "MC712", f"entry has seq {seq} at "
                                    f"position {position}: {why}"))
        if prev is not None and entry.get("prev") != prev:
            problems.append(Problem(LEDGER, number, 1, "MC713", f"entry {seq}: prev does not "
                                    "match the hash of the entry before it (chain broken: an "
                                    "entry before it was edited, deleted, inserted or moved)"))
        prev = entry_hash(entry)
    return problems


def read_entries(tree_or_root) -> list[dict]:
    """The ledger's entries; MC716 if it does not verify on its own (chain checks only)."""
    entries, problems = parse(read_text(tree_or_root))
    problems += _chain(entries)
    if problems:
        raise UserError("MC716", f"the ledger does not verify ({len(problems)} finding(s); "
                        f"first: {problems[0].render()}); run `modelcfg audit verify`",
                        path=LEDGER, line=problems[0].line, col=1)
    return [e for _, e in entries]


def verify(tree_or_root) -> list[Problem]:
    """Every finding about the ledger and the baselines of ``tree_or_root`` (a GitTree, an
    FsTree or a folder): an edited, deleted, inserted or reordered entry, a baseline that
    does not match the entry it was promoted with, and a ledger or baseline path that holds
    no regular file (MC727: a symlink is never followed). Empty when all is consistent."""
    tree = _tree(tree_or_root)
    try:
        data, adapters = read_text(tree), list_baselines(tree)
    except UserError as err:
        if err.code != "MC727":
            raise
        return [Problem(err.path or LEDGER, 1, 1, err.code, err.message)]
    entries, problems = parse(data)
    problems += _chain(entries)
    valid = [e for _, e in entries if e is not None and isinstance(e.get("seq"), int)]
    latest: dict[str, dict] = {}
    for e in valid:  # anchor and attempt entries set no baseline
        if isinstance(e.get("adapter"), str) and NAME.match(e["adapter"]) \
                and e.get("action") in BASELINE_ACTIONS:
            latest[e["adapter"]] = e
    index = _Index({e["seq"]: e for e in reversed(valid)}, latest, len(valid),
                   {id(e): n for n, e in entries if e is not None})
    for adapter in adapters:
        problems += _baseline_findings(tree, adapter, index)
    for adapter, entry in sorted(latest.items()):
        if adapter not in adapters:
            problems.append(Problem(LEDGER, index.line_of.get(id(entry), 1), 1, "MC714",
                                    f"entry {entry['seq']} promoted {adapter}, but "
                                    f"{baseline_path(adapter)} is missing (deleted)"))
    return sorted(set(problems))


@dataclass
class _Index:
    """The ledger's valid entries as a baseline's cross-check needs them."""

    by_seq: dict[int, dict]
    latest: dict[str, dict]  # the newest entry of each adapter
    count: int
    line_of: dict[int, int]  # id(entry) -> line number


def _baseline_findings(tree, adapter: str, index: _Index) -> list[Problem]:
    """One baseline against the ledger entry it names (MC714, MC715), or why it cannot be
    read (MC701, MC727)."""
    rel = f"evals/baselines/{adapter}.json"

    def found(code, message):
        return [Problem(rel, 1, 1, code, message)]
    try:
        baseline = read_baseline(tree, adapter)
    except UserError as err:
        return found(err.code, err.message)
    ref = baseline.get("ledger") if baseline is not None else None
    if ref is None:
        return found("MC714", "baseline was not promoted through the ledger (no ledger "
                     "reference)")
    entry = index.by_seq.get(ref["seq"])
    if entry is None:
        return found("MC714", f"baseline was promoted with ledger entry {ref['seq']}, which "
                     f"the ledger does not have ({index.count} entries): entries were deleted")
    if entry_hash(entry) != ref["hash"]:
        return found("MC714", f"ledger entry {ref['seq']} is not the entry this baseline was "
                     "promoted with (the ledger was rewritten)")
    if entry.get("adapter") != adapter:
        return found("MC714", f"ledger entry {ref['seq']} is about {entry.get('adapter')!r}, "
                     f"not {adapter!r}")
    if entry.get("action") not in BASELINE_ACTIONS:
        return found("MC714", f"ledger entry {ref['seq']} is an {entry.get('action')} entry, "
                     "which sets no baseline")
    out = []
    if entry.get("baseline_sha256") != baseline_sha256(baseline):
        out += found("MC715", f"baseline content does not match the sha256 recorded in "
                     f"ledger entry {ref['seq']}: it was edited after promotion")
    out += _card_findings(tree, adapter, entry)
    newest = index.latest.get(adapter)
    if newest is not None and newest["seq"] > ref["seq"]:
        out += found("MC714", f"ledger entry {newest['seq']} (line "
                     f"{index.line_of.get(id(newest))}) promoted {adapter} later, but the "
                     f"baseline is from entry {ref['seq']}: the baseline was reverted by hand")
    return out


def _card_findings(tree, adapter: str, entry: dict) -> list[Problem]:
    """The model card against the ``card_sha256`` of the entry its baseline was promoted
    with: missing (MC732) or edited (MC731). An entry from before cards (no
    ``card_sha256``) requires none."""
    if "card_sha256" not in entry:
        return []
    rel = card_path(adapter)
    try:
        present = regular_file(tree, rel)
        data = tree.read(rel) if present else None
    except UserError as err:
        return [Problem(rel, 1, 1, err.code, err.message)]
    except (OSError, PathProblem) as err:
        return [Problem(rel, 1, 1, "MC732", f"cannot read the model card: {err}")]
    if data is None:
        return [Problem(rel, 1, 1, "MC732", f"ledger entry {entry['seq']} promoted {adapter} "
                        "with a model card, but the card is missing (deleted); restore it "
                        "from git history")]
    if sha256_bytes(data) != entry["card_sha256"]:
        return [Problem(rel, 1, 1, "MC731", f"model card content does not match the sha256 "
                        f"recorded in ledger entry {entry['seq']}: it was edited after "
                        "promotion; restore it from git history or re-render it with "
                        f"`modelcfg card {adapter} --out {rel}`")]
    return []


def chain_entry(entries: list[dict], entry: dict, *, now: str | None = None) -> dict:
    """``entry`` completed as the next link after ``entries``: seq, prev, time, hash."""
    if entry.get("action") not in ACTIONS:
        raise UserError("MC717", f"ledger action must be one of {', '.join(ACTIONS)}, not "
                        f"{entry.get('action')!r}")
    if entry["action"] == ATTEMPT:
        bad = attempt_problems({**entry, "seq": 0, "prev": GENESIS, "time": "-", "hash": "-"})
        if bad:
            raise UserError("MC729", f"an attempt entry needs well-formed {', '.join(bad)}")
        return _link(entries, entry, now)
    for key in ("adapter", "commit"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            raise UserError("MC717", f"ledger entry needs a non-empty {key}")
    if not NAME.match(entry["adapter"]):
        raise UserError("MC717", f"{entry['adapter']!r} is not a valid adapter name")
    if not isinstance(entry.get("baseline_sha256"), str) or not HEX64.match(
            entry["baseline_sha256"]):
        raise UserError("MC717", "ledger entry needs baseline_sha256 (64 hex digits)")
    if "card_sha256" in entry and not (isinstance(entry["card_sha256"], str)
                                       and HEX64.match(entry["card_sha256"])):
        raise UserError("MC717", "ledger entry's card_sha256 must be 64 hex digits")
    return _link(entries, entry, now)


def _link(entries: list[dict], entry: dict, now: str | None) -> dict:
    last = entries[-1] if entries else None
    out = {k: v for k, v in entry.items() if k not in ("seq", "prev", "hash")}
    out["seq"] = last["seq"] + 1 if last else 1
    out["prev"] = entry_hash(last) if last else GENESIS
    out.setdefault("time", now or datetime.now(timezone.utc).isoformat(timespec="seconds"))
    try:
        out["hash"] = entry_hash(out)
    except ValueError as err:  # NaN somewhere in the caller's data
        raise UserError("MC717", f"ledger entry is not finite JSON: {err}") from err
    return out


def appended(data: bytes, entry: dict, *, now: str | None = None) -> tuple[bytes, dict]:
    """The ledger bytes with ``entry`` chained on, and the completed entry (pure)."""
    entries, problems = parse(data)
    problems += _chain(entries)
    if problems:
        raise UserError("MC716", f"refusing to append to a ledger that does not verify: "
                        f"{problems[0].render()}", path=LEDGER, line=problems[0].line, col=1)
    new = chain_entry([e for _, e in entries], entry, now=now)
    return data + render_line(new), new


# ----------------------------------------------------------------------------- history


def verify_history(repo: Path, rev: str = "HEAD") -> list[Problem]:
    """Findings where a commit reachable from ``rev`` changed the ledger other than by
    appending: each parent's ledger must be a prefix of the commit's ledger; and MC727 for
    a commit whose ledger path holds no regular file (a symlink is not followed).

    This catches what :func:`verify` cannot see in one tree (a consistent rewrite of the
    ledger tail together with the baselines), unless history itself was rewritten."""
    commits = git.text(repo, "rev-list", "--full-history", rev, "--", LEDGER, exit_code=1)
    history = _Ledgers(Path(repo))
    for commit in commits.split():
        mine = history.at(commit)
        for parent in git.text(repo, "rev-parse", f"{commit}^@", exit_code=1).split():
            theirs = history.at(parent)
            if mine is None or theirs is None or mine.startswith(theirs):
                continue
            line = _first_difference(theirs, mine)
            history.problems.append(Problem(LEDGER, line, 1, "MC718", f"commit {commit[:12]} "
                                            f"rewrote the ledger of its parent {parent[:12]} "
                                            f"instead of appending to it (from line {line})"))
    return sorted(set(history.problems))


class _Ledgers:
    """The ledger of each commit, read once; None (with an MC727 finding) where it is not
    a regular file."""

    def __init__(self, repo: Path):
        self.repo, self.objects = repo, git.Objects(repo)
        self.seen: dict[str, bytes | None] = {}
        self.problems: list[Problem] = []

    def at(self, commit: str) -> bytes | None:
        if commit not in self.seen:
            try:
                self.seen[commit] = read_text(GitTree(self.repo, commit, self.objects))
            except UserError as err:
                if err.code != "MC727":
                    raise
                self.seen[commit] = None
                self.problems.append(Problem(LEDGER, 1, 1, "MC727",
                                             f"commit {commit[:12]}: {err.message}"))
        return self.seen[commit]


def audit(repo: Path, rev: str | None = None, history: bool = True) -> list[Problem]:
    """``modelcfg audit verify``: :func:`verify` on commit ``rev`` (default: the working
    tree), plus :func:`verify_history` when ``repo`` is a git repository."""
    problems = verify(GitTree(repo, rev) if rev else FsTree(repo))
    if history and (Path(repo) / ".git").exists():
        problems += verify_history(repo, rev or "HEAD")
    return sorted(set(problems))


def _first_difference(old: bytes, new: bytes) -> int:
    a, b = old.splitlines(), new.splitlines()
    for i, (x, y) in enumerate(zip(a, b), start=1):
        if x != y:
            return i
    return min(len(a), len(b)) + 1

