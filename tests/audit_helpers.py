"""Writing baselines and ledger entries into a plain folder, the way a promotion commit
would (promote builds them with the same pure functions, then commits them)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from modelcfg.audit.baseline import (
    baseline_path,
    baseline_problems,
    build_baseline,
    dumps_baseline,
)
from modelcfg.audit.ledger import LEDGER, appended
from modelcfg.core.atomic import write_bytes, write_text


def write_baseline(root: Path, baseline: dict) -> Path:
    assert baseline_problems(baseline) == [], baseline_problems(baseline)
    path = Path(root) / baseline_path(baseline["adapter"])
    write_text(path, dumps_baseline(baseline))
    return path


def append_entry(root: Path, entry: dict, *, now: str | None = None) -> dict:
    path = Path(root) / LEDGER
    data, new = appended(path.read_bytes() if path.is_file() else b"", entry, now=now)
    write_bytes(path, data)
    return new


FP = "ab" * 32


def make_results(scores: dict[str, list[float]] | None = None, *, harness="0.4.9",
                 version=1.0, fingerprint=FP) -> dict:
    """A results file in modelcfg.evaluation.harness's format, for tasks of binary scores."""
    scores = scores or {"arith_gen": [1, 0, 1, 1], "safety_refusal": [1, 1, 0, 1]}
    tasks = {}
    for name, values in scores.items():
        metric = "exact_match" if name == "arith_gen" else "refusal_rate"
        samples = {str(i): {"doc_hash": hashlib.sha256(f"{name}{i}".encode()).hexdigest(),
                            "scores": {metric: float(v)}} for i, v in enumerate(values)}
        mean = sum(values) / len(values)
        tasks[name] = {"source": "local", "version": version, "config_hash": f"sha256:{name}",
                       "n_docs": len(values),
                       "metrics": {metric: {"value": mean, "stderr": 0.25, "n": len(values),
                                            "higher_is_better": True}},
                       "samples": samples}
    return {"format": "modelcfg-eval-results/1", "created": "2025-01-01T00:00:00+00:00",
            "modelcfg_version": "0.1.0", "lm_eval_version": harness,
            "model": {"base": "tiny", "adapter": "adapter", "fingerprint": fingerprint},
            "selection": {"order_seed": 7, "batches": [[0, None]]}, "tasks": tasks,
            "timing": {"wall_seconds": 3.0, "generation_seconds": 1.0, "generated_tokens": 50,
                       "tokens_per_second": 50.0}}


def make_manifest(adapter="a", fingerprint=FP) -> dict:
    return {"fingerprint": fingerprint, "adapter": adapter, "status": "complete",
            "cost": {"gpu_hours": 0.001, "train_tokens": 1234, "wall_seconds": 12.5,
                     "train_seconds": 10.0, "parameters": 100000, "device": "cpu",
                     "flops": 1.0}}


def make_baseline(adapter="a", commit="c0ffee", **kw) -> dict:
    return build_baseline(make_results(**kw), make_manifest(adapter, kw.get("fingerprint", FP)),
                          adapter=adapter, config_path=f"configs/adapters/{adapter}.yaml",
                          commit=commit, created="2025-01-02T00:00:00+00:00")


def hub_card(text: str):
    """The card's metadata as a model hub reads it, checked against the hub's conventions
    offline (huggingface_hub's own parsers and id rule; its online validate() is never
    called): the header parses; ``base_model`` and every ``datasets`` entry, when present,
    are hub repository ids; ``library_name`` is peft; every ``model-index`` result reads
    back with a task type, a dataset and a numeric value. Returns (metadata, results)."""
    from huggingface_hub import ModelCard
    from huggingface_hub.repocard_data import model_index_to_eval_results
    from huggingface_hub.utils import validate_repo_id

    card = ModelCard(text)
    data = card.data.to_dict()
    for repo_id in ([data["base_model"]] if "base_model" in data else []) + list(
            data.get("datasets") or []):
        validate_repo_id(repo_id)  # raises on a path or any other non-id
    assert data["library_name"] == "peft" and data["pipeline_tag"] == "text-generation"
    _, results = model_index_to_eval_results(data["model-index"])
    assert results and all(r.task_type and r.dataset_type and r.dataset_name
                           and isinstance(r.metric_value, (int, float)) for r in results)
    return data, results
