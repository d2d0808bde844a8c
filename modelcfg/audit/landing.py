"""Landing a promotion or rollback: one commit built on the remote branch head, pushed.

The commit is built with git plumbing (a temporary index, ``hash-object``, ``write-tree``,
``commit-tree``), so the working tree and the local index are never touched. When the push is
rejected because another promotion landed first, the change is rebuilt on the new head (new
ledger seq and prev) and pushed again, up to ``max_attempts``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from modelcfg.audit.baseline import baseline_path, card_path, dumps_baseline
from modelcfg.audit.ledger import LEDGER, appended, parse, read_text, verify
from modelcfg.config.trees import GitTree
from modelcfg.config.workspace import load_document
from modelcfg.core import git
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import sha256_bytes

CODE = "MC724"  # a git plumbing step failed while building the commit


@dataclass
class PromoteResult:
    action: str  # promote | rollback
    adapter: str
    commit: str | None  # the new commit on the remote branch; None when nothing was needed
    entry: dict | None  # the ledger entry appended
    baseline: dict  # the baseline now in force
    attempts: int
    already: bool = False  # this evidence was already the baseline: nothing pushed
    local_updated: bool = False  # the local branch was fast-forwarded to ``commit``

    def to_dict(self) -> dict:
        out = asdict(self)
        out["baseline"] = {k: self.baseline.get(k) for k in ("adapter", "fingerprint", "commit",
                                                             "config_path", "ledger")}
        return out


# ----------------------------------------------------------------------------- git


def _identity_env(repo: Path) -> dict:
    """A committer identity for CI runners that have none configured."""
    if git.attempt(repo, "var", "GIT_COMMITTER_IDENT")[0]:
        return {}
    return {"GIT_AUTHOR_NAME": "modelcfg", "GIT_AUTHOR_EMAIL": "modelcfg@localhost",
            "GIT_COMMITTER_NAME": "modelcfg", "GIT_COMMITTER_EMAIL": "modelcfg@localhost"}


def _current_branch(repo: Path) -> str | None:
    ok, out = git.attempt(repo, "symbolic-ref", "--quiet", "--short", "HEAD")
    return out if ok else None


def _fetch(repo: Path, remote: str, branch: str) -> str:
    ref = f"refs/remotes/{remote}/{branch}"
    ok, out = git.attempt(repo, "fetch", "-q", remote, f"+refs/heads/{branch}:{ref}")
    if not ok:
        raise UserError("MC721", f"cannot fetch {branch} from {remote}: {out.strip()}")
    return git.text(repo, "rev-parse", ref, code=CODE, exit_code=1)


def _commit_files(repo: Path, parent: str, files: dict[str, bytes | None], message: str,
                  env: dict) -> str:
    """A commit of ``parent``'s tree with ``files`` written (bytes) or removed (None),
    built in a temporary index: the working tree and the real index are left alone."""
    def plumb(*args, data=None, with_index=True):
        return git.text(repo, *args, code=CODE, exit_code=1, data=data,
                        env={**env, **index} if with_index else env)

    with tempfile.TemporaryDirectory(prefix="modelcfg-promote-") as tmp:
        index = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        plumb("read-tree", parent)
        for rel, data in sorted(files.items()):
            if data is None:
                plumb("update-index", "--force-remove", "--", rel)
                continue
            blob = plumb("hash-object", "-w", "--stdin", data=data, with_index=False)
            plumb("update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}")
        tree = plumb("write-tree")
    return git.text(repo, "commit-tree", tree, "-p", parent, "-m", message, code=CODE,
                    exit_code=1, env=env)


def _push(repo: Path, remote: str, commit: str, branch: str) -> bool:
    """True when the push landed, False when another push won the race; raises MC721 on
    any other failure."""
    ok, out = git.attempt(repo, "push", "--porcelain", remote, f"{commit}:refs/heads/{branch}")
    if ok:
        return True
    if any(w in out for w in ("non-fast-forward", "fetch first", "[rejected]",
                              "cannot lock ref", "stale info")):
        return False
    raise UserError("MC721", f"push to {remote}/{branch} failed: {out.strip()}")


def _fast_forward(repo: Path, branch: str, commit: str) -> bool:
    """Bring the local branch up to the pushed commit when that is a fast-forward."""
    if _current_branch(repo) != branch:
        return False
    return git.attempt(repo, "merge", "--ff-only", "-q", commit)[0]


def _refuse_unverified(findings: list, where: str) -> None:
    """MC727 when the ledger or a baseline there is no regular file; MC716 on any other
    finding: a broken record is looked at, never extended."""
    odd = [f for f in findings if f.code == "MC727"]
    if odd:
        raise UserError("MC727", f"on {where}: {odd[0].message}", path=odd[0].path, line=1,
                        col=1)
    if findings:
        raise UserError("MC716", f"the ledger or baselines on {where} do not verify "
                        f"({len(findings)} finding(s); first: {findings[0].render()}); run "
                        "`modelcfg audit verify`")


def land(repo: Path, remote: str, branch: str | None, build, max_attempts: int
         ) -> PromoteResult:
    """Fetch, build on the remote head, push; on a lost race, again with the new head.

    ``build(tree, attempt)`` returns a finished :class:`PromoteResult` (nothing to push) or
    ``(files, message, result)``."""
    branch = branch or _current_branch(repo)
    if branch is None:
        raise UserError("MC721", "HEAD is detached: name the branch to promote on", exit_code=2)
    env = _identity_env(repo)
    for attempt in range(1, max_attempts + 1):
        head = _fetch(repo, remote, branch)
        tree = GitTree(repo, head)
        _refuse_unverified(verify(tree), f"{remote}/{branch}")
        plan = build(tree, attempt)
        if isinstance(plan, PromoteResult):
            plan.attempts = attempt
            return plan
        files, message, result = plan
        commit = _commit_files(repo, head, files, message, env)
        if _push(repo, remote, commit, branch):
            result.commit, result.attempts = commit, attempt
            result.local_updated = _fast_forward(repo, branch, commit)
            return result
    raise UserError("MC721", f"{remote}/{branch} kept moving: gave up after {max_attempts} "
                    "attempt(s); run the promotion again")


# ----------------------------------------------------------------------------- shared


def relevant_diff(repo: Path, old_rev: str | None, new_rev: str, adapter: str) -> dict:
    """The semantic diff of one adapter (and its base model and suites) between two revs."""
    from modelcfg.config.diff import diff_trees

    result = diff_trees(GitTree(repo, old_rev or git.EMPTY_TREE), GitTree(repo, new_rev))
    change = result.adapters().get(adapter)
    related = {("Adapter", adapter)}
    if change is not None:
        doc_tree = GitTree(repo, new_rev)
        doc, _ = load_document(doc_tree, change.path) if change.path else (None, [])
        if doc is not None:
            related.add(("Model", doc.data.get("base")))
            related |= {("EvalSuite", s) for s in (doc.data.get("evals") or {}).get("suites", [])
                        if isinstance(s, str)}
    return {"from": old_rev, "to": new_rev,
            "changes": [c.to_dict() for c in result if (c.kind, c.name) in related]}


def actor_record(actor) -> dict:
    if isinstance(actor, str):
        return {"name": actor}
    if isinstance(actor, dict) and actor:
        return dict(actor)
    raise UserError("MC723", "say who promotes: actor must be a name or a mapping "
                    "(merged_by, triggered_by, pr_author, agent_authored, pr)", exit_code=2)


def metrics_summary(baseline: dict) -> dict:
    return {task: {metric: {k: m.get(k) for k in ("value", "stderr", "n")}
                   for metric, m in t["metrics"].items()}
            for task, t in baseline["tasks"].items()}


def cost_summary(baseline: dict) -> dict:
    return {**baseline.get("cost", {}), "eval_latency": baseline.get("latency", {})}


def previous_of(current: dict | None) -> dict | None:
    if current is None:
        return None
    return {"fingerprint": current["fingerprint"], "commit": current["commit"],
            "ledger_seq": (current.get("ledger") or {}).get("seq")}


def ledger_files(tree, adapter: str, baseline: dict, entry: dict, now: str | None,
                 extra: dict[str, bytes | None]) -> tuple[dict, dict, dict]:
    """The files of the commit: ``extra``, the ledger with ``entry`` appended, the
    baseline pointing at that entry and the model card (:mod:`modelcfg.audit.card`), whose
    sha256 the entry records; with the completed entry and baseline."""
    from modelcfg.audit.card import render_card

    data = read_text(tree)
    _, linked = appended(data, entry, now=now)  # seq, prev and time, which the card shows
    earlier = [e for _, e in parse(data)[0]]
    card, _ = render_card(GitTree(tree.repo, linked["commit"], tree.objects), baseline,
                          linked, earlier)
    entry = {**entry, "time": linked["time"], "card_sha256": sha256_bytes(card)}
    ledger_bytes, entry = appended(data, entry, now=now)
    baseline = {**baseline, "ledger": {"seq": entry["seq"], "hash": entry["hash"]}}
    files = {**extra, LEDGER: ledger_bytes,
             baseline_path(adapter): dumps_baseline(baseline).encode("utf-8"),
             card_path(adapter): card}
    return files, entry, baseline
