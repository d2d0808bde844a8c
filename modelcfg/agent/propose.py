"""``modelcfg propose``: an agent's edit of one adapter, opened as a pull request.

In order, and nothing is left half-done: the edit is made on a new branch off the remote's
base (in the file's text, :mod:`modelcfg.agent.edit`), validated with validate's own codes
and checked against the contract's agent paths (MC814) — a refused edit leaves no branch —,
committed with the agent's identity and an ``Agent: NAME`` trailer, pushed, and opened as a
pull request (PyGithub) whose body carries the rationale, the expected effect, the risk, the
eval plan, the semantic diff and the pre-launch cost, with the contract's agent label.

Rerunning the same command is the retry: a local branch that already holds this edit on
this base is reused, a pushed one is not pushed again, an open pull request for the branch
is returned instead of a second one. The work tree's branch is checked out again at the end.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.core import git
from modelcfg.core.errors import UserError

FORMAT = "modelcfg-propose/1"
MARKER = "<!-- modelcfg:propose -->"


@dataclass
class Proposal:
    adapter: str
    agent: str
    rationale: str
    expected_effect: str
    risk: str
    eval_plan: str | None = None
    sets: list[str] = field(default_factory=list)
    file: Path | None = None
    allow_protected: bool = False
    branch: str | None = None
    remote: str = "origin"
    base: str = "main"
    email: str | None = None


def _usage(message: str) -> UserError:
    return UserError("MC037", message, exit_code=2)


def check_inputs(p: Proposal) -> None:
    if bool(p.sets) == (p.file is not None):
        raise _usage("pass the edit as --set KEY=VALUE (repeatable) or as --file PATH, "
                     "exactly one of the two")
    for flag, text in (("--rationale", p.rationale), ("--expected-effect", p.expected_effect),
                       ("--risk", p.risk), ("--agent", p.agent)):
        if not (text or "").strip():
            raise _usage(f"{flag} is empty: a proposal states its rationale, expected effect, "
                         "risk and agent")
    if not re.fullmatch(r"[A-Za-z0-9][\w.\[\]-]{0,63}", p.agent):
        raise _usage(f"--agent {p.agent!r} is not a name (letters, digits, . _ - [ ])")


def new_texts(p: Proposal, read, rel: str) -> dict[str, str]:
    """Every edited file's text after the edit (path -> text), the adapter's file first;
    ``read(path)`` is a file's text at the base (None: not there)."""
    from modelcfg.agent.edit import parse_set, set_value

    if p.file is not None:
        try:
            return {rel: p.file.read_text(encoding="utf-8")}
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError("MC030", f"--file {p.file} cannot be read ({exc})",
                            exit_code=2) from None
    texts: dict[str, str] = {rel: read(rel)}
    for item in p.sets:
        target, *edit = parse_set(item, p.adapter)
        target = target or rel
        if target not in texts:
            found = read(target)
            if found is None:
                raise UserError("MC030", f"--set {item!r}: {target} is not a file of the base "
                                f"branch {p.base}", exit_code=2)
            texts[target] = found
        texts[target] = set_value(texts[target], target, *edit)
    changed = {path: text for path, text in texts.items() if text != read(path)}
    if not changed:
        raise UserError("MC030", f"the edit leaves {rel} as it is: nothing to propose",
                        exit_code=2)
    return changed


def _restore(repo: Path, start: str) -> None:
    git.attempt(repo, "checkout", "-q", "-f", start)


def _validated(repo: Path, rels: list[str], base_ws, allow_protected: bool) -> list[str]:
    """Validate's first error in the edited work tree, or MC814 for a path an agent may not
    edit, raised with its own code, file, line and column. With ``allow_protected`` such
    paths are returned instead (the gate blocks them by policy; a maintainer decides)."""
    from modelcfg.config.validate import validate
    from modelcfg.gate.agents import agent_path_reasons

    errors = [p for p in validate(repo) if p.is_error]
    errors.sort(key=lambda p: (p.path not in rels, p.path, p.line, p.col))
    if errors:
        e = errors[0]
        more = f" (and {len(errors) - 1} more: run modelcfg validate)" if len(errors) > 1 else ""
        raise UserError(e.code, f"{e.message}{more}; the edit is invalid, nothing was proposed",
                        path=e.path, line=e.line, col=e.col)
    contract = base_ws.contract()
    reasons = agent_path_reasons(contract, rels) if contract else []
    for reason in [] if allow_protected else reasons:
        raise UserError(reason.code, f"{reason.message} ({reason.threshold}); nothing was "
                        "proposed (--allow-protected opens it for a maintainer to decide, and "
                        "the gate blocks it)", path=reason.field, line=1, col=1)
    return [reason.field for reason in reasons]


