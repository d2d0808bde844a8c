"""Promotion and rollback: new baseline + ledger entry + one commit, pushed; never a rewrite.

Both build their commit with git plumbing on top of the *remote* branch head (a temporary
index, ``hash-object``, ``write-tree``, ``commit-tree``), so the working tree and the local
index are never touched, and push it. When the push is rejected because another promotion
landed first, they fetch, rebuild the ledger entry on the new head (new seq and prev) and try
again, up to ``max_attempts``. A promotion refuses (MC720) when the same adapter's baseline
changed underneath to a different fingerprint: that is two accepted versions competing, for
a maintainer to settle, not something to overwrite.

Flow and formats: docs/audit.md.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from modelcfg.baseline import (baseline_path, baseline_problems, baseline_sha256,
                               dumps_baseline, read_baseline)
from modelcfg.errors import UserError
from modelcfg.ledger import LEDGER, appended, verify
from modelcfg.workspace import GitTree, PathProblem, load_document

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_UNSET = object()


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


def _git(repo: Path, *args: str, data: bytes | None = None, env: dict | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", "-C", str(repo), *args], input=data, capture_output=True,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode:
        raise UserError("MC724", f"git {' '.join(args[:2])} failed: "
                        f"{proc.stderr.decode(errors='replace').strip()}")
    return proc


def _identity_env(repo: Path) -> dict:
    """A committer identity for CI runners that have none configured."""
    if _git(repo, "var", "GIT_COMMITTER_IDENT", check=False).returncode == 0:
        return {}
    return {"GIT_AUTHOR_NAME": "modelcfg", "GIT_AUTHOR_EMAIL": "modelcfg@localhost",
            "GIT_COMMITTER_NAME": "modelcfg", "GIT_COMMITTER_EMAIL": "modelcfg@localhost"}


def _current_branch(repo: Path) -> str:
    proc = _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if proc.returncode:
        raise UserError("MC721", "HEAD is detached: name the branch to promote on", exit_code=2)
    return proc.stdout.decode().strip()


def _fetch(repo: Path, remote: str, branch: str) -> str:
    ref = f"refs/remotes/{remote}/{branch}"
    proc = _git(repo, "fetch", "-q", remote, f"+refs/heads/{branch}:{ref}", check=False)
    if proc.returncode:
        raise UserError("MC721", f"cannot fetch {branch} from {remote}: "
                        f"{proc.stderr.decode(errors='replace').strip()}")
    return _git(repo, "rev-parse", ref).stdout.decode().strip()


def _commit_files(repo: Path, parent: str, files: dict[str, bytes | None], message: str,
                  env: dict) -> str:
    """A commit of ``parent``'s tree with ``files`` written (bytes) or removed (None),
    built in a temporary index: the working tree and the real index are left alone."""
    with tempfile.TemporaryDirectory(prefix="modelcfg-promote-") as tmp:
        env = {**env, "GIT_INDEX_FILE": os.path.join(tmp, "index")}
        _git(repo, "read-tree", parent, env=env)
        for rel, data in sorted(files.items()):
            if data is None:
                _git(repo, "update-index", "--force-remove", "--", rel, env=env)
                continue
            blob = _git(repo, "hash-object", "-w", "--stdin", data=data).stdout.decode().strip()
            _git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{rel}", env=env)
        tree = _git(repo, "write-tree", env=env).stdout.decode().strip()
    return _git(repo, "commit-tree", tree, "-p", parent, "-m", message,
                env=env).stdout.decode().strip()


def _push(repo: Path, remote: str, commit: str, branch: str) -> tuple[bool, str]:
    """(landed, stderr); raises MC721 on a failure other than losing a race."""
    proc = _git(repo, "push", "--porcelain", remote, f"{commit}:refs/heads/{branch}",
                check=False)
    if proc.returncode == 0:
        return True, ""
    err = (proc.stdout + proc.stderr).decode(errors="replace")
    if any(w in err for w in ("non-fast-forward", "fetch first", "[rejected]",
                              "cannot lock ref", "stale info")):
        return False, err
    raise UserError("MC721", f"push to {remote}/{branch} failed: {err.strip()}")


def _fast_forward(repo: Path, branch: str, commit: str) -> bool:
    """Bring the local branch up to the pushed commit when that is a fast-forward."""
    proc = _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if proc.returncode or proc.stdout.decode().strip() != branch:
        return False
    return _git(repo, "merge", "--ff-only", "-q", commit, check=False).returncode == 0


def _land(repo: Path, remote: str, branch: str | None, build, max_attempts: int
          ) -> PromoteResult:
    """Fetch, build on the remote head, push; on a lost race, again with the new head."""
    branch = branch or _current_branch(repo)
    env = _identity_env(repo)
    for attempt in range(1, max_attempts + 1):
        head = _fetch(repo, remote, branch)
        tree = GitTree(repo, head)
        findings = verify(tree)
        if findings:
            raise UserError("MC716", f"the ledger or baselines on {remote}/{branch} do not "
                            f"verify ({len(findings)} finding(s); first: "
                            f"{findings[0].render()}); run `modelcfg audit verify`")
        plan = build(tree, attempt)
        if isinstance(plan, PromoteResult):
            plan.attempts = attempt
            return plan
        files, message, result = plan
        commit = _commit_files(repo, head, files, message, env)
        landed, _err = _push(repo, remote, commit, branch)
        if landed:
            result.commit, result.attempts = commit, attempt
            result.local_updated = _fast_forward(repo, branch, commit)
            return result
    raise UserError("MC721", f"{remote}/{branch} kept moving: gave up after {max_attempts} "
                    "attempt(s); run the promotion again")


# ----------------------------------------------------------------------------- shared


def _relevant_diff(repo: Path, old_rev: str | None, new_rev: str, adapter: str) -> dict:
    """The semantic diff of one adapter (and its base model and suites) between two revs."""
    from modelcfg.diff import diff_trees

    result = diff_trees(GitTree(repo, old_rev or EMPTY_TREE), GitTree(repo, new_rev))
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


def _rev(repo: Path, rev: str, code: str) -> str:
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if proc.returncode:
        raise UserError(code, f"{rev!r} is not a commit in this repository", exit_code=2)
    return proc.stdout.decode().strip()


def _evidence_commit(repo: Path, rev: str, remote: str) -> str:
    """The evidence's commit, fetched from ``remote`` when a shallow CI checkout lacks it."""
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if proc.returncode:
        _git(repo, "fetch", "-q", remote, rev, check=False)
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if proc.returncode:
        raise UserError("MC723", f"the evidence's commit {rev} is not in this repository and "
                        f"{remote} did not give it; fetch it (e.g. checkout with "
                        "fetch-depth: 0) and run again", exit_code=2)
    return proc.stdout.decode().strip()


