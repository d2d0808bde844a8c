"""Recognising agent-authored changes and what the contract lets them touch.

Recognition only ever adds agent status: the pull request's author (authoritative: the
workflow passes ``github.event.pull_request.user.login``), its labels, and every commit's
author, committer, co-authors and trailers are each matched against the contract, case-
insensitively and after :func:`modelcfg.gate.identity.norm`; any match makes the change
agent-authored, and nothing a commit says (``Agent: none``, ``Human: yes``, a human
committer) takes it back.
"""

from __future__ import annotations

from pathlib import Path

from modelcfg.config.model import Contract
from modelcfg.core import globs
from modelcfg.core.errors import UserError
from modelcfg.gate.identity import (
    IDENTITY_TRAILERS,
    commit_identities,
    identity_forms,
    norm,
    trailer_key,
)
from modelcfg.gate.verdict import Reason


def _short(text: str) -> str:
    return text if len(text) <= 80 else text[:77] + "..."


def is_agent_identity(patterns, ident: str) -> bool:
    """Whether a login, name, email or ``Name <email>`` matches one of ``patterns``."""
    return any(globs.matches_any([norm(p) for p in patterns or ()], form, fold=True,
                                 paths=False) for form in identity_forms(ident))


def trailer_matches(pattern: str, key: str, value: str) -> bool:
    """``Key: value`` against a trailer pattern ``Key: value-glob``: keys compared after
    :func:`~modelcfg.gate.identity.trailer_key`, values after ``norm``, both ignoring case.
    A pattern without ``:`` is matched against the key and against the whole trailer."""
    pkey, sep, pvalue = pattern.partition(":")
    if not sep:
        return any(globs.matches(norm(pattern), text, fold=True, paths=False)
                   for text in (trailer_key(key), f"{trailer_key(key)}: {norm(value)}"))
    return (globs.matches(trailer_key(pkey), trailer_key(key), fold=True, paths=False)
            and globs.matches(norm(pvalue), norm(value), fold=True, paths=False))


def _commit_reasons(rules, commit: dict) -> list[str]:
    short = commit["sha"][:10]
    why = [f"commit {short} by {_short(who)}" for who in commit["people"]
           if is_agent_identity(rules.authors, who)]
    for key, value in commit["trailers"]:
        if any(trailer_matches(p, key, value) for p in rules.trailers or ()):
            why.append(f"commit {short} trailer '{_short(f'{key}: {value}')}'")
        if key.casefold() in IDENTITY_TRAILERS and is_agent_identity(rules.authors, value):
            why.append(f"commit {short} {key.casefold()} {_short(value)}")
    return why


def agent_authored(contract: Contract, commits: list[dict], pr_author: str | None,
                   labels: list[str]) -> list[str]:
    """Why this change counts as agent-authored (empty: it does not). ``commits`` as
    :func:`~modelcfg.gate.identity.commit_identities` gives them."""
    rules = contract.agents
    why = []
    if pr_author and is_agent_identity(rules.authors, pr_author):
        why.append(f"pull request author {pr_author}")
    for label in labels:
        if globs.matches_any([norm(p) for p in rules.labels or ()], norm(label), fold=True,
                             paths=False):
            why.append(f"label {label}")
    for commit in commits:
        why += _commit_reasons(rules, commit)
    return sorted(set(why))


def authorship(contract: Contract, repo: Path, base: str, head: str, pr_author: str | None,
               labels: list[str]) -> tuple[list[str], list[Reason]]:
    """:func:`agent_authored` for the commits of ``base..head``, and MC824 (blocks) when
    they cannot all be read, so who wrote the change cannot be established."""
    try:
        commits = commit_identities(repo, base, head)
    except UserError as err:
        if err.code != "MC824":
            raise
        return (agent_authored(contract, [], pr_author, labels),
                [Reason("MC824", err.message, threshold="contract.agents")])
    return agent_authored(contract, commits, pr_author, labels), []


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
