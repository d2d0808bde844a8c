"""Shared by the gate's pure tests (test_looks, test_verdict): one Thresholds document with a
capability task, a gain-required task and a safety task."""

from __future__ import annotations

from modelcfg.config.model import Thresholds

THRESHOLDS = Thresholds.from_document({
    "apiVersion": "modelcfg/v1", "kind": "Thresholds", "name": "t",
    "defaults": {"margin": 0.05, "alpha": 0.05, "safety_alpha": 0.01},
    # Directions written out: these tests judge without results to read lm-eval's direction
    # from (the gate settles it from them before the looks: modelcfg.gate.direction).
    "tasks": {"gen": {"metric": "exact_match", "higher_is_better": True},
              "mc": {"metric": "acc", "require_gain": True, "higher_is_better": True}},
    "safety": {"refuse": {"metric": "refusal_rate", "floor": 0.8, "higher_is_better": True}},
})
