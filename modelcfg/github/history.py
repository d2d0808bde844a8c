"""The sticky comment's metric history (as text: comments cannot attach images) and the link
to the workflow run's artifact, which holds history.png and the evidence.

The series are the ones history.png plots (:func:`modelcfg.gate.report.history`): each
judged adapter's promoted values per task in ledger order, then the candidate. The ledger is
the base's, read from the gate's judge tree (its ``evals/`` are the base's), else from the
checkout; a ledger that does not verify is left out with a note, never trusted.
"""

from __future__ import annotations

import os
from pathlib import Path

from modelcfg.github.client import GitHubFailed, Pacing, call

SHOWN = 6  # points per series: the newest promotions and the candidate


def history_markdown(report: dict, roots: list[Path]) -> str:
    from modelcfg.audit.ledger import LEDGER, read_entries
    from modelcfg.core.errors import UserError
    from modelcfg.gate.report import history

    if not report.get("configs"):
        return ""
    entries, note = [], ""
    root = next((r for r in roots if (r / LEDGER).exists()), None)
    if root is not None:
        try:
            entries = read_entries(root)
        except UserError as err:
            note = f"\n\nThe ledger was left out: {err.code} {err.message}\n"
        except Exception as err:  # noqa: BLE001 - the history is an extra, never the verdict
            note = f"\n\nThe ledger was left out: {type(err).__name__}: {err}\n"
    series = history(entries, report)
    if not series:
        return note.lstrip("\n")
    lines = ["## Metric history", "", "| adapter/task | promotions → candidate | change |",
             "|---|---|---|"]
    for name, points in sorted(series.items()):
        shown = points[-SHOWN:]
        more = "… " if len(points) > len(shown) else ""
        trail = " → ".join(f"{label} {value:.3f}" for label, value in shown)
        change = f"{points[-1][1] - points[-2][1]:+.3f}" if len(points) > 1 else "–"
        lines.append(f"| `{name}` | {more}{trail} | {change} |")
    return "\n".join(lines) + "\n" + note


def artifact_line(repo, name: str, pacing: Pacing) -> str:
    """A link to this workflow run's artifacts (the plot, gate.json, the evidence), found
    through the artifacts API; empty outside Actions. Best effort: the comment is posted
    without the link when the lookup fails."""
    run_id = os.environ.get("GITHUB_RUN_ID")
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    if not run_id or not run_id.isdigit():
        return ""
    run_page = f"{server}/{name}/actions/runs/{run_id}"
    try:
        found = call("list the run's artifacts", lambda: [
            (a.name, a.id) for a in _artifacts(repo, run_id)], pacing)
    except GitHubFailed:
        found = []
    if not found:
        return f"The history plot and the evidence: [workflow run]({run_page}).\n"
    links = ", ".join(f"[{name}]({run_page}/artifacts/{aid})" for name, aid in found)
    return f"The history plot (history.png) and the evidence are in the artifact {links}.\n"


def _artifacts(repo, run_id: str):
    """GET /repos/{owner}/{repo}/actions/runs/{run_id}/artifacts, every page (one request:
    WorkflowRun.get_artifacts would first read the run itself)."""
    from github.Artifact import Artifact
    from github.PaginatedList import PaginatedList

    return PaginatedList(Artifact, repo.requester, f"{repo.url}/actions/runs/{run_id}/artifacts",
                         None, list_item="artifacts")
