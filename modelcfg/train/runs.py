"""Glue shared by `modelcfg eval` and the gate: where a resolved adapter's base weights and
trained run live. Heavy imports stay inside the functions."""

from __future__ import annotations

from pathlib import Path

from modelcfg.config.model import HubSource, Model, ResolvedAdapter
from modelcfg.core.errors import UserError


def model_dir(model: Model, root: Path, model_cache: Path | None = None) -> Path:
    """A local directory with the base model: the built tiny model, a repository folder, or
    a hub snapshot at the pinned revision (downloaded once on a runner with hub access)."""
    source = model.source
    if isinstance(source, HubSource):
        try:
            from huggingface_hub import snapshot_download
        except ImportError as err:  # pragma: no cover - comes with transformers
            raise UserError("MC608", f"hub models need huggingface_hub ({err})") from err
        return Path(snapshot_download(source.id, revision=source.revision))
    from modelcfg.train.base_model import base_model_path

    return Path(base_model_path(model, root, model_cache)[0])


def completed_run(resolved: ResolvedAdapter, root: Path, runs_dir: Path | None
                  ) -> tuple[Path, dict]:
    """The finished training run of ``resolved``'s current fingerprint, or a clear error."""
    from modelcfg.train.run import cache_state, run_dir_for

    run_dir, _ = run_dir_for(resolved, root, runs_dir)
    state, manifest = cache_state(run_dir)
    if state != "complete":
        raise UserError("MC610", f"no finished training run for {resolved.name} "
                        f"at its current fingerprint ({run_dir} is {state}); run "
                        "`modelcfg train` first or pass --run", exit_code=1)
    return run_dir, manifest
