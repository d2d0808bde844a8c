"""The real .github/workflows files run with act (host mode, offline) on a temporary config
repository made from this repository: validate.yml on a good and a broken pull request,
gate.yml on a good and a regressing one (real training of the tiny model, real lm-eval, the
verdict posted to the fake GitHub API), and gate.yml again on the unchanged good pull
request, whose training is restored from the cache store (0 training seconds).

See tests/act/act_harness.py for what is a stand-in and why. One config repository, one
runner (its cache store) and one fake GitHub are shared by the tests of this module, in
order; the good pull request is gated once and its run is shared by two tests."""

from __future__ import annotations

import json
import re

import pytest
from act_harness import (
    ADAPTER,
    REORDER_SUITES,
    ConfigRepo,
    Runner,
    edit,
    fake_github,
    run_act,
)

pytestmark = pytest.mark.e2e  # act comes with the dev extra: missing, the tests fail
GATE, VALIDATE = ".github/workflows/gate.yml", ".github/workflows/validate.yml"
SECRETS = {"MODELCFG_ORDER_SECRET": "act-order-secret"}
SHARD = "gate tiny-arith"  # the plan's one adapter: one job of the gate's matrix

# 10 steps instead of 1200: the adapter has not learnt addition; blocked on the baseline
UNDERTRAINED = edit("max_steps: 1200", "max_steps: 10")
BROKEN = edit("  r: 16\n", "  r: -16\n")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("act")
    with fake_github() as gh:
        yield {"repo": ConfigRepo(tmp / "repo"), "runner": Runner(tmp / "runner"), "gh": gh}
        assert gh.violations == []  # every request and answer matched GitHub's schemas


def gate(world, pr, action="opened"):
    world["gh"].open(pr)
    return run_act(world["runner"], world["repo"], "pull_request_target", pr.event(action),
                   workflow=GATE, at=pr.base_sha, api_url=world["gh"].url, secrets=SECRETS)


def gate_json(run) -> dict:
    return json.loads((run.artifact("gate-report") / "gate.json").read_text())


def check_runs(gh, sha: str) -> list[dict]:
    return [c for c in gh.state.check_runs.values() if c["head_sha"] == sha]


@pytest.fixture(scope="module")
def good(world):
    pr = world["repo"].pull_request(11, "reorder-suites", REORDER_SUITES)
    return pr, gate(world, pr)


# -- validate.yml ---------------------------------------------------------------------------


def validate(world, pr):
    return run_act(world["runner"], world["repo"], "pull_request", pr.event(),
                   workflow=VALIDATE, at=pr.merge_sha, api_url=world["gh"].url)


def test_validate_passes_a_good_pull_request(world):
    pr = world["repo"].pull_request(21, "validate-good", REORDER_SUITES)
    run = validate(world, pr)
    assert run.returncode == 0, run.log[-4000:]
    assert "✅  Success - Main Validate configs" in run.log
    assert "::error" not in run.log


def test_validate_fails_a_broken_pull_request_with_the_line_annotated(world):
    pr = world["repo"].pull_request(22, "validate-bad", BROKEN)
    run = validate(world, pr)
    assert run.returncode != 0
    assert "❌  Failure - Main Validate configs" in run.log
    assert re.search(rf"::error file={ADAPTER},line=8,col=6,title=MC205::lora\.r: must be "
                     r"at least 1, got -16", run.log), run.log[-4000:]


# -- gate.yml ---------------------------------------------------------------------------------


def test_gate_passes_a_good_pull_request_and_posts_the_verdict(world, good):
    pr, run = good
    gh = world["gh"]
    assert run.returncode == 0, run.log[-6000:]
    report = gate_json(run)
    assert report["verdict"] == "pass" and str(report["pr"]) == str(pr.number)
    (cfg,) = report["configs"]
    assert (cfg["impact"], cfg["verdict"]) == ("re-evaluate", "pass")
    assert cfg["train"]["cache_hit"] is False and cfg["train"]["train_seconds"] > 0
    # the gate judged GitHub's merge of the PR against its first parent, with base code
    assert report["head"] == pr.merge_sha and report["base"] == pr.base_sha
    (check,) = check_runs(gh, pr.head_sha)
    assert (check["name"], check["conclusion"]) == ("modelcfg/gate", "success")
    assert check["output"]["title"] == "modelcfg gate: PASS"
    (comment,) = gh.state.comments[pr.number]
    assert comment["body"].startswith("<!-- modelcfg:gate -->\n# modelcfg gate: PASS")
    assert gh.state.labels[pr.number] == ["gate:pass"]
    # the pr job read the pull request through the API the workflow was pointed at
    assert gh.calls("GET", rf"/pulls/{pr.number}$")
    # planned on a hosted runner, judged by one shard, merged into the one report
    assert "✅  Success - Main Gate" in run.job_log(SHARD)
    assert report["merged"] == [{"only": ["tiny-arith"], "verdict": "pass"}]


