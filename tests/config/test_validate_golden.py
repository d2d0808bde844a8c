"""Golden files: each case overlays files on a valid mini repository and pins the exact
output of `modelcfg validate`. Regenerate with MODELCFG_REGEN_GOLDEN=1 and review the diff."""

from __future__ import annotations

import os
import shutil

import pytest
from repo_helpers import GOLDEN, make_repo

from modelcfg.cli.app import main

CASES = sorted(p.name for p in (GOLDEN / "cases").iterdir())


def run_validate(capsys, repo, *args):
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        code = main(["validate", *args])
    finally:
        os.chdir(cwd)
    out = capsys.readouterr()
    return code, out.out


def test_base_repository_is_valid(tmp_path, capsys):
    repo = make_repo(tmp_path, GOLDEN / "base")
    assert run_validate(capsys, repo) == (0, "")


@pytest.mark.parametrize("case", CASES)
def test_golden_case(case, tmp_path, capsys):
    repo = make_repo(tmp_path, GOLDEN / "base")
    case_dir = GOLDEN / "cases" / case
    for src in case_dir.rglob("*"):
        if src.is_file() and src.name != "expected.txt":
            dest = repo / src.relative_to(case_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
    code, out = run_validate(capsys, repo)
    expected_file = case_dir / "expected.txt"
    if os.environ.get("MODELCFG_REGEN_GOLDEN"):
        expected_file.write_text(out)
    expected = expected_file.read_text()
    assert out == expected
    assert code == (1 if expected else 0)
    if case.startswith("valid_"):
        assert expected == ""
    else:
        assert expected, "an invalid case must produce at least one problem"
