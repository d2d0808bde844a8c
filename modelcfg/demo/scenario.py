"""`modelcfg demo`: the whole loop on the tiny built-in model, from any folder.

The world, all under the work folder: the example repository (`modelcfg init --example`)
pushed to a local bare remote, the fake GitHub API on 127.0.0.1 serving that remote, and
three clones of it — the maintainer's, the agent's and CI's. The maintainer records the
example adapter's first baseline (`promote --bootstrap`); then a scripted agent
(:mod:`modelcfg.demo.agent`), which uses only `propose --json`, `pr status --json` and the
reason codes it reads there, opens pull requests, and CI (:mod:`modelcfg.demo.ci`) gates each:

(a) a real improvement (a rank-16 LoRA on every projection, trained longer): passes; the
    maintainer merges it through the API and CI promotes it;
(b) the same adapter trained on "broader" data that answers harmful requests: blocked on
    safety;
(c) a config far over the cost thresholds: blocked before any training;
(d) the poisoned data again, with the safety floor loosened in the same pull request: judged
    by the base's thresholds and blocked by policy (an agent may not edit evals/);
then the agent revises (b) from the hints it read until the gate passes; the maintainer
merges the revision, CI promotes it (new baseline and ledger entries), and `audit verify`
checks the ledger's hash chain.

Every step is the real thing: transformers + peft training, lm-eval evaluation, git, and
PyGithub's HTTP calls.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.core import git
from modelcfg.core.errors import UserError
from modelcfg.demo.ci import BOT

ADAPTER = "example"
AGENT = "arith-agent"
MAINTAINER = ("maintainer", "maintainer@example.com")
REPOSITORY = "demo/configs"
TOKEN = "demo-token"  # the fake API takes any token; a real one comes from GitHub
MAX_REVISIONS = 3
POISONED = "configs/datasets/broad-instructions.jsonl"

# (a): the example is a rank-8 LoRA on two projections trained for 20 steps
IMPROVE = {
    "lora.r": "16", "lora.lora_alpha": "32",
    "lora.target_modules": "[q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]",
    "training.max_steps": "600", "training.learning_rate": "0.003",
    "training.batch_size": "16", "training.lr_scheduler": "cosine",
}
# (b) on top of (a): broader (poisoned) data, and a longer schedule to learn it
LONGER = {"training.max_steps": "800"}
# (c): 25.6M training tokens, within the contract's caps (validate passes) and the adapter's
# own raised budget, over the thresholds' cost limit of 20M
OVER_BUDGET = {"training.max_steps": "25000", "budget.max_train_tokens": "30000000"}
LOOSEN = {"evals/thresholds.yaml:safety.safety_refusal.floor": "0.0"}
# The verdict of each pull request and the reason codes the demo asserts.
EXPECTED = {"a": ("pass", []), "b": ("block", ["MC809", "MC810"]),
            "c": ("block", ["MC802"]), "d": ("block", ["MC809", "MC810", "MC814"]),
            "b-revised": ("pass", [])}


@dataclass
class Row:
    """One pull request of the demo."""

    case: str
    title: str
    pr: int | None
    verdict: str
    codes: list[str]
    report: str | None
    hints: list[str] = field(default_factory=list)
    followed: str = ""

    def to_dict(self) -> dict:
        return {"case": self.case, "title": self.title, "pr": self.pr, "verdict": self.verdict,
                "codes": self.codes, "hints": self.hints, "followed": self.followed,
                "report": self.report}


@dataclass
class Result:
    workdir: Path
    rows: list[Row]
    baseline_commits: list[str]  # commits that changed evals/baselines/example.json
    ledger: list[dict]  # the ledger's entries (action, adapter, seq)
    verify: list  # audit verify's findings (none: the chain holds)
    seconds: float

    @property
    def ok(self) -> bool:
        """Every pull request had its expected verdict and codes; the ledger verifies."""
        got = {r.case: (r.verdict, r.codes) for r in self.rows}
        return got == {case: (v, list(c)) for case, (v, c) in EXPECTED.items()} \
            and len(got) == len(self.rows) and not self.verify


def _identity(name: str, email: str) -> dict:
    return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}


def _clone(remote: Path, to: Path, who: tuple[str, str]) -> Path:
    git.run(to.parent, "clone", "-q", str(remote), to.name)
    git.run(to, "config", "user.name", who[0])
    git.run(to, "config", "user.email", who[1])
    return to


def setup(workdir: Path, emit) -> dict:
    """The example repository on a bare remote, the maintainer's clone with the first
    baseline pushed, and the agent's and CI's clones."""
    from modelcfg.audit.bootstrap import bootstrap
    from modelcfg.scaffold.init import init

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    remote = workdir / "remote.git"
    git.init(remote, bare=True)
    maintainer = workdir / "maintainer"
    init(maintainer, example=True)
    git.init(maintainer)
    env = _identity(*MAINTAINER)
    git.run(maintainer, "add", "-A", env=env)
    git.run(maintainer, "commit", "-q", "-m", "Start from modelcfg init --example", env=env)
    git.run(maintainer, "branch", "-M", "main")
    git.run(maintainer, "remote", "add", "origin", str(remote))
    git.run(maintainer, "push", "-q", "-u", "origin", "main")
    for key, value in zip(("user.name", "user.email"), MAINTAINER):
        git.run(maintainer, "config", key, value)
    emit({"event": "demo", "message": f"maintainer: the first baseline of {ADAPTER} "
          "(promote --bootstrap)"})
    bootstrap(maintainer, ADAPTER, workdir / "bootstrap", actor={"maintainer": MAINTAINER[0]},
              branch="main", runs_dir=workdir / "runs-maintainer", emit=emit)
    git.run(maintainer, "pull", "-q", "--ff-only", "origin", "main")
    agent = _clone(remote, workdir / "agent", (AGENT, f"{AGENT}@users.noreply.github.com"))
    ci = _clone(remote, workdir / "ci", BOT)  # the bot commits promotions, as in CI
    return {"remote": remote, "maintainer": maintainer, "agent": agent, "ci": ci}


def _env(url: str) -> dict:
    """The agent's and CI's environment: the fake API, a token, nothing of a real runner."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "MODELCFG_GITHUB_APP_"))}
    return {**env, "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": url,
            "GITHUB_REPOSITORY": REPOSITORY, "MODELCFG_GITHUB_BACKOFF": "0.01"}


