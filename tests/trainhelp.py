"""Helpers for the training tests: resolve an adapter config straight from its YAML
(independent of the workspace checks, which need eval suites these tests do not use)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from modelcfg.config.builtin import BUILTIN

REPO = Path(__file__).resolve().parents[1]


def resolve_yaml(adapter_path: str, root: Path = REPO, **training) -> dict:
    adapter = yaml.safe_load((root / adapter_path).read_text())
    adapter["training"].update(training)
    model = yaml.safe_load((root / "configs" / "models" / f"{adapter['base']}.yaml").read_text())
    datasets = [{"path": d["path"], "abs_path": str(root / d["path"]), "sha256": d["sha256"]}
                for d in adapter["datasets"]]
    return {"adapter": adapter, "model": model, "datasets": datasets, "tasks": [],
            "model_parameters": BUILTIN["tiny-llama"]["parameters"], "contract": None}


def with_changes(resolved: dict, **training) -> dict:
    out = copy.deepcopy(resolved)
    out["adapter"]["training"].update(training)
    return out
