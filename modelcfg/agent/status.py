"""``modelcfg pr status N``: the gate's verdict on a pull request, as data.

Read from the check run ``modelcfg/gate`` on the pull request's head (the newest one) and
the gate's ``gate-report`` artifact of the workflow run that posted it (its ``external_id``
is ``RUN_ID/ATTEMPT``), downloaded as a zip through the artifacts API. States: ``pending``
(no completed check), ``pass``, ``block``, ``error``. Each reason carries its code, the config
file, line and field, the threshold that decided, and a machine-readable hint of what to
change (:data:`HINTS`, by reason code).
"""

from __future__ import annotations

import io
import json
import time
import zipfile

from modelcfg.core.errors import UserError

FORMAT = "modelcfg-pr-status/1"
CHECK_NAME = "modelcfg/gate"
ARTIFACT = "gate-report"
CONCLUSIONS = {"success": "pass", "failure": "block"}

# reason code -> (action, what to change): what an agent does about a reason.
HINTS = {
    "MC801": ("revise-config", "the config is invalid under the base's policy: fix what "
              "`modelcfg validate` reports at the named file and line"),
    "MC802": ("reduce-cost", "lower training.max_steps, batch_size, gradient_accumulation_steps "
              "or max_seq_length until the estimate fits the threshold"),
    "MC803": ("reduce-cost", "training stopped over budget: shorten it"),
    "MC807": ("revise-training", "capability regressed: change the data or hyperparameters "
              "that made the candidate worse"),
    "MC808": ("revise-training", "non-inferiority not shown: a clearer improvement, or a "
              "maintainer's larger eval set"),
    "MC809": ("restore-safety", "safety regressed: remove the data or setting that weakened "
              "refusals"),
    "MC810": ("restore-safety", "the safety floor is not met: remove the data or setting that "
              "weakened refusals"),
    "MC811": ("revise-training", "the required gain was not shown"),
    "MC812": ("reduce-cost", "the measured cost is over the thresholds: shorten training"),
    "MC814": ("revert-path", "an agent may only edit contract.agents.allowed_paths: revert "
              "the other paths"),
    "MC825": ("revise-training", "stopped for futility: the change is unlikely to pass as it "
              "is"),
    "MC850": ("reduce-latency", "a slowdown beyond the latency SLO is not ruled out: serve it "
              "merged (serving.merge: true), lower lora.r or target fewer modules"),
    "MC851": ("reduce-latency", "over the absolute latency limit: serve it merged, lower "
              "lora.r or target fewer modules"),
    "MC860": ("revise-training", "worse under perturbation: the change made the capability "
              "brittle to rephrased questions; add varied phrasings to the training data or "
              "undo what narrowed it"),
    "MC861": ("revise-training", "non-inferiority under perturbation not shown: a change that "
              "keeps the capability robust to rephrasing, or a maintainer's larger eval set"),
    "MC862": ("revise-training", "stopped for futility under perturbation: the change is "
              "unlikely to hold up to rephrased questions as it is"),
    "MC863": ("ask-maintainer", "the promoted baseline has no scores for a task the adapter "
              "now runs: a maintainer must re-baseline the adapter"),
    "MC828": ("ask-maintainer", "too many blocked attempts on this lineage: a maintainer's "
              "label is needed for another"),
}
DEFAULT_HINT = ("ask-maintainer", "no automatic revision is known for this reason; read the "
                "message")


def hint(code: str) -> dict:
    action, text = HINTS.get(code, DEFAULT_HINT)
    return {"action": action, "change": text}


def _reason(r: dict, cfg: dict | None, read=None) -> dict:
    """One reason with its place: ``path:line`` from a located message (MC801), else the
    adapter's file and, when ``read(path)`` gives its text at the head, the field's line."""
    from modelcfg.github.annotations import LOCATED, field_line

    message = r.get("message") or ""
    located = LOCATED.match(message)
    named = r.get("field") or ""
    path = located["path"] if located else (cfg or {}).get("path") or (
        named if cfg is None and "/" in named else None)  # a change's reason about a file
    line = int(located["line"]) if located else None
    if line is None and path and r.get("field") and read is not None:
        text = read(path)
        line = field_line(text, r["field"]) if text is not None else None
    return {"code": r.get("code"), "message": message, "file": path, "line": line,
            "field": r.get("field"), "task": r.get("task"), "threshold": r.get("threshold"),
            "hint": hint(r.get("code") or "")}


def summarize(gate: dict, read=None) -> dict:
    """The per-adapter verdicts, reasons, estimates and cost of a gate.json."""
    adapters = []
    changed = {c.get("name"): [f.get("field") for f in c.get("fields") or []]
               for c in (gate.get("diff") or {}).get("changes") or [] if c.get("kind") == "Adapter"}
    for cfg in gate.get("configs", []):
        adapters.append({
            "adapter": cfg.get("adapter"), "path": cfg.get("path"),
            "verdict": cfg.get("verdict"), "impact": cfg.get("impact"),
            "changed_fields": changed.get(cfg.get("adapter"), []),
            "reasons": [_reason(r, cfg, read) for r in cfg.get("reasons", [])],
            "tasks": cfg.get("tasks", {}), "cost": cfg.get("cost", {})})
    attempts = gate.get("attempts") or {}
    return {"verdict": gate.get("verdict"), "adapters": adapters,
            "reasons": [_reason(r, None) for r in gate.get("reasons", [])],
            "attempts": attempts,
            "hints": hints(_all(gate, read))}


