"""Baselines: the evidence of each adapter's last accepted version, in the repository.

One file per adapter, ``evals/baselines/<adapter>.json`` (format in docs/audit.md): the
fingerprint and promoted commit, per task the metrics (value, stderr, n) and the per-sample
scores by doc_id with doc_hash (``{metric: {doc_id: [doc_hash, score]}}``, one item per line
so a change reviews well), the lm-eval and task versions and task config hashes the scores
depend on, the training cost, the eval latency, and the ledger entry it was promoted with.

The gate reads a baseline from the *base* commit (:func:`read_baseline` takes any tree) and
fails closed with MC701 on a malformed file or one holding NaN.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path

from modelcfg.audit.files import folder, regular_file
from modelcfg.config.trees import FsTree, PathProblem
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import canonical_json, sha256_bytes
from modelcfg.core.names import HEX64, NAME
from modelcfg.core.numbers import is_finite, strict_json
from modelcfg.evaluation.results import RESULTS_FORMAT

BASELINE_FORMAT = "modelcfg-baseline/1"
BASELINES_DIR = "evals/baselines"
_DOC_ID = re.compile(r"^(0|[1-9][0-9]*)$")
COST_FIELDS = ("gpu_hours", "train_tokens", "trainable_parameters", "parameters",
               "wall_seconds", "train_seconds", "device")
LATENCY_FIELDS = ("tokens_per_second", "generation_seconds", "generated_tokens")


def baseline_path(adapter: str) -> str:
    if not isinstance(adapter, str) or not NAME.match(adapter):
        raise UserError("MC702", f"{adapter!r} is not a valid adapter name")
    return f"{BASELINES_DIR}/{adapter}.json"


def card_path(adapter: str) -> str:
    """The adapter's model card, next to its baseline (:mod:`modelcfg.audit.card`)."""
    return baseline_path(adapter)[:-len(".json")] + ".md"


# ----------------------------------------------------------------------------- build


def build_baseline(results: dict, manifest: dict, *, adapter: str, config_path: str,
                   commit: str, created: str | None = None) -> dict:
    """A baseline from an eval results file and the training run's manifest.

    ``ledger`` is left ``None``; :mod:`modelcfg.audit.promote` fills it with the entry it appends.
    Raises MC703 when the results or manifest cannot be evidence (wrong format, another
    adapter, a missing or NaN metric)."""
    where = f"results for {adapter}"
    _check_sources(results, manifest, adapter, where)
    tasks = {name: _baseline_task(task)
             for name, task in sorted((results.get("tasks") or {}).items())}
    cost_in = manifest.get("cost") or {}
    cost = {k: cost_in.get(k) for k in COST_FIELDS if k in cost_in}
    if "trainable_parameters" not in cost and "trainable_params" in cost_in:
        cost["trainable_parameters"] = cost_in["trainable_params"]
    timing = results.get("timing") or {}
    baseline = {
        "format": BASELINE_FORMAT,
        "adapter": adapter,
        "config_path": config_path,
        "fingerprint": manifest["fingerprint"],
        # What the scores were made with: the base and adapter weights' sha256 (the gate
        # compares nothing made on other base weights, MC827) and the hardware.
        "weights": manifest.get("weights"),
        "hardware": manifest.get("hardware"),
        "commit": commit,
        "created": created or datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "harness": {"name": "lm-eval", "version": results.get("lm_eval_version")},
        "modelcfg_version": results.get("modelcfg_version"),
        "selection": results.get("selection"),
        "tasks": tasks,
        "cost": cost,
        "latency": {k: timing.get(k) for k in LATENCY_FIELDS if k in timing},
        "ledger": None,
    }
    problems = baseline_problems(baseline)
    if problems:
        raise UserError("MC703", f"{where} cannot be a baseline: {'; '.join(problems[:5])}")
    return baseline


