"""A heavy command on an install without its extra says what to install (MC005, exit 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from repo_helpers import commit_all, git, project_repo

ROOT = Path(__file__).resolve().parents[2]
# Makes the listed top-level modules look uninstalled to this interpreter.
BLOCKER = '''
import sys
BLOCKED = set({blocked!r})
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Blocker())
'''


def run(tmp_path: Path, blocked: list[str], *args: str) -> subprocess.CompletedProcess:
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(BLOCKER.format(blocked=blocked))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run([sys.executable, "-m", "modelcfg", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, blocked, extra", [
    (["train", "tiny-arith"], ["torch"], "train"),
    (["tiny"], ["peft"], "train"),
    (["eval", "tiny-arith"], ["lm_eval"], "eval"),
    (["demo"], ["torch", "lm_eval"], "train"),
])
def test_a_command_without_its_extra_names_the_install(tmp_path, args, blocked, extra):
    proc = run(tmp_path, blocked, *args)
    assert proc.returncode == 2, proc.stderr
    assert f"MC005 `modelcfg {args[0]}` needs the {extra} extra" in proc.stderr
    assert f"pip install 'modelcfg[{extra}]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def config_repo(tmp_path: Path) -> Path:
    """This repository's configs and evals, with a branch `retrain` that reseeds an adapter."""
    repo = project_repo(tmp_path)
    git(repo, "checkout", "-q", "-b", "retrain")
    path = repo / "configs/adapters/tiny-arith.yaml"
    path.write_text(path.read_text().replace("  seed: 0\n", "  seed: 7\n", 1))
    commit_all(repo, "reseed")
    git(repo, "checkout", "-q", "main")
    return repo


@pytest.mark.parametrize("head, verdict", [("retrain", "error"), ("main", "pass")])
def test_the_gate_needs_its_extras_only_for_something_to_train(tmp_path, head, verdict):
    """A change that trains nothing (an empty plan) is judged by the torch-free install; one
    that trains is an error verdict naming the install, with its report written."""
    repo, out = config_repo(tmp_path), tmp_path / "gate"
    proc = run(tmp_path, ["torch", "lm_eval"], "gate", "--base", "main", "--head", head,
               "--root", str(repo), "--out", str(out))
    report = json.loads((out / "gate.json").read_text())
    assert report["verdict"] == verdict, proc.stdout + proc.stderr
    assert proc.returncode == {"pass": 0, "error": 2}[verdict]
    assert "Traceback" not in proc.stderr
    if verdict == "error":
        assert [r["code"] for r in report["reasons"]] == ["MC820"]
        assert "MC005 `modelcfg gate` needs the train extra" in report["reasons"][0]["message"]
        assert "pip install 'modelcfg[train]'" in proc.stdout


def test_validate_needs_no_extra(tmp_path):
    proc = run(tmp_path, ["torch", "transformers", "peft", "lm_eval"], "validate")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_an_unchecked_import_of_an_extra_still_names_the_install():
    from modelcfg.core.extras import missing_extra

    err = missing_extra(ModuleNotFoundError("No module named 'trl'", name="trl.trainer"))
    assert err is not None and err.code == "MC005" and err.exit_code == 2
    assert "pip install 'modelcfg[train]'" in err.message
    assert missing_extra(ModuleNotFoundError("x", name="numpy")) is None
    assert missing_extra(ValueError("x")) is None
