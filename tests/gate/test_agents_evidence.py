"""Agent recognition, the paths agents may touch, and the config key of a baseline."""

from __future__ import annotations

from repo_helpers import commit_all, git, make_repo
from trainhelp import contract_doc, edited

from modelcfg.config.model import Adapter, Contract, DatasetRef, Model, ResolvedAdapter
from modelcfg.gate.agents import (
    agent_authored,
    agent_path_reasons,
    is_agent_identity,
    trailer_matches,
)
from modelcfg.gate.evidence import baseline_as_results, config_key
from modelcfg.gate.identity import commit_identities, parse_commit
from modelcfg.gate.identity import trailers as identity_trailers

CONTRACT = Contract.from_document(contract_doc(
    agents={"authors": ["*[bot]", "agent-*"], "trailers": ["Agent: *"], "labels": ["agent"],
            "allowed_paths": ["configs/adapters/**"]},
    protected_paths=["evals/**", ".github/**"]))


def commit(author="Dev", email="dev@example.com", trailers=(), committer=None):
    committer = committer or f"{author} <{email}>"
    return {"sha": "a" * 40, "people": [f"{author} <{email}>", committer],
            "trailers": [list(t.split(": ", 1)) for t in trailers]}


def test_humans_are_not_agents():
    assert agent_authored(CONTRACT, [commit()], "alice", ["bug"]) == []


def test_agents_are_recognised_by_author_trailer_label_or_pr_author():
    assert agent_authored(CONTRACT, [commit("renovate[bot]")], None, []) == [
        f"commit {'a' * 10} by renovate[bot] <dev@example.com>"]
    assert agent_authored(CONTRACT, [commit(trailers=["Agent: coder"])], None, []) == [
        f"commit {'a' * 10} trailer 'Agent: coder'"]
    assert agent_authored(CONTRACT, [commit()], "agent-7", []) == ["pull request author agent-7"]
    assert agent_authored(CONTRACT, [commit()], None, ["agent"]) == ["label agent"]


def test_recognition_ignores_case_spacing_and_invisible_characters():
    for ident in ("Renovate[BOT]", "AGENT-7", "agent\u200b-7", "\uff21gent-7", " agent-7 ",
                  "agent-7 <x@example.com>", "Dev <agent-7@example.com>",
                  "Dev <123+agent-7@users.noreply.github.com>", "agent-7[bot]", "@agent-7"):
        assert is_agent_identity(CONTRACT.agents.authors, ident), ident
    for ident in ("Dev <dev@example.com>", "secret-agent-x", "7-agent"):
        assert not is_agent_identity(CONTRACT.agents.authors, ident), ident
    assert agent_authored(CONTRACT, [], "Agent-7", []) == ["pull request author Agent-7"]
    for label in ("AGENT", " Agent ", "\uff41gent"):
        assert agent_authored(CONTRACT, [], None, [label]) == [f"label {label}"], label


def test_trailers_are_read_in_any_case_and_spacing_and_anywhere_in_the_body():
    message = ("subject\n\nagent:x\nAGENT :y\n\nmore text after the trailers\n"
               "Co authored_by: Helper\n  <helper[bot]@example.com>\n")
    found = identity_trailers(message)
    assert ("agent", "x") in found and ("AGENT", "y") in found
    assert ("Co-authored-by", "Helper <helper[bot]@example.com>") in found  # folded
    assert identity_trailers("Agent: only the subject\n\nbody") == []
    for text in ("agent:x", "AGENT :   x", "Agent:\tx", "a\u200bgent: x", "Agent\uff1ax",
                 "Agent: org/bot"):
        key, value = identity_trailers(f"s\n\n{text}")[0]
        assert trailer_matches("Agent: *", key, value), text
    assert not trailer_matches("Agent: *", "Agents", "x")


def test_what_a_commit_says_only_adds_agent_status():
    agent = commit("agent-1", trailers=["Agent: none", "Human: yes"], committer="Dev <d@x>")
    assert agent_authored(CONTRACT, [agent], None, []) == [
        f"commit {'a' * 10} by agent-1 <dev@example.com>",
        f"commit {'a' * 10} trailer 'Agent: none'"]
    # A human author with an agent committer, or an agent co-author, is an agent change.
    assert agent_authored(CONTRACT, [commit(committer="agent-2 <a2@x>")], None, [])
    co = commit(trailers=["Co-authored-by: Helper <helper@example.com>",
                          "Signed-off-by: agent-3 <a3@example.com>"])
    assert agent_authored(CONTRACT, [co], None, []) == [
        f"commit {'a' * 10} signed-off-by agent-3 <a3@example.com>"]
    assert agent_authored(CONTRACT, [commit(trailers=["co-authored-by: X[Bot] <x@y>"])],
                          None, [])
    # The pull request's author decides whatever the commits say.
    assert agent_authored(CONTRACT, [commit(trailers=["Human: yes"])], "agent-9", ["human"])


def test_agent_paths():
    reasons = agent_path_reasons(CONTRACT, ["configs/adapters/a.yaml", "evals/thresholds.yaml",
                                            "configs/models/m.yaml"])
    assert [(r.code, r.field) for r in reasons] == [("MC814", "evals/thresholds.yaml"),
                                                   ("MC814", "configs/models/m.yaml")]
    assert "protected path" in reasons[0].message
    assert "allowed_paths" in reasons[1].message


def test_commit_identities_read_authors_and_trailers(tmp_path):
    repo = make_repo(tmp_path)
    base = git(repo, "rev-parse", "HEAD")
    (repo / "x.txt").write_text("x")
    commit_all(repo, "change\n\nAgent: coder\nSigned-off-by: Dev <dev@example.com>",
               env={"GIT_AUTHOR_NAME": "agent-1", "GIT_AUTHOR_EMAIL": "a1@example.com"})
    (found,) = commit_identities(repo, base, "HEAD")
    assert found["people"] == ["agent-1 <a1@example.com>", "Test <test@example.com>"]
    assert found["trailers"] == [["Agent", "coder"], ["Signed-off-by", "Dev <dev@example.com>"]]


