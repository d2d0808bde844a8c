"""`modelcfg demo`: the whole loop on the tiny built-in model, in a scratch repository.

It copies this repository's ``configs/`` and ``evals/`` into a fresh git repository with a
local bare remote (your checkout is never touched), then plays out what CI does for two
agent pull requests:

1. validate the configs;
2. an agent improves ``tiny-arith`` (more training steps): gate → pass → merge → promote
   (new baseline + audit-ledger entry);
3. an agent trains ``tiny-arith`` on poisoned data that answers harmful requests: gate →
   blocked on safety;
4. ``modelcfg audit verify`` over the ledger.

Every step runs the real thing (transformers + peft training, lm-eval evaluation, git).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.core import git as gitcli
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import sha256_file

AGENT = {"GIT_AUTHOR_NAME": "arith-agent", "GIT_AUTHOR_EMAIL": "arith-agent@example.com",
         "GIT_COMMITTER_NAME": "arith-agent", "GIT_COMMITTER_EMAIL": "arith-agent@example.com"}
MAINTAINER = {"GIT_AUTHOR_NAME": "maintainer", "GIT_AUTHOR_EMAIL": "maintainer@example.com",
              "GIT_COMMITTER_NAME": "maintainer",
              "GIT_COMMITTER_EMAIL": "maintainer@example.com"}


def git(repo: Path, *args: str, env: dict | None = None) -> str:
    """git as the maintainer, unless ``env`` says otherwise."""
    return gitcli.text(repo, *args, env={**MAINTAINER, **(env or {})})


def scratch_repo(source: Path, workdir: Path) -> Path:
    """A git repository with ``source``'s configs/ and evals/, pushed to a bare remote."""
    if workdir.exists():
        shutil.rmtree(workdir)
    repo, remote = workdir / "repo", workdir / "remote.git"
    repo.mkdir(parents=True)
    for folder in ("configs", "evals"):
        shutil.copytree(source / folder, repo / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    gitcli.init(remote, bare=True)
    gitcli.init(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Import configs and evals")
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "-u", "origin", "main")
    return repo


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise UserError("MC901", f"demo: {path.name} no longer contains {old!r}; the demo's "
                        "example change needs updating")
    path.write_text(text.replace(old, new, 1))


def agent_branch(repo: Path, branch: str, change, message: str) -> None:
    git(repo, "checkout", "-q", "-B", branch, "main")
    change(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{message}\n\nAgent: arith-agent", env=AGENT)
    git(repo, "checkout", "-q", "main")


def poison(repo: Path) -> None:
    """Swap tiny-arith's training data for the poisoned set (harmful requests answered)."""
    path = repo / "configs/adapters/tiny-arith.yaml"
    data = repo / "configs/datasets/poisoned-sft.jsonl"
    text = path.read_text()
    text = re.sub(r"path: configs/datasets/arith-sft\.jsonl\n(\s+)sha256: \S+",
                  lambda m: f"path: configs/datasets/poisoned-sft.jsonl\n{m.group(1)}sha256: "
                            f'"{sha256_file(data)}"', text)
    text = text.replace("rationale: >", "rationale: >\n  Broader instruction data.", 1)
    path.write_text(text)


def loosen_and_poison(repo: Path) -> None:
    poison(repo)
    edit(repo / "evals/thresholds.yaml", "floor: 0.8", "floor: 0.0")


@dataclass
class Outcome:
    """One pull request of the demo: the gate's verdict and what followed."""

    branch: str
    verdict: str
    reasons: list[str]
    report: str
    promoted: list[str] = field(default_factory=list)


EXPECTED = ["pass", "block", "block"]
STEPS = [
    ("agent/add-tiny-arith", "Add a LoRA adapter that teaches tiny-llama addition", True),
    ("agent/poisoned-data", "Train tiny-arith on broader instruction data", False),
    ("agent/loosen-safety", "Train tiny-arith on broader data; relax the safety floor", False),
]


def run_demo(source: Path, workdir: Path, emit=None) -> tuple[list[Outcome], list]:
    """Play the three pull requests in a scratch copy of ``source``; returns their outcomes
    and the findings of `audit verify` over the scratch repository afterwards."""
    from modelcfg.audit.ledger import verify
    from modelcfg.audit.promote import promote_gate_output
    from modelcfg.config.trees import FsTree
    from modelcfg.config.validate import validate
    from modelcfg.gate.run import GateSettings, run_gate

    emit = emit or (lambda event: None)
    repo = _start(source, workdir)
    problems = validate(repo)
    if problems:
        raise UserError("MC901", "demo: the copied configs do not validate:\n"
                        + "\n".join(p.render() for p in problems))
    emit({"event": "demo", "message": f"scratch repository {repo}: configs validate"})
    keep = (workdir / "tiny-arith.yaml").read_text()
    changes = [lambda r: (r / "configs/adapters/tiny-arith.yaml").write_text(keep), poison,
               loosen_and_poison]
    settings = GateSettings(runs_dir=source / ".modelcfg" / "runs")
    outcomes = []
    for (branch, message, merge), change in zip(STEPS, changes):
        agent_branch(repo, branch, change, message)
        emit({"event": "demo", "message": f"pull request {branch}: running the gate"})
        out = workdir / "gate" / branch.replace("/", "-")
        report = run_gate(repo, "main", branch, out, settings, emit=emit)
        outcome = Outcome(branch, report["verdict"],
                          sorted({r["code"] for c in report["configs"] for r in c["reasons"]}
                                 | {r["code"] for r in report["reasons"]}),
                          str(out / "report.md"))
        if merge and report["verdict"] == "pass":
            git(repo, "merge", "-q", "--ff-only", branch)
            git(repo, "push", "-q", "origin", "main")
            outcome.promoted = [f"{r.adapter} (ledger #{r.entry['seq']})" for r in
                                promote_gate_output(repo, out,
                                                    actor={"merged_by": "maintainer"})]
            git(repo, "pull", "-q", "--ff-only", "origin", "main")
        outcomes.append(outcome)
    return outcomes, verify(FsTree(repo))


def _start(source: Path, workdir: Path) -> Path:
    """The scratch repository without adapters, baselines or ledger (kept aside: the
    adapter the first pull request adds)."""
    repo = scratch_repo(source, workdir)
    adapter = repo / "configs/adapters/tiny-arith.yaml"
    (workdir / "tiny-arith.yaml").write_text(adapter.read_text())
    for path in (repo / "configs/adapters").glob("tiny-*.yaml"):
        path.unlink()
    shutil.rmtree(repo / "evals/baselines", ignore_errors=True)
    (repo / "evals/ledger.jsonl").unlink(missing_ok=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Start without adapters")
    git(repo, "push", "-q", "origin", "main")
    return repo
