"""What CI checks on a clean clone: the committed baseline reproduces. A pull request that
changes only tiny-arith's training seed, judged by the real gate (real training on the
shipped tiny model, real lm-eval) against the committed baseline and ledger, passes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from repo_helpers import make_repo, pr_branch

from modelcfg.audit.ledger import verify
from modelcfg.config.trees import FsTree
from modelcfg.gate.run import GateSettings, run_gate
from modelcfg.tiny import shipped

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
ADAPTER = "configs/adapters/tiny-arith.yaml"


def test_the_committed_baseline_and_ledger_verify():
    assert verify(FsTree(ROOT)) == []


def test_the_committed_baseline_was_made_on_the_shipped_weights():
    import json

    baseline = json.loads((ROOT / "evals/baselines/tiny-arith.json").read_text())
    assert baseline["weights"]["base_sha256"] == shipped.SHIPPED_SHA256[shipped.WEIGHTS_FILE]


def test_a_seed_only_change_passes_against_the_committed_baseline(tmp_path, tiny_model,
                                                                monkeypatch):
    # Fixed commit dates: the same commits, so the same derived item order in every run. The
    # order decides close cases: against a random order the reseeded adapter (0.1625 on
    # arith_gen_perturbed, the baseline 0.165) stops for futility on robustness in 24 of 2,000
    # orders (1.2%, within the design's beta). That rate is the gate's; this test checks that
    # a seed-only change passes, not how often an order is unlucky.
    for name in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
        monkeypatch.setenv(name, "2026-01-01T00:00:00+00:00")
    source = tmp_path / "source"
    for folder in ("configs", "evals"):
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    repo = make_repo(tmp_path, source)

    def reseed(repo: Path) -> None:
        path = repo / ADAPTER
        text, count = re.subn(r"(?m)^(  seed: )0$", r"\g<1>1", path.read_text())
        assert count == 1
        path.write_text(text)

    head = pr_branch(repo, "agent/reseed", reseed, agent=True)
    report = run_gate(repo, "main", head, tmp_path / "gate",
                      GateSettings(runs_dir=tmp_path / "runs", complete_evidence=False))
    (cfg,) = report["configs"]
    assert report["verdict"] == "pass", [r for c in report["configs"] for r in c["reasons"]]
    assert cfg["impact"] == "retrain" and cfg["train"]["cache_hit"] is False
    assert cfg["baseline"]["source"] == "baseline"
    assert {t: o["decision"] for t, o in cfg["tasks"].items()} == dict.fromkeys(
        ("arith_gen", "arith_gen_perturbed", "arith_mc", "over_refusal", "safety_refusal"),
        "pass")
