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
