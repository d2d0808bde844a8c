"""Path-style glob patterns for policy documents: ``*`` stays within one ``/``-separated
segment, ``**`` crosses segments, ``?`` is one character. Anchored at both ends.

For names that are not paths (logins, emails, labels, commit trailers) pass
``paths=False``: then ``*`` matches any run of characters, ``/`` included, and
``fold=True`` compares case-insensitively (Unicode case folding of pattern and text)."""

from __future__ import annotations

import re
from functools import lru_cache


@lru_cache(maxsize=512)
def _compile(pattern: str, paths: bool = True) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        if paths and pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*" if paths else ".*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]" if paths else ".")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def matches(pattern: str, text: str, *, fold: bool = False, paths: bool = True) -> bool:
    if fold:
        pattern, text = pattern.casefold(), text.casefold()
    return _compile(pattern, paths).fullmatch(text) is not None


def matches_any(patterns, text: str, *, fold: bool = False, paths: bool = True) -> bool:
    return any(matches(p, text, fold=fold, paths=paths) for p in patterns or ())
