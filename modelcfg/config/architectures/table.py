"""The committed table of module paths per architecture, read lazily and cached (torch-free).

A row is ``(path, class name, kind, parameter names)``; kinds are listed in
:data:`modelcfg.config.architectures.build.KINDS` (``N``: a module peft's LoRA cannot wrap).
The table holds the tiny config's layers; :func:`modules` expands them to a real layer count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TABLE = Path(__file__).resolve().parents[1] / "data" / "architectures.json"
WRAPPABLE = frozenset("LCEVA")  # kinds peft's LoRA can wrap
LINEAR = frozenset("LC")  # what all-linear selects: nn.Linear and transformers' Conv1D


@dataclass(frozen=True)
class Row:
    path: str
    cls: str
    kind: str
    params: tuple[str, ...]


@dataclass(frozen=True)
class Architecture:
    model_type: str
    layers: str  # the layer container, e.g. "model.layers"
    tiny_layers: int
    head: str | None  # the output head, which all-linear leaves out
    moe_conversion: dict | None  # peft's v4 -> v5 target renaming for fused experts
    rows: tuple[Row, ...]


@lru_cache(maxsize=1)
def _raw() -> dict:
    return json.loads(TABLE.read_text())["architectures"]


def known() -> list[str]:
    return sorted(_raw())


@lru_cache(maxsize=None)
def architecture(model_type: str) -> Architecture | None:
    spec = _raw().get(model_type)
    if spec is None:
        return None
    rows = tuple(Row(p, c, k, tuple(x for x in ps.split(",") if x))
                 for p, c, k, ps in spec["modules"])
    return Architecture(model_type, spec["layers"], spec["tiny_layers"], spec["head"],
                        spec["moe_conversion"], rows)


@lru_cache(maxsize=64)
def modules(model_type: str, num_layers: int | None = None) -> tuple[Row, ...]:
    """Every module of the architecture with ``num_layers`` layers (the tiny count when
    None). Layers beyond the tiny ones repeat the last tiny layer's modules (layer 0 of a
    model with a dense first layer, such as DeepSeek-V3, keeps its own)."""
    arch = architecture(model_type)
    if num_layers is None or num_layers == arch.tiny_layers:
        return arch.rows
    prefix = arch.layers + "."
    before, after, per_layer = [], [], {}
    for row in arch.rows:
        if row.path.startswith(prefix):
            index, _, rest = row.path[len(prefix):].partition(".")
            per_layer.setdefault(int(index), []).append((rest, row))
        else:
            (after if per_layer else before).append(row)
    out = list(before)
    last = arch.tiny_layers - 1
    for i in range(num_layers):
        for rest, row in per_layer[min(i, last)]:
            path = f"{prefix}{i}" + (f".{rest}" if rest else "")
            out.append(Row(path, row.cls, row.kind, row.params))
    return tuple(out + after)
