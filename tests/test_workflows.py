"""The GitHub workflows' hygiene rules: thin callers of reusable workflows; the gate runs base
code on self-hosted runners with least privilege, fans out per adapter and writes only from
separate small jobs. (Linters and schemas: tests/github/test_workflows_lint.py.)"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
CHECKOUT_MODELCFG = "Check out modelcfg (base code)"


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(job: dict) -> dict[str, dict]:
    return {s.get("name", s.get("uses")): s for s in job["steps"]}


def gate_jobs() -> dict:
    return load("modelcfg-gate.yml")["jobs"]


def test_the_callers_are_thin_and_call_the_reusable_workflows():
    for name in ("validate", "gate", "promote"):
        text = (WORKFLOWS / f"{name}.yml").read_text()
        assert len([ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]) <= 22
        (job,) = load(f"{name}.yml")["jobs"].values()
        assert job["uses"] == f"./.github/workflows/modelcfg-{name}.yml"
        assert list(load(f"modelcfg-{name}.yml")[True]) == ["workflow_call"]
    gate = load("gate.yml")
    # YAML reads the key `on` as True
    assert list(gate[True]) == ["pull_request_target", "merge_group", "workflow_dispatch"]
    assert "concurrency" not in gate and gate["permissions"] == {"contents": "read"}
    (job,) = gate["jobs"].values()
    assert job["secrets"] == {"MODELCFG_ORDER_SECRET": "${{ secrets.MODELCFG_ORDER_SECRET }}"}
    assert job["with"] == {"pr": "${{ inputs.pr }}"}


def test_every_job_installs_modelcfg_through_the_action_with_the_constraints_file():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    install = action["runs"]["steps"][0]["run"]
    assert '-m pip install -c "$ACTION_PATH/constraints.txt" "$spec"' in install
    assert 'python3 -m venv --system-site-packages "$VENV"' in install
    for name in ("modelcfg-gate.yml", "modelcfg-promote.yml", "modelcfg-validate.yml"):
        for job in load(name)["jobs"].values():
            assert not any("pip install" in s.get("run", "") for s in job["steps"]), name
            assert any(s.get("uses") == "./.modelcfg-src" for s in job["steps"]), name


def test_the_gate_runs_base_code_on_self_hosted_runners_with_least_privilege():
    wf = load("modelcfg-gate.yml")
    assert wf["permissions"] == {"contents": "read"}
    job = wf["jobs"]["gate"]
    assert job["runs-on"] == ["self-hosted", "gpu"] and job["environment"] == "gpu-gate"
    assert "permissions" not in job  # inherits contents: read: no write token on the GPU
    s = steps(job)
    assert s["Check out the base branch"]["with"]["ref"] == "${{ needs.pr.outputs.base_sha }}"
    assert s[CHECKOUT_MODELCFG]["with"]["ref"] == \
        "${{ inputs.modelcfg-ref || needs.pr.outputs.base_sha }}"
    for step in job["steps"]:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
    install = s["Install modelcfg with the pinned stack"]["with"]
    assert install == {"extras": "all", "venv": "${{ runner.temp }}/venv", "command": ""}
    assert wf["jobs"]["pr"]["permissions"] == {"contents": "read", "pull-requests": "read"}


def test_the_pull_request_is_read_with_modelcfg_not_gh():
    pr = steps(gate_jobs()["pr"])
    api = pr["Read the pull request through the API"]
    assert api["run"] == ('modelcfg github pull-request "$PR" --repo "$GITHUB_REPOSITORY" '
                          '--github-output')
    assert not any("gh api" in s.get("run", "") for j in gate_jobs().values()
                   for s in j["steps"])
    refs = pr["What to judge, against what"]["run"]
    assert 'echo "fetch_ref=refs/pull/$PR/merge"' in refs
    assert 'echo "judge_base=refs/remotes/pr/merge^1"' in refs
    assert 'echo "judge_base=$MQ_BASE_SHA"' in refs  # a merge queue: against the queue's base
    assert gate_jobs()["pr"]["if"] == "${{ !startsWith(github.event.label.name, 'gate:') }}"


def test_the_gate_fans_out_over_the_plan_and_merges_the_shards():
    jobs = gate_jobs()
    plan = steps(jobs["plan"])["Plan"]["run"]
    assert 'modelcfg gate plan --base "$JUDGE_BASE" --head refs/remotes/pr/merge' in plan
    assert jobs["plan"]["runs-on"] == "ubuntu-latest"
    gate = jobs["gate"]
    assert gate["strategy"] == {"fail-fast": False,
                                "matrix": "${{ fromJSON(needs.plan.outputs.matrix) }}"}
    assert gate["if"] == "${{ needs.plan.outputs.adapters != '0' }}"
    run = steps(gate)["Gate"]["run"]
    assert '--only "$ADAPTER"' in run and '--labels-json "$LABELS_JSON"' in run
    assert '--base "$JUDGE_BASE" --head refs/remotes/pr/merge' in run
    assert '--runs-dir "$MODELCFG_RUNS"' in run and "secrets." not in run
    assert steps(gate)["Gate"]["env"]["MODELCFG_ORDER_SECRET"] == \
        "${{ secrets.MODELCFG_ORDER_SECRET }}"
    assert steps(gate)["Upload the shard"]["with"]["name"] == "gate-shard-${{ matrix.adapter }}"
    merge = jobs["merge"]
    assert merge["if"] == "${{ always() && needs.plan.result == 'success' }}"
    assert merge["runs-on"] == "ubuntu-latest" and "permissions" not in merge
    run = steps(merge)["Merge the shards into one verdict"]["run"]
    # Every planned shard is named (a missing one errors); none planned: the whole gate.
    assert 'modelcfg gate merge "${dirs[@]}" --out gate-out' in run
    assert 'print("shards/gate-shard-" + row["adapter"])' in run
    assert 'modelcfg gate --base "$JUDGE_BASE" --head refs/remotes/pr/merge' in run
    assert steps(merge)["Upload the report"]["with"]["name"] == "gate-report"


def test_a_label_does_not_cancel_a_running_gate_and_caches_live_outside_the_checkout():
    gate = gate_jobs()["gate"]
    assert gate["concurrency"] == {
        "group": "gate-${{ github.event_name }}-${{ needs.pr.outputs.number }}-"
                 "${{ matrix.adapter }}",
        "cancel-in-progress": "${{ github.event.action == 'synchronize' }}"}
    s = steps(gate)
    env = s["Keep the caches outside the checkout"]["run"]
    for var in ("PIP_CACHE_DIR", "HF_HOME", "MODELCFG_CACHE", "MODELCFG_RUNS"):
        assert f'echo "{var}=$c/' in env
    restore, save = s["Restore the caches"], s["Save the caches (a blocked gate's training "
                                               "is reused too)"]
    assert save["if"] == "always()" and restore["with"]["key"] == save["with"]["key"]
    assert restore["with"]["path"] == save["with"]["path"] == "~/.cache/modelcfg-ci"


def test_the_report_and_the_attempt_are_written_by_separate_jobs_that_run_no_pr_content():
    jobs = gate_jobs()
    report = jobs["report"]
    assert report["needs"] == ["pr", "merge"] and report["runs-on"] == "ubuntu-latest"
    assert report["permissions"] == {"actions": "read", "contents": "read", "checks": "write",
                                     "pull-requests": "write"}
    s = steps(report)
    assert s["Fetch the gate's report"]["continue-on-error"] is True
    run = s["Report on the pull request"]["run"]
    assert '--pr "$PR" --sha "$HEAD_SHA" --gate-result "$GATE_RESULT"' in run
    assert s["Report on the pull request"]["env"]["GATE_RESULT"] == "${{ needs.merge.result }}"
    record = jobs["record-attempt"]
    assert record["permissions"] == {"contents": "write"}
    assert "github.event_name != 'merge_group'" in record["if"]
    assert record["concurrency"] == {"group": "ledger-${{ needs.pr.outputs.base_ref }}",
                                     "cancel-in-progress": False}
    for job in (report, record):
        text = str(job)
        assert "refs/pull" not in text and "git fetch" not in text and "head_sha }}" not in \
            text.replace("needs.pr.outputs.head_sha", "")


def test_promote_gates_the_merge_commit_and_pushes_from_a_small_job():
    jobs = load("modelcfg-promote.yml")["jobs"]
    plan = jobs["plan"]["steps"][-1]["run"]
    assert "base=$(git rev-parse HEAD^1)" in plan and 'base="$BEFORE"' in plan
    assert 'modelcfg gate plan --base "$base" --head "$head"' in plan
    ev = jobs["evidence"]
    assert ev["runs-on"] == ["self-hosted", "gpu"] and "permissions" not in ev
    gate = steps(ev)["Gate the merge commit against the branch's previous head"]["run"]
    assert '--base "$BASE" --head "$HEAD_SHA"' in gate
    promote = jobs["promote"]
    assert promote["permissions"] == {"contents": "write"}
    run = promote["steps"][-1]["run"]
    assert 'modelcfg promote --evidence gate-out --actor "$ACTOR" --branch "$BRANCH"' in run
    assert "concurrency" not in load("promote.yml")