def _identity(p: Proposal) -> dict:
    email = p.email or f"{p.agent}@users.noreply.github.com"
    return {"GIT_AUTHOR_NAME": p.agent, "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": p.agent, "GIT_COMMITTER_EMAIL": email}


def message(p: Proposal) -> str:
    what = ", ".join(s.partition("=")[0].rpartition(":")[2] for s in p.sets) if p.sets \
        else "new config"
    summary = f"{p.adapter}: {what}"
    return f"{summary[:72]}\n\n{p.rationale.strip()}\n\nAgent: {p.agent}\n"


def prepare(repo: Path, p: Proposal) -> dict:
    """The branch with the committed edit (made or reused); returns what was done."""
    from modelcfg.config.diff import tree_for
    from modelcfg.config.workspace import load_workspace

    check_inputs(p)
    if git.text(repo, "status", "--porcelain", "--untracked-files=no", code="MC032"):
        raise UserError("MC032", "the work tree has uncommitted changes: commit or stash "
                        "them first (propose checks out a new branch)", exit_code=2)
    git.run(repo, "fetch", "-q", p.remote, p.base, code="MC032")
    base_sha = git.text(repo, "rev-parse", "FETCH_HEAD", code="MC032")
    base_ws = load_workspace(tree_for(repo, base_sha))
    rel = base_ws.find(p.adapter, "Adapter").path
    texts = new_texts(p, lambda path: _show(repo, base_sha, path), rel)
    digest = hashlib.sha256(json.dumps([base_sha, sorted(texts.items())]).encode()
                            ).hexdigest()[:8]
    branch = p.branch or f"propose/{p.agent}/{p.adapter}-{digest}"
    start = git.text(repo, "symbolic-ref", "-q", "--short", "HEAD", code="MC032") \
        if git.attempt(repo, "symbolic-ref", "-q", "HEAD")[0] else \
        git.text(repo, "rev-parse", "HEAD")
    existing = git.commit_of(repo, f"refs/heads/{branch}")
    if existing is not None:
        same = (all(_show(repo, existing, path) == text for path, text in texts.items())
                and git.commit_of(repo, f"{existing}^") == base_sha)
        if not same:
            raise UserError("MC032", f"branch {branch} exists and holds another change: pass "
                            "--branch with a new name, or delete the branch", exit_code=2)
        return {"branch": branch, "commit": existing, "base": base_sha, "path": rel,
                "paths": sorted(texts), "protected": _protected(base_ws, texts),
                "reused": True}
    git.run(repo, "checkout", "-q", "-b", branch, base_sha, code="MC032")
    try:
        for path, text in texts.items():
            (repo / path).write_text(text, encoding="utf-8")
        protected = _validated(repo, sorted(texts), base_ws, p.allow_protected)
        git.run(repo, "add", "--", *texts, code="MC032")
        git.run(repo, "commit", "-q", "-m", message(p), env=_identity(p), code="MC032")
        commit = git.text(repo, "rev-parse", "HEAD")
    except BaseException:
        _restore(repo, start)
        git.attempt(repo, "branch", "-D", branch)
        raise
    _restore(repo, start)
    return {"branch": branch, "commit": commit, "base": base_sha, "path": rel,
            "paths": sorted(texts), "protected": protected, "reused": False}


def _show(repo: Path, rev: str, path: str) -> str | None:
    """The file's text at ``rev`` as it is (None: not there)."""
    if not git.attempt(repo, "cat-file", "-e", f"{rev}:{path}")[0]:
        return None
    return git.run(repo, "show", f"{rev}:{path}", code="MC032").decode("utf-8", "replace")


def _protected(base_ws, texts: dict) -> list[str]:
    """The edited paths an agent may not change (for a reused branch's answer)."""
    from modelcfg.gate.agents import agent_path_reasons

    contract = base_ws.contract()
    return [r.field for r in agent_path_reasons(contract, sorted(texts))] if contract else []


def assess(repo: Path, done: dict, adapter: str) -> tuple[dict, dict | None]:
    """The semantic diff base..branch (as `modelcfg diff --format json`) and the adapter's
    pre-launch cost estimate (as the gate computes it; None when it cannot be resolved)."""
    from modelcfg.config.cost import estimate_cost
    from modelcfg.config.diff import diff_trees, tree_for
    from modelcfg.config.resolve import resolve_adapter
    from modelcfg.config.workspace import load_workspace

    head = tree_for(repo, done["commit"])
    changes = diff_trees(tree_for(repo, done["base"]), head).to_dict()
    try:
        cost = estimate_cost(resolve_adapter(load_workspace(head), adapter)).to_dict()
    except UserError:
        cost = None
    return changes, cost