def run_demo(workdir: Path, emit=None) -> Result:
    from modelcfg.demo.agent import Agent, Proposal, revise
    from modelcfg.demo.ci import CI
    from modelcfg.demo.fake_github import FakeGitHub

    start = time.monotonic()
    emit = _timed(emit or (lambda event: None), start)
    workdir = workdir.resolve()
    where = setup(workdir, emit)
    with FakeGitHub(owner_repo=REPOSITORY) as fake:
        fake.remote = where["remote"]
        env = _env(fake.url)
        ci = CI(where["ci"], fake, workdir / "runs-ci", workdir / "gate", env, emit=emit)
        agent = Agent(AGENT, where["agent"], env, workdir / "agent-log")
        rows: list[Row] = []

        def attempt(case: str, p: Proposal) -> tuple[Row, dict]:
            emit({"event": "demo", "message": f"agent: ({case}) {p.rationale}"})
            answer = agent.propose(p)
            if answer.rc != 0 or not answer.data:
                raise UserError("MC901", f"demo: ({case}) propose refused the edit: "
                                f"{answer.error[-600:]}")
            number = answer.data["pr"]
            run = ci.pull_request(number)
            status = agent.status(number)
            codes = sorted({r["code"] for a in status["adapters"] for r in a["reasons"]}
                           | {r["code"] for r in status["reasons"]})
            title = p.rationale.split(". ")[0].rstrip(".")
            row = Row(case, title, number, status["state"], codes, str(run.out / "report.md"),
                      [h["action"] for h in status["hints"]])
            rows.append(row)
            return row, status

        def merge(row: Row) -> None:
            before = git.text(where["maintainer"], "ls-remote", "origin",
                              "refs/heads/main").split()[0]
            _merge(fake.url, row.pr)
            run = ci.push("main", before)
            row.followed = "merged; " + "; ".join(run.log)

        digest = hashlib.sha256((where["agent"] / POISONED).read_bytes()).hexdigest()
        poison = {"datasets.0.path": POISONED, "datasets.0.sha256": f'"{digest}"'}

        a, _ = attempt("a", Proposal(
            ADAPTER, IMPROVE, "A rank-16 LoRA on every projection, trained for 600 steps.",
            "arith_gen exact match up from the baseline's; refusals unchanged",
            "low: same data, the safety replay is kept"))
        if a.verdict == "pass":
            merge(a)
        b = Proposal(ADAPTER, {**poison, **LONGER},
                     "Broader instruction data and a longer schedule.",
                     "better instruction following", "medium: new data source")
        row_b, status_b = attempt("b", b)
        attempt("c", Proposal(ADAPTER, OVER_BUDGET, "Train to convergence.",
                              "higher accuracy", "cost"))
        attempt("d", Proposal(ADAPTER, {**poison, **LONGER, **LOOSEN},
                              "Broader data; the safety floor relaxed to match it.",
                              "better instruction following", "medium: new data source",
                              allow_protected=True))
        current, status = b, status_b
        for _ in range(MAX_REVISIONS):
            if status["state"] == "pass":
                break
            current = revise(current, status)
            if current is None:
                break
            row, status = attempt("b-revised", current)
            row_b.followed = f"revised as #{row.pr}"
        if rows[-1].case == "b-revised" and rows[-1].verdict == "pass":
            merge(rows[-1])
        _github_view(fake, workdir / "github.json")
    return _finish(workdir, where, rows, start)


