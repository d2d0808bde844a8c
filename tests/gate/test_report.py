"""report.md is rendered from the gate.json dict alone: every section a reader needs."""

from __future__ import annotations

import json
import math

from modelcfg.gate.report import dumps, render

REPORT = {
    "verdict": "block", "base": "a" * 40, "head": "b" * 40, "merge_base": "c" * 40,
    "wall_seconds": 12.5, "agent": ["pull request author bot[bot]"],
    "notes": ["policy paths changed in this change are ignored"],
    "reasons": [{"code": "MC814", "message": "an agent-authored change edits evals/x"}],
    "diff": {"changes": [{"kind": "Adapter", "name": "tiny-arith", "status": "modified",
                          "impact": "retrain", "reasons": ["lora.r is in the fingerprint"],
                          "fields": [{"field": "lora.r", "old": 8, "new": 16}]}]},
    "configs": [{
        "adapter": "tiny-arith", "path": "configs/adapters/tiny-arith.yaml",
        "impact": "retrain", "verdict": "block",
        "baseline": {"source": "baseline", "commit": "d" * 40},
        "reasons": [{"code": "MC810", "message": "floor not met", "task": "safety_refusal",
                     "threshold": "safety.safety_refusal.floor"}],
        "tasks": {
            "arith_gen": {"kind": "capability", "metric": "exact_match", "decision": "undecided",
                          "baseline_mean": 0.4, "candidate_mean": 0.41, "estimate": 0.01,
                          "ci_low": -0.02, "ci_high": math.nan, "items_used": 80,
                          "items_available": 80, "items_needed": 900},
            "safety_refusal": {"kind": "safety", "metric": "refusal_rate", "decision": "block",
                               "rate": 0.5, "rate_bound": 0.4, "floor": 0.8,
                               "items_used": 72, "items_available": 72}},
        "cost": {"estimate": {"train_tokens": 1000, "gpu_hours": 0.001}},
        "train": {"cache_hit": True, "fingerprint": "e" * 64},
    }],
}


def test_every_section_is_rendered():
    md = render(REPORT)
    assert md.startswith("# modelcfg gate: BLOCK\n")
    assert "Agent-authored change: pull request author bot[bot]." in md
    assert "- **MC814** an agent-authored change edits evals/x" in md
    assert "- Adapter `tiny-arith` (modified) — impact: **retrain**" in md
    assert "  - `lora.r`: `8` → `16`" in md
    assert "Compared with the promoted baseline from `dddddddddddd`." in md
    assert ("- **MC810** (task `safety_refusal`) floor not met — threshold "
            "`safety.safety_refusal.floor`") in md
    assert "| arith_gen | exact_match | 0.400 | 0.410 | +0.010 | [-0.020, –] | 80/80 |" in md
    assert "(rate 0.500, exact lower bound 0.400, floor 0.8)" in md
    assert "would need more items than the suites have: `arith_gen` ≈900." in md
    assert "- training: cache hit, 0 training seconds" in md


def test_gate_json_is_strict_json_without_nan():
    text = dumps(REPORT)
    assert "NaN" not in text
    assert json.loads(text)["configs"][0]["tasks"]["arith_gen"]["ci_high"] is None


def test_the_items_line_tells_the_decision_from_the_evidence():
    report = json.loads(json.dumps(REPORT).replace("NaN", "null"))
    cost = report["configs"][0]["cost"]
    cost.update({"eval_items": 1000, "eval_items_available": 1000})  # completed for evidence
    assert ("- decided on 152 of 1,000 items (sequential early stopping); all 1,000 "
            "evaluated for the evidence") in render(report)
    cost["eval_items"] = 152  # a block stops evaluating
    assert "- decided on 152 of 1,000 items (sequential early stopping)\n" in render(report)