def _adapter_name(repo: Path, adapter: str) -> str:
    """An adapter name, or the name of the Adapter document at a config path."""
    if "/" not in adapter and not adapter.endswith((".yaml", ".yml")):
        return adapter
    from modelcfg.workspace import FsTree

    doc, _ = load_document(FsTree(repo), adapter)
    if doc is None or doc.kind != "Adapter" or not doc.name:
        raise UserError("MC722", f"{adapter} is not a readable Adapter config; give the "
                        "adapter's name", exit_code=2)
    return doc.name


def _actor(actor) -> dict:
    if isinstance(actor, str):
        return {"name": actor}
    if isinstance(actor, dict) and actor:
        return dict(actor)
    raise UserError("MC723", "say who promotes: actor must be a name or a mapping "
                    "(merged_by, triggered_by, pr_author, agent_authored, pr)", exit_code=2)


def _eval_summary(baseline: dict) -> dict:
    return {task: {metric: {k: m.get(k) for k in ("value", "stderr", "n")}
                   for metric, m in t["metrics"].items()}
            for task, t in baseline["tasks"].items()}


def _cost(baseline: dict) -> dict:
    return {**baseline.get("cost", {}), "eval_latency": baseline.get("latency", {})}


def _rationale(tree, rel: str) -> str | None:
    try:
        doc, _ = load_document(tree, rel)
    except (OSError, PathProblem):
        return None
    value = doc.data.get("rationale") if doc is not None else None
    return value.strip() if isinstance(value, str) else None


def _previous(current: dict | None) -> dict | None:
    if current is None:
        return None
    return {"fingerprint": current["fingerprint"], "commit": current["commit"],
            "ledger_seq": (current.get("ledger") or {}).get("seq")}


