"""Baselines: the evidence of each adapter's last accepted version, in the repository.

One file per adapter, ``evals/baselines/<adapter>.json`` (format in docs/audit.md): the
fingerprint and promoted commit, per task the metrics (value, stderr, n) and the per-sample
scores by doc_id with doc_hash (``{metric: {doc_id: [doc_hash, score]}}``, one item per line
so a change reviews well), the lm-eval and task versions and task config hashes the scores
depend on, the training cost, the eval latency, and the ledger entry it was promoted with.

The gate reads a baseline from the *base* commit (:func:`read_baseline` takes any tree) and
refuses to compare when :func:`check_compatible` gives a reason. A malformed file, or one
holding NaN, fails closed with MC701.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path

from modelcfg.config.trees import FsTree, PathProblem
from modelcfg.core.atomic import write_text
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import canonical_json, sha256_bytes

BASELINE_FORMAT = "modelcfg-baseline/1"
RESULTS_FORMAT = "modelcfg-eval-results/1"  # modelcfg.evaluation.harness.RESULTS_FORMAT (torch-free copy)
BASELINES_DIR = "evals/baselines"
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_DOC_ID = re.compile(r"^(0|[1-9][0-9]*)$")
COST_FIELDS = ("gpu_hours", "train_tokens", "trainable_parameters", "parameters",
               "wall_seconds", "train_seconds", "device")
LATENCY_FIELDS = ("tokens_per_second", "generation_seconds", "generated_tokens")


def baseline_path(adapter: str) -> str:
    if not isinstance(adapter, str) or not _NAME.match(adapter):
        raise UserError("MC702", f"{adapter!r} is not a valid adapter name")
    return f"{BASELINES_DIR}/{adapter}.json"


# ----------------------------------------------------------------------------- build


def build_baseline(results: dict, manifest: dict, *, adapter: str, config_path: str,
                   commit: str, created: str | None = None) -> dict:
    """A baseline from an eval results file and the training run's manifest.

    ``ledger`` is left ``None``; :mod:`modelcfg.audit.promote` fills it with the entry it appends.
    Raises MC703 when the results or manifest cannot be evidence (wrong format, another
    adapter, a missing or NaN metric)."""
    where = f"results for {adapter}"
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
    tasks = {}
    for name, task in sorted((results.get("tasks") or {}).items()):
        samples: dict[str, dict] = {}
        for doc_id, sample in sorted(task.get("samples", {}).items(), key=lambda kv: int(kv[0])):
            for metric, score in sample.get("scores", {}).items():
                samples.setdefault(metric, {})[str(doc_id)] = [sample.get("doc_hash"), score]
        metrics = {}
        for metric, summary in sorted(task.get("metrics", {}).items()):
            metrics[metric] = {"value": summary.get("value"), "stderr": summary.get("stderr"),
                               "n": summary.get("n"),
                               "higher_is_better": summary.get("higher_is_better")}
        tasks[name] = {"version": task.get("version"), "config_hash": task.get("config_hash"),
                       "source": task.get("source"), "n_docs": task.get("n_docs"),
                       "metrics": metrics, "samples": samples}
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


# ----------------------------------------------------------------------------- shape


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value)


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
    if not isinstance(b.get("adapter"), str) or not _NAME.match(b["adapter"]):
        out.append("adapter must be an adapter name")
    for key in ("config_path", "commit", "created"):
        if not isinstance(b.get(key), str) or not b[key]:
            out.append(f"{key} must be a non-empty string")
    if not isinstance(b.get("fingerprint"), str) or not _HEX64.match(b["fingerprint"]):
        out.append("fingerprint must be 64 hex digits")
    harness = b.get("harness")
    if not isinstance(harness, dict) or not isinstance(harness.get("version"), str):
        out.append("harness.version must be a string")
    for key in ("cost", "latency"):
        if not isinstance(b.get(key), dict):
            out.append(f"{key} must be an object")
    ledger = b.get("ledger")
    if ledger is not None and not (isinstance(ledger, dict) and isinstance(
            ledger.get("seq"), int) and isinstance(ledger.get("hash"), str)
            and _HEX64.match(ledger["hash"])):
        out.append("ledger must be null or {seq: integer, hash: 64 hex digits}")
    tasks = b.get("tasks")
    if not isinstance(tasks, dict) or not tasks:
        out.append("tasks must be a non-empty object")
        return out
    for name, task in tasks.items():
        out += [f"task {name}: {p}" for p in _task_problems(task)]
    return out


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
        if not isinstance(m, dict) or not _finite(m.get("value")):
            out.append(f"metric {metric}: value must be a finite number")
            continue
        if m.get("stderr") is not None and not _finite(m["stderr"]):
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


def write_baseline(root: Path, baseline: dict) -> Path:
    """Check and write ``evals/baselines/<adapter>.json`` under ``root`` atomically."""
    problems = baseline_problems(baseline)
    if problems:
        raise UserError("MC701", f"refusing to write a malformed baseline: "
                        f"{'; '.join(problems[:5])}")
    path = Path(root) / baseline_path(baseline["adapter"])
    write_text(path, dumps_baseline(baseline))
    return path


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


def parse_baseline(data: bytes, rel: str) -> dict:
    """Parse and check a baseline file's bytes; MC701 (with the path) on anything wrong."""
    try:
        baseline = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
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
    when it has none. The gate passes the *base* commit's tree."""
    if isinstance(tree, (str, Path)):
        tree = FsTree(Path(tree))
    rel = baseline_path(adapter)
    try:
        if not tree.is_file(rel):
            return None
        data = tree.read(rel)
    except (OSError, PathProblem) as err:
        raise UserError("MC701", f"cannot read baseline: {err}", path=rel) from err
    baseline = parse_baseline(data, rel)
    if baseline["adapter"] != adapter:
        raise UserError("MC701", f"baseline names adapter {baseline['adapter']!r}, not "
                        f"{adapter!r}", path=rel, line=1, col=1)
    return baseline


