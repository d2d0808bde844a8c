"""Evaluate a base model (plus an optional LoRA adapter) on eval tasks with lm-eval.

One library entry point, :func:`evaluate`, takes values the CLI has already resolved (model
directory, adapter directory, task names) and writes one results file (format in
docs/evaluation.md): per task and metric the value, a numeric stderr and n, per-sample scores
keyed by ``doc_id`` with ``doc_hash`` (what the gate pairs on), task versions and config hashes,
the lm-eval version, the model fingerprint, wall time and generation tokens/s.

Items can be evaluated in batches in a fixed random order (``order_seed``, ``offset``,
``limit``); :func:`merge_results` joins the batches' results files.

Task names: a local task ``arith_gen`` lives in ``<tasks_dir>/arith_gen/``; ``lm-eval:<name>``
names a task shipped with lm-eval. One naming rule, end to end: results files, task facts,
baselines and the gate key every task by its suite name, so a standard task is
``lm-eval:arc_easy`` everywhere (a group or tag a caller names expands to
``lm-eval:<task>`` per task). Only the folders of the requested local tasks are indexed, and
for standard tasks only their folders under ``lm_eval/tasks/`` (found in the committed index,
:mod:`modelcfg.config.lmeval_index`); all ~13,000 of lm-eval's task YAMLs only for a group, a
tag, or an lm-eval the index was not made from.

Standard tasks read their dataset from the Hugging Face hub. Offline (``HF_HUB_OFFLINE`` or
``HF_DATASETS_OFFLINE``), a dataset already in the hub cache (a snapshot under
``datasets--<owner>--<name>/snapshots/``, found through ``refs/``) is read from there; the
results record the hub id, so they compare with results made online.

torch, transformers, peft and lm_eval are imported inside the functions that use them, so
importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from modelcfg import __version__
from modelcfg.core.errors import UserError
from modelcfg.evaluation.results import (
    RESULTS_FORMAT,
    metric_summary,
    score_value,
    write_results,
)

STANDARD_PREFIX = "lm-eval:"
# The suite schema's task-name pattern; no '/' and no leading '.', so a local name is a folder.
_TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# ----------------------------------------------------------------------------- task names


def split_task_names(tasks: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split suite task names into local task names and standard lm-eval task names."""
    local, standard = [], []
    for name in tasks:
        standard_task = name.startswith(STANDARD_PREFIX)
        bare = name[len(STANDARD_PREFIX):] if standard_task else name
        if not _TASK_NAME.match(bare):
            raise UserError("MC609", f"invalid task name {name!r}: letters, digits, '.', '_' "
                            f"and '-', optionally prefixed '{STANDARD_PREFIX}'")
        (standard if standard_task else local).append(bare)
    if not local and not standard:
        raise UserError("MC609", "no tasks to evaluate")
    return local, standard


def task_index_args(tasks: Sequence[str], tasks_dir: Path) -> tuple[list[str], bool]:
    """What to hand lm-eval's ``TaskManager``: the folders of the local tasks asked for, and
    whether lm-eval's built-in tasks must be indexed (only when a standard task is named;
    indexing them costs seconds)."""
    local, standard = split_task_names(tasks)
    tasks_dir = Path(tasks_dir).resolve()
    include = []
    for name in local:
        folder = tasks_dir / name
        if not folder.is_dir():
            raise UserError("MC602", f"unknown task {name!r}: no folder {name}/ in the tasks "
                            "directory", path=str(folder))
        include.append(str(folder))
    return include, bool(standard)


# ----------------------------------------------------------------------------- item order


def item_order(n_docs: int, order_seed: int | None) -> list[int]:
    """The fixed order in which a task's doc_ids are evaluated: file order without a seed,
    else a permutation that depends only on ``order_seed`` and ``n_docs``."""
    order = list(range(n_docs))
    if order_seed is not None:
        random.Random(order_seed).shuffle(order)
    return order


