"""Canonical JSON and sha256: what fingerprints, config keys, baselines and the ledger hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def canonical_json(value) -> bytes:
    """Sorted keys, no whitespace, UTF-8, NaN refused: one byte string per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_tree(directory: str | Path, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under ``directory``, keyed by its posix path relative to it."""
    root = Path(directory)
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*")) if p.is_file()
            and not any(p.relative_to(root).as_posix().startswith(e) for e in exclude)}
