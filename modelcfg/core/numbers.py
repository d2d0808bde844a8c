"""Numbers the evidence is made of: finite or refused, never NaN passed along."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence


def is_finite(value) -> bool:
    """A real, finite number (booleans are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _replace_non_finite(value, replace):
    """``value`` with every NaN or infinite float (in nested dicts, lists and tuples) made
    ``replace(number)``."""
    if isinstance(value, float) and not math.isfinite(value):
        return replace(value)
    if isinstance(value, dict):
        return {k: _replace_non_finite(v, replace) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_replace_non_finite(v, replace) for v in value]
    return value


def finite_or_none(value):
    """``value`` with every NaN or infinite float (nested) made None, so it can be written as
    strict JSON."""
    return _replace_non_finite(value, lambda _: None)


def yaml_spelled(value):
    """``value`` with every NaN or infinite float (nested) written as YAML spells it
    (``.nan``, ``.inf``, ``-.inf``): strict JSON that still shows what a config said."""
    return _replace_non_finite(value, lambda x: ".nan" if math.isnan(x)
                               else (".inf" if x > 0 else "-.inf"))


def _refuse(name: str):
    raise ValueError(f"{name} is not a number")


def strict_json(text: str):
    """``json.loads`` that refuses NaN, Infinity and -Infinity (Python accepts them)."""
    return json.loads(text, parse_constant=_refuse)


def mean_and_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1 denominator; 0.0 sd for one value).

    Two-pass with ``math.fsum`` so that constant inputs give exactly zero variance.
    """
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    if n == 1:
        return mean, 0.0
    var = math.fsum((x - mean) ** 2 for x in values) / (n - 1)
    return mean, math.sqrt(var)