def _files(tree, adapter: str, baseline: dict, entry: dict, now: str | None,
           extra: dict[str, bytes | None]) -> tuple[dict, dict, dict]:
    data = tree.read(LEDGER) if tree.is_file(LEDGER) else b""
    ledger_bytes, entry = appended(data, entry, now=now)
    baseline = {**baseline, "ledger": {"seq": entry["seq"], "hash": entry["hash"]}}
    files = {**extra, LEDGER: ledger_bytes,
             baseline_path(adapter): dumps_baseline(baseline).encode("utf-8")}
    return files, entry, baseline


# ----------------------------------------------------------------------------- promote


def promote(repo: Path, *, adapter: str, evidence: dict, actor, remote: str = "origin",
            branch: str | None = None, verdict: str = "pass", eval_summary: dict | None = None,
            rationale: str | None = None, expected_baseline_sha256=_UNSET,
            max_attempts: int = 5, now: str | None = None) -> PromoteResult:
    """Make ``evidence`` (a baseline built by the gate for the merged head, see
    :func:`modelcfg.baseline.build_baseline`) the baseline of ``adapter``, append a ledger
    entry, commit and push to ``remote``/``branch`` (default: the current branch).

    ``expected_baseline_sha256`` is the :func:`~modelcfg.baseline.baseline_sha256` of the
    baseline the gate compared against (``None``: there was none); by default, the one on the
    remote head at the first attempt. If the adapter's baseline is found changed from it to a
    different fingerprint, the promotion refuses (MC720). Promoting evidence that already is
    the baseline does nothing (``already``): re-running a promotion job is safe.
    """
    repo = Path(repo)
    problems = baseline_problems(evidence)
    if problems:
        raise UserError("MC723", f"evidence is not a valid baseline: {'; '.join(problems[:3])}")
    if evidence["adapter"] != adapter:
        raise UserError("MC723", f"evidence is of adapter {evidence['adapter']!r}, not "
                        f"{adapter!r}")
    commit = _evidence_commit(repo, evidence["commit"], remote)
    evidence = {**evidence, "commit": commit, "ledger": None}
    new_sha = baseline_sha256(evidence)
    who = _actor(actor)
    seen = {"sha": expected_baseline_sha256}
    diffs: dict[str | None, dict] = {}
    why = rationale or _rationale(GitTree(repo, commit), evidence["config_path"])

    def build(tree, attempt):
        current = read_baseline(tree, adapter)
        current_sha = baseline_sha256(current) if current else None
        if current_sha == new_sha:
            return PromoteResult("promote", adapter, None, None, current, attempt, already=True)
        if seen["sha"] is _UNSET:
            seen["sha"] = current_sha
        if current_sha != seen["sha"] and current is not None and (
                current["fingerprint"] != evidence["fingerprint"]):
            raise UserError("MC720", f"the baseline of {adapter} changed underneath this "
                            f"promotion: it is now fingerprint {current['fingerprint'][:12]} "
                            f"from commit {current['commit'][:12]} (ledger entry "
                            f"{(current.get('ledger') or {}).get('seq')}), and this evidence "
                            f"is {evidence['fingerprint'][:12]} judged against an older "
                            "baseline; re-run the gate against the new baseline")
        old_commit = current["commit"] if current else None
        if old_commit and _git(repo, "cat-file", "-e", f"{old_commit}^{{commit}}",
                               check=False).returncode:
            old_commit = None  # not in this clone: diff from nothing rather than guess
        if old_commit not in diffs:
            diffs[old_commit] = _relevant_diff(repo, old_commit, commit, adapter)
        entry = {"action": "promote", "adapter": adapter, "commit": commit,
                 "config_path": evidence["config_path"],
                 "fingerprint": evidence["fingerprint"], "actor": who,
                 "diff": diffs[old_commit], "rationale": why,
                 "eval": eval_summary if eval_summary is not None else _eval_summary(evidence),
                 "cost": _cost(evidence), "verdict": verdict,
                 "baseline_sha256": new_sha, "previous": _previous(current)}
        files, entry, baseline = _files(tree, adapter, evidence, entry, now, {})
        message = (f"modelcfg: promote {adapter} {evidence['fingerprint'][:12]}\n\n"
                   f"Ledger entry {entry['seq']} ({entry['hash'][:12]}): evidence of commit "
                   f"{commit}, verdict {verdict}.\n")
        return files, message, PromoteResult("promote", adapter, None, entry, baseline, attempt)

    return _land(repo, remote, branch, build, max_attempts)


