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
    # YAML reads the key `on` as True
    assert list(wf[True]) == ["pull_request_target", "merge_group", "workflow_dispatch"]
    assert wf[True]["workflow_dispatch"]["inputs"]["pr"]["type"] == "number"
    assert wf["permissions"] == {"contents": "read"}
    job = wf["jobs"]["gate"]
    assert job["runs-on"] == ["self-hosted", "gpu"] and job["environment"] == "gpu-gate"
    # The job that runs the gate holds no write token: it inherits contents: read.
    assert "permissions" not in job
    checkout = gate_steps()["Check out the base branch (workflow code and modelcfg)"]
    assert checkout["with"]["ref"] == "${{ needs.pr.outputs.base_sha }}"
    assert checkout["with"]["persist-credentials"] is False
    # Only the resolving job reads the API, and only the pull request, read-only.
    assert wf["jobs"]["pr"]["permissions"] == {"pull-requests": "read"}


def test_the_resolved_base_is_the_events_base_and_the_head_is_fetched_as_data_only():
    run = load("gate.yml")["jobs"]["pr"]["steps"][0]["run"]
    assert 'echo "base_sha=$(jq -r .base.sha pr.json)"' in run
    assert 'echo "fetch_ref=refs/pull/$pr/merge"' in run
    assert 'echo "judge_base=refs/remotes/pr/merge^1"' in run
    assert 'echo "judge_base=$MQ_BASE_SHA"' in run  # a merge queue: against the queue's base
    gate = str(load("gate.yml")["jobs"]["gate"])
    assert "head.sha" not in gate and "head_sha" not in gate


def test_the_gates_own_labels_do_not_trigger_a_new_judgement():
    assert load("gate.yml")["jobs"]["pr"]["if"] == \
        "${{ !startsWith(github.event.label.name, 'gate:') }}"


def test_the_gate_installs_the_pinned_stack():
    steps = [s.get("run", "") for s in gate_steps().values()]
    installs = [run for run in steps if "pip install" in run]
    assert installs and all("-c constraints.txt" in run for run in installs)
    for name in ("gate.yml", "promote.yml", "validate.yml"):
        for job in load(name)["jobs"].values():
            runs = [s.get("run", "") for s in job["steps"] if "pip install" in s.get("run", "")]
            assert all("-c constraints.txt" in run for run in runs), (name, runs)


def test_caches_live_outside_the_checkout_and_are_saved_even_when_the_gate_blocks():
    steps = gate_steps()
    env = steps["Keep the caches outside the checkout"]["run"]
    for var in ("PIP_CACHE_DIR", "HF_HOME", "MODELCFG_CACHE", "MODELCFG_RUNS"):
        assert f'echo "{var}=$c/' in env
    assert 'c="$HOME/.cache/modelcfg-ci"' in env
    restore = steps["Restore the caches"]
    save = steps["Save the caches (a blocked gate's training is reused too)"]
    assert restore["uses"].startswith("actions/cache/restore@")
    assert save["uses"].startswith("actions/cache/save@") and save["if"] == "always()"
    key = ("modelcfg-gpu-${{ runner.os }}-${{ hashFiles('constraints.txt') }}-"
           "${{ github.run_id }}-${{ github.run_attempt }}")
    assert restore["with"]["key"] == save["with"]["key"] == key
    assert restore["with"]["restore-keys"] == \
        "modelcfg-gpu-${{ runner.os }}-${{ hashFiles('constraints.txt') }}-"
    assert restore["with"]["path"] == save["with"]["path"] == "~/.cache/modelcfg-ci"
    assert '--runs-dir "$MODELCFG_RUNS"' in steps["Gate"]["run"]


def test_labels_are_passed_as_json_and_a_label_does_not_cancel_a_running_gate():
    wf = load("gate.yml")
    assert "concurrency" not in wf
    assert wf["jobs"]["gate"]["concurrency"] == {
        "group": "gate-${{ github.event_name }}-${{ needs.pr.outputs.number }}",
        "cancel-in-progress": "${{ github.event.action == 'synchronize' }}"}
    assert "echo \"labels=$(jq -c '[.labels[].name]' pr.json)\"" in \
        wf["jobs"]["pr"]["steps"][0]["run"]
    step = gate_steps()["Gate"]
    assert step["env"]["LABELS_JSON"] == "${{ needs.pr.outputs.labels }}"
    assert '--labels-json "$LABELS_JSON"' in step["run"] and "for label in" not in step["run"]


def test_the_gate_judges_the_merge_result():
    fetch = gate_steps()["Fetch what would be merged, as data"]
    assert fetch["run"] == 'git fetch --no-tags origin "+${FETCH_REF}:refs/remotes/pr/merge"'
    assert fetch["env"]["FETCH_REF"] == "${{ needs.pr.outputs.fetch_ref }}"
    step = gate_steps()["Gate"]
    assert '--base "$JUDGE_BASE" --head refs/remotes/pr/merge' in step["run"]
    assert step["env"]["JUDGE_BASE"] == "${{ needs.pr.outputs.judge_base }}"


def test_the_gate_keys_the_item_order_with_the_pr_and_a_secret():
    step = gate_steps()["Gate"]
    assert step["env"]["PR"] == "${{ needs.pr.outputs.number }}"
    assert step["env"]["MODELCFG_ORDER_SECRET"] == "${{ secrets.MODELCFG_ORDER_SECRET }}"
    assert '--pr "$PR"' in step["run"]
    # The secret reaches the gate through its environment only, never a command line.
    assert "secrets." not in step["run"]