def select_doc_ids(n_docs: int, *, order_seed: int | None, offset: int = 0,
                   limit: int | None = None) -> list[int] | None:
    """The doc_ids of one batch: positions ``offset .. offset+limit-1`` of :func:`item_order`,
    sorted ascending (lm-eval's ``samples=`` needs them sorted). ``None`` means every doc."""
    if order_seed is None and offset == 0 and limit is None:
        return None
    order = item_order(n_docs, order_seed)
    end = n_docs if limit is None else offset + limit
    return sorted(order[offset:end])


def _check_selection(offset: int, limit: int | None) -> None:
    if offset < 0:
        raise UserError("MC604", f"offset must be 0 or more, got {offset}", exit_code=2)
    if limit is not None and limit < 1:
        raise UserError("MC604", f"limit must be 1 or more, got {limit}", exit_code=2)


def _metric_name(key: str) -> str:
    """lm-eval keys metrics ``metric,filter``; the default filter ``none`` is dropped."""
    return key[: -len(",none")] if key.endswith(",none") else key


def config_hash(config: dict) -> str:
    """sha256 of the task config lm-eval used, minus where it was read from (machine-specific).
    Functions appear as their source text, so editing a scorer changes the hash."""
    config = json.loads(json.dumps(config, default=str))
    metadata = config.get("metadata")
    if isinstance(metadata, dict):
        metadata.pop("config_source", None)
    canonical = json.dumps(config, sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def task_facts(tasks: Sequence[str], tasks_dir: Path) -> dict[str, dict]:
    """Per task, without running a model: ``doc_hashes`` (every doc's ``doc_hash``, exactly
    as lm-eval's ``log_samples`` computes it) and ``aggregations`` (lm-eval's function per
    metric that turns per-item values into the task's figure).

    The gate checks the whole eval set against the baseline with the first before it
    evaluates a single item, and bootstraps metrics that are not means (F1, BLEU) with the
    second."""
    from lm_eval.utils import handle_non_serializable, hash_string

    _, _, loaded, _, _ = _loaded_tasks(tasks, tasks_dir)
    return {name: {
        "doc_hashes": {str(i): hash_string(json.dumps(doc, indent=2, ensure_ascii=False,
                                                      default=handle_non_serializable))
                       for i, doc in enumerate(task.eval_docs)},
        "aggregations": dict(task.aggregation()),
    } for name, task in loaded.items()}


# ----------------------------------------------------------------------------- evaluation


def evaluate(model_path: Path, tasks: Sequence[str], tasks_dir: Path, out_path: Path, *,
             adapter_path: Path | None = None, model_fingerprint: dict | None = None,
             order_seed: int | None = None, offset: int = 0, limit: int | None = None,
             batch_size: int | str = 32, device: str = "cpu", dtype: str = "auto") -> dict:
    """Evaluate ``model_path`` (+ ``adapter_path``) on ``tasks`` and write ``out_path``.

    ``tasks`` are suite task names (``arith_gen``, ``lm-eval:hellaswag``); local ones live in
    ``tasks_dir/<name>/``. Per task, the docs at positions ``offset .. offset+limit-1`` of the
    fixed order given by ``order_seed`` are evaluated (all docs by default). The results file is
    written atomically and also returned.
    """
    started = time.perf_counter()
    _check_selection(offset, limit)
    model_path = _checked_dir(model_path, "config.json", "MC601", "model")
    if adapter_path is not None:
        adapter_path = _checked_dir(adapter_path, "adapter_config.json", "MC603", "adapter")
    lm_eval, task_manager, loaded, local, hub_ids = _loaded_tasks(tasks, tasks_dir,
                                                                   offline=True)
    for task in loaded.values():
        if task.get_config("num_fewshot") is None:
            task.set_config(key="num_fewshot", value=0)
    selected = {name: select_doc_ids(len(task.eval_docs), order_seed=order_seed,
                                     offset=offset, limit=limit)
                for name, task in loaded.items()}
    to_run = {name: task for name, task in loaded.items() if selected[name] != []}
    if not to_run:
        raise UserError("MC604", f"offset {offset} is past the last item of every task",
                        exit_code=2)
    lm = _model(model_path, adapter_path, batch_size, device, dtype)
    meter = _GenerationMeter(lm)
    # Always sorted ids: lm-eval maps the k-th selected doc back to samples[k].
    samples = None if selected[next(iter(to_run))] is None else {
        task.task_name: selected[name] for name, task in to_run.items()}
    with _no_git_probe():
        raw = lm_eval.simple_evaluate(model=lm, tasks=list(to_run.values()), samples=samples,
                                      bootstrap_iters=0, log_samples=True,
                                      task_manager=task_manager)
    results = _results_header(lm_eval.__version__, model_path, adapter_path, model_fingerprint,
                              order_seed, offset, limit)
    for name, task in loaded.items():
        logged = raw["samples"].get(task.task_name, []) if name in to_run else []
        results["tasks"][name] = _task_result(task, "local" if name in local else "lm-eval",
                                              logged, raw["results"].get(task.task_name, {}),
                                              hub_ids.get(name))
    wall = time.perf_counter() - started
    results["timing"] = {"wall_seconds": round(wall, 3), **meter.summary()}
    write_results(results, out_path)
    return results


@contextmanager
def _no_git_probe():
    """lm-eval runs ``git describe`` in the working directory to record a git hash in its
    results. modelcfg records the evaluated commit itself and never reads that hash, and
    outside a git repository git prints "fatal: not a git repository" on every evaluation
    (the demo runs in an empty folder). The probe is switched off for the call."""
    import lm_eval.evaluator as evaluator

    saved = getattr(evaluator, "get_git_commit_hash", None)
    if saved is None:  # another lm-eval layout: nothing to switch off
        yield
        return
    evaluator.get_git_commit_hash = lambda: None
    try:
        yield
    finally:
        evaluator.get_git_commit_hash = saved


def _loaded_tasks(tasks: Sequence[str], tasks_dir: Path, offline: bool = False):
    """lm-eval, a TaskManager that indexed only what ``tasks`` need, the loaded tasks by
    suite name (``lm-eval:<task>`` for standard ones), the local task names, and for each
    standard task read from the hub cache its config's hub ``dataset_path`` (and
    ``dataset_kwargs``). With ``offline``, local-only runs are kept off the hub."""
    include, with_defaults = task_index_args(tasks, tasks_dir)
    local, standard = split_task_names(tasks)
    if offline and not standard:
        # Local tasks and a local model need no network; make sure nothing tries.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    lm_eval, task_manager_cls, _ = _import_lm_eval()
    folders = _standard_folders(standard, lm_eval)
    if folders is not None:
        include, with_defaults = include + folders, False
    task_manager = task_manager_cls(include_path=include or None, include_defaults=with_defaults)
    specs, hub_ids = _standard_specs(task_manager, standard)
    loaded = _load_tasks(task_manager, local, standard, tasks_dir, specs)
    named = {(name if name in local else STANDARD_PREFIX + name): task
             for name, task in loaded.items()}
    return lm_eval, task_manager, named, local, {
        STANDARD_PREFIX + name: hub for name, hub in hub_ids.items()}


def _standard_folders(standard: list[str], lm_eval) -> list[str] | None:
    """The folders under ``lm_eval/tasks/`` that define the standard tasks asked for, from
    the committed index; None (index every task) for a group, a tag, an unknown name or an
    lm-eval the index was not made from."""
    if not standard:
        return None
    from modelcfg.config import lmeval_index

    if lmeval_index.version() != lm_eval.__version__:
        return None
    folders = [lmeval_index.folder(name) for name in standard]
    if None in folders:
        return None
    root = Path(lm_eval.__file__).resolve().parent / "tasks"
    return sorted({str(root / folder) for folder in folders})


def _standard_specs(task_manager, standard: list[str]) -> tuple[dict, dict[str, str]]:
    """Offline, each standard task whose hub dataset is in the hub cache as its full config
    with ``dataset_path`` the cached snapshot (datasets itself will not look there offline),
    and the hub id it stands for; other names load as lm-eval has them."""
    if not standard or not _offline():
        return {}, {}
    from lm_eval.tasks._yaml_loader import load_yaml

    specs, hub_ids = {}, {}
    for name in standard:
        entry = task_manager.task_index.get(name)
        cfg = getattr(entry, "cfg", None) or {}
        if entry is None or entry.yaml_path is None or "task" not in cfg:
            continue
        full = load_yaml(entry.yaml_path, resolve_func=True)
        kwargs = full.get("dataset_kwargs")
        revision = kwargs.get("revision") if isinstance(kwargs, dict) else None
        snapshot = _hub_snapshot(full.get("dataset_path"), revision)
        if snapshot is None:
            continue
        specs[name] = {**full, "dataset_path": snapshot}
        if revision is not None:  # the snapshot is that revision
            specs[name]["dataset_kwargs"] = {k: v for k, v in kwargs.items() if k != "revision"}
        hub_ids[name] = {k: full[k] for k in ("dataset_path", "dataset_kwargs") if k in full}
    return specs, hub_ids


def _offline() -> bool:
    return any(os.environ.get(var, "").strip().lower() in ("1", "true", "yes", "on")
               for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _hub_snapshot(repo_id, revision: str | None) -> str | None:
    """The hub cache's snapshot folder of dataset ``repo_id`` at ``revision`` (default
    ``main``, through ``refs/``), or None when it is not cached (or not a hub id)."""
    if not isinstance(repo_id, str) or Path(repo_id).exists():
        return None
    from huggingface_hub import snapshot_download

    # The cache as the environment names it now (huggingface_hub reads it once, at import).
    home = os.environ.get("HF_HOME")
    cache = os.environ.get("HF_HUB_CACHE") or (str(Path(home) / "hub") if home else None)
    try:
        return snapshot_download(repo_id=repo_id, repo_type="dataset", revision=revision,
                                 cache_dir=cache, local_files_only=True)
    except Exception:  # not cached, or not a hub id: lm-eval / datasets report it
        return None


def _model(model_path: Path, adapter_path: Path | None, batch_size, device: str, dtype: str):
    """lm-eval's Hugging Face model over the base weights and the optional adapter."""
    _, _, hflm_cls = _import_lm_eval()
    lm = hflm_cls(pretrained=str(model_path), peft=str(adapter_path) if adapter_path else None,
                  batch_size=batch_size, device=device, dtype=dtype, trust_remote_code=False)
    if not sys.stderr.isatty():
        _quiet_progress(lm)  # CI logs: no progress bars redrawn into the log
    return lm


def _results_header(lm_eval_version: str, model_path: Path, adapter_path: Path | None,
                    model_fingerprint: dict | None, order_seed: int | None, offset: int,
                    limit: int | None) -> dict:
    return {
        "format": RESULTS_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "modelcfg_version": __version__,
        "lm_eval_version": lm_eval_version,
        "model": {
            "base": model_path.name,
            "adapter": adapter_path.name if adapter_path else None,
            "fingerprint": model_fingerprint,
        },
        "selection": {"order_seed": order_seed, "batches": [[offset, limit]]},
        "tasks": {},
        "timing": {},
    }


def _checked_dir(path: Path, marker: str, code: str, what: str) -> Path:
    path = Path(path).expanduser().resolve()
    if not (path / marker).is_file():
        raise UserError(code, f"{what} directory not found or has no {marker}", path=str(path))
    return path


def _import_lm_eval():
    try:
        import lm_eval
        from lm_eval.models.huggingface import HFLM
        from lm_eval.tasks import TaskManager
    except ImportError as err:
        raise UserError("MC608", f"evaluation needs lm-eval ({err}); install it with "
                        "`pip install 'modelcfg[eval]'`") from err
    return lm_eval, TaskManager, HFLM


def _load_tasks(task_manager, local: list[str], standard: list[str], tasks_dir: Path,
                specs: dict | None = None) -> dict:
    """The tasks by lm-eval name; ``specs``: a config to load a standard task from instead
    of its name (:func:`_standard_specs`)."""
    for name in local:
        if name not in task_manager.all_tasks:
            raise UserError("MC602", f"unknown task {name!r}: its folder has no task YAML "
                            f"with `task: {name}`", path=str(Path(tasks_dir) / name))
    for name in standard:
        if name not in task_manager.all_tasks:
            raise UserError("MC605", f"lm-eval has no task, group or tag named {name!r}")
    specs = specs or {}
    return task_manager.load(local + [specs.get(name, name) for name in standard])["tasks"]


def _task_result(task, source: str, logged: list[dict], reported: dict,
                 hub: dict | None = None) -> dict:
    per_doc: dict[int, dict] = {}
    for sample in logged:
        entry = per_doc.setdefault(sample["doc_id"], {"doc_hash": sample["doc_hash"],
                                                      "scores": {}})
        suffix = "" if sample["filter"] == "none" else f",{sample['filter']}"
        for metric in sample["metrics"]:
            entry["scores"][metric + suffix] = score_value(sample[metric])
    doc_ids = sorted(per_doc)
    metrics = {}
    for key, value in reported.items():
        if "," not in key or "_stderr," in key:
            continue
        name = _metric_name(key)
        scores = [per_doc[d]["scores"].get(name) for d in doc_ids]
        metrics[name] = metric_summary(scores, value)
        metrics[name]["higher_is_better"] = task.higher_is_better().get(name.split(",")[0])
    version = task.get_config("metadata") or {}
    return {
        "source": source,
        "version": version.get("version") if isinstance(version, dict) else None,
        "config_hash": config_hash(_as_on_the_hub(task.dump_config(), hub)),
        "n_docs": len(task.eval_docs),
        "metrics": metrics,
        "samples": {str(d): per_doc[d] for d in doc_ids},
    }


def _as_on_the_hub(config: dict, hub: dict | None) -> dict:
    """A task config read from a hub cache snapshot as lm-eval has it (the hub id and its
    revision, not the machine's cache path), so its hash is the same as a run that
    downloaded the data."""
    return config if hub is None else {**config, **hub}


def _quiet_progress(lm) -> None:
    """Ask lm-eval's model calls for no progress bar (their ``disable_tqdm`` argument)."""
    for name in ("loglikelihood", "loglikelihood_rolling", "generate_until"):
        method = getattr(lm, name)
        setattr(lm, name, lambda requests, *args, _m=method, **kw: _m(
            requests, *args, **{**kw, "disable_tqdm": True}))


class _GenerationMeter:
    """Times the model's ``generate_until`` calls and counts the tokens of what they return
    (each continuation re-tokenised, stop sequence excluded): the latency figure."""

    def __init__(self, lm):
        self.seconds = 0.0
        self.tokens = 0
        self._generate = lm.generate_until
        self._encode = lm.tok_encode
        lm.generate_until = self._timed

    def _timed(self, requests, *args, **kwargs):
        start = time.perf_counter()
        outputs = self._generate(requests, *args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.tokens += sum(len(self._encode(text)) for text in outputs)
        return outputs

    def summary(self) -> dict:
        rate = self.tokens / self.seconds if self.seconds > 0 and self.tokens else None
        return {"generation_seconds": round(self.seconds, 3), "generated_tokens": self.tokens,
                "tokens_per_second": round(rate, 1) if rate else None}