# ----------------------------------------------------------------------------- rollback


def rollback(repo: Path, *, adapter: str, to_rev: str, actor, remote: str = "origin",
             branch: str | None = None, rationale: str | None = None, max_attempts: int = 5,
             now: str | None = None) -> PromoteResult:
    """Restore ``adapter``'s config file and baseline as they were at ``to_rev`` (read from
    git objects), through a new ledger entry (action ``rollback``) and a new commit.

    ``adapter`` is a name or the path of its config file in the working tree. Refuses
    (MC722) when ``to_rev`` has no promoted baseline of the adapter or lacks its config
    file. If the config has moved since, the file at its current path is removed."""
    repo = Path(repo)
    adapter = _adapter_name(repo, adapter)
    to_sha = _rev(repo, to_rev, "MC722")
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
    who = _actor(actor)

    def build(tree, attempt):
        current = read_baseline(tree, adapter)
        extra: dict[str, bytes | None] = {rel: config}
        moved = current["config_path"] if current else None
        if moved and moved != rel and tree.is_file(moved):
            extra[moved] = None
        same_config = tree.is_file(rel) and tree.read(rel) == config
        if current and baseline_sha256(current) == baseline_sha256(restored) and same_config \
                and len(extra) == 1:
            return PromoteResult("rollback", adapter, None, None, current, attempt,
                                 already=True)
        entry = {"action": "rollback", "adapter": adapter, "commit": old["commit"],
                 "to_rev": to_sha, "config_path": rel, "fingerprint": old["fingerprint"],
                 "actor": who, "diff": _relevant_diff(repo, tree.rev, to_sha, adapter),
                 "rationale": rationale or f"roll {adapter} back to its version at {to_rev}",
                 "eval": _eval_summary(old), "cost": _cost(old), "verdict": "rollback",
                 "baseline_sha256": baseline_sha256(restored), "previous": _previous(current)}
        files, entry, baseline = _files(tree, adapter, restored, entry, now, extra)
        message = (f"modelcfg: roll back {adapter} to {to_sha[:12]} "
                   f"({old['fingerprint'][:12]})\n\nLedger entry {entry['seq']} "
                   f"({entry['hash'][:12]}).\n")
        return files, message, PromoteResult("rollback", adapter, None, entry, baseline,
                                             attempt)

    return _land(repo, remote, branch, build, max_attempts)


# ----------------------------------------------------------------------------- gate output


def promote_gate_output(repo: Path, folder: Path, *, actor: dict, adapter: str | None = None,
                        remote: str = "origin", branch: str | None = None
                        ) -> list[PromoteResult]:
    """Promote the evidence `modelcfg gate` wrote to ``folder`` for the merged head: every
    passing adapter (or only ``adapter``), with the gate's per-task summary in the ledger.
    Refuses (MC725) an unreadable gate.json or a verdict other than pass."""
    import json

    folder = Path(folder)
    try:
        report = json.loads((folder / "gate.json").read_text())
    except (OSError, ValueError) as err:
        raise UserError("MC725", f"cannot read the gate's result: {err}",
                        path=str(folder / "gate.json")) from None
    if report.get("verdict") != "pass":
        raise UserError("MC725", f"the gate's verdict is {report.get('verdict')!r}; only a "
                        "passing change is promoted", path=str(folder / "gate.json"))
    who = {**actor, "agent_authored": bool(report["agent"]), "agent_evidence": report["agent"]}
    results = []
    for cfg in report["configs"]:
        if not cfg.get("evidence") or (adapter and cfg["adapter"] != adapter):
            continue
        evidence = json.loads((folder / cfg["evidence"]).read_text())
        summary = (evidence.pop("gate", None) or {}).get("tasks")
        results.append(promote(repo, adapter=cfg["adapter"], evidence=evidence, actor=who,
                               remote=remote, branch=branch, verdict="pass",
                               eval_summary=summary))
    return results
