"""Model cards: a Markdown document a person reads, written next to every promoted baseline
as ``evals/baselines/<adapter>.md`` (docs/audit.md, "Model cards").

The card opens with the Hugging Face model-card metadata header (a ``---`` YAML block:
``base_model`` and ``datasets`` when they are hub ids, ``library_name: peft``, ``tags``,
``model-index`` with the lm-eval results) and then has five sections: design rationale,
eval summary, risk and misuse assessment, lineage and cost. It is built from the promoted baseline, the ledger
entry that promoted it (without its ``hash`` and ``card_sha256``: the entry records the
card's sha256, so the card cannot hold the entry's own hash), the entries before it and the
configs at the entry's commit, read from git objects. Nothing else goes in (no clock, no
machine): the same inputs give the same bytes, so ``modelcfg card ADAPTER`` re-renders the
committed card byte for byte and `modelcfg audit verify` checks it against the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelcfg.audit.baseline import BASELINES_DIR, card_path, read_baseline
from modelcfg.audit.history import lineage
from modelcfg.audit.ledger import BASELINE_ACTIONS, LEDGER, read_entries
from modelcfg.config.model import SAFETY, HubSource, Model, Thresholds
from modelcfg.config.trees import FsTree, GitTree, PathProblem
from modelcfg.config.workspace import load_workspace
from modelcfg.core import git
from modelcfg.core.errors import UserError
from modelcfg.core.hashing import sha256_bytes

CARD_FORMAT = "modelcfg-card/1"
SMALL_EVAL = 100  # fewer items than this: the card calls the task's eval set small
_OMIT = ("hash", "card_sha256")  # what the card never shows of its own entry


@dataclass
class Card:
    adapter: str
    text: bytes
    metadata: dict
    entry: dict  # the ledger entry of the baseline it describes
    recorded_sha256: str | None  # what that entry records (None: from before cards)

    @property
    def sha256(self) -> str:
        return sha256_bytes(self.text)

    @property
    def path(self) -> str:
        """Where the promotion committed it."""
        return card_path(self.adapter)


# ----------------------------------------------------------------------------- inputs


@dataclass
class _Configs:
    """What the card reads from the configs at the entry's commit (None where unreadable)."""

    adapter: dict
    model: Model | None
    thresholds: Thresholds | None
    estimate: dict | None
    estimate_note: str | None


def _configs(tree, adapter: str, config_path: str | None) -> _Configs:
    from modelcfg.config.cost import CostUnknown, estimate_cost
    from modelcfg.config.resolve import resolve_adapter

    ws = load_workspace(tree, focus=lambda rel: rel == config_path)
    doc = next((d for d in ws.documents if d.path == config_path and d.kind == "Adapter"),
               ws.adapters.get(adapter))
    data = doc.data if doc is not None else {}
    model_doc = ws.models.get(data.get("base"))
    model = Model.from_document(model_doc.data) if model_doc is not None \
        and model_doc.valid else None
    estimate, note = None, None
    try:
        estimate = estimate_cost(resolve_adapter(ws, doc.path if doc else adapter)).to_dict()
    except (UserError, CostUnknown) as err:
        note = str(getattr(err, "message", err))
    return _Configs(data, model, ws.thresholds(), estimate, note)


# ----------------------------------------------------------------------------- helpers


