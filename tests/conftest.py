"""Shared fixtures: kept minimal on purpose (one session-wide built tiny model)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """The built-in tiny Llama (the shipped, hash-checked copy); MODELCFG_CACHE is set for
    the code that keeps other caches there."""
    import torch

    from modelcfg.tiny import build as tiny

    torch.set_num_threads(1)
    os.environ["HF_HUB_OFFLINE"] = "1"
    cache = os.environ.get("MODELCFG_CACHE") or str(tmp_path_factory.mktemp("modelcfg-cache"))
    os.environ["MODELCFG_CACHE"] = cache
    return tiny.ensure_tiny_model(cache)
