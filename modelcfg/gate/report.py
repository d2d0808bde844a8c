"""``report.md`` (for the humans who merge) and the metric-history plot, from gate.json data.

The report is written from the same dict as ``gate.json``, so the two never disagree. The
history plot reads the base commit's audit ledger (earlier promotions) and adds the
candidate; it is drawn by :func:`modelcfg.audit.plot.plot_timeline`, the plot of `modelcfg
history --format png` (matplotlib is optional, ``modelcfg[plot]``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from modelcfg.audit.plot import plot_timeline
from modelcfg.audit.timeline import first_value
from modelcfg.core.atomic import write_text
from modelcfg.core.numbers import finite_or_none, is_finite

ICON = {"pass": "PASS", "block": "BLOCK", "error": "ERROR"}


def _num(value, fmt: str = "{:.3f}") -> str:
    if not is_finite(value):
        return "–"
    return fmt.format(value)


def _short(value, width: int = 60) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[:width - 1] + "…"


def _signed(value) -> str:
    return _num(value, "{:+.3f}")


def render(report: dict) -> str:
    """The whole report: verdict, what blocks the change, the config diff, one section per
    judged adapter, the history plot."""
    lines = [f"# modelcfg gate: {ICON.get(report['verdict'], report['verdict'])}", ""]
    base, head, fork = ((report.get(k) or "?")[:12] for k in ("base", "head", "merge_base"))
    lines.append(f"Base `{base}` → head `{head}` (merge base `{fork}`), "
                 f"{report.get('wall_seconds', 0)} s.")
    if report.get("agent"):
        lines.append("")
        lines.append("Agent-authored change: " + "; ".join(report["agent"]) + ".")
    for note in report.get("notes", []):
        lines += ["", f"Note: {note}."]
    if report["reasons"]:
        lines += ["", "## Blocking reasons", ""]
        lines += [f"- **{r['code']}** {r['message']}" for r in report["reasons"]]
    lines += ["", "## Config changes", "", *_change_lines((report.get("diff") or {}))]
    for cfg in report["configs"]:
        lines += _config_lines(cfg)
    if report.get("plot"):
        lines += ["", "## Metric history", "", f"![metric history]({report['plot']})"]
    return "\n".join(lines) + "\n"


def _change_lines(diff: dict) -> list[str]:
    changes = diff.get("changes", [])
    if not changes:
        return ["No modelcfg document changed."]
    lines = []
    for c in changes:
        impact = f" — impact: **{c['impact']}**" if c.get("impact") else ""
        status = c["status"] + (f" from `{c['replaces']}`" if c.get("replaces") else "")
        lines.append(f"- {c['kind']} `{c['name']}` ({status}){impact}")
        for f in c.get("fields", []):
            old = f"`{_short(f['old'])}`" if "old" in f else "(absent)"
            new = f"`{_short(f['new'])}`" if "new" in f else "(absent)"
            lines.append(f"  - `{f['field']}`: {old} → {new}")
        lines += [f"  - because {why}" for why in c.get("reasons", [])]
    return lines


def _config_lines(cfg: dict) -> list[str]:
    lines = ["", f"## `{cfg['adapter']}`: {ICON.get(cfg['verdict'], cfg['verdict'])}", "",
             f"Config `{cfg['path']}`, impact **{cfg['impact']}**."]
    if cfg.get("replaces"):
        lines.append(f"Renamed from `{cfg['replaces']}`: judged against its baseline; the "
                     "evidence is promoted under the new name.")
    if cfg.get("baseline"):
        b = cfg["baseline"]
        what = (f"promoted baseline from `{(b.get('commit') or '')[:12]}`"
                if b.get("source") == "baseline" else f"base model `{b.get('model')}` "
                "without an adapter (new adapter)")
        lines.append(f"Compared with the {what}.")
    if cfg["reasons"]:
        lines += ["", "Why it is blocked:", ""]
        for r in cfg["reasons"]:
            where = f" (task `{r['task']}`)" if r.get("task") else ""
            rule = f" — threshold `{r['threshold']}`" if r.get("threshold") else ""
            lines.append(f"- **{r['code']}**{where} {r['message']}{rule}")
    if cfg["tasks"]:
        lines += _task_table(cfg["tasks"])
    return lines + ["", *_cost_lines(cfg), *_latency_lines(cfg.get("latency"))]


def _latency_lines(latency: dict | None) -> list[str]:
    """The latency SLO's measurement: the ratio with its interval, how it was timed."""
    if not latency or not latency.get("interval"):
        return []
    i, t = latency["interval"], latency.get("timings") or {}
    served = {True: "merged", False: "unmerged"}
    slo = (f"at most {1 + latency['max_regression']:.3f}" if latency.get("max_regression")
           is not None else "no ratio limit")
    return ["", f"Latency ({latency['decision']}): candidate/baseline time per generated "
            f"token {i['ratio']:.3f}, {i['level']:.1%} interval [{i['low']:.3f}, "
            f"{i['high']:.3f}] ({slo}); {i['n']} alternating pairs of {t.get('prompts')} "
            f"prompts x {t.get('new_tokens')} tokens, candidate "
            f"{served.get(t.get('candidate_merged'), '?')}, baseline "
            f"{served.get(t.get('baseline_merged'), '?')}; median "
            f"{_num(latency.get('candidate_seconds_per_token'), '{:.5f}')} vs "
            f"{_num(latency.get('baseline_seconds_per_token'), '{:.5f}')} s per token."]


