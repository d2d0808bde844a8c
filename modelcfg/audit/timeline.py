"""``modelcfg history``: every promotion, bootstrap, rollback and re-anchoring of each
adapter, with its metrics, latency and cost, from the ledger and the baselines in git
history (docs/audit.md, "History").

Each row is one ledger entry that sets a baseline or re-anchors a lineage. Its numbers come
from the baseline as it was at that entry: read at the commit that appended the entry to the
ledger, where that commit also wrote the baseline (the adapter's newest entry in that
commit's ledger). Where no commit holds that baseline (a copied or squashed history, an
entry not committed yet, a later entry in the same commit), the numbers are the ones the
entry itself records (``source: ledger``; a promotion records the baseline's metrics, cost
and latency). The pre-launch cost estimate is computed from the adapter's config at the
entry's evidence commit, when the repository has it.

Nothing here imports more than the config layer; :mod:`modelcfg.audit.plot` draws the png.
"""

from __future__ import annotations

import json
from pathlib import Path

from modelcfg.audit.baseline import LATENCY_FIELDS, baseline_sha256, read_baseline
from modelcfg.audit.history import ANCHOR, lineage
from modelcfg.audit.ledger import (
    BASELINE_ACTIONS,
    LEDGER,
    read_entries,
    render_line,
)
from modelcfg.config.trees import FsTree, GitTree
from modelcfg.core import git
from modelcfg.core.errors import UserError

FORMAT = "modelcfg-history/1"
SHOWN = BASELINE_ACTIONS + (ANCHOR,)
MEASURED = ("train_tokens", "gpu_hours", "train_seconds", "wall_seconds", "device")
ESTIMATED = ("train_tokens", "gpu_hours")


def history(repo: Path, adapter: str | None = None) -> dict:
    """``{format, adapters: {name: [row, ...]}}`` for every adapter with an entry (each
    under its own name), or for ``adapter`` and the names its lineage continues (MC740 when
    the ledger has no entry of it). The ledger is the working tree's (MC716 when it does not
    verify); its baselines are read from the repository's history."""
    repo = Path(repo)
    entries = read_entries(FsTree(repo))
    shown = [e for e in entries if e.get("action") in SHOWN]
    if adapter is not None:
        names = lineage(entries, {adapter})
        groups = {adapter: [e for e in shown if e["adapter"] in names]}
        if not groups[adapter]:
            known = sorted({e["adapter"] for e in shown})
            raise UserError("MC740", f"the ledger has no promotion, rollback or anchor entry "
                            f"of {adapter!r} ({len(entries)} entries; adapters with entries: "
                            f"{', '.join(known) or 'none'}); name one of those, or run "
                            "`modelcfg history` for all", path=LEDGER, line=1, col=1,
                            exit_code=2)
    else:
        groups = {}
        for e in shown:
            groups.setdefault(e["adapter"], []).append(e)
    reader, ends, offset = _History(repo), {}, 0
    for e in entries:  # where each entry's line ends in the ledger
        offset += len(render_line(e))
        ends[e["seq"]] = offset
    return {"format": FORMAT, "adapters": {name: [reader.row(e, ends[e["seq"]]) for e in rows]
                                           for name, rows in sorted(groups.items())}}


