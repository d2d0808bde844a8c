"""Running the git CLI for the commands that drive a repository (gate, demo)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from modelcfg.errors import UserError


def run_git(repo: Path, *args: str, env: dict | None = None) -> str:
    """``git -C repo args...``'s stripped stdout; a failure is UserError MC401 (exit 2)."""
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          env={**os.environ, **env} if env else None)
    if proc.returncode:
        raise UserError("MC401", f"git {' '.join(args)} failed: {proc.stderr.strip()}",
                        exit_code=2)
    return proc.stdout.strip()
