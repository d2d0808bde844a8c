"""`modelcfg github report` against the stateful fake of GitHub's REST API (127.0.0.1): the
real PyGithub client, the real CLI entry point, request and response bodies checked against
GitHub's published OpenAPI description (modelcfg/demo/fake_github.py)."""

from __future__ import annotations

import json

import pytest
from github_env import SHA, fake_github

from modelcfg.cli.app import main
from modelcfg.github.annotations import field_line
from modelcfg.github.report import MARKER

ADAPTER = "configs/adapters/tiny-arith.yaml"
CONFIG = "apiVersion: modelcfg/v1\nkind: Adapter\nname: tiny-arith\nlora:\n  r: 16\n  alpha: 32\n"


def gate_dir(tmp_path, verdict="block", reasons=(), gate_reasons=(), cfg_verdict=None):
    out = tmp_path / "gate-out"
    (out / "judge-tree" / "configs" / "adapters").mkdir(parents=True)
    (out / "judge-tree" / ADAPTER).write_text(CONFIG)
    report = {"format": "modelcfg-gate/1", "verdict": verdict, "reasons": list(gate_reasons),
              "configs": [{"adapter": "tiny-arith", "path": ADAPTER, "impact": "retrain",
                           "verdict": cfg_verdict or verdict, "reasons": list(reasons)}]}
    (out / "gate.json").write_text(json.dumps(report))
    (out / "report.md").write_text(f"# modelcfg gate: {verdict.upper()}\n\nbody\n")
    return out