def _check_sources(results: dict, manifest: dict, adapter: str, where: str) -> None:
    """MC703 unless ``results`` and ``manifest`` are of the same complete run of ``adapter``."""
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT:
        raise UserError("MC703", f"{where}: not a {RESULTS_FORMAT} results file")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("fingerprint"), str):
        raise UserError("MC703", f"{where}: the training manifest has no fingerprint")
    if manifest.get("adapter") not in (None, adapter):
        raise UserError("MC703", f"{where}: the manifest is of adapter "
                        f"{manifest.get('adapter')!r}")
    if manifest.get("status", "complete") != "complete":
        raise UserError("MC703", f"{where}: the training run is {manifest.get('status')!r}, "
                        "not complete")
    fingerprint = (results.get("model") or {}).get("fingerprint")
    if isinstance(fingerprint, dict):
        fingerprint = fingerprint.get("fingerprint")
    if isinstance(fingerprint, str) and fingerprint != manifest["fingerprint"]:
        raise UserError("MC703", f"{where}: evaluated fingerprint {fingerprint[:12]} is not "
                        f"the trained one {manifest['fingerprint'][:12]}")


def _baseline_task(task: dict) -> dict:
    """One task of a results file in baseline form: per metric ``{doc_id: [hash, score]}``."""
    samples: dict[str, dict] = {}
    for doc_id, sample in sorted(task.get("samples", {}).items(), key=lambda kv: int(kv[0])):
        for metric, score in sample.get("scores", {}).items():
            samples.setdefault(metric, {})[str(doc_id)] = [sample.get("doc_hash"), score]
    metrics = {metric: {"value": summary.get("value"), "stderr": summary.get("stderr"),
                        "n": summary.get("n"), "higher_is_better": summary.get("higher_is_better")}
               for metric, summary in sorted(task.get("metrics", {}).items())}
    return {"version": task.get("version"), "config_hash": task.get("config_hash"),
            "source": task.get("source"), "n_docs": task.get("n_docs"),
            "metrics": metrics, "samples": samples}


# ----------------------------------------------------------------------------- shape


