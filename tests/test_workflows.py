"""The GitHub workflows: valid against the workflow schema, and the gate's hygiene rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_workflows_are_valid_against_the_github_schema():
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    proc = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           "vendor.github-workflows", *files], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def gate_steps() -> dict[str, dict]:
    return {step["name"]: step for step in load("gate.yml")["jobs"]["gate"]["steps"]}


def test_the_gate_runs_base_code_on_a_self_hosted_runner_with_least_privilege():
    wf = load("gate.yml")
    assert list(wf[True]) == ["pull_request_target"]  # YAML reads the key `on` as True
    assert wf["permissions"] == {"contents": "read"}
    job = wf["jobs"]["gate"]
    assert job["runs-on"] == ["self-hosted", "gpu"] and job["environment"] == "gpu-gate"
    checkout = gate_steps()["Check out the base branch (workflow code and modelcfg)"]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert checkout["with"]["persist-credentials"] is False


def test_the_gate_installs_the_pinned_stack():
    steps = [s.get("run", "") for s in gate_steps().values()]
    installs = [run for run in steps if "pip install" in run]
    assert installs and all("-c constraints.txt" in run for run in installs)


def test_labels_are_passed_as_json_and_a_label_does_not_cancel_a_running_gate():
    wf = load("gate.yml")
    assert wf["concurrency"]["cancel-in-progress"] == \
        "${{ github.event.action == 'synchronize' }}"
    step = gate_steps()["Gate"]
    assert step["env"]["LABELS_JSON"] == "${{ toJSON(github.event.pull_request.labels.*.name) }}"
    assert '--labels-json "$LABELS_JSON"' in step["run"] and "for label in" not in step["run"]


def test_the_gate_judges_the_merge_result():
    fetch = gate_steps()["Fetch what would be merged, as data"]["run"]
    assert "refs/pull/${PR}/merge" in fetch
    run = gate_steps()["Gate"]["run"]
    assert '--base "refs/remotes/pr/merge^1" --head refs/remotes/pr/merge' in run


def test_the_gate_keys_the_item_order_with_the_pr_and_a_secret():
    step = gate_steps()["Gate"]
    assert step["env"]["PR"] == "${{ github.event.pull_request.number }}"
    assert step["env"]["MODELCFG_ORDER_SECRET"] == "${{ secrets.MODELCFG_ORDER_SECRET }}"
    assert '--pr "$PR"' in step["run"]
    # The secret reaches the gate through its environment only, never a command line.
    assert "secrets." not in step["run"]


def test_attempts_are_recorded_by_a_separate_writing_job_that_runs_base_code_only():
    wf = load("gate.yml")
    assert wf["permissions"] == {"contents": "read"}  # the judging job cannot write
    assert "permissions" not in wf["jobs"]["gate"]
    job = wf["jobs"]["record-attempt"]
    assert job["needs"] == "gate" and job["permissions"] == {"contents": "write"}
    # After judging, whatever the verdict (a block fails the gate job), never when skipped.
    assert "always()" in job["if"] and "needs.gate.result == 'failure'" in job["if"]
    steps = {s["name"]: s for s in job["steps"]}
    checkout = steps["Check out the base branch (workflow code and modelcfg)"]
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    runs = " ".join(s.get("run", "") for s in job["steps"])
    # Nothing of the pull request is fetched or run: only the gate's report is read.
    assert "refs/pull" not in runs and "head.sha" not in str(job)
    assert "-c constraints.txt" in runs and "[all]" not in runs
    assert steps["Fetch the gate's report"]["with"]["name"] == "gate-report"
    record = steps["Record the attempt"]
    assert record["run"] == ('modelcfg audit record-attempt --gate-out gate-out '
                             '--branch "$BASE_REF"')
    assert record["env"]["BASE_REF"] == "${{ github.event.pull_request.base.ref }}"