def body(p: Proposal, changes: dict, cost: dict | None, protected: list[str]) -> str:
    def section(title: str, text: str) -> str:
        return f"## {title}\n\n{text.strip()}\n"

    cost_text = "not estimated (the adapter could not be resolved)" if cost is None else \
        "| figure | estimate |\n|---|---|\n" + "\n".join(
            f"| {k} | {v:,.6g} |" if isinstance(v, (int, float)) else f"| {k} | {v} |"
            for k, v in cost.items())
    return "\n".join([
        MARKER,
        f"Proposed by agent `{p.agent}` with `modelcfg propose`; the gate judges it.\n",
        section("Rationale", p.rationale),
        section("Expected effect", p.expected_effect),
        section("Risk assessment", p.risk),
        *([section("Protected paths", "This proposal edits paths an agent may not change ("
                   + ", ".join(f"`{x}`" for x in protected) + "): the gate blocks it by "
                   "policy (MC814); a maintainer decides whether to make the change.")]
          if protected else []),
        section("Eval plan", p.eval_plan or "The gate's suites for this adapter."),
        section("Config diff", "```json\n" + json.dumps(changes, indent=1, default=str)
                + "\n```"),
        section("Cost estimate", cost_text)])


def agent_label(repo: Path, base: str) -> str | None:
    """The contract's first agent label that is a plain name (no glob characters)."""
    from modelcfg.config.diff import tree_for
    from modelcfg.config.workspace import load_workspace

    contract = load_workspace(tree_for(repo, base)).contract()
    labels = contract.agents.labels if contract else None
    return next((label for label in labels or () if not set(label) & set("*?[]{}")), None)


def repo_name(repo: Path, remote: str, given: str | None) -> str:
    """OWNER/NAME: ``--repo``, else GITHUB_REPOSITORY, else the remote's GitHub URL."""
    import os

    found = given or os.environ.get("GITHUB_REPOSITORY")
    if not found:
        ok, url = git.attempt(repo, "remote", "get-url", remote)
        match = re.search(r"[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$", url) if ok else None
        found = f"{match.group(1)}/{match.group(2)}" if match and "github" in url else None
    if not found or not re.fullmatch(r"[\w.-]+/[\w.-]+", found):
        raise UserError("MC011", f"no repository to open the pull request on ({found!r}): pass "
                        "--repo OWNER/NAME or set GITHUB_REPOSITORY", exit_code=2)
    return found


def _retry(p: Proposal) -> str:
    return ("rerun the same modelcfg propose command (it reuses the branch"
            + (f" {p.branch}" if p.branch else "") + ")")


def publish(repo: Path, p: Proposal, done: dict, name: str, *, token: str, api_url: str,
            pacing, text: str) -> dict:
    """Push the branch and open (or find) its pull request, labelled for agents. MC033: not
    pushed; MC034: pushed, but no pull request (or no label); each says what exists."""
    from modelcfg.github.client import GitHubFailed, call, connect

    branch, commit = done["branch"], done["commit"]
    remote_sha = git.attempt(repo, "ls-remote", "--heads", p.remote, branch)[1].split()
    if remote_sha[:1] != [commit]:
        ok, out = git.attempt(repo, "push", "-q", p.remote, f"{commit}:refs/heads/{branch}")
        if not ok:
            raise UserError("MC033", f"the push of branch {branch} (commit {commit[:12]}) to "
                            f"{p.remote} failed: {out.strip()[-300:]}. The commit exists on the "
                            f"local branch {branch} only, and no pull request was opened; fix "
                            f"the remote, then {_retry(p)}", exit_code=1)
    gh = connect(token, api_url, pacing)
    gh_repo = gh.get_repo(name)
    label = agent_label(repo, done["base"])
    try:
        owner = name.split("/")[0]
        found = call("list the pull requests of the branch", lambda: [
            pr for pr in gh_repo.get_pulls(state="open", head=f"{owner}:{branch}")], pacing)
        title = message(p).splitlines()[0]
        pull = found[0] if found else call("open the pull request", lambda: gh_repo.create_pull(
            base=p.base, head=branch, title=title, body=text), pacing)
    except GitHubFailed as exc:
        raise UserError("MC034", f"branch {branch} is pushed to {p.remote} (commit "
                        f"{commit[:12]}), but no pull request was opened: "
                        f"{exc.failure.render()}; {_retry(p)}", exit_code=1) from None
    if label:
        try:
            # a body of {"labels": [...]}, as the API describes it (see github/report.py)
            call("label the pull request", lambda: gh.requester.requestJsonAndCheck(
                "POST", f"{gh_repo.url}/issues/{pull.number}/labels",
                input={"labels": [label]}), pacing)
        except GitHubFailed as exc:
            raise UserError("MC034", f"pull request #{pull.number} is open on branch {branch}, "
                            f"but without the label {label}: {exc.failure.render()}; "
                            f"{_retry(p)}", exit_code=1) from None
    return {"number": pull.number, "url": pull.html_url, "label": label,
            "reused": bool(found)}