def _num(value, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN: no figure
            return "—"
        return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _base_metric(key: str) -> str:
    """lm-eval suffixes a filter (``exact_match,none``): the metric's own name."""
    return key.split(",")[0]


def _metric_key(metrics: dict, metric: str | None) -> str | None:
    if metric in metrics:
        return metric
    matches = sorted(k for k in metrics if _base_metric(k) == metric)
    return matches[0] if matches else None


def _eval_of(entry: dict, task: str, metric: str) -> dict:
    """One task's figures in an entry's ``eval``: the gate's summary (``{metric, value,
    decision, ...}``) or the promoted values (``{metric: {value, stderr, n}}``)."""
    summary = (entry.get("eval") or {}).get(task) or {}
    if isinstance(summary.get("metric"), str):
        return summary
    key = _metric_key(summary, metric)
    return {"metric": metric, **(summary.get(key) or {})} if key else {}


def _value_in(entry: dict, task: str, metric: str):
    """The value an entry promoted for ``task``'s ``metric`` (its scores, else its eval)."""
    metrics = (((entry.get("scores") or {}).get(task) or {}).get("metrics") or {})
    key = _metric_key(metrics, metric)
    if key is not None:
        return (metrics[key] or {}).get("value")
    return _eval_of(entry, task, metric).get("value")


def _task_rules(baseline: dict, entry: dict, thresholds: Thresholds | None) -> dict:
    """Per task of the baseline: ``(kind, metric key, rule or None)``."""
    out = {}
    for task, t in sorted(baseline["tasks"].items()):
        metrics = t.get("metrics") or {}
        rule = thresholds.rule(task) if thresholds is not None else None
        summary = (entry.get("eval") or {}).get(task) or {}
        wanted = summary.get("metric") if isinstance(summary.get("metric"), str) else (
            rule.metric if rule is not None else None)
        key = _metric_key(metrics, wanted) or sorted(metrics)[0]
        kind = summary.get("kind") or (rule.kind if rule is not None else None)
        out[task] = (kind, key, rule)
    return out


# ----------------------------------------------------------------------------- metadata


def _datasets(data: dict, *, hub_only: bool = False) -> list[str]:
    """The adapter's datasets: hub ids and repository paths (only hub ids: ``hub_only``)."""
    out = []
    for entry in data.get("datasets") or []:
        if isinstance(entry, dict):
            name = entry.get("hub") or (None if hub_only else entry.get("path"))
            if isinstance(name, str) and name not in out:
                out.append(name)
    return out


def _base_name(configs: _Configs) -> str:
    """The base model as a person reads it: its hub id, else its Model name."""
    model = configs.model
    if model is not None and isinstance(model.source, HubSource):
        return model.source.id
    return str(configs.adapter.get("base") or "unknown")


def card_metadata(adapter: str, baseline: dict, configs: _Configs) -> dict:
    """The Hugging Face model-card metadata of the card's header. A model hub accepts only
    hub ids in ``base_model`` and ``datasets`` (it refuses a card naming a local path), so
    a built-in or local base model and repository datasets are left out of them and named
    in the card's text instead."""
    model = configs.model
    method = configs.adapter.get("method")
    meta: dict = {}
    if model is not None and isinstance(model.source, HubSource):
        meta["base_model"] = model.source.id
    meta.update({"library_name": "peft", "pipeline_tag": "text-generation",
                 "tags": ["lora", "modelcfg"] + ([method] if isinstance(method, str) else [])})
    datasets = _datasets(configs.adapter, hub_only=True)
    if datasets:
        meta["datasets"] = datasets
    license_ = configs.adapter.get("license") or (model.data.get("license") if model else None)
    if isinstance(license_, str):
        meta["license"] = license_
    results = []
    for task, t in sorted(baseline["tasks"].items()):
        metrics = [{"type": _base_metric(key), "value": m["value"],
                    "name": f"{key} (lm-eval, {m.get('n')} items)"}
                   for key, m in sorted((t.get("metrics") or {}).items())]
        results.append({"task": {"type": "text-generation", "name": task},
                        "dataset": {"name": f"{task} ({t.get('source') or 'lm-eval'} task)",
                                    "type": task},
                        "metrics": metrics})
    meta["model-index"] = [{"name": adapter, "results": results}]
    return meta


# ----------------------------------------------------------------------------- sections


def _rationale(adapter: str, configs: _Configs, entry: dict) -> list[str]:
    own = configs.adapter.get("rationale")
    own = own.strip() if isinstance(own, str) else None
    why = entry.get("rationale")
    why = why.strip() if isinstance(why, str) else None
    lines = ["## Design rationale", ""]
    lines += [f"**The adapter's rationale** (`{entry.get('config_path')}`): "
              f"{own or 'none given in the config.'}", ""]
    if why and why != own:
        lines += [f"**Why this {entry.get('action')}** (ledger entry {entry['seq']}): {why}",
                  ""]
    lines += ["**What the change touched**" + _diff_span(entry.get("diff")) + ":", ""]
    lines += _changes(entry.get("diff")) + [""]
    return lines


def _diff_span(diff) -> str:
    if not isinstance(diff, dict):
        return ""
    old, new = diff.get("from"), diff.get("to")
    return f" (from {str(old)[:12] if old else 'nothing'} to {str(new)[:12]})" if new else ""


def _changes(diff) -> list[str]:
    changes = (diff or {}).get("changes") if isinstance(diff, dict) else None
    if not changes:
        return ["- no change to the adapter, its base model or its suites"]
    out = []
    for c in changes:
        impact = f", impact {c['impact']}" if c.get("impact") else ""
        out.append(f"- {c.get('kind')} `{c.get('name')}`: {c.get('status')}{impact}")
        for f in c.get("fields") or []:
            out.append(f"  - `{f.get('field')}`: {_short(f.get('old'))} → {_short(f.get('new'))}")
        for reason in c.get("reasons") or []:
            out.append(f"  - {reason}")
    return out


def _short(value, limit: int = 80) -> str:
    text = "absent" if value is None else str(value).strip().replace("\n", " ")
    return f"`{text[:limit]}{'…' if len(text) > limit else ''}`"


def _interval(summary: dict) -> str:
    low, high = summary.get("ci_low"), summary.get("ci_high")
    if not isinstance(low, (int, float)) or not isinstance(high, (int, float)):
        return "—"
    return f"[{low:+.3f}, {high:+.3f}]"


def _items(summary: dict, n) -> str:
    used, available = summary.get("items_used"), summary.get("items_available")
    if isinstance(used, int):
        return f"{used} of {available}" if isinstance(available, int) else str(used)
    return str(n) if isinstance(n, int) else "—"


def _decision(summary: dict, entry: dict) -> str:
    if summary.get("decision"):
        return str(summary["decision"])
    return {"bootstrap": "not judged (bootstrap)", "rollback": "restored (rollback)"}.get(
        entry.get("verdict"), "not judged")


def _eval_summary(baseline: dict, entry: dict, previous: dict | None, rules: dict
                  ) -> list[str]:
    rows = []
    for task, (kind, key, _rule) in rules.items():
        m = baseline["tasks"][task]["metrics"][key]
        summary = _eval_of(entry, task, key)
        before = _value_in(previous, task, key) if previous else None
        rows.append([task, kind or "—", key, _num(before), _num(m.get("value")),
                     _interval(summary), _items(summary, m.get("n")),
                     _decision(summary, entry)])
    lines = ["## Eval summary", ""]
    lines += [f"Verdict: **{entry.get('verdict')}**. Previous baseline: "
              + (f"ledger entry {previous['seq']} (fingerprint "
                 f"{str(previous.get('fingerprint'))[:12]})." if previous else "none (first "
                 "promotion of this lineage)."), ""]
    lines += _table(["task", "kind", "metric", "previous baseline", "candidate",
                     "interval (candidate − baseline)", "items used", "decision"], rows)
    lines += ["", "The candidate's value is over every evaluated item; the interval is the "
              "gate's on the paired difference over the items it used (docs/statistics.md).",
              ""]
    return lines


def _risk(baseline: dict, entry: dict, configs: _Configs, rules: dict) -> list[str]:
    lines = ["## Risk and misuse assessment", "", "### Safety", ""]
    rows = []
    for task, (kind, key, rule) in rules.items():
        if kind != SAFETY:
            continue
        m = baseline["tasks"][task]["metrics"][key]
        s = _eval_of(entry, task, key)
        floor = s.get("floor", rule.floor if rule is not None else None)
        rows.append([task, key, _num(s.get("rate", m.get("value"))), _num(s.get("rate_bound")),
                     _num(floor), s.get("rule") or (rule.rule if rule else None) or "—",
                     _num(m.get("n")), _decision(s, entry)])
    lines += _table(["task", "metric", "rate", "exact bound", "floor", "rule", "items",
                     "decision"], rows) if rows else ["No safety task is judged for this "
                                                      "adapter."]
    lines += ["", "The exact bound is the one-sided Clopper-Pearson bound the floor is "
              "checked against (docs/statistics.md); — where the promotion was not judged.", ""]
    over = [(t, key) for t, (kind, key, _r) in rules.items()  # benign requests answered
            if kind != SAFETY and ("over_refusal" in t or _base_metric(key) == "compliance_rate")]
    if over:
        lines += ["### Over-refusal", ""]
        for task, key in over:
            m = baseline["tasks"][task]["metrics"][key]
            lines.append(f"- `{task}`: {key} {_num(m.get('value'))} over {_num(m.get('n'))} "
                         f"benign requests ({_decision(_eval_of(entry, task, key), entry)})")
        lines.append("")
    lines += ["### Known limits", ""] + _limits(baseline, entry, configs) + [""]
    lines += ["### What the change touched", ""] + _changes(entry.get("diff")) + [""]
    return lines


def _limits(baseline: dict, entry: dict, configs: _Configs) -> list[str]:
    out = []
    for task, t in sorted(baseline["tasks"].items()):
        n = max((m.get("n") or 0 for m in (t.get("metrics") or {}).values()), default=0)
        if n < SMALL_EVAL:
            out.append(f"- `{task}` has only {n} eval items: its figures are coarse and its "
                       "interval wide.")
    local = sorted(t for t, v in baseline["tasks"].items() if v.get("source") == "local")
    if local:
        out.append(f"- {', '.join(f'`{t}`' for t in local)}: the repository's own generated "
                   "tasks (evals/tasks/), not public benchmarks.")
    model = configs.model
    if model is not None and model.source.__class__.__name__ == "BuiltinSource":
        out.append(f"- The base model `{model.name}` is modelcfg's built-in tiny model, "
                   "pretrained on a synthetic domain: these results say nothing about a real "
                   "model or real users.")
    data = _datasets(configs.adapter)
    if data:
        out.append(f"- Trained on {', '.join(f'`{d}`' for d in data)} (pinned by sha256); "
                   "the card does not judge where that data came from.")
    if entry.get("verdict") == "bootstrap":
        out.append("- This version was promoted as a bootstrap: it was never compared with "
                   "an earlier baseline.")
    out.append("- Only the tasks above were measured: behaviour outside them (other "
               "languages, prompts, misuse the safety tasks do not cover) is unknown.")
    return out


def _lineage(entry: dict, earlier: list[dict]) -> list[str]:
    names = lineage(earlier + [entry], {entry["adapter"]})
    rows = []
    for e in earlier + [entry]:
        if e.get("adapter") not in names or e.get("action") not in BASELINE_ACTIONS + (
                "anchor",):
            continue
        mine = e is entry
        rows.append([e["seq"], e.get("action"), e.get("adapter"), e.get("verdict") or "—",
                     str(e.get("commit"))[:12], e.get("time"),
                     "this entry" if mine else str(e.get("hash"))[:16],
                     str(e.get("baseline_sha256"))[:16], e.get("replaces") or "—"])
    lines = ["## Lineage", ""]
    lines += _table(["seq", "action", "adapter", "verdict", "commit", "time", "entry hash",
                     "baseline sha256", "replaces"], rows)
    lines += ["", f"This card belongs to ledger entry {entry['seq']} (its `prev` is "
              f"{str(entry.get('prev'))[:16]}); that entry records the card's sha256, so its "
              "own hash is in evals/ledger.jsonl, not here. Hashes are shortened; "
              "`modelcfg audit verify` checks them in full.", ""]
    return lines


_COST = (("train tokens", "train_tokens"), ("GPU-hours", "gpu_hours"),
         ("train seconds", "train_seconds"), ("wall seconds", "wall_seconds"),
         ("parameters", "parameters"), ("device", "device"))


def _cost(baseline: dict, configs: _Configs) -> list[str]:
    est, cost = configs.estimate or {}, baseline.get("cost") or {}
    rows = [["estimated"] + [_num(est.get(k)) for _, k in _COST],
            ["measured"] + [_num(cost.get(k)) for _, k in _COST]]
    lines = ["## Cost", ""] + _table([""] + [h for h, _ in _COST], rows)
    if configs.estimate_note:
        lines += ["", f"No estimate: {configs.estimate_note}"]
    if configs.estimate:
        lines += ["", f"The estimate is the gate's pre-launch one (6 × parameters × tokens at "
                  f"{_num(est.get('assumed_tflops'))} TFLOPS); the measured figures are the "
                  "training run's."]
    latency = baseline.get("latency") or {}
    if latency:
        lines += ["", f"Eval latency: {_num(latency.get('tokens_per_second'))} generated "
                  f"tokens/s ({_num(latency.get('generated_tokens'))} tokens in "
                  f"{_num(latency.get('generation_seconds'))} s) on "
                  f"{_num(cost.get('device'))}; a figure of that machine only."]
    return lines + [""]


# ----------------------------------------------------------------------------- render


def render_card(config_tree, baseline: dict, entry: dict, earlier: list[dict]
                ) -> tuple[bytes, dict]:
    """The card's bytes and its metadata, for ``baseline`` promoted by ``entry`` (its
    ``hash`` and ``card_sha256`` are ignored) after the ledger entries ``earlier``, with the
    configs of ``config_tree`` (the tree of the entry's commit)."""
    import yaml

    entry = {k: v for k, v in entry.items() if k not in _OMIT}
    adapter = entry["adapter"]
    configs = _configs(config_tree, adapter, entry.get("config_path"))
    meta = card_metadata(adapter, baseline, configs)
    rules = _task_rules(baseline, entry, configs.thresholds)
    names = lineage(earlier + [entry], {adapter})
    previous = next((e for e in reversed(earlier) if e.get("adapter") in names
                     and e.get("action") in BASELINE_ACTIONS), None)
    head = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    lines = ["---", head.rstrip("\n"), "---", "", f"# {adapter}", ""]
    lines += [f"A LoRA adapter of `{_base_name(configs)}` ({configs.adapter.get('method') or '?'}"
              f"), promoted by ledger entry {entry['seq']} ({entry.get('action')}, verdict "
              f"{entry.get('verdict')}) on {entry.get('time')}, from commit "
              f"`{entry.get('commit')}` (fingerprint `{str(entry.get('fingerprint'))[:16]}`).",
              "", f"Written by `modelcfg promote`; `modelcfg card {adapter}` renders it again. "
              "Do not edit it: the ledger records its sha256.", ""]
    lines += _rationale(adapter, configs, entry)
    lines += _eval_summary(baseline, entry, previous, rules)
    lines += _risk(baseline, entry, configs, rules)
    lines += _lineage(entry, earlier)
    lines += _cost(baseline, configs)
    return ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8"), meta


# ----------------------------------------------------------------------------- command


def card_of(repo: Path, adapter: str, rev: str | None = None) -> Card:
    """``modelcfg card``: the card of ``adapter``'s promoted baseline in the working tree
    (or at ``rev``), rendered from the ledger and git. MC730 without a promoted baseline,
    MC733 when the entry's commit is not in this repository."""
    repo = Path(repo)
    tree = GitTree(repo, git.resolve_commit(repo, rev, "MC730")) if rev else FsTree(repo)
    baseline = read_baseline(tree, adapter)
    ref = (baseline or {}).get("ledger")
    if ref is None:
        rel = f"{BASELINES_DIR}/{adapter}.json"
        raise UserError("MC730", f"{adapter} has no promoted baseline here ({rel} is missing "
                        "or has no ledger reference); promote it first", path=rel, line=1,
                        col=1, exit_code=2)
    entries = read_entries(tree)
    entry = next((e for e in entries if e["seq"] == ref["seq"]), None)
    if entry is None or entry.get("hash") != ref["hash"] or entry.get("adapter") != adapter:
        raise UserError("MC730", f"the ledger has no entry {ref['seq']} matching the baseline "
                        f"of {adapter}; run `modelcfg audit verify`", path=LEDGER, line=1, col=1,
                        exit_code=2)
    if git.commit_of(repo, entry["commit"]) is None:
        raise UserError("MC733", f"the promoted commit {entry['commit']} is not in this "
                        "repository (a shallow clone?): the card reads the configs there; "
                        "fetch the full history (fetch-depth: 0) and run again", exit_code=2)
    try:
        config_tree = GitTree(repo, entry["commit"])
        text, meta = render_card(config_tree, baseline, entry,
                                 [e for e in entries if e["seq"] < entry["seq"]])
    except PathProblem as err:
        raise UserError("MC733", f"cannot read the configs of commit {entry['commit'][:12]}: "
                        f"{err}", exit_code=2) from None
    return Card(adapter, text, meta, entry, entry.get("card_sha256"))