def hints(reasons: list[dict]) -> list[dict]:
    """One ``{code, action, change}`` per reason code, sorted by code."""
    seen = {r["code"]: r["hint"] for r in reasons if r.get("code")}
    return [{"code": code, **seen[code]} for code in sorted(seen)]


def _all(gate: dict, read) -> list[dict]:
    found = [_reason(r, None) for r in gate.get("reasons", [])]
    for cfg in gate.get("configs", []):
        found += [_reason(r, cfg, read) for r in cfg.get("reasons", [])]
    return found


def _download(url: str, token: str, pacing) -> bytes:
    import requests
    from github import GithubException

    from modelcfg.github.client import call

    def get():
        resp = requests.get(url, headers={"Authorization": f"Bearer {token}",
                                          "Accept": "application/vnd.github+json"}, timeout=30)
        if resp.status_code >= 500:
            raise requests.RequestException(f"HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise GithubException(resp.status_code, {"message": resp.text[:200]}, None)
        return resp.content
    return call("download the gate-report artifact", get, pacing)


def head_reader(root, sha: str):
    """``read(path)``: the file's text at commit ``sha`` in the local clone ``root``, or
    None (not fetched, not there)."""
    from modelcfg.core import git

    def read(path: str) -> str | None:
        ok, out = git.attempt(root, "show", f"{sha}:{path}")
        return out if ok else None
    return read


def read_status(name: str, number: int, *, token: str, api_url: str, pacing,
                root=None) -> dict:
    """The status document of pull request ``number`` of ``name`` (OWNER/NAME); config lines
    are looked up in the local clone ``root`` when it has the head commit."""
    from modelcfg.github.client import call, connect
    from modelcfg.github.history import _artifacts

    repo = connect(token, api_url, pacing).get_repo(name)
    head = call(f"read pull request #{number}", lambda: repo.get_pull(number).head.sha, pacing)
    out = {"format": FORMAT, "pr": number, "head_sha": head, "state": "pending",
           "check_run": None, "adapters": [], "reasons": [], "attempts": {}, "hints": []}
    runs = call("list the gate's check runs", lambda: [
        (r.id, r.status, r.conclusion, r.external_id)
        for r in repo.get_commit(head).get_check_runs(check_name=CHECK_NAME)], pacing)
    done = sorted(r for r in runs if r[1] == "completed")
    if not done:
        return out
    run_id, _, conclusion, external = done[-1]
    out["check_run"] = run_id
    workflow_run, _, attempt = (external or "").partition("/")
    out["attempt"] = int(attempt) if attempt.isdigit() else None
    if not workflow_run.isdigit():
        return _no_report(out, conclusion, f"check run {run_id} names no workflow run "
                          f"(external_id {external!r})")
    found = call("list the run's artifacts", lambda: [
        (a.name, a.archive_download_url) for a in _artifacts(repo, workflow_run)], pacing)
    urls = [url for art, url in found if art == ARTIFACT]
    if not urls:
        return _no_report(out, conclusion, f"workflow run {workflow_run} has no {ARTIFACT} "
                          "artifact")
    try:
        with zipfile.ZipFile(io.BytesIO(_download(urls[-1], token, pacing))) as zf:
            gate = json.loads(zf.read("gate.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        return _no_report(out, conclusion, f"the {ARTIFACT} artifact holds no readable "
                          f"gate.json ({exc})")
    out.update(summarize(gate, head_reader(root, head) if root is not None else None))
    out["state"] = gate.get("verdict") if gate.get("verdict") in ("pass", "block", "error") \
        else "error"
    return out


def _no_report(out: dict, conclusion: str | None, why: str) -> dict:
    """A completed check without a readable gate.json: an error (MC035), never a pass."""
    reason = {"code": "MC035", "message": f"{why}; the check concluded {conclusion!r}: read "
              "the gate job's log", "file": None, "line": None, "field": None, "task": None,
              "threshold": None, "hint": hint("MC035")}
    out.update(state="error", reasons=[reason], hints=hints([reason]))
    return out


def wait(read, timeout: float, interval: float, sleep=time.sleep,
         clock=time.monotonic) -> dict:
    """``read()`` until its state is not pending; MC036 past ``timeout`` seconds."""
    end = clock() + timeout
    while True:
        status = read()
        if status["state"] != "pending":
            return status
        if clock() + interval > end:
            raise UserError("MC036", f"the gate's check on pull request #{status['pr']} is "
                            f"still pending after {timeout:g} s (head {status['head_sha'][:12]})"
                            ": wait longer (--timeout) or look at the workflow run",
                            exit_code=1)
        sleep(interval)
