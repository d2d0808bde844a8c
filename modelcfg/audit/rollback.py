"""Rollback: restore an earlier promoted config and its baseline through a new ledger entry
and a new commit (:mod:`modelcfg.audit.landing`); history is never rewritten."""

from __future__ import annotations

from pathlib import Path

from modelcfg.audit import landing
from modelcfg.audit.baseline import baseline_sha256, read_baseline
from modelcfg.audit.provenance import require_in_history
from modelcfg.audit.scores import baseline_scores
from modelcfg.config.trees import FsTree, GitTree, PathProblem
from modelcfg.config.workspace import load_document
from modelcfg.core import git
from modelcfg.core.errors import UserError


def _adapter_name(repo: Path, adapter: str) -> str:
    """An adapter name, or the name of the Adapter document at a config path."""
    if "/" not in adapter and not adapter.endswith((".yaml", ".yml")):
        return adapter
    doc, _ = load_document(FsTree(repo), adapter)
    if doc is None or doc.kind != "Adapter" or not doc.name:
        raise UserError("MC722", f"{adapter} is not a readable Adapter config; give the "
                        "adapter's name", exit_code=2)
    return doc.name


def rollback(repo: Path, *, adapter: str, to_rev: str, actor, remote: str = "origin",
             branch: str | None = None, rationale: str | None = None, max_attempts: int = 5,
             now: str | None = None) -> landing.PromoteResult:
    """Restore ``adapter``'s config file and baseline as they were at ``to_rev`` (read from
    git objects), through a new ledger entry (action ``rollback``) and a new commit.

    ``adapter`` is a name or the path of its config file in the working tree. Refuses
    (MC722) when ``to_rev`` has no promoted baseline of the adapter or lacks its config
    file. If the config has moved since, the file at its current path is removed. Both
    ``to_rev`` and the restored baseline's commit must be in the branch's history (MC719):
    only what the branch itself once accepted is restored."""
    repo = Path(repo)
    adapter = _adapter_name(repo, adapter)
    to_sha = git.resolve_commit(repo, to_rev, "MC722")
    old_tree = GitTree(repo, to_sha)
    old = read_baseline(old_tree, adapter)
    if old is None or old.get("ledger") is None:
        raise UserError("MC722", f"{adapter} had no promoted baseline at {to_rev} "
                        f"({to_sha[:12]}); pick a revision at or after a promotion of it")
    rel = old["config_path"]
    try:
        config = old_tree.read(rel)
    except (OSError, PathProblem) as err:
        raise UserError("MC722", f"{rel} does not exist at {to_rev}: {err}") from err
    restored = {**old, "ledger": None}
    who = landing.actor_record(actor)

    def build(tree, attempt):
        where = f"{remote}/{branch}" if branch else f"the branch head on {remote}"
        require_in_history(repo, to_sha, tree.rev, remote, "the rollback target", where)
        require_in_history(repo, old["commit"], tree.rev, remote,
                           "the restored baseline's commit", where)
        current = read_baseline(tree, adapter)
        extra: dict[str, bytes | None] = {rel: config}
        moved = current["config_path"] if current else None
        if moved and moved != rel and tree.is_file(moved):
            extra[moved] = None
        same_config = tree.is_file(rel) and tree.read(rel) == config
        if current and baseline_sha256(current) == baseline_sha256(restored) and same_config \
                and len(extra) == 1:
            return landing.PromoteResult("rollback", adapter, None, None, current, attempt,
                                         already=True)
        entry = {"action": "rollback", "adapter": adapter, "commit": old["commit"],
                 "to_rev": to_sha, "config_path": rel, "fingerprint": old["fingerprint"],
                 "actor": who, "diff": landing.relevant_diff(repo, tree.rev, to_sha, adapter),
                 "rationale": rationale or f"roll {adapter} back to its version at {to_rev}",
                 "eval": landing.metrics_summary(old), "cost": landing.cost_summary(old),
                 "verdict": "rollback", "baseline_sha256": baseline_sha256(restored),
                 "previous": landing.previous_of(current), "scores": baseline_scores(old)}
        files, entry, baseline = landing.ledger_files(tree, adapter, restored, entry, now, extra)
        message = (f"modelcfg: roll back {adapter} to {to_sha[:12]} "
                   f"({old['fingerprint'][:12]})\n\nLedger entry {entry['seq']} "
                   f"({entry['hash'][:12]}).\n")
        return files, message, landing.PromoteResult("rollback", adapter, None, entry,
                                                     baseline, attempt)

    return landing.land(repo, remote, branch, build, max_attempts)