def test_gate_blocks_a_regressing_pull_request_with_the_reason_annotated(world):
    pr = world["repo"].pull_request(12, "undertrained", UNDERTRAINED)
    run = gate(world, pr)
    gh = world["gh"]
    assert run.returncode != 0
    # the shard blocks, uploads its folder anyway (if: always()); merge makes the report
    assert "❌  Failure - Main Gate" in run.job_log(SHARD)
    assert "✅  Success - Main Upload the shard" in run.job_log(SHARD)
    assert "❌  Failure - Main Merge the shards into one verdict" in run.job_log("merge")
    assert "✅  Success - Main Upload the report" in run.job_log("merge")
    report = gate_json(run)
    (cfg,) = report["configs"]
    assert report["verdict"] == "block" and cfg["impact"] == "retrain"
    # arith_gen and arith_mc fall far below the baseline (MC807); over_refusal, close to
    # its margin, may also stop for futility (MC825), and arith_gen_perturbed (the baseline's
    # 0.165) for futility or as worse (MC862, MC860), depending on the item order (the base
    # commit's sha, new in each run of this test, seeds it) and the retrained weights
    blocked = [(r["code"], r["task"]) for r in cfg["reasons"]]
    assert [b for b in blocked if b[0] == "MC807"] == [("MC807", "arith_gen"),
                                                        ("MC807", "arith_mc")], blocked
    assert set(blocked) - {("MC807", "arith_gen"), ("MC807", "arith_mc")} <= {
        ("MC825", "over_refusal"), ("MC862", "arith_gen_perturbed"),
        ("MC860", "arith_gen_perturbed")}, blocked
    (check,) = check_runs(gh, pr.head_sha)
    assert check["conclusion"] == "failure"
    assert check["output"]["title"].startswith(
        f"modelcfg gate: BLOCK ({len(blocked)} reason(s)): MC807")
    # one annotation per reason, on the adapter's config file, with its code
    notes = check["output"]["annotations"]
    assert [(a["path"], a["title"].split()[0]) for a in notes] == \
        [(ADAPTER, code) for code, _ in blocked]
    assert all(a["annotation_level"] == "failure" for a in notes)
    assert gh.state.labels[pr.number] == ["gate:block"]
    (comment,) = gh.state.comments[pr.number]
    assert "# modelcfg gate: BLOCK" in comment["body"]


def test_gate_rerun_on_the_unchanged_pull_request_trains_for_0_seconds(world, good):
    pr, first = good
    gh = world["gh"]
    run = gate(world, pr, action="synchronize")
    assert run.returncode == 0, run.log[-6000:]
    (cfg,) = gate_json(run)["configs"]
    assert cfg["train"]["cache_hit"] is True and cfg["train"]["train_seconds"] == 0
    # restored (newest first) from an entry an earlier run saved in the store
    saved = re.findall(r"Cache saved with key: (\S+)", first.job_log(SHARD))
    restored = re.findall(r"Cache restored from key: (\S+)", run.job_log(SHARD))
    assert len(saved) == 1 and len(restored) == 1, (saved, restored)
    saved, restored = saved[0], restored[0]
    # the key's run id is followed by the attempt and the adapter; restore-keys is the
    # prefix before the run id: what is restored is another run's entry
    prefix = re.match(r"(modelcfg-gpu-\w+-[0-9a-f]+-)\d+-\d+-tiny-arith$", saved)
    assert prefix, saved
    assert restored.startswith(prefix.group(1)) and \
        not restored.startswith(f"{prefix.group(1)}{run.run_id}-"), (saved, restored)
    # a second check run on the same head, and the one sticky comment updated in place
    assert [c["conclusion"] for c in check_runs(gh, pr.head_sha)] == ["success", "success"]
    assert len(gh.state.comments[pr.number]) == 1
