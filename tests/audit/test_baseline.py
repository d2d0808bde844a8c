"""Baseline files: build, check, read back from any tree, fail closed."""

from __future__ import annotations

import hashlib
import json

import pytest
from audit_helpers import FP, make_baseline, make_manifest, make_results, write_baseline
from repo_helpers import commit_all, make_repo

from modelcfg.audit.baseline import (
    baseline_problems,
    baseline_sha256,
    build_baseline,
    dumps_baseline,
    read_baseline,
)
from modelcfg.config.trees import FsTree, GitTree
from modelcfg.core.errors import UserError


def test_build_shape():
    b = make_baseline()
    assert b["adapter"] == "a" and b["fingerprint"] == FP and b["commit"] == "c0ffee"
    assert b["harness"] == {"name": "lm-eval", "version": "0.4.9"}
    task = b["tasks"]["arith_gen"]
    assert task["metrics"]["exact_match"] == {"value": 0.75, "stderr": 0.25, "n": 4,
                                              "higher_is_better": True}
    assert task["samples"]["exact_match"]["0"] == [
        hashlib.sha256(b"arith_gen0").hexdigest(), 1.0]
    assert (task["version"], task["config_hash"]) == (1.0, "sha256:arith_gen")
    assert b["cost"] == {"gpu_hours": 0.001, "train_tokens": 1234, "wall_seconds": 12.5,
                         "train_seconds": 10.0, "parameters": 100000, "device": "cpu"}
    assert b["latency"]["tokens_per_second"] == 50.0
    assert b["ledger"] is None


def test_round_trip_through_a_commit(tmp_path):
    repo = make_repo(tmp_path)
    b = make_baseline()
    path = write_baseline(repo, b)
    assert path == repo / "evals/baselines/a.json"
    text = path.read_text()
    assert f'"0": ["{hashlib.sha256(b"arith_gen0").hexdigest()}", 1.0]' in text  # one per line
    commit_all(repo, "baseline")
    assert read_baseline(GitTree(repo, "HEAD"), "a") == b
    assert read_baseline(FsTree(repo), "a") == b
    assert read_baseline(repo, "a") == b
    assert read_baseline(GitTree(repo, "HEAD"), "other") is None
    assert json.loads(text) == b
    assert baseline_sha256(b) == baseline_sha256({**b, "ledger": {"seq": 1, "hash": "0" * 64}})


@pytest.mark.parametrize("mutate, message", [
    (lambda t: t.replace('"value": 0.75', '"value": NaN'), "not valid JSON"),
    (lambda t: t.replace('"value": 0.75', '"value": null'), "value must be a finite number"),
    (lambda t: t.replace('"n": 4', '"n": 3', 1), "n is 3 but 4 item(s) are stored"),
    (lambda t: t.replace('"fingerprint": "', '"fingerprint": "x', 1), "fingerprint must be"),
    (lambda t: t.replace('"0": [', '"x": [', 1),
     "malformed item"),
    (lambda t: t[:-3], "not valid JSON"),
    (lambda t: "[]", "top level must be a JSON object"),
])
def test_malformed_baselines_fail_closed(tmp_path, mutate, message):
    write_baseline(tmp_path, make_baseline())
    path = tmp_path / "evals/baselines/a.json"
    path.write_text(mutate(path.read_text()))
    with pytest.raises(UserError) as err:
        read_baseline(tmp_path, "a")
    assert err.value.code == "MC701"
    assert err.value.path == "evals/baselines/a.json"
    assert message in err.value.message


def test_baseline_of_another_adapter_is_refused(tmp_path):
    write_baseline(tmp_path, make_baseline("b"))
    (tmp_path / "evals/baselines/b.json").rename(tmp_path / "evals/baselines/a.json")
    with pytest.raises(UserError, match="names adapter 'b'"):
        read_baseline(tmp_path, "a")


def test_refuses_to_build_or_write_bad_evidence(tmp_path):
    results = make_results()
    results["tasks"]["arith_gen"]["metrics"]["exact_match"]["value"] = float("nan")
    with pytest.raises(UserError) as err:
        build_baseline(results, make_manifest(), adapter="a", config_path="c", commit="x")
    assert err.value.code == "MC703"
    with pytest.raises(UserError, match="not the trained one"):
        build_baseline(make_results(fingerprint="cd" * 32), make_manifest(), adapter="a",
                       config_path="c", commit="x")
    with pytest.raises(UserError, match="over_budget"):
        build_baseline(make_results(), {**make_manifest(), "status": "over_budget"},
                       adapter="a", config_path="c", commit="x")
    bad = make_baseline()
    bad["fingerprint"] = "short"
    assert baseline_problems(bad) == ["fingerprint must be 64 hex digits"]
    with pytest.raises(UserError) as err:
        read_baseline(tmp_path, "../etc/passwd")
    assert err.value.code == "MC702"


def test_dumps_is_stable_and_valid_json():
    b = make_baseline()
    assert dumps_baseline(b) == dumps_baseline(json.loads(dumps_baseline(b)))