def test_attempts_are_recorded_by_a_separate_writing_job_that_runs_base_code_only():
    wf = load("gate.yml")
    assert wf["permissions"] == {"contents": "read"}  # the judging job cannot write
    assert "permissions" not in wf["jobs"]["gate"]
    job = wf["jobs"]["record-attempt"]
    assert job["needs"] == ["pr", "gate"] and job["permissions"] == {"contents": "write"}
    # After judging, whatever the verdict (a block fails the gate job), never when skipped;
    # a merge queue's run re-judges an approved PR and is no attempt.
    assert "always()" in job["if"] and "needs.gate.result == 'failure'" in job["if"]
    assert "github.event_name != 'merge_group'" in job["if"]
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    checkout = steps["Check out the base branch (workflow code and modelcfg)"]
    assert checkout["with"]["ref"] == "${{ needs.pr.outputs.base_sha }}"
    runs = " ".join(s.get("run", "") for s in job["steps"])
    # Nothing of the pull request is fetched or run: only the gate's report is read.
    assert "refs/pull" not in runs and "head" not in str(job)
    assert "-c constraints.txt" in runs and "[all]" not in runs
    assert steps["Fetch the gate's report"]["with"]["name"] == "gate-report"
    record = steps["Record the attempt"]
    assert record["run"] == ('modelcfg audit record-attempt --gate-out gate-out '
                             '--branch "$BASE_REF"')
    assert record["env"]["BASE_REF"] == "${{ needs.pr.outputs.base_ref }}"


def test_the_report_is_posted_by_a_separate_job_that_runs_no_pr_content():
    job = load("gate.yml")["jobs"]["report"]
    assert job["runs-on"] == "ubuntu-latest" and job["needs"] == ["pr", "gate"]
    assert job["permissions"] == {"contents": "read", "checks": "write",
                                  "pull-requests": "write"}
    # An errored gate is reported too (a failing check), a skipped one is not.
    assert job["if"] == ("${{ always() && needs.pr.result == 'success' && "
                         "needs.gate.result != 'skipped' }}")
    steps = {s.get("name", s.get("uses")): s for s in job["steps"]}
    checkout = steps["Check out the base branch (workflow code and modelcfg)"]
    assert checkout["with"] == {"ref": "${{ needs.pr.outputs.base_sha }}",
                                "persist-credentials": False}
    fetch = steps["Fetch the gate's report"]
    assert fetch["with"] == {"name": "gate-report", "path": "gate-out"}
    assert fetch["continue-on-error"] is True  # a gate without a report still gets a check
    report = steps["Report on the pull request"]
    assert report["run"] == "modelcfg github report --gate-dir gate-out"
    assert report["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert report["env"]["GATE_RESULT"] == "${{ needs.gate.result }}"
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "refs/pull" not in runs and "git fetch" not in runs and "[all]" not in runs


def promote_jobs() -> dict:
    return load("promote.yml")["jobs"]


def test_promote_runs_on_merges_to_main_and_on_request():
    wf = load("promote.yml")
    assert wf[True] == {"push": {"branches": ["main"]}, "workflow_dispatch": {"inputs": {
        "sha": {"description": "A commit of main to promote (its evidence is judged against "
                               "its first parent)", "required": True, "type": "string"}}}}
    assert wf["permissions"] == {"contents": "read"}
    assert "concurrency" not in wf  # one pending run per group: it would drop a promotion


def test_promote_gates_the_merge_commit_against_the_previous_head_without_a_write_token():
    jobs = promote_jobs()
    plan = jobs["plan"]["steps"][-1]
    assert "base=$(git rev-parse HEAD^1)" in plan["run"] and 'base="$BEFORE"' in plan["run"]
    # The count is of adapters the merge retrains or re-evaluates (none: no GPU job).
    assert 'c.get("impact") in ("retrain", "re-evaluate")' in plan["run"]
    ev = jobs["evidence"]
    assert ev["runs-on"] == ["self-hosted", "gpu"] and "permissions" not in ev
    assert ev["if"] == "${{ needs.plan.outputs.adapters != '0' }}"
    steps = {s.get("name", s.get("uses")): s for s in ev["steps"]}
    gate = steps["Gate the merge commit against the branch's previous head"]
    assert '--base "$BASE" --head "$HEAD_SHA"' in gate["run"]
    assert '--runs-dir "$MODELCFG_RUNS"' in gate["run"]
    assert ev["steps"][0]["with"]["persist-credentials"] is False


def test_promote_pushes_from_a_small_job_as_the_bot():
    job = promote_jobs()["promote"]
    assert job["needs"] == ["plan", "evidence"] and job["runs-on"] == "ubuntu-latest"
    assert job["permissions"] == {"contents": "write"}
    run = job["steps"][-1]["run"]
    assert 'git config user.name "github-actions[bot]"' in run
    assert 'modelcfg promote --evidence gate-out --actor "$ACTOR" --branch main' in run
    assert job["steps"][-1]["env"] == {"ACTOR": "${{ github.actor }}"}
    runs = " ".join(s.get("run", "") for s in job["steps"])
    assert "-c constraints.txt -e ." in runs and "[all]" not in runs