class _History:
    """What git history says about the ledger's entries: the commit that appended each
    one, the baseline at that commit, the cost estimate at an evidence commit.

    The ledger is only ever appended to (`modelcfg audit verify` checks it), so the commit
    that appended entry ``seq`` is the first version of the ledger at least as long as the
    entries up to it: found from the blobs' sizes (one ``git log`` and one ``cat-file``),
    then read once to check that the line is there."""

    def __init__(self, repo: Path):
        self.repo = repo
        self.objects = None
        self.versions: list[tuple[str, str, int]] = []  # (commit, ledger blob, size), oldest first
        self.blobs: dict[str, list[bytes]] = {}
        self.estimates: dict[tuple[str, str], dict | None] = {}
        ok, out = git.attempt(repo, "log", "--reverse", "--topo-order", "--no-abbrev",
                              "--no-renames", "--raw", "--format=commit %H", "HEAD", "--",
                              LEDGER)
        if not ok:  # no git repository, or no commit yet: the ledger's own fields
            return
        self.objects = git.Objects(repo)
        changes, commit = [], None
        for line in out.splitlines():
            if line.startswith("commit "):
                commit = line.split()[1]
            elif line.startswith(":") and commit:
                meta = line.split("\t", 1)[0].split()
                if meta[1] == git.REGULAR and meta[4] != "D":  # a symlink is never read
                    changes.append((commit, meta[3]))
        if not changes:
            return
        ok, out = git.attempt(repo, "cat-file", "--batch-check",
                              data="".join(f"{b}\n" for _, b in changes).encode())
        sizes = {row.split()[0]: int(row.split()[2]) for row in out.splitlines()
                 if len(row.split()) == 3} if ok else {}
        self.versions = [(c, b, sizes[b]) for c, b in changes if b in sizes]

    def landed(self, entry: dict, line: bytes, offset: int) -> str | None:
        """The commit that appended ``line`` (entry ``seq``, ending at byte ``offset`` of the
        ledger), or None when no version of the ledger in history holds it there."""
        commit = next((c for c, b, size in self.versions if size >= offset), None)
        if commit is None:
            return None
        lines = self._lines(commit)
        return commit if lines[entry["seq"] - 1:entry["seq"]] == [line] else None

    def _lines(self, commit: str) -> list[bytes]:
        blob = next(b for c, b, _ in self.versions if c == commit)
        if blob not in self.blobs:
            self.blobs[blob] = [x + b"\n" for x in self.objects.blob(blob).splitlines()]
        return self.blobs[blob]

    def row(self, entry: dict, offset: int) -> dict:
        commit = self.landed(entry, render_line(entry), offset)
        baseline = self._baseline(entry, commit) if commit else None
        source = baseline if baseline is not None else {}
        cost_in = entry.get("cost") or {}
        cost = source.get("cost") if baseline is not None else cost_in
        latency = source.get("latency") if baseline is not None else cost_in.get(
            "eval_latency")
        row = {"seq": entry["seq"], "action": _action(entry), "verdict": entry.get("verdict"),
               "adapter": entry["adapter"], "time": entry["time"], "commit": entry["commit"],
               "landed": commit, "source": "baseline" if baseline is not None else "ledger",
               "fingerprint": entry.get("fingerprint"), "hash": entry["hash"],
               "tasks": (_baseline_metrics(baseline) if baseline is not None
                         else entry_metrics(entry)),
               "latency": {k: (latency or {}).get(k) for k in LATENCY_FIELDS},
               "cost": {"measured": {k: (cost or {}).get(k) for k in MEASURED},
                        "estimate": self._estimate(entry)}}
        for key in ("to_rev", "replaces"):
            if isinstance(entry.get(key), str):
                row[key] = entry[key]
        return row

    def _baseline(self, entry: dict, commit: str) -> dict | None:
        """The baseline ``entry`` set (or re-anchored at), read at ``commit``, which appended
        it; None when a later entry of the adapter came in the same commit (the baseline
        there is a later one). MC742 when it is missing there, MC743 when it is not the one
        the entry records."""
        for line in self._lines(commit)[entry["seq"]:]:
            later = json.loads(line)
            if later.get("adapter") == entry["adapter"] and later.get("action") in SHOWN:
                return None
        where = dict(path=LEDGER, line=entry["seq"], col=1)
        rel = f"evals/baselines/{entry['adapter']}.json"
        try:
            baseline = read_baseline(GitTree(self.repo, commit, self.objects), entry["adapter"])
        except UserError as err:
            raise UserError("MC743", f"entry {entry['seq']} ({entry['action']} of "
                            f"{entry['adapter']}): the baseline commit {commit[:12]} holds "
                            f"cannot be read ({err.code} {err.message}); run `modelcfg audit "
                            f"verify --rev {commit[:12]}`", **where) from None
        if baseline is None:
            raise UserError("MC742", f"entry {entry['seq']} ({entry['action']} of "
                            f"{entry['adapter']}) was appended by commit {commit[:12]}, which "
                            f"has no {rel}: the promotion did not commit its baseline; run "
                            f"`modelcfg audit verify --rev {commit[:12]}`", **where)
        if baseline_sha256(baseline) != entry.get("baseline_sha256"):
            raise UserError("MC743", f"entry {entry['seq']} ({entry['action']} of "
                            f"{entry['adapter']}): {rel} at commit {commit[:12]}, which "
                            "appended the entry, is not the baseline the entry records "
                            "(baseline_sha256 differs); run `modelcfg audit verify --rev "
                            f"{commit[:12]}`", **where)
        return baseline

    def _estimate(self, entry: dict) -> dict | None:
        """The pre-launch estimate of the adapter's config at the evidence commit (as the
        gate computes it); None when that commit is not here or the config gives none."""
        key = (entry["commit"], entry["adapter"])
        if key not in self.estimates:
            self.estimates[key] = None
            if self.objects is not None and git.commit_of(self.repo, entry["commit"]):
                self.estimates[key] = _estimate_at(
                    GitTree(self.repo, entry["commit"], self.objects), entry["adapter"])
        return self.estimates[key]


