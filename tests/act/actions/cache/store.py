"""The act stand-in's cache store (tests/act): ``store.py restore|save``, inputs in INPUT_*
environment variables as the action.yml passes them, entries in $ACT_CACHE_STORE."""

from __future__ import annotations

import os
import sys
import tarfile
from pathlib import Path
from urllib.parse import quote


def places() -> list[Path]:
    """The path input's entries, expanded on this runner (``~`` is this runner's home):
    an entry is stored under its index, so it is restored where the same entry points on
    another runner, as the real cache does."""
    found = []
    for line in os.environ["INPUT_PATH"].splitlines():
        line = line.strip()
        if not line or line.startswith("!"):
            continue
        place = Path(os.path.expanduser(line))
        found.append(place if place.is_absolute() else
                     Path(os.environ["GITHUB_WORKSPACE"], place))
    return found


def entry(key: str) -> Path:
    return Path(os.environ["ACT_CACHE_STORE"]) / (quote(key, safe="") + ".tar")


def output(**values: str) -> None:
    with open(os.environ["GITHUB_OUTPUT"], "a") as fh:
        for k, v in values.items():
            fh.write(f"{k}={v}\n")


def restore() -> int:
    key = os.environ["INPUT_KEY"]
    store = Path(os.environ["ACT_CACHE_STORE"])
    match = entry(key) if entry(key).is_file() else None
    if match is None:
        entries = sorted(store.glob("*.tar"), key=lambda p: p.stat().st_mtime, reverse=True)
        for prefix in filter(None, (k.strip() for k in
                                    os.environ.get("INPUT_RESTORE_KEYS", "").splitlines())):
            match = next((p for p in entries if p.name.startswith(quote(prefix, safe=""))),
                         None)
            if match:
                break
    matched = "" if match is None else entry_key(match)
    output(**{"cache-hit": str(match is not None and matched == key).lower(),
              "cache-primary-key": key, "cache-matched-key": matched})
    if match is None:
        print(f"Cache not found for input keys: {key}")
        return 1 if os.environ.get("INPUT_FAIL_ON_CACHE_MISS") == "true" else 0
    if os.environ.get("INPUT_LOOKUP_ONLY") != "true":
        targets = places()
        with tarfile.open(match) as tar:
            for member in tar.getmembers():
                index, _, rest = member.name.partition("/")
                dest = targets[int(index)]
                if not rest and not member.isdir():  # the entry is one file
                    dest, rest = dest.parent, dest.name
                member.name = rest or "."
                dest.mkdir(parents=True, exist_ok=True)
                tar.extract(member, dest, filter="tar")
    print(f"Cache restored from key: {matched}")
    return 0


def entry_key(path: Path) -> str:
    from urllib.parse import unquote

    return unquote(path.name[:-len(".tar")])


def save() -> int:
    key = os.environ["INPUT_KEY"]
    target = entry(key)
    if target.exists():
        print(f"Failed to save: cache entry with key {key} already exists")
        return 0
    found = [(i, p) for i, p in enumerate(places()) if p.exists()]
    if not found:
        print("Warning: Path Validation Error: path(s) specified in the action for caching do(es) "
              "not exist, hence no cache is being saved.")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(".part")
    with tarfile.open(part, "w") as tar:
        for index, path in found:
            tar.add(path, arcname=str(index))
    part.rename(target)
    print(f"Cache saved with key: {key} ({target.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit({"restore": restore, "save": save}[sys.argv[1]]())
