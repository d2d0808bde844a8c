"""The metric-history plot: the gate report's history.png and `modelcfg history --format
png` are this one function. matplotlib is optional (``modelcfg[plot]``) and imported only
when a plot is drawn.

A series is ``[(label, value)]`` in order (labels ``#seq`` for ledger entries, and
``candidate`` for the gate's change); every series is placed on one shared axis of labels,
so the adapters' points line up by ledger entry.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from modelcfg.core.atomic import write_bytes
from modelcfg.core.errors import UserError


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def require_matplotlib(what: str) -> None:
    """MC005 (exit 2) when matplotlib is not installed."""
    if not have_matplotlib():
        raise UserError("MC005", f"{what} needs the plot extra (matplotlib not installed): "
                        "pip install 'modelcfg[plot]'", exit_code=2)


def _axis(*groups: dict) -> list[str]:
    """Every label of every series, ledger entries by seq, then anything else (the
    candidate) in the order first seen."""
    labels: list[str] = []
    for group in groups:
        for points in group.values():
            labels += [label for label, _ in points if label not in labels]

    def key(label: str):
        match = re.fullmatch(r"#(\d+)", label)
        return (0, int(match.group(1)), "") if match else (1, labels.index(label), label)
    return sorted(labels, key=key)


def plot_timeline(metrics: dict, path: Path, *, title: str, latency: dict | None = None
                  ) -> bool:
    """Draw ``metrics`` (name -> series) and, under them when given, ``latency`` (name ->
    generation tokens/s series) to ``path`` as a PNG, written atomically. False (nothing
    written) when there is nothing to plot or matplotlib is missing."""
    latency = {k: v for k, v in (latency or {}).items() if v}
    if not metrics or not have_matplotlib():
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axis = _axis(metrics, latency)
    where = {label: i for i, label in enumerate(axis)}
    rows = 2 if latency else 1
    fig, axes = plt.subplots(rows, 1, figsize=(9, 3.5 * rows), dpi=100, squeeze=False,
                             sharex=True)
    top = axes[0][0]
    values = []
    for name, points in sorted(metrics.items()):
        top.plot([where[x] for x, _ in points], [v for _, v in points], marker="o", label=name)
        values += [v for _, v in points]
    top.set_ylabel("metric")
    if all(0 <= v <= 1 for v in values):
        top.set_ylim(-0.02, 1.02)
    top.set_title(title)
    # beside the plot, not on it: a legend inside hid points (a low robustness score)
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if latency:
        low = axes[1][0]
        for name, points in sorted(latency.items()):
            low.plot([where[x] for x, _ in points], [v for _, v in points], marker="s",
                     label=name)
        low.set_ylabel("generation tokens/s")
        low.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1][0].set_xticks(range(len(axis)), axis)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes(Path(path), buffer.getvalue())
    return True
