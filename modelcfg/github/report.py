"""``modelcfg github report``: the gate's verdict on the pull request.

From ``--gate-dir`` (gate.json, report.md): a check run ``modelcfg/gate`` on the head SHA
(pass -> success; block, error or an unreadable gate.json -> failure with the reason), with
the report as its summary and one annotation per reason on the config lines; one sticky pull
request comment, found by its hidden marker and edited in place; the job summary; one label
``gate:pass`` or ``gate:block``. A part GitHub does not take is a Failure: the caller exits
non-zero, so an API failure never turns a block into a pass.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.core.errors import UserError
from modelcfg.github.annotations import annotations
from modelcfg.github.checks import Posted, post_check
from modelcfg.github.client import Failure, GitHubFailed, Pacing, call, connect
from modelcfg.github.history import artifact_line, history_markdown

CHECK_NAME = "modelcfg/gate"
MARKER = "<!-- modelcfg:gate -->"
LIMIT = 65535  # characters of a check run's summary/text and of a comment body
LABELS = {"pass": "gate:pass", "block": "gate:block", "error": "gate:block"}
CONCLUSION = {"pass": "success", "block": "failure", "error": "failure"}
ANNOTATION_CAP = 500
GATE_JOB = {  # the gate job's result (needs.gate.result) -> why there is no gate.json
    "failure": "the gate job failed before it wrote gate.json",
    "cancelled": "the gate job was cancelled before it wrote gate.json",
    "skipped": "the gate job never ran (skipped)",
    "success": "the gate job succeeded but its artifact has no readable gate.json",
}


@dataclass
class Target:
    repo: str
    sha: str | None
    pr: int | None


@dataclass
class Outcome(Posted):
    verdict: str = "error"
    comment: int | None = None
    failures: list[Failure] = field(default_factory=list)


def load_gate(gate_dir: Path, gate_result: str | None = None) -> tuple[dict, str]:
    """gate.json and the report's markdown. An unreadable gate.json is an errored gate
    (MC012): its check fails with the reason (what happened to the gate job, when
    ``gate_result`` says), never passes."""
    path = gate_dir / "gate.json"
    try:
        report = json.loads(path.read_text())
        if not isinstance(report, dict) or report.get("verdict") not in CONCLUSION:
            raise ValueError("no verdict of pass, block or error")
    except (OSError, ValueError) as exc:
        why = GATE_JOB.get(gate_result or "", "the gate did not finish")
        reason = {"code": "MC012", "message": f"{why}: {path} cannot be read ({exc}); see "
                  "the gate job's log"}
        return ({"verdict": "error", "reasons": [reason], "configs": []},
                f"# modelcfg gate: ERROR\n\n- **MC012** {reason['message']}\n")
    try:
        return report, (gate_dir / "report.md").read_text()
    except OSError:
        from modelcfg.gate.report import render

        return report, render(report)


def truncate(text: str, limit: int = LIMIT) -> str:
    if len(text) <= limit:
        return text
    note = "\n\n… truncated to GitHub's limit; the full report is in the gate's artifact.\n"
    return text[:limit - len(note)] + note


def title(report: dict) -> str:
    verdict = report["verdict"]
    reasons = [r for r in report.get("reasons") or []] + \
        [r for c in report.get("configs") or [] for r in c.get("reasons") or []]
    if verdict == "pass":
        return "modelcfg gate: PASS"
    first = f"{reasons[0].get('code')} {reasons[0].get('message', '')}" if reasons else ""
    head = f"modelcfg gate: {verdict.upper()} ({len(reasons)} reason(s))"
    return (f"{head}: {first}" if first else head)[:255]


def target(repo: str | None, pr: int | None, sha: str | None) -> Target:
    """--repo/--pr/--sha, else GITHUB_REPOSITORY and the event's pull request."""
    repo = repo or os.environ.get("GITHUB_REPOSITORY")
    if not repo or repo.count("/") != 1:
        raise UserError("MC011", "no repository to report to: pass --repo OWNER/NAME (or run "
                        "in GitHub Actions, which sets GITHUB_REPOSITORY)", exit_code=2)
    event = _event()
    pull = event.get("pull_request") or {}
    pr = pr if pr is not None else pull.get("number")
    sha = sha or (pull.get("head") or {}).get("sha")
    if pr is None and not sha:
        sha = os.environ.get("GITHUB_SHA")
    if pr is None and not sha:
        raise UserError("MC011", "no pull request or commit to report on: pass --pr N or "
                        "--sha SHA", exit_code=2)
    return Target(repo, sha, pr)


