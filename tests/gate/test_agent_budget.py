"""The per-agent budget (contract agents.budget): GPU-hours an agent spent, counted from the
base ledger by window against the head commit's committer time, plus the change's estimate.

A real repository with this repository's own configs/ and evals/. Each base branch adds a
budget to the contract and entries to the ledger, written through the ledger's own code
(:func:`modelcfg.audit.ledger.appended`); each head is an agent's change to tiny-arith that
also leaves out the required safety suite, so a change the budget lets through is blocked
with MC817 before training: nothing here trains.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from repo_helpers import AGENT, commit_all, git
from test_trust_places import ADAPTER, Repo, codes

from modelcfg.audit.attempts import attempt_entries
from modelcfg.audit.ledger import LEDGER, appended, audit, read_entries
from modelcfg.gate.budget import spent

HEAD_TIME = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
DAY_CAP = "contract.agents.budget.max_gpu_hours_per_day"
WEEK_CAP = "contract.agents.budget.max_gpu_hours_per_week"
SHA = "1" * 40


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return Repo(tmp_path_factory.mktemp("budget"))


def attempt_entry(hours_ago: float, gpu_hours, agents=("arith-agent",), **kw) -> dict:
    entry = {"action": "attempt", "adapter": "tiny-arith", "pr": "9", "commit": SHA,
             "base": SHA, "lineage": ["tiny-arith"], "verdict": "block",
             "reasons": ["MC807"], "agent": True, "gpu_hours": gpu_hours, **kw}
    if agents is not None:
        entry["agents"] = list(agents)
    entry.setdefault("time", (HEAD_TIME - timedelta(hours=hours_ago)).isoformat())
    return entry


def base(repo: Repo, name: str, budget: str | None, entries: list[dict]) -> str:
    """Branch ``name`` off main: the contract's budget (YAML lines under agents:) and the
    ledger with ``entries`` appended through the ledger code."""
    git(repo.path, "checkout", "-q", "-f", "-B", name, "main")
    contract = repo.path / "evals/contract.yaml"
    if budget is not None:
        contract.write_text(contract.read_text().replace(
            "  allowed_paths:\n", f"  budget:\n{budget}  allowed_paths:\n", 1))
    ledger = repo.path / LEDGER
    data = ledger.read_bytes()
    for entry in entries:
        data, _ = appended(data, entry)
    ledger.write_bytes(data)
    commit_all(repo.path, f"maintainers: {name}")
    git(repo.path, "checkout", "-q", "main")
    return name


def head(repo: Repo, name: str, base_branch: str, *, agent: bool = True) -> str:
    """An agent's change off ``base_branch``, committed at HEAD_TIME: a new learning rate
    (retrain) and the safety suite left out (MC817 before training)."""
    git(repo.path, "checkout", "-q", "-f", "-B", name, base_branch)
    path = repo.path / ADAPTER
    path.write_text(path.read_text().replace("learning_rate: 0.003", "learning_rate: 0.002")
                    .replace("suites: [capability, safety, robustness]",
                             "suites: [capability, robustness]"))
    stamp = HEAD_TIME.isoformat()
    env = {"GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_DATE": stamp, **(AGENT if agent else {})}
    commit_all(repo.path, f"{name}\n\nAgent: arith-agent" if agent else name, env=env)
    git(repo.path, "checkout", "-q", "main")
    return name


def gate(repo: Repo, name: str, budget: str | None, entries: list[dict], *, agent=True,
         labels=()) -> dict:
    b = base(repo, f"base-{name}", budget, entries)
    h = head(repo, f"pr-{name}", b, agent=agent)
    repo.count += 1
    from modelcfg.gate.run import GateSettings, run_gate

    out = repo.tmp / f"gate-{repo.count}"
    report = run_gate(repo.path, b, h, out, GateSettings(
        runs_dir=repo.tmp / "runs", model_cache=repo.tmp / "cache", pr=str(repo.count),
        pr_author="arith-agent" if agent else "alice", labels=list(labels)))
    assert not (repo.tmp / "runs").exists(), "nothing may train"
    assert json.loads((out / "gate.json").read_text())["verdict"] == report["verdict"]
    report["out"] = out
    return report


DAY = "    max_gpu_hours_per_day: 1.0\n"
WEEK = "    max_gpu_hours_per_week: 3.0\n"


def the_reason(report: dict) -> dict:
    [cfg] = report["configs"]
    [reason] = cfg["reasons"]
    return reason


def test_over_the_daily_cap_blocks_before_training_naming_spent_estimate_cap_and_window(repo):
    report = gate(repo, "day", DAY + WEEK, [attempt_entry(2, 0.6), attempt_entry(20, 0.4)])
    assert report["verdict"] == "block" and codes(report) == {"MC840"}
    reason = the_reason(report)
    assert reason["threshold"] == DAY_CAP and reason["config"] == "tiny-arith"
    estimate = report["budget"]["estimate_gpu_hours"]
    assert 0 < estimate < 0.01
    assert "arith-agent spent 1 GPU-hours in the day since 2026-03-09T12:00:00+00:00" \
        in reason["message"]
    assert f"estimate of {estimate:.6g}" in reason["message"]
    assert "cap of 1 (contract.agents.budget.max_gpu_hours_per_day)" in reason["message"]
    assert "wait until" in reason["message"] and "maintainer's label" in reason["message"]
    assert report["budget"]["windows"]["day"]["spent"] == pytest.approx(1.0)
    assert report["budget"]["windows"]["week"]["spent"] == pytest.approx(1.0)
    assert report["configs"][0]["train"] == {}  # refused before judging: nothing trained


def test_spending_older_than_a_day_frees_the_day_but_counts_for_the_week(repo):
    # 25 hours before the head's committer time: outside the day, inside the week.
    report = gate(repo, "week", DAY + WEEK, [attempt_entry(25, 2.0), attempt_entry(30, 1.0)])
    assert codes(report) == {"MC840"}
    reason = the_reason(report)
    assert reason["threshold"] == WEEK_CAP and "in the week since 2026-03-03" in reason["message"]
    assert report["budget"]["windows"]["day"]["spent"] == 0
    # Older than a week: nothing counts, the budget lets it through (MC817 judges it).
    freed = gate(repo, "freed", DAY + WEEK, [attempt_entry(24 * 7 + 1, 50.0)])
    assert codes(freed) == {"MC817"} and freed["budget"]["windows"]["week"]["spent"] == 0


def test_only_this_agents_spending_counts_and_an_unnamed_agents_counts_for_all(repo):
    other = gate(repo, "other", DAY, [attempt_entry(1, 5.0, agents=["other-agent"])])
    assert codes(other) == {"MC817"}  # another agent's GPU-hours
    unnamed = gate(repo, "unnamed", DAY, [attempt_entry(1, 5.0, agents=None)])
    assert codes(unnamed) == {"MC840"}  # whose it was is unknown: it counts (fail closed)
    assert unnamed["budget"]["agents"] == ["arith-agent"]


def test_a_human_is_not_limited_and_a_maintainer_label_approves(repo):
    human = gate(repo, "human", DAY, [attempt_entry(1, 5.0)], agent=False)
    assert codes(human) == {"MC817"} and "budget" not in human
    approved = gate(repo, "label", DAY, [attempt_entry(1, 5.0)],
                    labels=["maintainer-approved"])
    assert codes(approved) == {"MC817"}
    assert approved["budget"]["approved_by"] == "maintainer-approved"
    assert any("approved by label maintainer-approved" in n for n in approved["notes"])


def test_no_budget_in_the_contract_changes_nothing(repo):
    report = gate(repo, "none", None, [attempt_entry(1, 50.0)])
    assert codes(report) == {"MC817"} and "budget" not in report


def test_an_agents_entry_without_gpu_hours_fails_closed(repo):
    report = gate(repo, "nohours", DAY, [attempt_entry(1, None)])
    assert report["verdict"] == "block" and codes(report) == {"MC841"}
    reason = the_reason(report)
    assert "records no GPU-hours" in reason["message"] and reason["threshold"] == \
        "contract.agents.budget"


def test_an_agents_entry_without_a_readable_time_fails_closed(repo):
    report = gate(repo, "notime", DAY, [attempt_entry(1, 0.1, time="yesterday")])
    assert codes(report) == {"MC841"}
    assert "has no readable time ('yesterday')" in the_reason(report)["message"]


def test_a_ledger_that_does_not_verify_fails_closed(repo):
    b = base(repo, "base-broken", DAY, [attempt_entry(1, 0.1)])
    git(repo.path, "checkout", "-q", "-f", b)
    ledger = repo.path / LEDGER
    ledger.write_text(ledger.read_text().replace('"gpu_hours":0.1', '"gpu_hours":0.0'))
    commit_all(repo.path, "someone edits the ledger")
    git(repo.path, "checkout", "-q", "main")
    h = head(repo, "pr-broken", b)
    from modelcfg.gate.run import GateSettings, run_gate

    report = run_gate(repo.path, b, h, repo.tmp / "gate-broken", GateSettings(
        runs_dir=repo.tmp / "runs", model_cache=repo.tmp / "cache", pr_author="arith-agent"))
    # The attempt limit reads the ledger first: the gate cannot judge (error, MC820 naming
    # MC716); with no attempt limit in reach the budget says MC841 (test above).
    assert report["verdict"] == "error" and codes(report) == {"MC820"}
    assert "MC716" in report["reasons"][0]["message"]


def test_promotions_count_once_and_attempt_entries_record_what_the_budget_needs(repo, tmp_path):
    promote = {"action": "promote", "adapter": "tiny-arith", "commit": SHA,
               "baseline_sha256": "2" * 64, "cost": {"gpu_hours": 0.5},
               "actor": {"agent_authored": True, "agents": ["arith-agent"]}}
    human = {**promote, "commit": "3" * 40, "actor": {"agent_authored": False}}
    data = b""
    for entry, hours_ago in ((attempt_entry(3, 0.5), 3), (promote, 2), (human, 1),
                             ({**promote, "commit": "4" * 40}, 1)):
        data, _ = appended(data, entry,
                           now=(HEAD_TIME - timedelta(hours=hours_ago)).isoformat())
    (tmp_path / "evals").mkdir()
    (tmp_path / LEDGER).write_bytes(data)
    entries = read_entries(tmp_path)
    # The promotion of the attempt's commit is that attempt's training; the human's is not
    # an agent's; the other promotion counts.
    assert spent(entries, ["arith-agent"], HEAD_TIME - timedelta(days=1)) == (1.0, [1, 4])
    report = gate(repo, "record", DAY, [attempt_entry(1, 0.2)])
    [entry] = attempt_entries(json.loads((report["out"] / "gate.json").read_text()))
    assert entry["gpu_hours"] == 0.0  # blocked before training: nothing spent
    assert entry["agents"] == report["budget"]["agents"]
    assert audit(repo.path, "base-record") == []


@pytest.mark.parametrize("budget, problem", [
    ("    max_gpu_hours_per_day: 2\n    max_gpu_hours_per_week: 8\n", None),
    ("    max_gpu_hours_per_day: 0\n", ("MC205", 38)),  # out of range, at the value
    ("    max_gpu_hours_per_month: 2\n", ("MC202", 38)),  # an unknown key
])
def test_validate_checks_the_budget_with_the_schemas_codes(repo, budget, problem):
    from modelcfg.config.validate import validate

    base(repo, "base-validate", budget, [])
    git(repo.path, "checkout", "-q", "-f", "base-validate")
    try:
        found = [(p.code, p.line) for p in validate(repo.path) if p.is_error
                 and p.path == "evals/contract.yaml"]
    finally:
        git(repo.path, "checkout", "-q", "-f", "main")
    assert found == ([problem] if problem else [])


def test_a_shard_counts_the_whole_change_and_the_merge_keeps_the_budget(repo):
    from modelcfg.gate.merge import merge_shards
    from modelcfg.gate.run import GateSettings, run_gate

    b = base(repo, "base-shard", DAY, [attempt_entry(1, 5.0)])
    h = head(repo, "pr-shard", b)
    shard = run_gate(repo.path, b, h, repo.tmp / "shard", GateSettings(
        runs_dir=repo.tmp / "runs", pr_author="arith-agent", pr="70", only=["tiny-arith"]))
    assert codes(shard) == {"MC840"}
    merged = merge_shards(repo.path, [repo.tmp / "shard"], repo.tmp / "merged")
    assert codes(merged) == {"MC840"} and merged["budget"] == shard["budget"]
    [entry] = attempt_entries(json.loads((repo.tmp / "merged" / "gate.json").read_text()))
    assert entry["agents"] == ["arith-agent"] and entry["gpu_hours"] == 0.0