def test_every_commit_of_the_range_is_read_merges_included(tmp_path):
    """No commit is lost: not the oldest one without trailers (whitespace-stripped ``git
    log`` output once dropped it), not one behind a merge, not the merge itself."""
    repo = make_repo(tmp_path)
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "side")
    (repo / "s.txt").write_text("s")
    side = commit_all(repo, "side", env={"GIT_AUTHOR_NAME": "agent-1"})
    git(repo, "checkout", "-q", "main")
    (repo / "m.txt").write_text("m")
    main = commit_all(repo, "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "side")
    merge = git(repo, "rev-parse", "HEAD")
    found = {c["sha"]: c for c in commit_identities(repo, base, "HEAD")}
    assert set(found) == {side, main, merge}
    assert found[side]["people"][0] == "agent-1 <test@example.com>"


def test_commit_parsing_is_not_shifted_by_control_characters():
    raw = (b"tree 0\nauthor Dev\x1f\x1e <d@x> 1700000000 +0000\n"
           b"committer C <c@x> 1 -0100\n\nsubject\x1e\n\nAgent:\x1f bot\n")
    assert parse_commit("b" * 40, raw) == {"sha": "b" * 40,
                                           "people": ["Dev <d@x>", "C <c@x>"],
                                           "trailers": [["Agent", "bot"]]}


V1 = {"apiVersion": "modelcfg/v1"}
DATASET = {"path": "d.jsonl", "sha256": "0" * 64}
RESOLVED = ResolvedAdapter(
    adapter=Adapter.from_document({
        **V1, "kind": "Adapter", "name": "a", "base": "m", "rationale": "x",
        "budget": {"max_train_tokens": 1}, "evals": {"suites": ["s"]},
        "lora": {"r": 8, "lora_alpha": 16, "target_modules": ["q_proj"]},
        "training": {"max_steps": 5, "checkpoint_every": 2, "learning_rate": 0.001,
                     "batch_size": 2, "max_seq_length": 32},
        "datasets": [DATASET]}),
    adapter_path="configs/adapters/a.yaml",
    model=Model.from_document({**V1, "kind": "Model", "name": "m", "family": "llama",
                               "context_length": 64, "source": {"builtin": "tiny-llama"}}),
    model_parameters=1, datasets=(DatasetRef(**DATASET),), suites=(), tasks=(), contract=None)


def test_config_key_ignores_what_does_not_change_the_result():
    key = config_key(RESOLVED)
    for path, value in ((("adapter", "rationale"), "y"), (("adapter", "budget"), {}),
                        (("adapter", "evals"), {"suites": ["t"]}),
                        (("adapter", "training", "checkpoint_every"), 9)):
        def change(data, path=path, value=value):
            target = data
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = value

        assert config_key(edited(RESOLVED, change)) == key, path
    for change in (lambda r: r["adapter"]["lora"].update(r=16),
                   lambda r: r["datasets"][0].update(sha256="1" * 64),
                   lambda r: r["model"].update(dtype="bfloat16")):
        assert config_key(edited(RESOLVED, change)) != key


def test_baseline_as_results_regroups_samples_by_doc():
    baseline = {"harness": {"version": "0.4"}, "tasks": {"t": {
        "version": 1, "config_hash": "h", "n_docs": 2, "metrics": {},
        "samples": {"acc": {"0": ["h0", 1.0], "1": ["h1", 0.0]},
                    "f1": {"0": ["h0", 0.5], "1": ["h1", 0.25]}}}}}
    results = baseline_as_results(baseline)
    assert results["lm_eval_version"] == "0.4"
    assert results["tasks"]["t"]["samples"] == {
        "0": {"doc_hash": "h0", "scores": {"acc": 1.0, "f1": 0.5}},
        "1": {"doc_hash": "h1", "scores": {"acc": 0.0, "f1": 0.25}}}


def test_gate_refuses_a_symlink_out_of_the_repository(tmp_path):
    import os

    from repo_helpers import GOLDEN

    from modelcfg.gate.run import run_gate

    repo = make_repo(tmp_path, GOLDEN / "base")
    git(repo, "checkout", "-q", "-b", "evil")
    os.symlink("/etc/passwd", repo / "configs/datasets/evil.jsonl")
    commit_all(repo, "add a link out of the repository")
    report = run_gate(repo, "main", "evil", tmp_path / "out")
    assert report["verdict"] == "block"  # no symlink under configs/ at all (MC821)
    assert [r["code"] for r in report["reasons"]] == ["MC821"]
    assert "configs/datasets/evil.jsonl is a symlink" in report["reasons"][0]["message"]
    assert (tmp_path / "out" / "report.md").is_file()


def test_gate_blocks_a_config_the_change_made_unreadable(tmp_path):
    from repo_helpers import GOLDEN

    from modelcfg.gate.run import run_gate

    repo = make_repo(tmp_path, GOLDEN / "base")
    git(repo, "checkout", "-q", "-b", "broken")
    (repo / "configs/adapters/a.yaml").write_text("apiVersion: modelcfg/v1\nkind: [\n")
    commit_all(repo, "break an adapter's YAML")
    report = run_gate(repo, "main", "broken", tmp_path / "out")
    assert report["verdict"] == "block"
    assert [(r["code"], r["field"]) for r in report["reasons"]] == [
        ("MC801", "configs/adapters/a.yaml")]
    assert "MC103" in report["reasons"][0]["message"]