def _task_table(tasks: dict) -> list[str]:
    lines = ["", "| task | metric | baseline | candidate | Δ | CI | items | decision | kind |",
             "|---|---|---|---|---|---|---|---|---|"]
    for task, o in tasks.items():
        ci = f"[{_signed(o.get('ci_low'))}, {_signed(o.get('ci_high'))}]"
        items = f"{o.get('items_used', 0)}/{o.get('items_available', 0)}"
        decision = o.get("decision", "")
        if o.get("significant_gain"):
            decision += " (gain)"
        if o.get("kind") == "safety":
            decision += (f" (rate {_num(o.get('rate'))}, exact lower bound "
                         f"{_num(o.get('rate_bound'))}, floor {o.get('floor')})")
        lines.append(f"| {task} | {o.get('metric')} | {_num(o.get('baseline_mean'))} | "
                     f"{_num(o.get('candidate_mean'))} | {_signed(o.get('estimate'))} | "
                     f"{ci} | {items} | {decision} | {o.get('kind', '')} |")
    needs = [f"`{t}` ≈{o['items_needed']:,}" for t, o in tasks.items()
             if isinstance(o.get("items_needed"), int) and o.get("decision") == "undecided"
             and o["items_needed"] > o.get("items_available", 0)]
    if needs:
        lines += ["", "A decision at these margins would need more items than the suites "
                  "have: " + ", ".join(needs) + "."]
    return lines


def _cost_lines(cfg: dict) -> list[str]:
    cost, train = cfg.get("cost", {}), cfg.get("train", {})
    est, measured = cost.get("estimate", {}), cost.get("measured", {})
    out = ["Cost:"]
    if est:
        out.append(f"- estimate before training: {est.get('train_tokens', 0):,} tokens, "
                   f"{_num(est.get('gpu_hours'), '{:.6f}')} GPU-hours")
    if train.get("skipped"):
        out.append(f"- training skipped: {train['skipped']}")
    elif train:
        how = "cache hit, 0 training seconds" if train.get("cache_hit") else (
            f"trained in {_num(train.get('train_seconds'), '{:.1f}')} s")
        out.append(f"- training: {how}; fingerprint `{str(train.get('fingerprint'))[:16]}`")
    if measured:
        out.append(f"- measured: {measured.get('train_tokens', 0):,} tokens, "
                   f"{_num(measured.get('gpu_hours'), '{:.6f}')} GPU-hours on "
                   f"{measured.get('device', '?')}, peak memory "
                   f"{_num((measured.get('peak_memory_bytes') or 0) / 2**20, '{:.0f}')} MiB, "
                   f"eval {_num(measured.get('eval_tokens_per_second'), '{:.0f}')} tokens/s")
    if cost.get("eval_items_available"):
        out.append(_items_line(cfg, cost))
    return out


