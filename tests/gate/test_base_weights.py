"""The gate compares only evidence made on the same base weights (MC827), fail closed: the
rule on its own, without training (tests/gate/test_gate_e2e.py runs it in a real gate)."""

from __future__ import annotations

import pytest

from modelcfg.gate.adapter import _same_base_weights
from modelcfg.gate.verdict import ERROR, PASS, ConfigVerdict

SHA_A, SHA_B = "a" * 64, "b" * 64


def manifest(base=SHA_A):
    return {"fingerprint": "f" * 64, "weights": {"base_sha256": base, "adapter_sha256": "c" * 64}}


def judged(baseline, candidate=None):
    cv = ConfigVerdict(adapter="tiny-arith", path="configs/adapters/tiny-arith.yaml",
                       impact="retrain")
    return cv, _same_base_weights(cv, baseline, candidate or manifest())


def test_same_base_weights_are_compared():
    cv, ok = judged({"weights": {"base_sha256": SHA_A}})
    assert ok and cv.verdict == PASS and cv.reasons == []


def test_a_new_adapter_has_no_baseline_to_check():
    cv, ok = judged(None)
    assert ok and cv.verdict == PASS


@pytest.mark.parametrize("baseline", [
    {"weights": {"base_sha256": SHA_B}},  # another machine's build, a re-pinned model
    {},  # made before the weights were recorded: fail closed
    {"weights": None},
])
def test_other_or_unrecorded_base_weights_are_refused(baseline):
    cv, ok = judged(baseline)
    assert not ok and cv.verdict == ERROR
    assert [r.code for r in cv.reasons] == ["MC827"]
    assert cv.reasons[0].field == "weights.base_sha256"


def test_a_candidate_without_recorded_weights_is_refused():
    cv, ok = judged({"weights": {"base_sha256": SHA_A}}, {"fingerprint": "f" * 64})
    assert not ok and [r.code for r in cv.reasons] == ["MC827"]
