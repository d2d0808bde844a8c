"""Foreign evidence is never promoted: its commit must be in the branch's history (MC719)
and it must have been judged for the config the branch holds now (MC728). Rollbacks only
restore what the branch itself accepted (MC719)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from repo_helpers import GOLDEN, commit_all, git, make_repo
from test_promote import evidence, head, key_of

from modelcfg.audit.baseline import dumps_baseline
from modelcfg.audit.promote import promote
from modelcfg.audit.rollback import rollback
from modelcfg.core.errors import UserError


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path, GOLDEN / "base")


def remote_head(repo: Path) -> str:
    return git(repo.parent / "work-remote.git", "rev-parse", "main")


def refused(code: str, call, *args, **kwargs) -> UserError:
    with pytest.raises(UserError) as err:
        call(*args, **kwargs)
    assert err.value.code == code, err.value.render()
    return err.value


def set_rank(repo: Path, rank: int) -> None:
    config = repo / "configs/adapters/a.yaml"
    text = config.read_text()
    config.write_text(text.replace(text[text.index("r: "):].split("\n", 1)[0], f"r: {rank}"))


def test_evidence_of_an_unmerged_pull_request_is_refused(repo):
    git(repo, "checkout", "-q", "-b", "pr")
    set_rank(repo, 4)
    commit_all(repo, "an unmerged change")
    git(repo, "push", "-q", "origin", "pr")
    ev = evidence(repo)  # the gate's evidence for the PR head, complete and well-formed
    git(repo, "checkout", "-q", "main")
    before = remote_head(repo)
    err = refused("MC719", promote, repo, adapter="a", evidence=ev, actor="ci")
    assert ev["commit"][:12] in err.message and "not in the history" in err.message
    assert remote_head(repo) == before


def test_evidence_from_another_repository_is_refused(repo, tmp_path):
    other = make_repo(tmp_path, GOLDEN / "base", name="elsewhere")
    (other / "README").write_text("another repository\n")
    commit_all(other, "elsewhere")
    ev = evidence(other)  # same config, same key: only the history tells them apart
    git(repo, "fetch", "-q", str(other), "main")
    assert ev["config_key"] == key_of(repo, "a")
    refused("MC719", promote, repo, adapter="a", evidence=ev, actor="ci")


def test_stale_evidence_after_a_later_merge_changed_the_config_is_refused(repo):
    ev = evidence(repo)  # judged for rank 8 at this commit, which is on main
    set_rank(repo, 16)
    commit_all(repo, "a later merge changes the rank")
    git(repo, "push", "-q", "origin", "main")
    before = remote_head(repo)
    err = refused("MC728", promote, repo, adapter="a", evidence=ev, actor="ci")
    assert "config key" in err.message and ev["config_key"][:12] in err.message
    assert remote_head(repo) == before
    # The gate's evidence for the branch head as it is now lands.
    assert promote(repo, adapter="a", evidence=evidence(repo), actor="ci").entry["seq"] == 1


def test_evidence_without_or_with_a_forged_config_key_is_refused(repo):
    ev = evidence(repo)
    refused("MC728", promote, repo, adapter="a",
            evidence={k: v for k, v in ev.items() if k != "config_key"}, actor="ci")
    refused("MC728", promote, repo, adapter="a", evidence={**ev, "config_key": "0" * 64},
            actor="ci")
    # An adapter the branch head no longer has cannot take evidence either.
    (repo / "configs/adapters/a.yaml").unlink()
    commit_all(repo, "remove a")
    git(repo, "push", "-q", "origin", "main")
    err = refused("MC728", promote, repo, adapter="a", evidence=ev, actor="ci")
    assert "does not resolve" in err.message


def test_gate_output_of_an_unmerged_head_is_refused(repo, tmp_path):
    from modelcfg.audit.promote import promote_gate_output

    git(repo, "checkout", "-q", "-b", "pr")
    set_rank(repo, 4)
    commit_all(repo, "an unmerged change")
    ev = evidence(repo)
    git(repo, "checkout", "-q", "main")
    out = tmp_path / "gate"
    (out / "evidence").mkdir(parents=True)
    (out / "evidence/a.json").write_text(json.dumps(ev))
    (out / "gate.json").write_text(json.dumps({
        "verdict": "pass", "agent": [], "configs": [{"adapter": "a",
                                                     "evidence": "evidence/a.json"}]}))
    refused("MC719", promote_gate_output, repo, out, actor={"merged_by": "m"})


def two_promotions(repo: Path) -> tuple[str, str]:
    """Two promotions of ``a`` on main; returns (first promotion commit, initial commit)."""
    initial = head(repo)
    first = promote(repo, adapter="a", evidence=evidence(repo, "a", "ab"), actor="ci")
    set_rank(repo, 16)
    commit_all(repo, "rank 16")
    git(repo, "push", "-q", "origin", "main")
    promote(repo, adapter="a", evidence=evidence(repo, "a", "cd"), actor="ci")
    return first.commit, initial


def test_rollback_to_a_commit_outside_the_branch_is_refused(repo):
    first, _ = two_promotions(repo)
    # A branch that forges a "promoted" baseline and an old config to roll back to.
    git(repo, "checkout", "-q", "-b", "forged", first)
    set_rank(repo, 64)
    baseline = json.loads((repo / "evals/baselines/a.json").read_text())
    (repo / "evals/baselines/a.json").write_text(dumps_baseline(
        {**baseline, "fingerprint": "ee" * 32}))
    forged = commit_all(repo, "a forged rollback target")
    git(repo, "checkout", "-q", "main")
    before = remote_head(repo)
    err = refused("MC719", rollback, repo, adapter="a", to_rev=forged, actor="maintainer")
    assert "rollback target" in err.message and remote_head(repo) == before
    assert rollback(repo, adapter="a", to_rev=first, actor="maintainer").entry["seq"] == 3


def test_rollback_to_a_baseline_whose_evidence_is_foreign_is_refused(repo):
    first, _ = two_promotions(repo)
    git(repo, "checkout", "-q", "-b", "elsewhere", first)
    (repo / "x.txt").write_text("never merged\n")
    foreign = commit_all(repo, "a commit that never reached main")
    git(repo, "checkout", "-q", "main")
    path = repo / "evals/baselines/a.json"
    real = path.read_text()
    path.write_text(dumps_baseline({**json.loads(real), "commit": foreign}))
    target = commit_all(repo, "a baseline that claims foreign evidence")
    path.write_text(real)
    commit_all(repo, "put the real baseline back")
    git(repo, "push", "-q", "origin", "main")
    err = refused("MC719", rollback, repo, adapter="a", to_rev=target, actor="maintainer")
    assert "restored baseline's commit" in err.message


def test_shallow_ci_clone_is_deepened_before_refusing(repo, tmp_path):
    ev = evidence(repo)
    for n in range(3):
        (repo / f"notes-{n}.txt").write_text("later\n")
        commit_all(repo, f"later {n}")
    git(repo, "push", "-q", "origin", "main")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "1", "--no-local", "--branch", "main",
                    str(repo.parent / "work-remote.git"), str(shallow)], check=True)
    git(repo.parent / "work-remote.git", "config", "uploadpack.allowAnySHA1InWant", "true")
    result = promote(shallow, adapter="a", evidence=ev, actor="ci")
    assert result.entry["commit"] == ev["commit"]
