"""Helpers for the training tests: resolve an adapter config straight from its YAML
(independent of the workspace checks, which need eval suites these tests do not use)."""

from __future__ import annotations

from pathlib import Path

import yaml

from modelcfg.config.builtin import BUILTIN
from modelcfg.config.model import Adapter, DatasetRef, Model, ResolvedAdapter

REPO = Path(__file__).resolve().parents[1]


def resolve_yaml(adapter_path: str, root: Path = REPO, **training) -> ResolvedAdapter:
    """The adapter at ``adapter_path`` with ``training`` fields overridden, on its base
    model, its datasets found under ``root``; no suites and no contract."""
    adapter = yaml.safe_load((root / adapter_path).read_text())
    adapter["training"].update(training)
    model = yaml.safe_load((root / "configs" / "models" / f"{adapter['base']}.yaml").read_text())
    datasets = tuple(DatasetRef(path=d["path"], sha256=d["sha256"],
                                abs_path=str(root / d["path"])) for d in adapter["datasets"])
    return ResolvedAdapter(adapter=Adapter.from_document(adapter), adapter_path=adapter_path,
                           model=Model.from_document(model), datasets=datasets, suites=(),
                           tasks=(), model_parameters=BUILTIN["tiny-llama"]["parameters"],
                           contract=None)


def edited(resolved: ResolvedAdapter, change) -> ResolvedAdapter:
    """``resolved`` rebuilt after ``change`` edits its plain form (:meth:`to_dict`) in
    place: how tests vary one field of an immutable value."""
    data = resolved.to_dict()
    change(data)
    return ResolvedAdapter.from_dict(data)


def with_changes(resolved: ResolvedAdapter, **training) -> ResolvedAdapter:
    """``resolved`` with ``training`` fields changed."""
    return edited(resolved, lambda data: data["adapter"]["training"].update(training))


def contract_doc(**fields) -> dict:
    """A Contract document allowing every model and dataset, plus ``fields``."""
    return {"apiVersion": "modelcfg/v1", "kind": "Contract", "name": "test",
            "models": {"allow": ["**"]}, "datasets": {"allow": ["**"]}, **fields}
