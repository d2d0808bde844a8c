"""The scripted agent of `modelcfg demo`: it knows only the agent's commands and their JSON.

It proposes with `modelcfg propose --json`, reads verdicts with `modelcfg pr status --json`,
and revises from what it read: each reason's hint names an action (``restore-safety``,
``reduce-cost``, ``revert-path``, ...), and :func:`revise` maps actions to edits it drops or
changes. A command that fails answers with its error code on stderr, which the agent keeps.
Every call runs the real CLI in a subprocess, in the agent's own clone, with its own token.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.core.errors import UserError


@dataclass
class Answer:
    """A command's exit code, its JSON (None when it printed none) and its error text."""

    rc: int
    data: dict | None
    error: str = ""


@dataclass
class Proposal:
    """What the agent wants: ``edits`` are --set items, KEY -> VALUE (``PATH:KEY`` edits
    another file)."""

    adapter: str
    edits: dict[str, str]
    rationale: str
    expected_effect: str
    risk: str
    allow_protected: bool = False
    history: list[int] = field(default_factory=list)  # its pull requests, oldest first


class Agent:
    """``log``: a folder where each command's line and output is kept (NN-COMMAND.txt)."""

    def __init__(self, name: str, clone: Path, env: dict, log: Path):
        self.name, self.clone, self.env, self.log = name, clone, env, log
        self.calls = 0

    def cli(self, *args: str) -> Answer:
        proc = subprocess.run([sys.executable, "-m", "modelcfg", *args], cwd=self.clone,
                              env=self.env, capture_output=True, text=True)
        self.calls += 1
        self.log.mkdir(parents=True, exist_ok=True)
        shown = " ".join(a if a.replace("_", "").replace("-", "").replace(".", "").isalnum()
                         else repr(a) for a in args)
        (self.log / f"{self.calls:02d}-{args[0]}.txt").write_text(
            f"$ modelcfg {shown}\n# exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        try:
            data = json.loads(proc.stdout) if proc.stdout.strip() else None
        except ValueError:
            data = None
        if proc.returncode not in (0, 1) and data is None and "error[" not in proc.stderr:
            raise UserError("MC901", f"demo: the agent's `modelcfg {args[0]}` crashed "
                            f"({proc.returncode}): {proc.stderr[-800:]}")
        return Answer(proc.returncode, data, proc.stderr.strip())

    def propose(self, p: Proposal) -> Answer:
        args = ["propose", p.adapter, "--agent", self.name, "--rationale", p.rationale,
                "--expected-effect", p.expected_effect, "--risk", p.risk, "--json"]
        for key, value in p.edits.items():
            args += ["--set", f"{key}={value}"]
        if p.allow_protected:
            args.append("--allow-protected")
        answer = self.cli(*args)
        if answer.rc == 0 and answer.data:
            p.history.append(answer.data["pr"])
        return answer

    def status(self, number: int) -> dict:
        answer = self.cli("pr", "status", str(number), "--json")
        if answer.data is None:
            raise UserError("MC901", f"demo: `modelcfg pr status {number}` gave no JSON: "
                            f"{answer.error[-500:]}")
        return answer.data


def revise(p: Proposal, status: dict) -> Proposal | None:
    """The next proposal after a blocked ``status``, from its hints' actions alone; None
    when no action the agent knows applies (it stops and leaves it to a maintainer)."""
    actions = {h["action"] for h in status.get("hints", [])}
    edits = dict(p.edits)
    if "restore-safety" in actions:  # drop the data it changed
        edits = {k: v for k, v in edits.items() if not _key(k).startswith("datasets")}
    if "revert-path" in actions:  # drop the edits of other files
        edits = {k: v for k, v in edits.items() if ":" not in k}
    if "reduce-cost" in actions and "training.max_steps" in edits:
        edits["training.max_steps"] = str(max(1, int(edits["training.max_steps"]) // 10))
    if edits == p.edits or not edits:
        return None
    dropped = sorted(_key(k) for k in p.edits if k not in edits)
    changed = sorted(_key(k) for k in edits if k in p.edits and edits[k] != p.edits[k])
    what = "; ".join(part for part in (
        f"dropped {', '.join(dropped)}" if dropped else "",
        f"changed {', '.join(changed)}" if changed else "") if part)
    return Proposal(p.adapter, edits, f"Revision of #{p.history[-1]} after the gate's verdict "
                    f"({', '.join(sorted(actions))}): {what}. {p.rationale}",
                    p.expected_effect, p.risk, history=list(p.history))


def _key(item: str) -> str:
    return item.rpartition(":")[2]
