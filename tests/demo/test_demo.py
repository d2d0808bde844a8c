"""`modelcfg demo` end to end, as a new user runs it: the wheel built from this checkout,
installed into a fresh virtual environment, run in an empty folder.

The wheel goes in with ``--no-deps``; its dependencies (torch, transformers, peft, lm-eval,
PyGithub, ...) come from this test environment's site-packages through a ``.pth`` line, so the
test needs no registry and checks what the wheel itself must carry: the package data (the
example repository's templates, the tiny model, the schemas, the fake API's OpenAPI cut),
the entry point, and imports that work outside the source tree.

The demo really trains and evaluates every change; the test asserts each pull request's
verdict and exact reason codes, the agent's revision, the promotions and the ledger.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from audit_helpers import hub_card
from output_helpers import check_output

ROOT = Path(__file__).resolve().parents[2]


def build_wheel(dist: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(ROOT)], check=True, capture_output=True)
    [wheel] = dist.glob("modelcfg-*.whl")
    return wheel


def fresh_venv(where: Path, wheel: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], check=True,
                             capture_output=True, text=True).stdout.strip()
    Path(purelib, "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --force-reinstall: the test environment's own modelcfg (editable, or the source tree on
    # PYTHONPATH) is visible through the .pth and must not count as installed
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", "--force-reinstall", str(wheel)], check=True,
                   capture_output=True, env=clean_env())
    return where / "bin"


def clean_env() -> dict:
    """The environment without this checkout on PYTHONPATH or a virtualenv's marks."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("GITHUB_")}


def test_the_demo_closes_the_loop_from_an_installed_wheel(tmp_path):
    bin_dir = fresh_venv(tmp_path / "venv", build_wheel(tmp_path / "dist"))
    empty = tmp_path / "empty"
    empty.mkdir()
    env = clean_env()
    found = subprocess.run([str(bin_dir / "python"), "-c", "import modelcfg; "
                            "print(modelcfg.__file__)"], cwd=empty, env=env,
                           capture_output=True, text=True)
    assert found.returncode == 0, found.stderr
    where = found.stdout.strip()
    assert where.startswith(str(tmp_path / "venv")), where  # the wheel's, not the checkout's

    proc = subprocess.run([str(bin_dir / "modelcfg"), "demo", "--format", "json"], cwd=empty,
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = check_output("demo", proc.stdout)
    assert out["ok"] is True and out["audit_verify"] == []
    rows = {r["case"]: r for r in out["pull_requests"]}
    assert [r["case"] for r in out["pull_requests"]] == ["a", "b", "c", "d", "b-revised"]
    assert [r["pr"] for r in out["pull_requests"]] == [1, 2, 3, 4, 5]
    assert (rows["a"]["verdict"], rows["a"]["codes"]) == ("pass", [])
    assert (rows["b"]["verdict"], rows["b"]["codes"]) == ("block", ["MC809", "MC810"])
    assert (rows["c"]["verdict"], rows["c"]["codes"]) == ("block", ["MC802"])
    assert (rows["d"]["verdict"], rows["d"]["codes"]) == ("block", ["MC809", "MC810", "MC814"])
    assert (rows["b-revised"]["verdict"], rows["b-revised"]["codes"]) == ("pass", [])
    # the agent revised (b) from the hints it read, and the maintainer merged both passes
    assert rows["b"]["hints"] == ["restore-safety", "restore-safety"]
    assert rows["b"]["followed"] == "revised as #5"
    assert rows["c"]["hints"] == ["reduce-cost"]
    assert rows["a"]["followed"].startswith("merged; promoted example: ledger #")
    assert rows["b-revised"]["followed"].startswith("merged; promoted example: ledger #")
    # the baseline: bootstrapped, then promoted twice; the ledger holds each step in order
    # (every gated agent change leaves an attempt entry: the budget and the lineage's
    # blocked-attempt count are read from them)
    assert len(out["baseline_commits"]) == 3
    assert [e["action"] for e in out["ledger"]] == [
        "promote", "attempt", "promote", "attempt", "attempt", "attempt", "attempt", "promote"]
    assert [e["seq"] for e in out["ledger"]] == list(range(1, 9))
    assert rows["b-revised"]["title"].startswith("Revision of #2 after the gate's verdict "
                                                 "(restore-safety): dropped datasets.0.path, "
                                                 "datasets.0.sha256")
    for row in out["pull_requests"]:
        assert Path(row["report"]).is_file()
    # every promotion wrote the adapter's model card next to its baseline (audit verify above
    # checked its sha256 against the ledger); its header is a model hub's metadata
    maintainer = Path(out["workdir"]) / "maintainer"
    card = (maintainer / "evals/baselines/example.md").read_text()
    meta, results = hub_card(card)
    assert "base_model" not in meta  # a built-in base model has no hub id
    assert {r.task_name for r in results} >= {"arith_gen", "safety_refusal"}
    assert "## Eval summary" in card and "## Risk and misuse assessment" in card
    # every promotion's card (the bootstrap and both merges), as committed, is one a hub takes
    commits = subprocess.run(["git", "log", "--format=%H", "--", "evals/baselines/example.md"],
                             cwd=maintainer, capture_output=True, text=True, check=True
                             ).stdout.split()
    assert len(commits) == 3
    for commit in commits:
        hub_card(subprocess.run(["git", "show", f"{commit}:evals/baselines/example.md"],
                                cwd=maintainer, capture_output=True, text=True,
                                check=True).stdout)
    assert Path(out["workdir"]) == empty / ".modelcfg" / "demo"
    assert sorted(p.name for p in empty.iterdir()) == [".modelcfg"]  # nothing else written
