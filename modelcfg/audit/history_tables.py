"""`modelcfg history` as tables: one per adapter, as aligned text or as Markdown, from the
document :func:`modelcfg.audit.timeline.history` builds (the same one `--format json`
prints)."""

from __future__ import annotations

from modelcfg.audit.timeline import columns
from modelcfg.core.numbers import is_finite

EMPTY = "–"


def _fixed(value, digits: int) -> str:
    return f"{value:.{digits}f}" if is_finite(value) else EMPTY


def _hours(value) -> str:
    return f"{value:.3g}" if is_finite(value) else EMPTY


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else EMPTY


def _table(name: str, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    metrics = columns(rows)
    head = ["seq", "action", "commit", "date", *(label for label, _, _ in metrics),
            "tokens/s", "gen s", "train tokens", "est. tokens", "GPU-hours", "est. GPU-hours"]
    body = []
    for r in rows:
        measured, estimate = r["cost"]["measured"], r["cost"]["estimate"] or {}
        body.append([
            str(r["seq"]), r["action"] + ("" if r["adapter"] == name else f" ({r['adapter']})"),
            r["commit"][:12], r["time"][:16].replace("T", " "),
            *(_fixed(r["tasks"].get(task, {}).get(metric), 3) for _, task, metric in metrics),
            _fixed(r["latency"].get("tokens_per_second"), 1),
            _fixed(r["latency"].get("generation_seconds"), 2),
            _count(measured.get("train_tokens")), _count(estimate.get("train_tokens")),
            _hours(measured.get("gpu_hours")), _hours(estimate.get("gpu_hours"))])
    return head, body


def render_text(doc: dict) -> str:
    if not doc["adapters"]:
        return "no promotion, rollback or anchor entry in the ledger\n"
    out = []
    for name, rows in doc["adapters"].items():
        head, body = _table(name, rows)
        widths = [max(len(c) for c in column) for column in zip(head, *body)]
        numeric = [i >= 4 or i == 0 for i in range(len(head))]
        out += [f"{name}: {len(rows)} entr{'y' if len(rows) == 1 else 'ies'}", ""]
        for cells in (head, *body):
            out.append("  ".join(c.rjust(w) if right else c.ljust(w)
                                 for c, w, right in zip(cells, widths, numeric)).rstrip())
        out.append("")
    return "\n".join(out)


def render_markdown(doc: dict) -> str:
    out = ["# Promotion history", ""]
    if not doc["adapters"]:
        return "\n".join(out + ["No promotion, rollback or anchor entry in the ledger.", ""])
    for name, rows in doc["adapters"].items():
        head, body = _table(name, rows)
        out += [f"## `{name}`", "", "| " + " | ".join(head) + " |",
                "|" + "|".join("---:" if i >= 4 or i == 0 else "---"
                               for i in range(len(head))) + "|"]
        out += ["| " + " | ".join(f"`{c}`" if i == 2 else c for i, c in enumerate(cells))
                + " |" for cells in body]
        out.append("")
    return "\n".join(out)
