"""The act stand-ins' artifact store (tests/act): ``artifacts.py upload|download``, inputs
in INPUT_* environment variables, one folder per artifact under
$ACT_ARTIFACT_STORE/<GITHUB_RUN_ID>/."""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path


def store() -> Path:
    return Path(os.environ["ACT_ARTIFACT_STORE"]) / os.environ["GITHUB_RUN_ID"]


def upload() -> int:
    name = os.environ["INPUT_NAME"] or "artifact"
    workspace = Path(os.environ["GITHUB_WORKSPACE"])
    files: list[Path] = []
    for line in os.environ["INPUT_PATH"].splitlines():
        line = line.strip()
        if not line or line.startswith("!"):
            continue
        pattern = os.path.join(workspace, os.path.expanduser(line))
        for hit in sorted(glob.glob(pattern, recursive=True)):
            hit = Path(hit)
            files += sorted(p for p in hit.rglob("*") if p.is_file()) if hit.is_dir() else [hit]
    if not files:
        message = f"No files were found with the provided path: {os.environ['INPUT_PATH']!r}"
        if os.environ.get("INPUT_IF_NO_FILES_FOUND") == "error":
            print(f"::error::{message}")
            return 1
        print(f"Warning: {message}. No artifacts will be uploaded.")
        return 0
    # The least common ancestor of the paths as written is the artifact's root.
    root = Path(os.path.commonpath([str(p.parent) for p in files]))
    target = store() / name
    if target.exists():
        if os.environ.get("INPUT_OVERWRITE") != "true":
            print(f"::error::an artifact with the name {name} already exists in this run")
            return 1
        shutil.rmtree(target)
    for path in files:
        dest = target / path.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    print(f"Artifact {name} uploaded: {len(files)} file(s)")
    return 0


def download() -> int:
    name = os.environ["INPUT_NAME"]
    dest = Path(os.environ["GITHUB_WORKSPACE"]) / os.path.expanduser(os.environ["INPUT_PATH"])
    names = [name] if name else sorted(p.name for p in store().glob("*")) if store().is_dir() \
        else []
    for one in names:
        source = store() / one
        if not source.is_dir():
            print(f"::error::Unable to download artifact(s): Artifact not found for name: {one}")
            return 1
        shutil.copytree(source, dest if name else dest / one, dirs_exist_ok=True)
        print(f"Artifact {one} downloaded to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit({"upload": upload, "download": download}[sys.argv[1]]())
