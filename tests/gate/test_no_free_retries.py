"""No free retries: the item order is derived per pull request and base (and a secret that
never leaves the process), and an agent's lineage gets a limited number of blocked attempts.

A real repository with this repository's own configs/ and evals/ and a bare remote. Every
attempt here is stopped before training (an agent's change that leaves out a required suite,
MC817) or has impact none (a rationale edit), so nothing trains; attempts are recorded in
the remote's ledger with `modelcfg audit record-attempt`, as the workflow's job does.
"""

from __future__ import annotations

import json

import pytest
from repo_helpers import git
from test_trust_places import ADAPTER, Repo, codes, edit

from modelcfg.audit.attempts import record_attempts
from modelcfg.audit.ledger import audit
from modelcfg.cli.app import main
from modelcfg.evaluation.batches import fixed_order
from modelcfg.gate.order import order_record, order_seed, pr_identity
from modelcfg.gate.run import GateSettings, run_gate

SECRET = "hunter2-order-secret-7f3a"
BASE = "a" * 40


def test_the_same_inputs_give_the_same_order_and_each_input_changes_it():
    seed = order_seed(BASE, "17", 0, SECRET)
    assert seed == order_seed(BASE, "17", 0, SECRET) and 0 <= seed < 2 ** 53
    order = fixed_order(400, seed)
    assert order == fixed_order(400, order_seed(BASE, "17", 0, SECRET))
    for other in (order_seed("b" * 40, "17", 0, SECRET),  # another base commit
                  order_seed(BASE, "18", 0, SECRET),  # another pull request
                  order_seed(BASE, "17", 1, SECRET),  # sequential.seed re-draws every order
                  order_seed(BASE, "17", 0, "another secret"),
                  order_seed(BASE, "17", 0, None)):  # no secret: public derivation
        assert other != seed and fixed_order(400, other)[:50] != order[:50]
    assert order_seed(BASE, "17", 0, "") == order_seed(BASE, "17", 0, None)


def test_the_derivation_is_the_documented_hmac():
    import hashlib
    import hmac

    message = (b'{"base":"' + BASE.encode() + b'","format":"modelcfg-order/1","pr":"17",'
               b'"seed":0}')
    digest = hmac.new(SECRET.encode(), message, hashlib.sha256).digest()
    assert order_seed(BASE, "17", 0, SECRET) == int.from_bytes(digest[:8], "big") >> 11
    public = hmac.new(b"modelcfg-order/1", message, hashlib.sha256).digest()
    assert order_seed(BASE, "17", 0, None) == int.from_bytes(public[:8], "big") >> 11
    assert pr_identity(" 17 ", BASE) == "17" and pr_identity(None, BASE) == f"commit:{BASE}"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return Repo(tmp_path_factory.mktemp("retries"))


def gate(repo: Repo, head: str, **settings) -> dict:
    repo.count += 1
    out = repo.tmp / f"gate-{repo.count}"
    events = []
    report = run_gate(repo.path, "main", head, out,
                      GateSettings(runs_dir=repo.tmp / "runs", model_cache=repo.tmp / "cache",
                                   **settings), emit=events.append)
    assert not (repo.tmp / "runs").exists(), "nothing may train"
    report["out"], report["events"] = out, events
    return report


def test_gate_json_records_the_order_inputs_but_never_the_secret(repo, capfd, monkeypatch):
    head = repo.branch("order", lambda r: None)
    settings = GateSettings(pr="17", order_secret=SECRET)
    assert SECRET not in repr(settings)
    report = gate(repo, head, pr="17", order_secret=SECRET)
    base = git(repo.path, "rev-parse", "main")
    assert report["verdict"] == "pass" and report["pr"] == "17"
    assert report["order"] == order_record(base, "17", 0, SECRET,
                                           order_seed(base, "17", 0, SECRET))
    assert report["order"]["secret"] is True
    files = [p for p in report["out"].rglob("*") if p.is_file()]
    assert files and not [p for p in files if SECRET.encode() in p.read_bytes()]
    assert SECRET not in json.dumps(report["events"])
    # Through the command line: the secret comes from the environment only.
    monkeypatch.setenv("MODELCFG_ORDER_SECRET", SECRET)
    out = repo.tmp / "cli-out"
    rc = main(["gate", "--base", "main", "--head", head, "--pr", "17", "--out", str(out),
               "--runs-dir", str(repo.tmp / "cli-runs"), "--root", str(repo.path),
               "--format", "json"])
    captured = capfd.readouterr()
    assert rc == 0 and SECRET not in captured.out + captured.err
    written = json.loads((out / "gate.json").read_text())
    assert written["order"] == report["order"]  # the same inputs: the same order
    assert not [p for p in out.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    monkeypatch.delenv("MODELCFG_ORDER_SECRET")
    public = gate(repo, head, pr="17")["order"]
    assert public["secret"] is False and public["seed"] != report["order"]["seed"]
    assert gate(repo, head, pr="18", order_secret=SECRET)["order"]["seed"] != \
        report["order"]["seed"]


LEAVE_OUT_SAFETY = edit(ADAPTER, "suites: [capability, safety, robustness]",
                        "suites: [capability, robustness]")


def attempt(repo: Repo, name: str, change, *, pr: str, labels=(), author="arith-agent"
            ) -> dict:
    """One pull request's gate run, recorded in the remote ledger as the workflow does."""
    report = gate(repo, repo.branch(name, change), pr=pr, pr_author=author,
                  labels=list(labels))
    record_attempts(repo.path, report["out"])
    return report


def test_after_k_blocked_attempts_an_agents_next_attempt_needs_a_maintainer_label(repo):
    committed = (repo.path / "evals/ledger.jsonl").read_text().splitlines()
    last = len(committed)  # the committed ledger: the adapter's promotions (seq 1..last)
    for n in range(3):  # the shipped contract's agents.max_failed_attempts is the default 3
        report = attempt(repo, f"fail-{n}", LEAVE_OUT_SAFETY, pr=str(40 + n))
        assert report["verdict"] == "block" and codes(report) == {"MC817"}
        assert report["attempts"]["tiny-arith"]["failed_since_promotion"] == n
    plain = lambda r: None  # noqa: E731 - a rationale edit only: it would pass
    refused = attempt(repo, "next", plain, pr="43")
    assert refused["verdict"] == "block" and codes(refused) == {"MC828"}
    [reason] = refused["configs"][0]["reasons"]
    assert "3 blocked agent attempt(s)" in reason["message"]
    assert "maintainer-approved" in reason["message"]
    assert refused["attempts"]["tiny-arith"] == {
        "lineage": ["tiny-arith"], "failed_since_promotion": 3, "limit": 3,
        "since_ledger_seq": last, "failed_ledger_seqs": [last + 1, last + 2, last + 3]}
    # A refusal is not judged, so not recorded: the ledger holds the 3 attempts only.
    ledger = (repo.path / "evals/ledger.jsonl").read_text().splitlines()
    assert [json.loads(line)["action"] for line in ledger] == ["promote"] * last + ["attempt"] * 3
    approved = attempt(repo, "approved", plain, pr="44", labels=["Maintainer-Approved"])
    assert approved["verdict"] == "pass"
    assert approved["attempts"]["tiny-arith"]["approved_by"] == "Maintainer-Approved"
    human = attempt(repo, "human", plain, pr="45", author="alice")
    assert human["verdict"] == "pass" and human["attempts"] == {}  # humans are not limited
    assert audit(repo.path, "main") == []
