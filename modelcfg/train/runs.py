"""Where a resolved adapter's base weights and training runs live, and what state a run is in.

Run directory ``<runs_dir>/<adapter name>/<fingerprint[:16]>/``::

    adapter/             peft adapter (adapter_config.json, adapter_model.safetensors)
    checkpoints/step-N/  state.pt: trainable weights, optimizer, scheduler, RNG, data position
    resolved.json        the resolved config (what worker processes read)
    manifest.json        written last, atomically: the run is complete only once it exists

A manifest whose recorded adapter file hashes do not match the files is a corrupt entry
(MC503): it is never used, the run is rebuilt. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path

from modelcfg.config.model import HubSource, Model, ResolvedAdapter
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import hash_tree
from modelcfg.train.fingerprint import fingerprint
from modelcfg.train.manifest import MANIFEST


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
    run_dir, _ = run_dir_for(resolved, root, runs_dir)
    state, manifest = cache_state(run_dir)
    if state != "complete":
        raise UserError("MC610", f"no finished training run for {resolved.name} "
                        f"at its current fingerprint ({run_dir} is {state}); run "
                        "`modelcfg train` first or pass --run", exit_code=1)
    return run_dir, manifest


def default_runs_dir(root: Path) -> Path:
    return root / ".modelcfg" / "runs"


def run_dir_for(resolved: ResolvedAdapter, root: Path, runs_dir: str | Path | None = None
                ) -> tuple[Path, str]:
    """Where the run of ``resolved``'s fingerprint lives, and the fingerprint."""
    fp = fingerprint(resolved, root)
    base = Path(runs_dir) if runs_dir else default_runs_dir(root)
    return base / resolved.name / fp[:16], fp


def has_checkpoint(run_dir: Path) -> bool:
    ckpts = run_dir / "checkpoints"
    return any(ckpts.glob("step-*/state.pt")) or any(ckpts.glob("checkpoint-*/trainer_state.json"))


def cache_state(run_dir: Path) -> tuple[str, dict]:
    """("complete" | "corrupt" | "over_budget" | "absent", manifest)."""
    path = run_dir / MANIFEST
    if not path.is_file():
        return "absent", {}
    try:
        manifest = json.loads(path.read_text())
        recorded = manifest["files"]
    except (ValueError, KeyError):
        return "corrupt", {}
    adapter_dir = run_dir / "adapter"
    if not adapter_dir.is_dir() or hash_tree(adapter_dir) != recorded:
        return "corrupt", manifest
    if manifest.get("status") != "complete":
        return "over_budget", manifest
    return "complete", manifest