def _estimate_at(tree, adapter: str) -> dict | None:
    from modelcfg.config.cost import CostUnknown, estimate_cost
    from modelcfg.config.resolve import resolve_adapter
    from modelcfg.config.workspace import load_workspace

    try:
        figures = estimate_cost(resolve_adapter(load_workspace(tree), adapter)).to_dict()
    except (UserError, CostUnknown, KeyError):
        return None
    return {k: figures.get(k) for k in ESTIMATED}


def _action(entry: dict) -> str:
    if entry["action"] == "promote" and entry.get("verdict") == "bootstrap":
        return "bootstrap"
    return entry["action"]


def _baseline_metrics(baseline: dict) -> dict:
    return {task: {metric: m.get("value") for metric, m in sorted(t["metrics"].items())}
            for task, t in sorted(baseline["tasks"].items())}


def entry_metrics(entry: dict) -> dict:
    """``{task: {metric: value}}`` as a ledger entry records them: its ``scores`` (every
    metric), else its ``eval``, which is the baseline's metrics (``{metric: {value, ...}}``)
    or the gate's per-task summary (``{metric: NAME, value, candidate_mean, ...}``)."""
    out: dict[str, dict] = {}
    scores = entry.get("scores")
    if isinstance(scores, dict) and scores:
        for task, t in sorted(scores.items()):
            metrics = (t or {}).get("metrics") or {}
            out[task] = {m: (v or {}).get("value") for m, v in sorted(metrics.items())}
        return out
    for task, summary in sorted((entry.get("eval") or {}).items()):
        if not isinstance(summary, dict):
            continue
        if isinstance(summary.get("metric"), str):
            value = summary.get("value", summary.get("candidate_mean"))
            out[task] = {summary["metric"]: value}
        else:
            out[task] = {m: v.get("value") for m, v in sorted(summary.items())
                         if isinstance(v, dict)}
    return out


def first_value(entry: dict, task: str):
    """The value the gate's history plots for ``task`` of ``entry``: the gate's summary
    value, else the first metric the entry records (None when there is none)."""
    summary = (entry.get("eval") or {}).get(task)
    if not isinstance(summary, dict):
        return None
    value = summary.get("value", summary.get("candidate_mean"))
    if value is None:
        values = [m.get("value") for m in summary.values() if isinstance(m, dict)]
        value = values[0] if values else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def columns(rows: list[dict]) -> list[tuple[str, str, str]]:
    """``(label, task, metric)`` for every metric the rows have: the task's name, or
    ``task:metric`` for a task with several metrics."""
    pairs: dict[str, list[str]] = {}
    for row in rows:
        for task, metrics in row["tasks"].items():
            for metric in metrics:
                if metric not in pairs.setdefault(task, []):
                    pairs[task].append(metric)
    return [(task if len(metrics) == 1 else f"{task}:{metric}", task, metric)
            for task, metrics in sorted(pairs.items()) for metric in metrics]


def series(doc: dict) -> tuple[dict, dict]:
    """What the png plots: per ``adapter/column`` the metric over the entries, and per
    adapter the generation tokens/s, as ``[(label, value)]``."""
    metrics: dict[str, list] = {}
    latency: dict[str, list] = {}
    for name, rows in doc["adapters"].items():
        for label, task, metric in columns(rows):
            points = [(f"#{r['seq']}", r["tasks"].get(task, {}).get(metric)) for r in rows]
            metrics[f"{name}/{label}"] = [(x, v) for x, v in points if _number(v)]
        speed = [(f"#{r['seq']}", r["latency"].get("tokens_per_second")) for r in rows]
        latency[name] = [(x, v) for x, v in speed if _number(v)]
    return ({k: v for k, v in metrics.items() if v}, {k: v for k, v in latency.items() if v})


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