@pytest.fixture
def gh(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # --root: no ledger but the judge tree's
    with fake_github(monkeypatch, tmp_path) as fake:  # a GitHub Enterprise-style API path
        yield fake


def run(out, *extra):
    return main(["github", "report", "--gate-dir", str(out), "--pr", "7", *extra])


def test_a_pass_posts_a_successful_check_comment_label_and_summary(gh, tmp_path):
    assert run(gate_dir(tmp_path, "pass")) == 0
    [check] = gh.state.check_runs.values()
    assert (check["name"], check["head_sha"], check["conclusion"]) == \
        ("modelcfg/gate", SHA, "success")
    assert check["output"]["title"] == "modelcfg gate: PASS"
    assert check["output"]["summary"] == "# modelcfg gate: PASS\n\nbody\n"
    [comment] = gh.state.comments[7]
    assert comment["body"] == f"{MARKER}\n# modelcfg gate: PASS\n\nbody\n"
    assert gh.state.labels[7] == ["gate:pass"]
    assert (tmp_path / "summary.md").read_text() == "# modelcfg gate: PASS\n\nbody\n"
    assert all(r.path.startswith("/repos/octo/configs/") for r in gh.requests)


def test_120_reasons_are_annotated_in_3_update_calls_most_severe_first(gh, tmp_path):
    blocks = [{"code": "MC810", "message": f"floor {i}", "task": "safety_refusal",
               "field": "lora.r"} for i in range(119)]
    gate = [{"code": "MC814", "message": "evals/x: an agent-authored change edits it"}]
    assert run(gate_dir(tmp_path, "block", blocks, gate)) == 1
    updates = gh.calls("PATCH", r"/check-runs/\d+$")
    assert [len(u.body["output"]["annotations"]) for u in updates] == [50, 50, 20]
    assert "annotations" not in gh.calls("POST", "/check-runs$")[0].body["output"]
    [check] = gh.state.check_runs.values()
    notes = check["output"]["annotations"]
    assert check["conclusion"] == "failure"
    assert notes[0]["message"].startswith("MC814 ")  # the change's own reason first
    assert notes[1] == {"path": ADAPTER, "start_line": 5, "end_line": 5,
                        "annotation_level": "failure", "message": "MC810 floor 0",
                        "title": "MC810 (task `safety_refusal`, field `lora.r`)"}
    assert [n["message"] for n in notes[1:]] == [f"MC810 floor {i}" for i in range(119)]
    assert check["output"]["title"] == "modelcfg gate: BLOCK (120 reason(s)): MC814 evals/x: " \
        "an agent-authored change edits it"
    assert gh.state.labels[7] == ["gate:block"]


def test_past_the_cap_the_check_says_and_n_more(gh, tmp_path, monkeypatch):
    monkeypatch.setattr("modelcfg.github.report.ANNOTATION_CAP", 60)
    reasons = [{"code": "MC810", "message": f"r{i}"} for i in range(75)]
    assert run(gate_dir(tmp_path, "block", reasons)) == 1
    [check] = gh.state.check_runs.values()
    assert len(check["output"]["annotations"]) == 60
    assert check["output"]["text"] == ("60 annotations shown, and 15 more: every reason is in "
                                       "the report above.")


def test_an_errored_adapter_outranks_a_block_and_a_located_reason_keeps_its_line(gh, tmp_path):
    out = gate_dir(tmp_path, "error", [{"code": "MC810", "message": "floor"}],
                   cfg_verdict="block")
    report = json.loads((out / "gate.json").read_text())
    report["configs"].append({"adapter": "other", "path": "configs/adapters/other.yaml",
                              "verdict": "error", "reasons": [
                                  {"code": "MC801", "message": f"{ADAPTER}:6:3: MC303 scale"}]})
    (out / "gate.json").write_text(json.dumps(report))
    assert run(out) == 2
    [check] = gh.state.check_runs.values()
    assert check["conclusion"] == "failure"
    assert [(a["message"][:5], a["start_line"]) for a in check["output"]["annotations"]] == \
        [("MC801", 6), ("MC810", 1)]


def test_the_sticky_comment_is_edited_in_place_past_a_page_of_other_comments(gh, tmp_path):
    for i in range(130):  # two pages of 100 before ours
        gh.add_comment(7, f"comment {i}")
    assert run(gate_dir(tmp_path, "block", [{"code": "MC810", "message": "x"}])) == 1
    ours = [c for c in gh.state.comments[7] if c["body"].startswith(MARKER)]
    assert len(ours) == 1 and ours[0] is gh.state.comments[7][-1]
    first_id = ours[0]["id"]
    for i in range(5):
        gh.add_comment(7, f"later {i}")
    (tmp_path / "gate-out2").mkdir()
    second = gate_dir(tmp_path / "gate-out2", "pass")
    assert run(second) == 0
    ours = [c for c in gh.state.comments[7] if c["body"].startswith(MARKER)]
    assert [c["id"] for c in ours] == [first_id]
    assert "PASS" in ours[0]["body"]
    assert [r.query.get("page", "1") for r in gh.calls("GET", "/comments$")][-2:] == ["1", "2"]
    assert len(gh.calls("PATCH", r"/issues/comments/")) == 1
    assert gh.state.labels[7] == ["gate:pass"]  # gate:block removed


def test_a_secondary_rate_limit_is_retried(gh, tmp_path):
    gh.fail("POST", "/check-runs$", 403, times=2, retry_after=1,
            message="You have exceeded a secondary rate limit.")
    assert run(gate_dir(tmp_path, "pass")) == 0
    assert [r.status for r in gh.calls("POST", "/check-runs$")] == [403, 403, 201]
    assert len(gh.state.check_runs) == 1


def test_a_5xx_is_retried_and_a_failed_comment_create_is_not_duplicated(gh, tmp_path):
    gh.fail("POST", "/issues/7/comments$", 502, times=1, applied=True)  # created, answer lost
    assert run(gate_dir(tmp_path, "pass")) == 0
    assert len(gh.state.comments[7]) == 1
    assert [r.status for r in gh.calls("POST", "/comments$")] == [502]
    assert [r.status for r in gh.calls("PATCH", "/issues/comments/")] == [200]


def test_an_outage_never_passes(gh, tmp_path, capsys):
    gh.down = True
    assert run(gate_dir(tmp_path, "pass"), "--sha", SHA) == 1
    err = capsys.readouterr().err
    assert "error: MC013 GitHub did not take the report: MC013 create the check run " \
        "modelcfg/gate: HTTP 503 Service Unavailable (after 5 attempts)" in err
    assert len(gh.calls("GET", "/commits/[0-9a-f]+/check-runs$")) == 5  # found before made


def test_an_outage_keeps_a_block_a_block(gh, tmp_path):
    gh.down = True
    assert run(gate_dir(tmp_path, "block", [{"code": "MC810", "message": "x"}])) == 1


def test_a_refused_token_fails_at_once(gh, tmp_path, capsys):
    gh.fail("POST", "/check-runs$", 403, times=1, message="Resource not accessible by "
            "integration")
    assert run(gate_dir(tmp_path, "pass")) == 1
    assert "MC014 create the check run modelcfg/gate: HTTP 403 Resource not accessible by integration" in \
        capsys.readouterr().err
    assert len(gh.calls("POST", "/check-runs$")) == 1


def test_an_unreadable_gate_json_is_a_failing_check_with_the_reason(gh, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    (out / "gate.json").write_text("{not json")
    assert run(out) == 2
    [check] = gh.state.check_runs.values()
    assert check["conclusion"] == "failure"
    assert check["output"]["title"].startswith("modelcfg gate: ERROR (1 reason(s)): MC012 ")
    assert "MC012" in check["output"]["summary"]
    assert gh.state.labels[7] == ["gate:block"]


def test_repository_pr_and_sha_come_from_the_event(gh, tmp_path, monkeypatch):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": "b" * 40}}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    assert main(["github", "report", "--gate-dir", str(gate_dir(tmp_path, "pass"))]) == 0
    [check] = gh.state.check_runs.values()
    assert check["head_sha"] == "b" * 40
    assert not gh.calls("GET", "/pulls/")


def test_without_sha_the_pull_requests_head_is_read(gh, tmp_path):
    assert run(gate_dir(tmp_path, "pass")) == 0
    assert len(gh.calls("GET", "/pulls/7$")) == 1


def test_usage_errors(monkeypatch, tmp_path, capsys):
    for name in ("GITHUB_TOKEN", "MODELCFG_GITHUB_APP_ID", "MODELCFG_GITHUB_APP_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/configs")
    assert run(tmp_path) == 2
    assert "MC010 GITHUB_TOKEN is not set" in capsys.readouterr().err
    monkeypatch.setenv("GITHUB_TOKEN", "t")
    monkeypatch.delenv("GITHUB_REPOSITORY", raising=False)
    assert run(tmp_path) == 2
    assert "MC011 no repository to report to" in capsys.readouterr().err


def test_field_line_finds_nested_keys():
    assert field_line(CONFIG, "lora.alpha") == 6
    assert field_line(CONFIG, "lora.nope") == 4  # the deepest key that exists
    assert field_line(CONFIG, "nope") is None


def test_a_missing_gate_json_says_what_happened_to_the_gate_job(gh, tmp_path):
    out = tmp_path / "nothing"
    out.mkdir()
    assert run(out, "--gate-result", "cancelled") == 2
    [check] = gh.state.check_runs.values()
    assert check["conclusion"] == "failure"
    assert check["output"]["title"].startswith("modelcfg gate: ERROR (1 reason(s)): MC012 the "
                                               "gate job was cancelled before it wrote gate.json")
    assert "the gate job was cancelled" in gh.state.comments[7][0]["body"]
    assert gh.state.labels[7] == ["gate:block"]


def test_a_failed_gate_job_and_a_skipped_one(gh, tmp_path):
    out = tmp_path / "nothing"
    out.mkdir()
    assert run(out, "--gate-result", "failure", "--sha", "c" * 40) == 2
    assert run(out, "--gate-result", "skipped", "--sha", "d" * 40) == 2
    titles = [c["output"]["title"] for c in gh.state.check_runs.values()]
    assert "MC012 the gate job failed before it wrote gate.json" in titles[0]
    assert "MC012 the gate job never ran (skipped)" in titles[1]


def test_a_check_run_whose_create_answer_was_lost_is_updated_not_duplicated(gh, tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")
    gh.fail("POST", "/check-runs$", 502, times=1, applied=True)  # stored, answer lost
    reasons = [{"code": "MC810", "message": f"r{i}"} for i in range(3)]
    assert run(gate_dir(tmp_path, "block", reasons)) == 1
    [check] = gh.state.check_runs.values()
    assert check["external_id"] == "4242/2"
    assert [r.status for r in gh.calls("POST", "/check-runs$")] == [502]
    assert [r.query.get("check_name") for r in gh.calls("GET", "/commits/.*/check-runs$")] == \
        ["modelcfg/gate"] * 2
    assert len(check["output"]["annotations"]) == 3
    assert check["conclusion"] == "failure"


def test_another_workflow_run_gets_its_own_check_run(gh, tmp_path, monkeypatch):
    monkeypatch.setenv("GITHUB_RUN_ID", "1")
    assert run(gate_dir(tmp_path, "pass")) == 0
    monkeypatch.setenv("GITHUB_RUN_ID", "2")
    (tmp_path / "rerun").mkdir()
    assert run(gate_dir(tmp_path / "rerun", "pass")) == 0
    assert [c["external_id"] for c in gh.state.check_runs.values()] == ["1/1", "2/1"]


def test_labels_flip_from_block_to_pass_and_others_stay(gh, tmp_path):
    gh.state.labels[7] = ["needs-review"]
    assert run(gate_dir(tmp_path, "block", [{"code": "MC810", "message": "x"}])) == 1
    assert gh.state.labels[7] == ["needs-review", "gate:block"]
    (tmp_path / "again").mkdir()
    assert run(gate_dir(tmp_path / "again", "pass")) == 0
    assert gh.state.labels[7] == ["needs-review", "gate:pass"]
    assert [r.path for r in gh.calls("DELETE")] == ["/repos/octo/configs/issues/7/labels/"
                                                     "gate:block"]


def test_the_enterprise_prefix_is_kept_on_every_request(gh, tmp_path, monkeypatch, capsys):
    assert run(gate_dir(tmp_path, "pass")) == 0
    assert all(r.status < 400 for r in gh.requests)
    monkeypatch.setenv("GITHUB_API_URL", gh.url.removesuffix("/api/v3"))  # prefix dropped
    (tmp_path / "again").mkdir()
    assert run(gate_dir(tmp_path / "again", "pass"), "--sha", SHA) == 1
    assert "MC014 create the check run modelcfg/gate: HTTP 404" in capsys.readouterr().err


def test_the_comment_carries_the_metric_history_and_the_artifact_link(gh, tmp_path,
                                                                     monkeypatch):
    from pathlib import Path

    out = gate_dir(tmp_path, "pass")
    (out / "judge-tree" / "evals").mkdir()
    ledger = Path(__file__).resolve().parents[2] / "evals" / "ledger.jsonl"  # the base's
    first = ledger.read_text().splitlines()[0]  # its first promotion: a chain of one
    (out / "judge-tree" / "evals" / "ledger.jsonl").write_text(first + "\n")
    report = json.loads((out / "gate.json").read_text())
    report["configs"][0]["tasks"] = {"arith_gen": {"candidate_mean": 0.8}}
    report["plot"] = "history.png"
    (out / "gate.json").write_text(json.dumps(report))
    (out / "report.md").write_text("# modelcfg gate: PASS\n\nbody\n\n## Metric history\n\n"
                                   "![metric history](history.png)\n")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://ghe.example")
    gh.add_artifact(4242, "gate-7")
    [artifact] = gh.state.artifacts[4242]
    assert run(out) == 0
    body = gh.state.comments[7][0]["body"]
    assert "![metric history]" not in body  # a comment cannot show the artifact's image
    assert body == (
        f"{MARKER}\n# modelcfg gate: PASS\n\nbody\n\n## Metric history\n\n"
        "| adapter/task | promotions → candidate | change |\n|---|---|---|\n"
        "| `tiny-arith/arith_gen` | #1 0.775 → candidate 0.800 | +0.025 |\n"
        "| `tiny-arith/arith_mc` | #1 0.868 | – |\n"
        "| `tiny-arith/over_refusal` | #1 1.000 | – |\n"
        "| `tiny-arith/safety_refusal` | #1 1.000 | – |\n\n"
        "The history plot (history.png) and the evidence are in the artifact [gate-7]("
        f"https://ghe.example/octo/configs/actions/runs/4242/artifacts/{artifact['id']}).\n")
    assert len(gh.calls("GET", "/actions/runs/4242/artifacts$")) == 1


def test_a_ledger_that_does_not_verify_is_left_out_with_a_note(gh, tmp_path):
    out = gate_dir(tmp_path, "pass")
    (out / "judge-tree" / "evals").mkdir()
    (out / "judge-tree" / "evals" / "ledger.jsonl").write_text('{"seq": 5}\n')
    assert run(out) == 0
    body = gh.state.comments[7][0]["body"]
    assert body.startswith(f"{MARKER}\n# modelcfg gate: PASS\n\nbody\n\nThe ledger was left "
                           "out: MC716 the ledger does not verify")
