"""Writing baselines and ledger entries into a plain folder, the way a promotion commit
would (promote builds them with the same pure functions, then commits them)."""

from __future__ import annotations

from pathlib import Path

from modelcfg.audit.baseline import baseline_path, baseline_problems, dumps_baseline
from modelcfg.audit.ledger import LEDGER, appended
from modelcfg.core.atomic import write_bytes, write_text


def write_baseline(root: Path, baseline: dict) -> Path:
    assert baseline_problems(baseline) == [], baseline_problems(baseline)
    path = Path(root) / baseline_path(baseline["adapter"])
    write_text(path, dumps_baseline(baseline))
    return path


def append_entry(root: Path, entry: dict, *, now: str | None = None) -> dict:
    path = Path(root) / LEDGER
    data, new = appended(path.read_bytes() if path.is_file() else b"", entry, now=now)
    write_bytes(path, data)
    return new
