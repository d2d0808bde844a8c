"""Evidence the gate compares: baselines in results form, the config key that tells a stale
baseline, and evaluation batch by batch in a fixed item order."""

from __future__ import annotations

from pathlib import Path


def baseline_as_results(baseline: dict) -> dict:
    """A baseline file's tasks in the results-file shape the verdict functions pair on."""
    tasks = {}
    for name, task in baseline.get("tasks", {}).items():
        samples: dict[str, dict] = {}
        for metric, items in task.get("samples", {}).items():
            for doc_id, (doc_hash, score) in items.items():
                entry = samples.setdefault(doc_id, {"doc_hash": doc_hash, "scores": {}})
                entry["scores"][metric] = score
        tasks[name] = {"version": task.get("version"), "config_hash": task.get("config_hash"),
                       "n_docs": task.get("n_docs"), "samples": samples,
                       "metrics": task.get("metrics", {})}
    return {"lm_eval_version": (baseline.get("harness") or {}).get("version"), "tasks": tasks}


def config_key(resolved: dict) -> str:
    """What the trained result depends on in the configs alone (no library versions): used
    to tell whether a baseline still describes the base commit's config."""
    from modelcfg.fingerprint import (NON_RESULT_FIELDS, NON_RESULT_TRAINING_FIELDS,
                                      canonical_json, sha256_bytes)

    def strip(doc: dict) -> dict:
        out = {k: v for k, v in doc.items() if k not in NON_RESULT_FIELDS}
        if isinstance(out.get("training"), dict):
            out["training"] = {k: v for k, v in out["training"].items()
                               if k not in NON_RESULT_TRAINING_FIELDS}
        return out

    return sha256_bytes(canonical_json({
        "adapter": strip(resolved["adapter"]), "model": strip(resolved["model"]),
        "datasets": [d.get("sha256") or d.get("revision") for d in resolved["datasets"]]}))





class Evaluator:
    """Evaluates one model (base + optional adapter) batch by batch, merging the results."""

    def __init__(self, model_path: Path, adapter_path: Path | None, tasks_dir: Path,
                 out_dir: Path, seed: int, fingerprint: dict, emit):
        self.model_path, self.adapter_path = model_path, adapter_path
        self.tasks_dir, self.out_dir, self.seed = tasks_dir, out_dir, seed
        self.fingerprint, self.emit = fingerprint, emit
        self.results: dict | None = None
        self.done: dict[str, int] = {}  # task -> items evaluated (a prefix of the order)
        self.batches = 0

    def evaluate_to(self, wanted: dict[str, int]) -> None:
        """Evaluate each task up to ``wanted[task]`` items of the fixed order."""
        from modelcfg.evaluate import evaluate, merge_results

        groups: dict[tuple[int, int], list[str]] = {}
        for task, n in wanted.items():
            have = self.done.get(task, 0)
            if n > have:
                groups.setdefault((have, n - have), []).append(task)
        for (offset, limit), tasks in sorted(groups.items()):
            self.batches += 1
            out = self.out_dir / f"batch-{self.batches:03d}.json"
            self.emit({"event": "eval_batch", "tasks": tasks, "offset": offset,
                       "limit": limit})
            part = evaluate(self.model_path, tasks, self.tasks_dir, out,
                            adapter_path=self.adapter_path,
                            model_fingerprint=self.fingerprint, order_seed=self.seed,
                            offset=offset, limit=limit)
            self.results = part if self.results is None else merge_results(self.results, part)
            for task in tasks:
                self.done[task] = offset + limit

    def task(self, name: str) -> dict:
        return (self.results or {}).get("tasks", {}).get(name, {})


def fixed_order(n_docs: int, seed: int) -> list[str]:
    from modelcfg.evaluate import item_order

    return [str(i) for i in item_order(n_docs, seed)]