def _no_nonfinite(value, where: str, out: list[str]) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        out.append(f"{where} is {value}")
    elif isinstance(value, dict):
        for k, v in value.items():
            _no_nonfinite(v, f"{where}.{k}", out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _no_nonfinite(v, f"{where}[{i}]", out)


def baseline_problems(b) -> list[str]:
    """Everything wrong with a baseline's shape, as sentences (empty when it is fine)."""
    if not isinstance(b, dict):
        return ["the top level must be a JSON object"]
    out: list[str] = []
    _no_nonfinite(b, "baseline", out)
    if b.get("format") != BASELINE_FORMAT:
        out.append(f"format must be {BASELINE_FORMAT!r}, not {b.get('format')!r}")
    if not isinstance(b.get("adapter"), str) or not NAME.match(b["adapter"]):
        out.append("adapter must be an adapter name")
    for key in ("config_path", "commit", "created"):
        if not isinstance(b.get(key), str) or not b[key]:
            out.append(f"{key} must be a non-empty string")
    if not isinstance(b.get("fingerprint"), str) or not HEX64.match(b["fingerprint"]):
        out.append("fingerprint must be 64 hex digits")
    out += _weights_problems(b.get("weights"))
    harness = b.get("harness")
    if not isinstance(harness, dict) or not isinstance(harness.get("version"), str):
        out.append("harness.version must be a string")
    for key in ("cost", "latency"):
        if not isinstance(b.get(key), dict):
            out.append(f"{key} must be an object")
    ledger = b.get("ledger")
    if ledger is not None and not (isinstance(ledger, dict) and isinstance(
            ledger.get("seq"), int) and isinstance(ledger.get("hash"), str)
            and HEX64.match(ledger["hash"])):
        out.append("ledger must be null or {seq: integer, hash: 64 hex digits}")
    tasks = b.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        out.append("tasks must be a non-empty object")
        return out
    for name, task in tasks.items():
        out += [f"task {name}: {p}" for p in _task_problems(task)]
    return out


def _weights_problems(weights) -> list[str]:
    """``weights`` may be absent (older baselines; the gate then refuses to compare, MC827)
    or null, else it names both sha256s."""
    if weights is None:
        return []
    if not isinstance(weights, dict) or not all(
            isinstance(weights.get(k), str) and HEX64.match(weights[k])
            for k in ("base_sha256", "adapter_sha256")):
        return ["weights must be {base_sha256, adapter_sha256: 64 hex digits}"]
    return []


def _task_problems(task) -> list[str]:
    if not isinstance(task, dict):
        return ["must be an object"]
    out = []
    if not isinstance(task.get("config_hash"), str):
        out.append("config_hash must be a string")
    if not isinstance(task.get("n_docs"), int) or task["n_docs"] < 0:
        out.append("n_docs must be a count")
    metrics, samples = task.get("metrics"), task.get("samples")
    if not isinstance(metrics, dict) or not metrics:
        return out + ["metrics must be a non-empty object"]
    if not isinstance(samples, dict):
        return out + ["samples must be an object"]
    for metric, m in metrics.items():
        if not isinstance(m, dict) or not is_finite(m.get("value")):
            out.append(f"metric {metric}: value must be a finite number")
            continue
        if m.get("stderr") is not None and not is_finite(m["stderr"]):
            out.append(f"metric {metric}: stderr must be a finite number or null")
        if not isinstance(m.get("n"), int) or isinstance(m.get("n"), bool) or m["n"] < 0:
            out.append(f"metric {metric}: n must be a count")
        items = samples.get(metric)
        if not isinstance(items, dict):
            out.append(f"metric {metric}: no per-sample scores")
            continue
        if isinstance(m.get("n"), int) and len(items) != m["n"]:
            out.append(f"metric {metric}: n is {m['n']} but {len(items)} item(s) are stored")
        bad = [d for d, v in items.items() if not (
            _DOC_ID.match(d) and isinstance(v, list) and len(v) == 2
            and isinstance(v[0], str) and v[0] and v[1] is not None)]
        if bad:
            out.append(f"metric {metric}: {len(bad)} malformed item(s), first doc_id {bad[0]!r}"
                       " (want doc_id -> [doc_hash, score])")
    hashes: dict[str, str] = {}
    for metric, items in samples.items():
        for doc_id, v in items.items() if isinstance(items, dict) else ():
            if isinstance(v, list) and v and hashes.setdefault(doc_id, v[0]) != v[0]:
                out.append(f"doc {doc_id} has different doc_hashes under different metrics")
                break
    return out


# ----------------------------------------------------------------------------- files


def dumps_baseline(baseline: dict) -> str:
    """The file text: indented JSON, sorted keys, one ``"doc_id": [doc_hash, score]`` per
    line, refusing NaN."""
    text = json.dumps(baseline, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False)
    return re.sub(r'\[\n\s*("[^"\n]*"),\n\s*([^\n\[\]{}]*?)\n\s*\]', r"[\1, \2]", text) + "\n"


def baseline_sha256(baseline: dict) -> str:
    """sha256 of the canonical JSON of the baseline *without* its ``ledger`` field: what a
    ledger entry records (the entry's own hash then goes into ``ledger``, no cycle)."""
    return sha256_bytes(canonical_json({k: v for k, v in baseline.items() if k != "ledger"}))


def parse_baseline(data: bytes, rel: str) -> dict:
    """Parse and check a baseline file's bytes; MC701 (with the path) on anything wrong."""
    try:
        baseline = strict_json(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise UserError("MC701", f"baseline is not valid JSON: {err}", path=rel,
                        line=getattr(err, "lineno", 1), col=getattr(err, "colno", 1)) from err
    problems = baseline_problems(baseline)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UserError("MC701", f"malformed baseline: {'; '.join(problems[:3])}{more}",
                        path=rel, line=1, col=1)
    return baseline


def read_baseline(tree, adapter: str) -> dict | None:
    """The baseline of ``adapter`` in ``tree`` (GitTree, FsTree or a folder path), or None
    when it has none. The gate passes the *base* commit's tree. MC727 when its path holds
    a symlink, submodule or anything but a regular file (never followed)."""
    if isinstance(tree, (str, Path)):
        tree = FsTree(Path(tree))
    rel = baseline_path(adapter)
    if not regular_file(tree, rel):
        return None
    try:
        data = tree.read(rel)
    except (OSError, PathProblem) as err:
        raise UserError("MC701", f"cannot read baseline: {err}", path=rel) from err
    baseline = parse_baseline(data, rel)
    if baseline["adapter"] != adapter:
        raise UserError("MC701", f"baseline names adapter {baseline['adapter']!r}, not "
                        f"{adapter!r}", path=rel, line=1, col=1)
    return baseline


def list_baselines(tree) -> list[str]:
    """Adapter names with a baseline file in ``tree`` (any entry named ``*.json``: each is
    then read as a regular file); MC727 when ``evals/baselines`` is no real folder."""
    if isinstance(tree, (str, Path)):
        tree = FsTree(Path(tree))
    if not folder(tree, BASELINES_DIR):
        return []
    return [n[:-5] for n in tree.list_dir(BASELINES_DIR) if n.endswith(".json")]