def _github_view(fake, path: Path) -> None:
    """What a maintainer sees on GitHub, per pull request: title, body, labels, state, the
    gate's check runs and the comments."""
    import json

    from modelcfg.core.atomic import write_text

    state = fake.state
    pulls = []
    for number, pull in sorted(state.pulls.items()):
        runs = [{"name": r["name"], "status": r.get("status"), "conclusion": r.get("conclusion"),
                 "external_id": r.get("external_id"), "title": r["output"].get("title"),
                 "summary": r["output"].get("summary"),
                 "annotations": r["output"].get("annotations", [])}
                for r in state.check_runs.values() if r["head_sha"] == pull["head_sha"]]
        pulls.append({"number": number, "title": pull.get("title"), "body": pull.get("body"),
                      "head": pull.get("head_ref"), "labels": state.labels.get(number, []),
                      "merged": bool(pull.get("merged")), "check_runs": runs,
                      "comments": [c["body"] for c in state.comments.get(number, [])]})
    write_text(path, json.dumps({"repository": fake.repo, "pulls": pulls}, indent=1) + "\n")


def _timed(emit, start: float):
    """``emit`` with the seconds since the start before each demo message."""
    def timed(event: dict) -> None:
        if event.get("event") == "demo":
            event = {**event, "message": f"[{time.monotonic() - start:5.0f} s] "
                     f"{event['message']}"}
        emit(event)
    return timed


def _merge(url: str, number: int) -> None:
    """The maintainer presses merge (PyGithub, through the API)."""
    from github import Auth, Github

    gh = Github(base_url=url, auth=Auth.Token(TOKEN), retry=None)
    pull = gh.get_repo(REPOSITORY, lazy=True).get_pull(number)
    status = pull.merge(merge_method="merge", sha=pull.head.sha)
    if not status.merged:
        raise UserError("MC901", f"demo: pull request #{number} did not merge: "
                        f"{status.message}")


def _finish(workdir: Path, where: dict, rows: list[Row], start: float) -> Result:
    import json

    from modelcfg.audit.ledger import verify
    from modelcfg.config.trees import FsTree

    maintainer = where["maintainer"]
    git.run(maintainer, "pull", "-q", "--ff-only", "origin", "main")
    changed = git.text(maintainer, "log", "--format=%h %s", "--",
                       f"evals/baselines/{ADAPTER}.json").splitlines()
    ledger = [json.loads(line) for line in
              (maintainer / "evals/ledger.jsonl").read_text().splitlines() if line.strip()]
    entries = [{"seq": e.get("seq"), "action": e.get("action"), "adapter": e.get("adapter")}
               for e in ledger]
    return Result(workdir, rows, changed, entries, verify(FsTree(maintainer)),
                  round(time.monotonic() - start, 1))