def _event() -> dict:
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def append_step_summary(markdown: str) -> None:
    """The runner's job summary file is appended to (its contract), never replaced."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(markdown if markdown.endswith("\n") else markdown + "\n")


def post(gate_dir: Path, where: Target, *, token: str, api_url: str,
         roots: list[Path], pacing: Pacing | None = None,
         cap: int | None = None, gate_result: str | None = None) -> Outcome:
    """Every part that can be posted is posted; each part GitHub refuses is a Failure."""
    pacing = pacing or Pacing.from_env()
    cap = ANNOTATION_CAP if cap is None else cap
    report, markdown = load_gate(gate_dir, gate_result)
    outcome = Outcome(verdict=report["verdict"])
    append_step_summary(markdown)
    gh = connect(token, api_url, pacing)
    repo = gh.get_repo(where.repo)
    roots = [gate_dir / "judge-tree", *roots]  # the configs the gate judged, then the checkout
    parts = [("check run", lambda: _check_run(repo, where, report, markdown, roots,
                                              pacing, cap, outcome))]
    if where.pr is not None:
        body = _comment_body(report, markdown, roots, repo, where.repo, pacing)
        parts += [("pull request comment", lambda: _comment(repo, where.pr, body,
                                                            pacing, outcome)),
                  ("labels", lambda: _labels(gh, repo, where.pr, report, pacing))]
    for _what, part in parts:
        try:
            part()
        except GitHubFailed as exc:
            outcome.failures.append(exc.failure)
    return outcome


def head_sha(repo, where: Target, pacing: Pacing) -> str:
    """The commit a check run goes on: ``where.sha``, else the pull request's head (read once
    and kept in ``where``)."""
    if not where.sha:
        where.sha = call("read the pull request's head", lambda: repo.get_pull(where.pr)
                         .head.sha, pacing)
    return where.sha


def _check_run(repo, where, report, markdown, roots, pacing, cap, outcome) -> None:
    post_check(repo, head_sha(repo, where, pacing), CHECK_NAME, CONCLUSION[report["verdict"]], title(report),
               truncate(markdown), annotations(report, roots), cap, pacing, outcome)


def _comment_body(report, markdown, roots, repo, name, pacing) -> str:
    """The report, its image reference (a relative path, which a comment cannot show)
    replaced by the metric history as text and a link to the run's artifact."""
    kept = "\n".join(line for line in markdown.splitlines()
                      if line != "## Metric history" and not line.startswith("![metric "))
    extra = [part.strip("\n") for part in (history_markdown(report, roots),
                                             artifact_line(repo, name, pacing)) if part]
    return truncate(MARKER + "\n" + "\n\n".join([kept.rstrip("\n"), *extra]).rstrip("\n")
                    + "\n")


def _comment(repo, number, body, pacing, outcome) -> None:
    def upsert():  # retried as a whole: a create that failed is looked for again first
        issue = repo.get_issue(number)
        for comment in issue.get_comments():
            if (comment.body or "").startswith(MARKER):
                comment.edit(body)
                return comment.id
        return issue.create_comment(body).id
    outcome.comment = call("post the pull request comment", upsert, pacing)


def _labels(gh, repo, number, report, pacing) -> None:
    wanted = LABELS[report["verdict"]]
    other = next(v for v in set(LABELS.values()) if v != wanted)

    def apply():
        issue = repo.get_issue(number)
        names = {label.name for label in issue.labels}
        if wanted not in names:  # a body of {"labels": [...]}, as the API describes it
            gh.requester.requestJsonAndCheck("POST", f"{issue.url}/labels",
                                             input={"labels": [wanted]})
        if other in names:
            issue.remove_from_labels(other)
    call("set the gate label", apply, pacing)
