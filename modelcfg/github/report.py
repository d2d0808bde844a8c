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
from modelcfg.github.annotations import annotations, batches
from modelcfg.github.client import Failure, GitHubFailed, Pacing, call, connect

CHECK_NAME = "modelcfg/gate"
MARKER = "<!-- modelcfg:gate -->"
LIMIT = 65535  # characters of a check run's summary/text and of a comment body
LABELS = {"pass": "gate:pass", "block": "gate:block", "error": "gate:block"}
CONCLUSION = {"pass": "success", "block": "failure", "error": "failure"}
ANNOTATION_CAP = 500


@dataclass
class Target:
    repo: str
    sha: str | None
    pr: int | None


@dataclass
class Outcome:
    verdict: str
    check_run: int | None = None
    comment: int | None = None
    annotated: int = 0
    left_out: int = 0
    failures: list[Failure] = field(default_factory=list)


def load_gate(gate_dir: Path) -> tuple[dict, str]:
    """gate.json and the report's markdown. An unreadable gate.json is an errored gate
    (MC012): its check fails with the reason, never passes."""
    path = gate_dir / "gate.json"
    try:
        report = json.loads(path.read_text())
        if not isinstance(report, dict) or report.get("verdict") not in CONCLUSION:
            raise ValueError("no verdict of pass, block or error")
    except (OSError, ValueError) as exc:
        reason = {"code": "MC012", "message": f"{path} cannot be read ({exc}): the gate did "
                  "not finish; see the gate job's log"}
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
         cap: int | None = None) -> Outcome:
    """Every part that can be posted is posted; each part GitHub refuses is a Failure."""
    pacing = pacing or Pacing.from_env()
    cap = ANNOTATION_CAP if cap is None else cap
    report, markdown = load_gate(gate_dir)
    outcome = Outcome(report["verdict"])
    append_step_summary(markdown)
    gh = connect(token, api_url, pacing)
    repo = gh.get_repo(where.repo)
    roots = [gate_dir / "judge-tree", *roots]  # the configs the gate judged, then the checkout
    parts = [("check run", lambda: _check_run(gh, repo, where, report, markdown, roots,
                                              pacing, cap, outcome))]
    if where.pr is not None:
        parts += [("pull request comment", lambda: _comment(repo, where.pr, markdown,
                                                            pacing, outcome)),
                  ("labels", lambda: _labels(gh, repo, where.pr, report, pacing))]
    for _what, part in parts:
        try:
            part()
        except GitHubFailed as exc:
            outcome.failures.append(exc.failure)
    return outcome


def _check_run(gh, repo, where, report, markdown, roots, pacing, cap, outcome) -> None:
    if not where.sha:
        where.sha = call("read the pull request's head", lambda: repo.get_pull(where.pr)
                         .head.sha, pacing)
    found = annotations(report, roots)
    groups, left_out = batches(found, cap)
    output = {"title": title(report), "summary": truncate(markdown)}
    if left_out:
        output["text"] = (f"{cap} annotations shown, and {left_out} more: every reason is in "
                          "the report above.")
    run = call("create the check run", lambda: repo.create_check_run(
        name=CHECK_NAME, head_sha=where.sha, status="completed",
        conclusion=CONCLUSION[report["verdict"]], output=output), pacing)
    outcome.check_run = run.id
    for group in groups:  # the API takes 50 annotations per request: one update each
        call("annotate the check run", lambda g=group: run.edit(
            output=dict(output, annotations=g)), pacing)
        outcome.annotated += len(group)
    outcome.left_out = left_out


def _comment(repo, number, markdown, pacing, outcome) -> None:
    body = truncate(f"{MARKER}\n{markdown}")

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
