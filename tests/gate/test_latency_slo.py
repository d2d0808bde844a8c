"""The latency SLO end to end: a repository from `modelcfg init` whose example adapter (rank
64 on every projection) is served merged and has a promoted baseline; a pull request that
serves the same adapter unmerged (the same weights: capability and safety are unchanged) is
timed against it on the same machine, alternating, and blocked with MC850 (the tiny model
decodes such an adapter about 1.5x slower per token unmerged)."""

from __future__ import annotations

from pathlib import Path

import pytest
from output_helpers import check_output
from repo_helpers import git, make_repo, pr_branch

from modelcfg.audit.bootstrap import bootstrap
from modelcfg.gate.run import GateSettings, run_gate
from modelcfg.scaffold.init import init

ADAPTER = "configs/adapters/example.yaml"
SLO = """
latency:
  max_regression: 0.10
  repeats: 8
"""


@pytest.fixture(scope="module")
def repo(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("latency")
    init(tmp / "source")
    path = tmp / "source" / ADAPTER
    text = path.read_text().replace("r: 8", "r: 64").replace("lora_alpha: 16", "lora_alpha: 64")
    text = text.replace("[q_proj, v_proj]", "[q_proj, k_proj, v_proj, o_proj, gate_proj, "
                        "up_proj, down_proj]")
    path.write_text(text.replace("budget:", "serving:\n  merge: true\nbudget:", 1))
    thresholds = tmp / "source/evals/thresholds.yaml"
    thresholds.write_text(thresholds.read_text() + SLO)
    repo = make_repo(tmp, tmp / "source")
    bootstrap(repo, "example", tmp / "bootstrap", actor={"maintainer": "m"}, branch="main",
              runs_dir=tmp / "runs")
    git(repo, "pull", "-q", "--ff-only", "origin", "main")
    return repo


def test_an_unmerged_high_rank_adapter_is_blocked_on_latency(repo, tmp_path):
    def slower(repo: Path) -> None:
        path = repo / ADAPTER
        path.write_text(path.read_text().replace("merge: true", "merge: false"))

    head = pr_branch(repo, "slower", slower, agent=False)
    out = tmp_path / "gate"
    report = run_gate(repo, "main", head, out,
                      GateSettings(runs_dir=repo.parent / "runs", pr="1"))
    check_output("gate", (out / "gate.json").read_text())
    [cfg] = report["configs"]
    assert cfg["impact"] == "re-evaluate" and cfg["train"]["cache_hit"] is True
    assert [r["code"] for r in cfg["reasons"]] == ["MC850"], cfg["reasons"]
    latency = cfg["latency"]
    assert latency["decision"] == "block" and latency["pairs"] == 8
    assert latency["interval"]["low"] > 1.1  # slower beyond the SLO, not only not ruled out
    timings = latency["timings"]
    assert timings["candidate_merged"] is False and timings["baseline_merged"] is True
    assert "latency" in (out / "report.md").read_text().lower()
