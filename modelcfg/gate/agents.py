"""Recognising agent-authored changes and what the contract lets them touch (pure, plus one
`git log`)."""

from __future__ import annotations

from pathlib import Path

from modelcfg.config.model import Contract
from modelcfg.core import git, globs
from modelcfg.gate.verdict import Reason


def commit_identities(repo: Path, base: str, head: str) -> list[dict]:
    """Author and committer of every commit in base..head, and the message trailers."""
    fmt = "%H%x1f%an%x1f%ae%x1f%cn%x1f%ce%x1f%(trailers:only,unfold)%x1e"
    out = git.text(repo, "log", f"--format={fmt}", f"{base}..{head}")
    commits = []
    for record in out.split("\x1e"):
        parts = record.strip("\n").split("\x1f")
        if len(parts) == 6:
            sha, an, ae, cn, ce, trailers = parts
            commits.append({"sha": sha, "author": an, "author_email": ae, "committer": cn,
                            "committer_email": ce,
                            "trailers": [t for t in trailers.splitlines() if t.strip()]})
    return commits


def agent_authored(contract: Contract, commits: list[dict], pr_author: str | None,
                   labels: list[str]) -> list[str]:
    """Why this change counts as agent-authored (empty: it does not)."""
    rules = contract.agents
    why = []
    authors = rules.authors
    if pr_author and globs.matches_any(authors, pr_author):
        why.append(f"pull request author {pr_author}")
    for label in labels:
        if globs.matches_any(rules.labels, label):
            why.append(f"label {label}")
    for c in commits:
        for who in (c["author"], c["author_email"], c["committer"], c["committer_email"]):
            if globs.matches_any(authors, who):
                why.append(f"commit {c['sha'][:10]} by {who}")
                break
        for trailer in c["trailers"]:
            if globs.matches_any(rules.trailers, trailer):
                why.append(f"commit {c['sha'][:10]} trailer '{trailer}'")
    return sorted(set(why))


def agent_path_reasons(contract: Contract, changed_paths: list[str]) -> list[Reason]:
    """Reasons for each path an agent-authored change may not touch: a protected path, or
    one outside the contract's ``agents.allowed_paths``."""
    allowed, protected = contract.agents.allowed_paths, contract.protected_paths
    reasons = []
    for path in changed_paths:
        if globs.matches_any(protected, path):
            reasons.append(Reason("MC814", f"an agent-authored change edits the protected path "
                                  f"{path}", field=path, threshold="contract.protected_paths"))
        elif not globs.matches_any(allowed, path):
            reasons.append(Reason("MC814", f"an agent-authored change edits {path}, outside the "
                                  "contract's agents.allowed_paths", field=path,
                                  threshold="contract.agents.allowed_paths"))
    return reasons


