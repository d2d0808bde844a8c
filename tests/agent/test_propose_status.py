"""`modelcfg propose`, `modelcfg pr status` and `modelcfg pr wait` end to end: a real git
repository of this project's configs with a local bare remote, the fake GitHub API, and the
real gate, whose base thresholds cap training at 1 token so every planned adapter blocks
before training (MC802): no torch.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from github_env import fake_github
from output_helpers import check_output
from repo_helpers import commit_all, git, project_repo

from modelcfg.cli.app import main
from modelcfg.gate.run import GateSettings, run_gate

ARITH = "configs/adapters/tiny-arith.yaml"
TEXTS = ["--rationale", "Halve the step size: the loss curve oscillates.",
         "--expected-effect", "arith exact match +0.02", "--risk", "low: one scalar",
         "--eval-plan", "capability and safety suites", "--agent", "arith-agent"]


@pytest.fixture
def repo(tmp_path):
    repo = project_repo(tmp_path)
    path = repo / "evals/thresholds.yaml"
    path.write_text(path.read_text().replace("max_train_tokens: 20000000",
                                             "max_train_tokens: 1"))
    commit_all(repo, "thresholds: every planned adapter blocks before training")
    git(repo, "push", "-q", "origin", "main")
    return repo


@pytest.fixture
def gh(monkeypatch, tmp_path, repo):
    with fake_github(monkeypatch, tmp_path) as fake:
        fake.remote = tmp_path / "work-remote.git"
        monkeypatch.delenv("GITHUB_REPOSITORY")  # propose finds it with --repo
        yield fake


def propose(repo: Path, gh, *edit: str, capsys) -> tuple[int, dict | None, str]:
    rc = main(["propose", "tiny-arith", *edit, *TEXTS, "--repo", gh.repo, "--root",
               str(repo), "--json"])
    captured = capsys.readouterr()
    return rc, (check_output("propose", captured.out) if rc == 0 else None), captured.err


def status(repo: Path, gh, number: int, capsys, *more: str) -> tuple[int, dict]:
    rc = main(["pr", *(more or ("status",)), str(number), "--repo", gh.repo, "--root",
               str(repo), "--json"])
    return rc, check_output("pr-status", capsys.readouterr().out)


def test_propose_opens_a_labelled_pull_request_with_one_line_changed(repo, gh, capsys):
    before = (repo / ARITH).read_text()
    rc, out, err = propose(repo, gh, "--set", "tiny-arith:training.learning_rate=0.002",
                      capsys=capsys)
    assert rc == 0, err
    assert out["format"] == "modelcfg-propose/1"
    assert out["pr"] == 8 and out["branch"].startswith("propose/arith-agent/tiny-arith-")
    assert out["url"].endswith("/pull/8") and out["label"] == "agent"
    # the work tree is back on main, untouched; the branch holds exactly one changed line
    assert git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert (repo / ARITH).read_text() == before
    after = git(repo, "show", f"{out['commit']}:{ARITH}")
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert changed == [("  learning_rate: 0.003", "  learning_rate: 0.002")]
    assert len(before.splitlines()) == len(after.splitlines())
    # the agent's identity and trailer, as the gate reads them
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn", out["commit"]) == \
        "arith-agent <arith-agent@users.noreply.github.com>|arith-agent"
    assert "\nAgent: arith-agent" in git(repo, "log", "-1", "--format=%B", out["commit"])
    assert git(repo, "ls-remote", "origin", out["branch"]).split()[0] == out["commit"]
    # the pull request: on the pushed head, labelled, with the structured body
    pull = gh.state.pulls[8]
    assert pull["head_sha"] == out["commit"] and pull["base_ref"] == "main"
    assert gh.state.labels[8] == ["agent"]
    for section in ("## Rationale", "## Expected effect", "## Risk assessment",
                    "## Eval plan", "## Config diff", "## Cost estimate"):
        assert section in pull["body"]
    assert out["diff"]["changes"][0]["name"] == "tiny-arith"
    assert out["cost"]["train_tokens"] == 1200 * 16 * 64


def gate_report(repo: Path, tmp_path: Path, gh, head: str, run_id: int) -> dict:
    """The real gate on ``head``, its folder zipped as the gate-report artifact of workflow
    run ``run_id``, and its check run posted by `modelcfg github report`."""
    out = tmp_path / f"gate-{run_id}"
    report = run_gate(repo, "main", head, out, GateSettings(runs_dir=tmp_path / "runs", pr="8"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(out.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(out).as_posix())
    gh.add_artifact(run_id, "gate-report", buf.getvalue())
    return report


def test_status_reads_the_gates_verdict_from_the_check_and_the_artifact(
        repo, gh, capsys, tmp_path, monkeypatch):
    rc, out, err = propose(repo, gh, "--set", "training.learning_rate=0.002", capsys=capsys)
    rc, pending = status(repo, gh, out["pr"], capsys)
    assert rc == 0 and pending["state"] == "pending" and pending["check_run"] is None
    assert pending["format"] == "modelcfg-pr-status/1"

    gate_report(repo, tmp_path, gh, out["commit"], run_id=42)
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")
    assert main(["github", "report", "--gate-dir", str(tmp_path / "gate-42"), "--repo",
                 gh.repo, "--pr", str(out["pr"])]) == 1
    capsys.readouterr()

    rc, got = status(repo, gh, out["pr"], capsys)
    assert rc == 1 and got["state"] == "block" and got["attempt"] == 2
    [adapter] = got["adapters"]
    assert adapter["adapter"] == "tiny-arith" and adapter["verdict"] == "block"
    assert adapter["changed_fields"] == ["training.learning_rate"]
    assert [r["code"] for r in adapter["reasons"]] == ["MC802"]
    reason = adapter["reasons"][0]
    assert reason["file"] == ARITH and reason["field"] == "training"
    assert reason["line"] == 13  # `training:` in the head's config
    assert reason["threshold"] == "cost.max_train_tokens"
    assert reason["hint"]["action"] == "reduce-cost"
    assert adapter["cost"]["estimate"]["train_tokens"] == 1200 * 16 * 64
    assert got["hints"] == [{"code": "MC802", **reason["hint"]}]

    rc, waited = status(repo, gh, out["pr"], capsys, "wait", "--timeout", "5", "--interval",
                        "0.05")
    assert rc == 1 and waited == got


def test_a_completed_check_without_the_artifact_is_an_error(repo, gh, capsys, tmp_path,
                                                            monkeypatch):
    rc, out, err = propose(repo, gh, "--set", "training.seed=3", capsys=capsys)
    (tmp_path / "g").mkdir()
    (tmp_path / "g/gate.json").write_text(json.dumps({"verdict": "pass", "reasons": [],
                                                      "configs": []}))
    monkeypatch.setenv("GITHUB_RUN_ID", "77")
    assert main(["github", "report", "--gate-dir", str(tmp_path / "g"), "--repo", gh.repo,
                 "--pr", str(out["pr"])]) == 0
    capsys.readouterr()
    rc, got = status(repo, gh, out["pr"], capsys)
    assert rc == 2 and got["state"] == "error"
    assert [r["code"] for r in got["reasons"]] == ["MC035"]


def test_wait_times_out_while_pending(repo, gh, capsys):
    rc, out, err = propose(repo, gh, "--set", "training.seed=4", capsys=capsys)
    rc = main(["pr", "wait", str(out["pr"]), "--repo", gh.repo, "--root", str(repo),
               "--timeout", "0.2", "--interval", "0.05"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "MC036" in err and "still pending after 0.2 s" in err
    assert len(gh.calls("GET", r"/check-runs$")) >= 2  # it polled


def test_an_invalid_edit_is_refused_with_validates_code_and_leaves_nothing(repo, gh, capsys):
    rc, _, err = propose(repo, gh, "--set", "lora.r=0", capsys=capsys)
    assert rc == 1 and f"error: {ARITH}:8:6: MC205 lora.r: must be at least 1" in err
    assert git(repo, "branch", "--list", "propose/*") == ""
    assert gh.state.pulls.keys() == {7} and git(repo, "status", "--porcelain") == ""


@pytest.mark.parametrize("edit,code", [
    (["--set", "rationale=short"], "MC030"),  # a multi-line scalar: --file
    (["--set", "training.nope.x=1"], "MC030"),
    (["--set", "other:training.seed=1"], "MC030"),
    (["--set", "training.seed=0"], "MC030"),  # no change
    ([], "MC037"),
])
def test_edits_that_cannot_be_made_are_refused(repo, gh, capsys, edit, code):
    rc, _, err = propose(repo, gh, *edit, capsys=capsys)
    assert rc == 2 and f"error: {code} " in err
    assert git(repo, "branch", "--list", "propose/*") == ""


def test_a_dirty_work_tree_is_refused(repo, gh, capsys):
    (repo / ARITH).write_text((repo / ARITH).read_text() + "# local\n")
    rc, _, err = propose(repo, gh, "--set", "training.seed=5", capsys=capsys)
    assert rc == 2 and "MC032" in err


def test_a_failed_push_then_a_rerun(repo, gh, capsys, tmp_path):
    remote = tmp_path / "work-remote.git"
    git(repo, "remote", "set-url", "--push", "origin", str(tmp_path / "gone.git"))
    rc, _, err = propose(repo, gh, "--set", "training.seed=6", capsys=capsys)
    assert rc == 1 and "MC033" in err and "no pull request was opened" in err
    assert git(repo, "branch", "--list", "propose/*") != ""  # the commit is kept locally
    assert gh.state.pulls.keys() == {7}
    git(repo, "remote", "set-url", "--push", "origin", str(remote))
    rc, out, err = propose(repo, gh, "--set", "training.seed=6", capsys=capsys)
    assert rc == 0 and out["pr"] == 8
    assert git(repo, "ls-remote", "origin", out["branch"]).split()[0] == out["commit"]


def test_a_failed_pull_request_then_a_rerun_opens_one(repo, gh, capsys):
    gh.fail("POST", r"/pulls$", 422, message="Validation Failed")
    rc, _, err = propose(repo, gh, "--set", "training.seed=8", capsys=capsys)
    assert rc == 1 and "MC034" in err and "is pushed to origin" in err
    assert gh.state.pulls.keys() == {7}
    rc, out, err = propose(repo, gh, "--set", "training.seed=8", capsys=capsys)
    assert rc == 0 and out["pr"] == 8 and gh.state.labels[8] == ["agent"]
    rc, again, _ = propose(repo, gh, "--set", "training.seed=8", capsys=capsys)
    assert rc == 0 and again["pr"] == 8 and gh.state.pulls.keys() == {7, 8}
    assert len(gh.calls("POST", r"/pulls$")) == 2  # the refused one and the opened one


def test_an_edit_outside_the_agents_paths_is_refused_with_the_gates_code(repo, gh, capsys):
    path = repo / "evals/contract.yaml"
    path.write_text(path.read_text().replace("    - configs/adapters/**\n", ""))
    commit_all(repo, "contract: agents may edit datasets only")
    git(repo, "push", "-q", "origin", "main")
    rc, _, err = propose(repo, gh, "--set", "training.seed=9", capsys=capsys)
    assert rc == 1 and f"error: {ARITH}:1:1: MC814 an agent-authored change edits {ARITH}, " \
        "outside the contract's agents.allowed_paths" in err
    assert git(repo, "branch", "--list", "propose/*") == "" and gh.state.pulls.keys() == {7}


def test_a_whole_file_replacement_is_proposed_as_written(repo, gh, capsys, tmp_path):
    new = (repo / ARITH).read_text().replace("rationale: >\n  ", "rationale: >\n  Reworded. ")
    (tmp_path / "new.yaml").write_text(new)
    rc, out, err = propose(repo, gh, "--file", str(tmp_path / "new.yaml"), capsys=capsys)
    assert rc == 0, err
    assert git(repo, "show", f"{out['commit']}:{ARITH}") + "\n" == new
    [change] = out["diff"]["changes"]
    assert change["name"] == "tiny-arith" and change["impact"] == "none"


def test_status_when_github_does_not_answer_is_an_error(repo, gh, capsys):
    gh.down = True
    rc = main(["pr", "status", "7", "--repo", gh.repo, "--root", str(repo), "--json"])
    err = capsys.readouterr().err
    assert rc == 2 and "MC013 read pull request #7: HTTP 503" in err


def test_a_branch_holding_another_change_is_refused(repo, gh, capsys):
    rc, out, err = propose(repo, gh, "--set", "training.seed=10", "--branch", "mine",
                           capsys=capsys)
    assert rc == 0, err
    rc, _, err = propose(repo, gh, "--set", "training.seed=11", "--branch", "mine",
                         capsys=capsys)
    assert rc == 2 and "MC032 branch mine exists and holds another change" in err


def test_without_a_token_nothing_is_done(repo, gh, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN")
    rc, _, err = propose(repo, gh, "--set", "training.seed=12", capsys=capsys)
    assert rc == 2 and "MC010 GITHUB_TOKEN is not set" in err
    assert git(repo, "branch", "--list", "propose/*") == ""


THRESHOLD = "evals/thresholds.yaml:safety.safety_refusal.floor=0.5"


def test_an_edit_of_a_protected_file_is_refused_without_allow_protected(repo, gh, capsys):
    rc, _, err = propose(repo, gh, "--set", "training.seed=11", "--set", THRESHOLD,
                         capsys=capsys)
    assert rc == 1 and "error: evals/thresholds.yaml:1:1: MC814 an agent-authored change " \
        "edits the protected path evals/thresholds.yaml (contract.protected_paths)" in err
    assert git(repo, "branch", "--list", "propose/*") == "" and gh.state.pulls.keys() == {7}
    assert git(repo, "status", "--porcelain") == ""


def test_allow_protected_opens_it_and_the_gate_blocks_it_by_policy(repo, gh, capsys,
                                                                    tmp_path, monkeypatch):
    rc, out, err = propose(repo, gh, "--set", "training.seed=11", "--set", THRESHOLD,
                           "--allow-protected", capsys=capsys)
    assert rc == 0, err
    assert out["paths"] == [ARITH, "evals/thresholds.yaml"]
    assert out["protected"] == ["evals/thresholds.yaml"]
    changed = git(repo, "diff", "--name-only", f"{out['commit']}^", out["commit"])
    assert changed.splitlines() == [ARITH, "evals/thresholds.yaml"]
    assert "floor: 0.5" in git(repo, "show", f"{out['commit']}:evals/thresholds.yaml")
    body = gh.state.pulls[out["pr"]]["body"]
    assert "## Protected paths" in body and "`evals/thresholds.yaml`" in body
    report = gate_report(repo, tmp_path, gh, out["commit"], run_id=43)
    assert report["verdict"] == "block"
    policy = [r for r in report["reasons"] if r["code"] == "MC814"]
    assert [r["field"] for r in policy] == ["evals/thresholds.yaml"]
    # the check run's annotation and the agent's status put it on the file it is about
    monkeypatch.setenv("GITHUB_RUN_ID", "43")
    assert main(["github", "report", "--gate-dir", str(tmp_path / "gate-43"), "--repo",
                 gh.repo, "--pr", str(out["pr"])]) == 1
    capsys.readouterr()
    [run] = gh.state.check_runs.values()
    placed = {a["message"].split()[0]: a["path"] for a in run["output"]["annotations"]}
    assert placed["MC814"] == "evals/thresholds.yaml" and placed["MC802"] == ARITH
    rc, got = status(repo, gh, out["pr"], capsys)
    [mc814] = [r for r in got["reasons"] if r["code"] == "MC814"]
    assert mc814["file"] == "evals/thresholds.yaml"
    assert mc814["hint"]["action"] == "revert-path"


@pytest.mark.parametrize("target", ["configs/nope.yaml", "../evals/thresholds.yaml",
                                    "evals/thresholds.json"])
def test_a_set_on_a_file_that_is_not_there_is_refused(repo, gh, capsys, target):
    rc, _, err = propose(repo, gh, "--set", "training.seed=12", "--set", f"{target}:a.b=1",
                         capsys=capsys)
    assert rc == 2 and "error: MC030 " in err
    assert git(repo, "branch", "--list", "propose/*") == ""