def list_baselines(tree) -> list[str]:
    """Adapter names with a baseline file in ``tree``."""
    if isinstance(tree, (str, Path)):
        tree = FsTree(Path(tree))
    if not tree.is_dir(BASELINES_DIR):
        return []
    return [n[:-5] for n in tree.list_dir(BASELINES_DIR) if n.endswith(".json")]


# ----------------------------------------------------------------------------- compatibility


def doc_hashes(task: dict) -> dict[str, str]:
    """doc_id -> doc_hash of a baseline task (its sample scores carry them)."""
    out: dict[str, str] = {}
    for items in task.get("samples", {}).values():
        for doc_id, (doc_hash, _score) in items.items():
            out.setdefault(doc_id, doc_hash)
    return out


def check_compatible(baseline: dict, results: dict, *, partial: bool = False) -> list[str]:
    """Why the candidate ``results`` cannot be compared with ``baseline`` (empty: they can).

    Per task: missing from either side, a different task version or task config hash, a
    different number of docs, or a different set of items (doc_ids whose doc_hash differs,
    baseline items missing from the results, result items the baseline lacks); and a
    different lm-eval version. With ``partial`` (a sequential gate's early batches), result
    items may be a subset of the baseline's; those present must still match."""
    reasons = []
    base_harness = (baseline.get("harness") or {}).get("version")
    if results.get("lm_eval_version") != base_harness:
        reasons.append(f"harness version differs: baseline lm-eval {base_harness}, results "
                       f"lm-eval {results.get('lm_eval_version')}")
    base_tasks, new_tasks = baseline.get("tasks") or {}, results.get("tasks") or {}
    for name in sorted(set(base_tasks) | set(new_tasks)):
        old, new = base_tasks.get(name), new_tasks.get(name)
        if new is None:
            reasons.append(f"task {name}: in the baseline but missing from the results")
            continue
        if old is None:
            reasons.append(f"task {name}: in the results but the baseline has no evidence "
                           "for it")
            continue
        for key, what in (("version", "task version"), ("config_hash", "task config hash")):
            if old.get(key) != new.get(key):
                reasons.append(f"task {name}: {what} differs (baseline {old.get(key)}, "
                               f"results {new.get(key)})")
        if old.get("n_docs") != new.get("n_docs"):
            reasons.append(f"task {name}: number of docs differs (baseline "
                           f"{old.get('n_docs')}, results {new.get('n_docs')})")
        theirs = {str(d): s.get("doc_hash") for d, s in (new.get("samples") or {}).items()}
        mine = doc_hashes(old)
        differ = sum(1 for d in theirs if d in mine and mine[d] != theirs[d])
        missing = 0 if partial else sum(1 for d in mine if d not in theirs)
        extra = sum(1 for d in theirs if d not in mine)
        parts = []
        if differ:
            parts.append(f"{differ} item(s) have a different doc_hash")
        if missing:
            parts.append(f"{missing} baseline item(s) are missing from the results")
        if extra:
            parts.append(f"{extra} result item(s) are not in the baseline")
        if parts:
            reasons.append(f"task {name}: doc hash set differs: {', '.join(parts)}")
    return reasons
