"""``modelcfg eval``: evaluate an adapter of the working tree (its finished training run on
top of its base model, or the base model alone) on the tasks of its suites."""

from __future__ import annotations

from pathlib import Path

from modelcfg.config.resolve import resolve_adapter
from modelcfg.config.trees import FsTree
from modelcfg.config.workspace import load_workspace
from modelcfg.evaluation.harness import evaluate
from modelcfg.train.runs import completed_run, model_dir


def evaluate_adapter(repo: Path, config: str, *, run: Path | None = None,
                     base_only: bool = False, out: Path | None = None,
                     runs_dir: Path | None = None, **options) -> tuple[dict, Path]:
    """Evaluate adapter ``config`` (a name or path) and write its results file; returns the
    results and where they were written. ``options`` go to :func:`evaluate` (``order_seed``,
    ``offset``, ``limit``, ``batch_size``, ``device``)."""
    resolved = resolve_adapter(load_workspace(FsTree(repo)), config)
    adapter_dir, fingerprint = None, {"base": resolved.model.name}
    if not base_only:
        if run is None:
            run, manifest = completed_run(resolved, repo, runs_dir)
            fingerprint["adapter"] = manifest.get("fingerprint")
        adapter_dir = Path(run) / "adapter"
    target = out or (Path(run) / "results.json" if run else repo / ".modelcfg" /
                     f"{resolved.name}-base-results.json")
    results = evaluate(model_dir(resolved.model, repo), list(resolved.tasks),
                       repo / "evals" / "tasks", target, adapter_path=adapter_dir,
                       model_fingerprint=fingerprint, **options)
    return results, target