def _items_line(cfg: dict, cost: dict) -> str:
    """How many items the decision used (early stopping) and how many were evaluated: a
    passing change is evaluated on every item afterwards, for its evidence."""
    decided = sum(t.get("items_used") or 0 for t in cfg.get("tasks", {}).values())
    line = (f"- decided on {decided:,} of {cost['eval_items_available']:,} items "
            "(sequential early stopping)")
    if cost["eval_items"] > decided:
        line += f"; all {cost['eval_items']:,} evaluated for the evidence"
    return line


def history(ledger_entries: list[dict], report: dict) -> dict[str, list[tuple[str, float]]]:
    """Per ``adapter/task``: the promoted metric values in ledger order, then the candidate."""
    series: dict[str, list[tuple[str, float]]] = {}
    names = {c["adapter"] for c in report["configs"]}
    for entry in ledger_entries:
        if entry.get("adapter") not in names:
            continue
        for task in entry.get("eval") or {}:
            value = first_value(entry, task)
            if value is not None:
                series.setdefault(f"{entry['adapter']}/{task}", []).append(
                    (f"#{entry.get('seq')}", value))
    for cfg in report["configs"]:
        for task, o in cfg.get("tasks", {}).items():
            value = o.get("candidate_mean")
            if isinstance(value, (int, float)) and math.isfinite(value):
                series.setdefault(f"{cfg['adapter']}/{task}", []).append(("candidate", value))
    return series


def latency_history(ledger_entries: list[dict], report: dict) -> dict[str, list]:
    """Per adapter: the promoted baselines' generation tokens/s, then the candidate's."""
    series: dict[str, list[tuple[str, float]]] = {}
    names = {c["adapter"] for c in report["configs"]}
    for entry in ledger_entries:
        speed = ((entry.get("cost") or {}).get("eval_latency") or {}).get("tokens_per_second")
        if entry.get("adapter") in names and is_finite(speed):
            series.setdefault(entry["adapter"], []).append((f"#{entry.get('seq')}", speed))
    for cfg in report["configs"]:
        speed = ((cfg.get("cost") or {}).get("measured") or {}).get("eval_tokens_per_second")
        if is_finite(speed):
            series.setdefault(cfg["adapter"], []).append(("candidate", speed))
    return series


def dumps(report: dict) -> str:
    return json.dumps(finite_or_none(report), indent=2, sort_keys=True)


def write_report(out_dir: Path, report: dict, repo: Path, base_sha: str | None) -> None:
    """report.md and gate.json (and the history plot when it can be drawn). The plot is an
    extra: nothing about it (a broken ledger, no base commit, matplotlib) may stop the
    verdict from being written."""
    from modelcfg.audit.ledger import read_entries
    from modelcfg.config.trees import GitTree

    try:
        entries = read_entries(GitTree(repo, base_sha)) if base_sha else []
    except Exception as err:  # noqa: BLE001 - a broken ledger must not hide the verdict
        entries = []
        why = err.render() if hasattr(err, "render") else f"{type(err).__name__}: {err}"
        report.setdefault("notes", []).append(
            f"the metric history leaves out the base commit's ledger, which was not read: {why}")
    try:
        if plot_timeline(history(entries, report), out_dir / "history.png",
                         title="promoted baselines and this candidate",
                         latency=latency_history(entries, report)):
            report["plot"] = "history.png"
    except Exception:  # noqa: BLE001 - the plot is an extra; it must not hide the verdict
        report.pop("plot", None)
    write_text(out_dir / "report.md", render(report))
    write_text(out_dir / "gate.json", dumps(report) + "\n")
