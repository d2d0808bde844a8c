"""Path-style glob patterns for policy documents: ``*`` stays within one ``/``-separated
segment, ``**`` crosses segments, ``?`` is one character. Anchored at both ends."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def matches(pattern: str, text: str) -> bool:
    return _compile(pattern).fullmatch(text) is not None


def matches_any(patterns, text: str) -> bool:
    return any(matches(p, text) for p in patterns or ())
