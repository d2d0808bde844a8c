"""`promote --bootstrap` reads the same regular files the gate reads, and says so clearly."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from repo_helpers import commit_all, make_repo

from modelcfg.audit.bootstrap import bootstrap_evidence
from modelcfg.core.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def test_a_symlink_under_configs_is_refused_before_any_training(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for folder in ("configs", "evals"):
        shutil.copytree(ROOT / folder, source / folder)
    shutil.rmtree(source / "evals/baselines")
    (source / "evals/ledger.jsonl").unlink()
    repo = make_repo(tmp_path, source)
    os.symlink("tiny-arith.yaml", repo / "configs/adapters/alias.yaml")
    commit_all(repo, "an alias")
    with pytest.raises(UserError) as err:
        bootstrap_evidence(repo, "tiny-arith", tmp_path / "out", runs_dir=tmp_path / "runs")
    assert err.value.code == "MC726" and err.value.exit_code == 2
    assert "configs/adapters/alias.yaml" in err.value.message
    assert not (tmp_path / "runs").exists()


def test_bootstrap_and_rebaseline_together_are_refused_before_anything_runs(tmp_path, capsys):
    from modelcfg.cli.app import main

    assert main(["promote", "--bootstrap", "a", "--rebaseline", "a", "--reason", "why",
                 "--actor", "m", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "MC735 give --bootstrap or --rebaseline, not both" in err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []
