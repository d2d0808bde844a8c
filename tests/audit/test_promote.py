"""Promotion and rollback on real clones of one bare remote, racing for real."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from repo_helpers import GOLDEN, commit_all, git, make_repo
from test_baseline import make_baseline

from modelcfg.audit.baseline import baseline_sha256, read_baseline
from modelcfg.audit.ledger import LEDGER, verify, verify_history
from modelcfg.audit.promote import promote
from modelcfg.audit.rollback import rollback
from modelcfg.config.model import config_key
from modelcfg.config.resolve import resolve_adapter
from modelcfg.config.trees import GitTree
from modelcfg.config.workspace import load_workspace
from modelcfg.core.errors import UserError

ACTOR = {"merged_by": "maintainer", "pr_author": "helper-agent", "agent_authored": True,
         "pr": 7}


@pytest.fixture
def world(tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    remote = tmp_path / "work-remote.git"
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(remote), str(other)], check=True)
    return repo, other, remote


def head(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "rev-parse", rev)


def remote_file(remote: Path, rel: str, rev: str = "main") -> str:
    return git(remote, "show", f"{rev}:{rel}")


def ledger_of(remote: Path) -> list[dict]:
    return [json.loads(line) for line in remote_file(remote, LEDGER).splitlines()]


def key_of(repo: Path, adapter: str, rev: str = "HEAD") -> str:
    """The adapter's config key at ``rev``: what the gate's evidence records."""
    return config_key(resolve_adapter(load_workspace(GitTree(repo, rev)), adapter))


def evidence(repo: Path, adapter: str = "a", fp: str = "ab") -> dict:
    return {**make_baseline(adapter, commit=head(repo), fingerprint=fp * 32),
            "config_key": key_of(repo, adapter)}


def test_promote_writes_baseline_and_ledger_and_pushes(world):
    repo, _other, remote = world
    ev = evidence(repo)
    result = promote(repo, adapter="a", evidence=ev, actor=ACTOR)
    assert result.commit == head(remote, "main") and result.attempts == 1
    assert result.local_updated and head(repo) == result.commit
    assert git(remote, "log", "-1", "--format=%s", "main") == f"modelcfg: promote a {'ab' * 6}"
    assert git(remote, "diff", "--name-only", "main~1", "main").splitlines() == [
        "evals/baselines/a.json", "evals/baselines/a.md", LEDGER]
    tree = GitTree(repo, result.commit)
    baseline = read_baseline(tree, "a")
    assert baseline_sha256(baseline) == baseline_sha256(ev)
    (entry,) = ledger_of(remote)
    assert baseline["ledger"] == {"seq": 1, "hash": entry["hash"]}
    assert entry["action"] == "promote" and entry["commit"] == ev["commit"]
    assert entry["actor"] == ACTOR and entry["rationale"] == "A golden test adapter."
    assert entry["diff"]["changes"][0]["status"] == "added"
    assert entry["eval"]["arith_gen"]["exact_match"]["value"] == 0.75
    assert entry["cost"]["gpu_hours"] == 0.001 and entry["previous"] is None
    assert verify(tree) == [] and verify_history(repo) == []
    # Re-running the same promotion is a no-op.
    again = promote(repo, adapter="a", evidence=ev, actor=ACTOR)
    assert again.already and again.commit is None and head(remote, "main") == result.commit


def test_promote_leaves_the_working_tree_alone(world):
    repo, _other, _remote = world
    (repo / "scratch.txt").write_text("mine\n")
    (repo / "configs/adapters/a.yaml").write_text("edited, uncommitted\n")
    result = promote(repo, adapter="a", evidence=evidence(repo), actor="ci")
    assert (repo / "configs/adapters/a.yaml").read_text() == "edited, uncommitted\n"
    assert (repo / "scratch.txt").exists()
    assert result.commit == head(world[2], "main")


def race_hook(clone: Path, tmp: Path, code: str) -> None:
    """Before ``clone``'s next push, run ``code`` once: a rival promotion lands first."""
    script, marker, log = tmp / "rival.py", tmp / "rival.done", tmp / "rival.log"
    script.write_text(code)
    hook = clone / ".git/hooks/pre-push"
    hook.write_text(f"#!/bin/sh\n[ -e '{marker}' ] && exit 0\ntouch '{marker}'\n"
                    f"exec '{sys.executable}' '{script}' >'{log}' 2>&1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IEXEC)


def rival_code(repo: Path, adapter: str, ev: dict) -> str:
    return ("import json, sys\nfrom modelcfg.audit.promote import promote\n"
            f"promote({str(repo)!r}, adapter={adapter!r}, evidence=json.loads({json.dumps(ev)!r}),"
            " actor='rival')\n")


def test_racing_promotions_both_land_with_one_chain(world, tmp_path):
    repo, other, remote = world
    race_hook(other, tmp_path, rival_code(repo, "a", evidence(repo)))
    result = promote(other, adapter="p", evidence=evidence(other, "p", "cd"), actor="ci")
    assert result.attempts == 2  # lost the first push to the rival, rebuilt, landed
    entries = ledger_of(remote)
    assert [(e["seq"], e["adapter"]) for e in entries] == [(1, "a"), (2, "p")]
    assert entries[1]["prev"] == entries[0]["hash"]
    tree = GitTree(other, head(remote, "main"))
    assert verify(tree) == []
    assert read_baseline(tree, "a")["ledger"]["seq"] == 1
    assert read_baseline(tree, "p")["ledger"]["seq"] == 2
    assert verify_history(other) == []


def test_racing_promotions_of_one_adapter_refuse_when_they_conflict(world, tmp_path):
    repo, other, remote = world
    race_hook(other, tmp_path, rival_code(repo, "a", evidence(repo, "a", "cd")))
    with pytest.raises(UserError) as err:
        promote(other, adapter="a", evidence=evidence(other, "a", "ab"), actor="ci")
    assert err.value.code == "MC720"
    assert "changed underneath" in err.value.message
    assert [e["seq"] for e in ledger_of(remote)] == [1]
    assert read_baseline(GitTree(other, "origin/main"), "a")["fingerprint"] == "cd" * 32


def test_promotion_judged_against_a_stale_baseline_refuses(world):
    repo, _other, _remote = world
    first = promote(repo, adapter="a", evidence=evidence(repo, "a", "ab"), actor="ci")
    stale = None  # the gate compared against "no baseline"; one has landed since
    with pytest.raises(UserError) as err:
        promote(repo, adapter="a", evidence=evidence(repo, "a", "cd"), actor="ci",
                expected_baseline_sha256=stale)
    assert err.value.code == "MC720"
    ok = promote(repo, adapter="a", evidence=evidence(repo, "a", "cd"), actor="ci",
                 expected_baseline_sha256=baseline_sha256(first.baseline))
    assert ok.entry["seq"] == 2 and ok.entry["previous"]["fingerprint"] == "ab" * 32


def test_concurrent_promotions_in_threads(world, tmp_path):
    repo, other, remote = world
    third = tmp_path / "third"
    subprocess.run(["git", "clone", "-q", str(remote), str(third)], check=True)
    errors = []

    def run(clone, adapter, fp):
        try:
            promote(clone, adapter=adapter, evidence=evidence(clone, adapter, fp), actor=adapter,
                    max_attempts=10)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=args) for args in
               [(repo, "a", "ab"), (other, "p", "cd")]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(e["adapter"] for e in ledger_of(remote)) == ["a", "p"]
    git(third, "fetch", "-q")
    assert verify(GitTree(third, "origin/main")) == []


def test_promote_refuses_a_tampered_remote_ledger(world):
    repo, _other, _remote = world
    promote(repo, adapter="a", evidence=evidence(repo), actor="ci")
    path = repo / LEDGER
    path.write_text(path.read_text().replace('"verdict":"pass"', '"verdict":"fine"'))
    commit_all(repo, "tamper")
    git(repo, "push", "-q", "origin", "main")
    with pytest.raises(UserError) as err:
        promote(repo, adapter="p", evidence=evidence(repo, "p"), actor="ci")
    assert err.value.code == "MC716"


def test_evidence_commit_missing_from_a_shallow_clone_is_fetched(world, tmp_path):
    repo, _other, remote = world
    config = repo / "configs/adapters/a.yaml"
    config.write_text(config.read_text().replace("r: 8", "r: 4"))
    commit_all(repo, "pr head, merged")
    ev = evidence(repo)
    (repo / "notes.txt").write_text("a later commit: the evidence's is not the tip\n")
    commit_all(repo, "later")
    git(repo, "push", "-q", "origin", "main")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--no-local", "--branch", "main",
                    str(remote), str(shallow)], check=True)
    git(remote, "config", "uploadpack.allowAnySHA1InWant", "true")
    result = promote(shallow, adapter="a", evidence=ev, actor="ci")
    assert result.entry["commit"] == ev["commit"]
    changed = {(c["kind"], c["name"]): c["status"] for c in result.entry["diff"]["changes"]}
    assert changed == {("Adapter", "a"): "added", ("Model", "tiny"): "added",
                       ("EvalSuite", "cap"): "added"}


def test_bad_evidence_is_refused(world):
    repo, _other, _remote = world
    with pytest.raises(UserError) as err:
        promote(repo, adapter="p", evidence=evidence(repo, "a"), actor="ci")
    assert err.value.code == "MC723"
    ev = evidence(repo)
    ev["commit"] = "f" * 40
    with pytest.raises(UserError) as err:
        promote(repo, adapter="a", evidence=ev, actor="ci")
    assert err.value.code == "MC723"


def test_rollback_restores_config_and_baseline_through_a_new_entry(world):
    repo, _other, remote = world
    initial = head(repo)
    first = promote(repo, adapter="a", evidence=evidence(repo, "a", "ab"), actor="ci")
    config = repo / "configs/adapters/a.yaml"
    old_text = config.read_text()
    config.write_text(old_text.replace("r: 8", "r: 16"))
    commit_all(repo, "rank 16")
    git(repo, "push", "-q", "origin", "main")
    second = promote(repo, adapter="a", evidence=evidence(repo, "a", "cd"), actor="ci")
    assert second.entry["diff"]["changes"][0]["fields"] == [
        {"field": "lora.r", "old": 8, "new": 16}]

    result = rollback(repo, adapter="a", to_rev=first.commit, actor="maintainer")
    assert result.commit == head(remote, "main")
    assert remote_file(remote, "configs/adapters/a.yaml") == old_text.rstrip("\n")
    tree = GitTree(repo, result.commit)
    restored = read_baseline(tree, "a")
    assert baseline_sha256(restored) == baseline_sha256(first.baseline)
    entries = ledger_of(remote)
    assert [(e["seq"], e["action"]) for e in entries] == [(1, "promote"), (2, "promote"),
                                                          (3, "rollback")]
    assert entries[2]["to_rev"] == first.commit and entries[2]["fingerprint"] == "ab" * 32
    assert entries[2]["previous"]["fingerprint"] == "cd" * 32
    assert restored["ledger"] == {"seq": 3, "hash": entries[2]["hash"]}
    assert verify(tree) == [] and verify_history(repo) == []
    # History is only ever appended to.
    assert git(repo, "merge-base", "--is-ancestor", second.commit, result.commit) == ""
    again = rollback(repo, adapter="configs/adapters/a.yaml", to_rev=first.commit,
                     actor="maintainer")
    assert again.already and again.adapter == "a"

    with pytest.raises(UserError) as err:
        rollback(repo, adapter="a", to_rev=initial, actor="maintainer")
    assert err.value.code == "MC722"
    with pytest.raises(UserError) as err:
        rollback(repo, adapter="a", to_rev="no-such-rev", actor="maintainer")
    assert err.value.code == "MC722"


def test_no_identity_configured_still_commits(world, tmp_path):
    repo, _other, remote = world
    env_home = tmp_path / "home"
    env_home.mkdir()
    old = {k: os.environ.get(k) for k in ("HOME", "XDG_CONFIG_HOME", "GIT_CONFIG_NOSYSTEM")}
    os.environ.update({"HOME": str(env_home), "XDG_CONFIG_HOME": str(env_home),
                       "GIT_CONFIG_NOSYSTEM": "1"})
    try:
        promote(repo, adapter="a", evidence=evidence(repo), actor="ci")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert git(remote, "log", "-1", "--format=%an", "main") in ("modelcfg", "Test")


def test_promote_gate_output_refuses_a_missing_or_blocking_gate_result(tmp_path):
    import json

    from modelcfg.audit.promote import promote_gate_output

    with pytest.raises(UserError) as err:
        promote_gate_output(tmp_path, tmp_path, actor={"merged_by": "m"})
    assert err.value.code == "MC725"
    (tmp_path / "gate.json").write_text(json.dumps({"verdict": "block", "agent": [],
                                                    "configs": []}))
    with pytest.raises(UserError) as err:
        promote_gate_output(tmp_path, tmp_path, actor={"merged_by": "m"})
    assert err.value.code == "MC725" and "'block'" in err.value.message
