"""Hub datasets as training data: the snapshot at the pinned revision (from the hub cache,
downloaded first when online), read with the ``datasets`` library (subset, split).

Offline (``HF_HUB_OFFLINE=1``) nothing is fetched: the revision must be in the hub cache
(``$HF_HUB_CACHE/datasets--<owner>--<name>/snapshots/<revision>/``). What can go wrong is
MC508, before any model is loaded."""

from __future__ import annotations

from pathlib import Path

from modelcfg.config.model import DatasetRef
from modelcfg.core.errors import UserError


def _refuse(d: DatasetRef, why: str) -> UserError:
    return UserError("MC508", f"hub dataset {d.hub}@{d.revision}: {why}")


def snapshot(d: DatasetRef) -> Path:
    """The folder of ``d``'s files at its pinned revision (MC508 when there is none)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    try:
        return Path(snapshot_download(d.hub, repo_type="dataset", revision=d.revision))
    except (RevisionNotFoundError, RepositoryNotFoundError) as exc:
        raise _refuse(d, "no such dataset or revision on the hub; pin an existing commit "
                      f"sha ({type(exc).__name__})") from exc
    except LocalEntryNotFoundError as exc:
        raise _refuse(d, "the pinned revision is not in the hub cache and the hub cannot be "
                      "reached (offline); fetch it once with network access, e.g. "
                      f"`hf download --repo-type dataset {d.hub} --revision {d.revision}`, "
                      "or point HF_HUB_CACHE at a cache that has it") from exc
    except HfHubHTTPError as exc:
        raise _refuse(d, f"the hub refused the download: {exc}") from exc


def hub_rows(d: DatasetRef) -> list[dict]:
    """Every row of ``d``'s subset and split (``train`` when no split is written)."""
    from datasets import load_dataset

    folder = snapshot(d)
    split = d.split or "train"
    try:
        data = load_dataset(str(folder), name=d.subset, split=split)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        subset = f"subset {d.subset!r}, " if d.subset else ""
        raise _refuse(d, f"cannot read {subset}split {split!r} from the snapshot: {exc}; "
                      "check subset and split against the dataset's card") from exc
    return [dict(row) for row in data]
