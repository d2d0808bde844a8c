"""``modelcfg promote --bootstrap`` and ``--rebaseline``: a baseline made without the gate.

``--bootstrap`` gives an adapter that predates the gate its first baseline. ``--rebaseline``
replaces a baseline the gate can no longer compare with: the adapter's suites gained a task
the baseline has no scores for (MC863), or the base weights changed (MC827). Either way the
adapter is trained and evaluated as committed at HEAD, with no comparison, and promoted with
verdict ``bootstrap`` (so the ledger says it was never judged); a re-baseline records the
maintainer's reason as the entry's rationale. Refused for a dirty config, for ``--bootstrap``
of an adapter that already has a baseline (changes to it go through the gate) and for
``--rebaseline`` of one that has none.
"""

from __future__ import annotations

from pathlib import Path

from modelcfg.audit.baseline import build_baseline, read_baseline
from modelcfg.audit.landing import PromoteResult
from modelcfg.audit.promote import promote
from modelcfg.config.model import config_key
from modelcfg.config.resolve import resolve_adapter
from modelcfg.config.trees import FsTree, GitTree, PathProblem, materialize
from modelcfg.config.workspace import load_workspace
from modelcfg.core import git
from modelcfg.core.errors import UserError
from modelcfg.evaluation.batches import Evaluator


def bootstrap(repo: Path, adapter: str, out_dir: Path, *, actor: dict, remote: str = "origin",
              branch: str | None = None, runs_dir: Path | None = None,
              model_cache: Path | None = None, emit=None, rebaseline: bool = False,
              reason: str | None = None) -> PromoteResult:
    """Evidence for ``adapter`` as committed at HEAD, promoted as its first baseline (or,
    with ``rebaseline``, in place of its current one, for ``reason``)."""
    if rebaseline and not (reason or "").strip():
        raise UserError("MC735", f"--rebaseline {adapter} needs --reason: the ledger records "
                        "why a baseline was replaced without the gate", exit_code=2)
    evidence = bootstrap_evidence(repo, adapter, out_dir, runs_dir=runs_dir,
                                  model_cache=model_cache, emit=emit, rebaseline=rebaseline)
    return promote(repo, adapter=adapter, evidence=evidence, actor=actor, remote=remote,
                   branch=branch, verdict="bootstrap",
                   rationale=reason.strip() if rebaseline else None)


def bootstrap_evidence(repo: Path, adapter: str, out_dir: Path, *, runs_dir: Path | None = None,
                       model_cache: Path | None = None, emit=None,
                       rebaseline: bool = False) -> dict:
    """Complete evidence (a baseline) for ``adapter`` as committed at HEAD."""
    from modelcfg.train.run import train_resolved
    from modelcfg.train.runs import model_dir

    emit = emit or (lambda event: None)
    repo = Path(repo).resolve()
    head = git.resolve_commit(repo, "HEAD")
    tree = GitTree(repo, head)
    has_baseline = read_baseline(tree, adapter) is not None
    if has_baseline and not rebaseline:
        raise UserError("MC726", f"{adapter} already has a baseline; changes to it go through "
                        "the gate (a maintainer replaces one the gate cannot compare with, "
                        "MC863 or MC827, by `modelcfg promote --rebaseline "
                        f"{adapter} --reason WHY`)", exit_code=2)
    if rebaseline and not has_baseline:
        raise UserError("MC735", f"{adapter} has no baseline to replace: `modelcfg promote "
                        f"--bootstrap {adapter}` gives it its first", exit_code=2)
    try:
        judge = materialize({"configs": tree, "evals": tree}, Path(out_dir) / "judge-tree")
    except PathProblem as exc:
        raise UserError("MC726", f"{exc}; bootstrap reads regular files only: replace it "
                        "with a plain file and commit", exit_code=2) from None
    ws = load_workspace(FsTree(judge))
    resolved = resolve_adapter(ws, adapter)
    thresholds = ws.thresholds()
    if thresholds is None:
        raise UserError("MC403", "evals/ has no valid Thresholds document (its sequential "
                        "seed orders the evaluation); run `modelcfg validate`", exit_code=2)
    path = ws.adapters[adapter].path
    if git.text(repo, "status", "--porcelain", "--", path, "configs", "evals"):
        raise UserError("MC726", "commit your changes under configs/ and evals/ first: the "
                        "baseline must describe a commit", path=path, exit_code=2)
    result = train_resolved(resolved, judge, runs_dir=runs_dir or repo / ".modelcfg" / "runs",
                            on_progress=emit, model_cache=model_cache)
    ev = Evaluator(model_dir(resolved.model, judge, model_cache),
                   Path(result.run_dir) / "adapter", judge / "evals" / "tasks",
                   Path(out_dir) / "bootstrap", thresholds.sequential.seed,
                   {"base": resolved.model.name,
                    "fingerprint": result.manifest["fingerprint"]}, emit)
    ev.evaluate_to({t: 10 ** 9 for t in resolved.tasks})
    evidence = build_baseline(ev.results, result.manifest, adapter=adapter, config_path=path,
                              commit=head)
    evidence["config_key"] = config_key(resolved)
    return evidence
