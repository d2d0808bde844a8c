"""What CI does in `modelcfg demo`: the steps of the gate and promote workflows, run here.

For a pull request (the gate workflow): check out the head, `gate` it against the base with
the pull request's author and labels, upload ``gate.json`` and ``report.md`` as the run's
``gate-report`` artifact, post the verdict with `modelcfg github report` (a check run, the
sticky comment and labels, through the fake GitHub API), and record a blocked agent attempt
in the ledger (`audit record-attempt`). For a push to the base branch (the promote
workflow): gate the new head against the previous one (the pull request's training and
evaluation are cache hits) and promote the passing adapters (`promote --evidence`), which
commits the new baseline and a ledger entry and pushes them.

The gate runs in this process (torch stays loaded between pull requests); `github report`
runs as the command the workflow runs, with the run's ``GITHUB_RUN_ID``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.core import git
from modelcfg.core.errors import UserError

BOT = ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com")
ORDER_SECRET = "modelcfg-demo-order-secret"  # a real repository keeps its own secret


@dataclass
class Run:
    """One workflow run: what it judged and where its output is."""

    run_id: int
    kind: str  # "gate" (a pull request) or "promote" (a push)
    pr: int | None
    head: str
    out: Path
    report: dict
    log: list[str] = field(default_factory=list)


class CI:
    """The demo's CI: ``checkout`` is its own clone of the remote (committing as
    :data:`BOT`), ``fake`` the GitHub API, ``runs_dir`` the runners' training cache (kept
    between runs, as the workflows' cache)."""

    def __init__(self, checkout: Path, fake, runs_dir: Path, out_root: Path, env: dict,
                 emit=None):
        self.checkout, self.fake, self.runs_dir, self.out_root = checkout, fake, runs_dir, out_root
        self.env = env
        self.emit = emit or (lambda event: None)
        self.next_run = 7000

    def _run_id(self) -> int:
        self.next_run += 1
        return self.next_run

    def _fetch(self) -> None:
        git.run(self.checkout, "fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*")

    def _gate(self, base: str, head: str, out: Path, *, author: str | None = None,
              labels: list[str] | None = None, pr: int | None = None) -> dict:
        from modelcfg.gate.run import GateSettings, run_gate

        settings = GateSettings(runs_dir=self.runs_dir, pr_author=author, labels=labels or [],
                                pr=str(pr) if pr is not None else None,
                                order_secret=ORDER_SECRET)
        return run_gate(self.checkout, base, head, out, settings, emit=self.emit)

    def pull_request(self, number: int) -> Run:
        """The gate workflow for pull request ``number``, as opened or updated."""
        pull = self.fake.state.pulls[number]
        self._fetch()
        base = git.text(self.checkout, "rev-parse", f"origin/{pull.get('base_ref', 'main')}")
        head = pull["head_sha"]
        run_id = self._run_id()
        out = self.out_root / f"pr-{number}-run-{run_id}"
        self.emit({"event": "demo", "message": f"CI: gate for pull request #{number} "
                   f"(run {run_id}, head {head[:12]})"})
        report = self._gate(base, head, out, author=pull.get("author"),
                            labels=list(self.fake.state.labels.get(number, [])), pr=number)
        run = Run(run_id, "gate", number, head, out, report)
        self.fake.add_artifact(run_id, "gate-report", _zip(out, ["gate.json", "report.md"]))
        run.log.append(self._command(["github", "report", "--gate-dir", str(out), "--pr",
                                      str(number), "--sha", head], run_id))
        from modelcfg.audit.attempts import record_attempts

        recorded = record_attempts(self.checkout, out, remote="origin",
                                   branch=pull.get("base_ref", "main"))
        if recorded is not None and not recorded.already:
            run.log.append(f"recorded the attempt of {recorded.adapter}: ledger "
                           f"#{recorded.entry['seq']}")
        return run

    def push(self, branch: str, before: str) -> Run:
        """The promote workflow for a push to ``branch`` whose previous head was ``before``."""
        from modelcfg.audit.promote import promote_gate_output

        self._fetch()
        head = git.text(self.checkout, "rev-parse", f"origin/{branch}")
        run_id = self._run_id()
        out = self.out_root / f"push-{branch}-run-{run_id}"
        self.emit({"event": "demo", "message": f"CI: promote after the push to {branch} "
                   f"(run {run_id}, head {head[:12]})"})
        report = self._gate(before, head, out)
        run = Run(run_id, "promote", None, head, out, report)
        if report["verdict"] != "pass":
            raise UserError("MC901", f"demo: the merged head {head[:12]} did not pass its own "
                            f"gate ({report['verdict']}): {out / 'report.md'}")
        for result in promote_gate_output(self.checkout, out, actor={"merged_by": "maintainer"},
                                          branch=branch):
            run.log.append(f"promoted {result.adapter}: ledger #{result.entry['seq']}, "
                           f"commit {str(result.commit)[:12]}")
        return run

    def _command(self, args: list[str], run_id: int) -> str:
        env = {**os.environ, **self.env, "GITHUB_RUN_ID": str(run_id), "GITHUB_RUN_ATTEMPT": "1"}
        proc = subprocess.run([sys.executable, "-m", "modelcfg", *args], cwd=self.checkout,
                              env=env, capture_output=True, text=True)
        if proc.returncode not in (0, 1):  # 1: the verdict is a block
            raise UserError("MC901", f"demo: `modelcfg {' '.join(args[:2])}` failed "
                            f"({proc.returncode}): {(proc.stderr or proc.stdout)[-800:]}")
        return proc.stdout.strip()


def _zip(folder: Path, names: list[str]) -> bytes:
    """The artifact's zip, as actions/upload-artifact stores it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            if (folder / name).is_file():
                zf.write(folder / name, name)
    return buffer.getvalue()
