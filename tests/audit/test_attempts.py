"""Attempt entries: recorded from a gate report on a real remote, chained and verified like
every entry, counted per lineage since its last promotion; and anchor entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_helpers import append_entry
from repo_helpers import GOLDEN, commit_all, git, make_repo
from test_promote import ACTOR, evidence, head, ledger_of

from modelcfg.audit.anchor import reanchor
from modelcfg.audit.attempts import attempt_entries, record_attempts
from modelcfg.audit.history import (
    anchor_entry,
    failed_attempts,
    last_promotion,
    lineage,
)
from modelcfg.audit.ledger import LEDGER, audit, read_entries, verify
from modelcfg.audit.promote import promote
from modelcfg.core.atomic import write_json
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import canonical_json


@pytest.fixture
def world(tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    return repo, tmp_path / "work-remote.git"


def gate_report(repo: Path, *, verdict="block", codes=("MC807",), agent=True, pr="17",
                adapter="a", replaces=None, change_codes=()) -> dict:
    """A gate.json as `modelcfg gate` writes it (the fields attempts read)."""
    sha = head(repo)
    return {"format": "modelcfg-gate/1", "base": sha, "head": sha, "pr": pr,
            "verdict": verdict if not change_codes else "block",
            "agent": ["pull request author arith-agent"] if agent else [],
            "reasons": [{"code": c, "message": "m"} for c in change_codes],
            "attempts": {}, "configs": [{"adapter": adapter, "path": "p", "impact": "retrain",
                                         "verdict": verdict, "replaces": replaces,
                                         "reasons": [{"code": c, "message": "m"}
                                                     for c in codes]}]}


def out_folder(tmp: Path, report: dict, name: str = "gate-out") -> Path:
    write_json(tmp / name / "gate.json", report)
    return tmp / name


def test_an_agents_blocked_attempt_lands_on_the_remote_ledger_once(world, tmp_path):
    repo, remote = world
    folder = out_folder(tmp_path, gate_report(repo, codes=("MC807", "MC808")))
    result = record_attempts(repo, folder, now="2025-03-01T00:00:00+00:00")
    entry = ledger_of(remote)[-1]
    assert result.commit == git(remote, "rev-parse", "main") and not result.already
    assert {k: entry[k] for k in ("action", "adapter", "pr", "commit", "base", "lineage",
                                  "verdict", "reasons", "agent", "time", "seq")} == {
        "action": "attempt", "adapter": "a", "pr": "17", "commit": head(repo, "HEAD~1"),
        "base": head(repo, "HEAD~1"), "lineage": ["a"], "verdict": "block",
        "reasons": ["MC807", "MC808"], "agent": True, "time": "2025-03-01T00:00:00+00:00",
        "seq": 1}
    assert audit(repo, "main") == [] and verify(repo) == []  # the chain covers it
    again = record_attempts(repo, folder)  # a re-run of the recording job
    assert again.already and len(ledger_of(remote)) == 1


def test_a_humans_change_and_a_refused_attempt_are_not_recorded(world, tmp_path):
    repo, remote = world
    assert record_attempts(repo, out_folder(tmp_path, gate_report(repo, agent=False))) is None
    refused = gate_report(repo, codes=("MC828",))
    assert attempt_entries(refused) == []
    assert record_attempts(repo, out_folder(tmp_path, refused, "x")) is None
    assert git(remote, "ls-tree", "main", "--", LEDGER) == ""


def test_a_change_level_block_blocks_the_attempt_and_a_rename_names_both():
    sha = "1" * 40
    report = {"base": sha, "head": sha, "pr": "3", "verdict": "block", "agent": ["x"],
              "reasons": [{"code": "MC814"}],
              "configs": [{"adapter": "b", "replaces": "a", "verdict": "pass", "reasons": []}]}
    [entry] = attempt_entries(report)
    assert (entry["verdict"], entry["reasons"], entry["lineage"]) == ("block", ["MC814"],
                                                                      ["a", "b"])


def test_an_unreadable_gate_report_is_refused(world, tmp_path):
    repo, _ = world
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "gate.json").write_text("{not json")
    with pytest.raises(UserError) as err:
        record_attempts(repo, tmp_path / "bad")
    assert err.value.code == "MC729"


def attempt(sha: str, **kw) -> dict:
    return {"action": "attempt", "adapter": "a", "pr": "1", "commit": sha, "base": sha,
            "lineage": ["a"], "verdict": "block", "reasons": ["MC807"], "agent": True, **kw}


@pytest.mark.parametrize("bad", [
    {"lineage": ["b"]}, {"lineage": "a"}, {"reasons": ["not a code"]}, {"commit": "HEAD"},
    {"pr": " "}, {"agent": "yes"}, {"verdict": 1}])
def test_a_malformed_attempt_entry_is_refused_and_found(tmp_path, bad):
    sha = "2" * 40
    with pytest.raises(UserError) as err:
        append_entry(tmp_path, attempt(sha, **bad))
    assert err.value.code == "MC729"
    # Written anyway (hash recomputed, so only its shape is wrong): audit verify finds it.
    good = append_entry(tmp_path, attempt(sha))
    forged = {**good, **bad}
    from modelcfg.audit.ledger import entry_hash

    forged["hash"] = entry_hash(forged)
    (tmp_path / LEDGER).write_bytes(canonical_json(forged) + b"\n")
    assert [p.code for p in verify(tmp_path)] == ["MC729"]


def test_an_edited_attempt_entry_breaks_the_chain(tmp_path):
    sha = "3" * 40
    append_entry(tmp_path, attempt(sha))
    append_entry(tmp_path, attempt(sha, pr="2"))
    path = tmp_path / LEDGER
    path.write_text(path.read_text().replace('"verdict":"block"', '"verdict":"pass"', 1))
    assert [p.code for p in verify(tmp_path)] == ["MC711", "MC713"]
    with pytest.raises(UserError) as err:
        read_entries(tmp_path)
    assert err.value.code == "MC716"


def test_failed_attempts_count_per_lineage_since_its_last_promotion():
    entries = [
        {"seq": 1, "action": "promote", "adapter": "old"},
        {"seq": 2, "action": "attempt", "adapter": "old", "lineage": ["old"],
         "verdict": "block", "agent": True},
        {"seq": 3, "action": "promote", "adapter": "new", "replaces": "old"},
        {"seq": 4, "action": "attempt", "adapter": "new", "lineage": ["new"],
         "verdict": "block", "agent": True},
        {"seq": 5, "action": "attempt", "adapter": "new", "lineage": ["new"],
         "verdict": "pass", "agent": True},
        {"seq": 6, "action": "attempt", "adapter": "new", "lineage": ["new"],
         "verdict": "error", "agent": True},
        {"seq": 7, "action": "attempt", "adapter": "x", "lineage": ["new", "x"],
         "verdict": "block", "agent": True},  # a rename attempt counts for both names
        {"seq": 8, "action": "attempt", "adapter": "other", "lineage": ["other"],
         "verdict": "block", "agent": True},
    ]
    names = lineage(entries, {"new"})
    assert names == {"new", "old"} and lineage(entries, {"old"}) == {"old"}
    assert last_promotion(entries, names)["seq"] == 3
    assert [e["seq"] for e in failed_attempts(entries, names)] == [4, 7]
    entries.append({"seq": 9, "action": "rollback", "adapter": "new"})
    assert failed_attempts(entries, names) == []  # a new baseline starts the count again
    # The anchor: the lineage's first promotion, unless a maintainer re-anchored.
    assert anchor_entry(entries, names)["seq"] == 1
    entries.append({"seq": 10, "action": "anchor", "adapter": "new"})
    assert anchor_entry(entries, names)["seq"] == 10
    assert anchor_entry(entries, {"nothing"}) is None


def test_promotions_record_scores_and_replaces_and_reanchor_lands_once(world):
    repo, remote = world
    promote(repo, adapter="a", evidence=evidence(repo), actor=ACTOR)
    first = ledger_of(remote)[-1]
    assert "replaces" not in first
    assert first["scores"]["arith_gen"]["metrics"]["exact_match"] == {
        "value": 0.75, "n": 4, "higher_is_better": True}
    assert len(first["scores"]["arith_gen"]["items_sha256"]) == 64
    result = reanchor(repo, adapter="a", actor="maintainer", rationale="accept the trade-off")
    entry = ledger_of(remote)[-1]
    # It replaces the anchor in force: the first promotion (entry 1).
    assert (entry["action"], entry["adapter"], entry["scores"], entry["previous_anchor"]) == (
        "anchor", "a", first["scores"], 1)
    assert entry["baseline_sha256"] == first["baseline_sha256"] and result.commit
    assert audit(repo, "main") == []  # an anchor entry sets no baseline: all consistent
    assert reanchor(repo, adapter="a", actor="maintainer").already
    with pytest.raises(UserError) as err:
        reanchor(repo, adapter="nobody", actor="maintainer")
    assert err.value.code == "MC729"
    git(repo, "pull", "-q", "origin", "main")
    (repo / "README").write_text("x")
    commit_all(repo, "later")
    git(repo, "push", "-q", "origin", "main")
    promote(repo, adapter="a", evidence=evidence(repo, fp="cd"), actor=ACTOR, replaces="z")
    assert ledger_of(remote)[-1]["replaces"] == "z"
    assert json.loads(git(remote, "show", "main:evals/baselines/a.json"))["ledger"]["seq"] == 3
