"""Evaluating one model batch by batch in a fixed item order, the batches merged as they come:
what lets the gate stop early (a look is a prefix of the order) and resume a look."""

from __future__ import annotations

from pathlib import Path

from modelcfg.evaluation.harness import evaluate, item_order
from modelcfg.evaluation.results import merge_results


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
    """The doc ids of a task in the order :class:`Evaluator` evaluates them."""
    return [str(i) for i in item_order(n_docs, seed)]
