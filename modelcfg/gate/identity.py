"""Who wrote a change, as the commits say: every commit between the merge base and the head
(merge commits included), read from the raw commit objects, never from formatted
``git log`` output that a crafted name or message could shift.

Everything is normalised before it is matched, so spelling cannot hide an agent: Unicode
NFKC, invisible characters dropped, runs of whitespace made one space (case is folded by
the matcher). Trailers are read from every line of the message but the subject, in any
case and spacing (``agent:x``, ``Agent :x``) and folded over continuation lines; git's own
trailer rules (last paragraph only) are not applied, since a missed trailer would hide
an agent and a found one only adds.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from pathlib import Path

from modelcfg.core import git
from modelcfg.core.errors import UserError

# Trailers whose value names a person who wrote the commit.
IDENTITY_TRAILERS = ("co-authored-by", "signed-off-by")
FOLD_LINES = 20  # continuation lines folded into one trailer (bounds the work per line)
_TRAILER = re.compile(r"^\s*(\w[\w .-]{0,80}?)\s*:(.*)$")
_IDENT = re.compile(r"^(.*?)\s*<([^<>]*)>")
_TIMESTAMP = re.compile(r"^(.*>)\s*-?\d+\s*[+-]\d{4}\s*$")


def norm(text: str) -> str:
    """``text`` in the one form it is matched in (case aside): NFKC, no invisible or control
    characters, whitespace runs made one space, trimmed."""
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(" " if ch.isspace() else ch for ch in text
                   if ch.isspace() or unicodedata.category(ch) not in ("Cf", "Cc"))
    return " ".join(kept.split())


def trailer_key(key: str) -> str:
    """A trailer key with spaces, underscores and hyphens made one hyphen:
    ``Co authored_by`` -> ``Co-authored-by``."""
    return re.sub(r"[\s_-]+", "-", norm(key)).strip("-")


def identity_forms(ident: str) -> set[str]:
    """The forms an identity (a login, a name, an email or ``Name <email>``) is matched in:
    as given (also without a leading ``@``), its name and email, the email's local part and
    a GitHub noreply login (``123+login@users.noreply.github.com``), each also without a
    trailing ``[bot]``."""
    text = norm(ident)
    forms = {text, text.lstrip("@")}  # a login may come as @login
    match = _IDENT.match(text)
    if match:
        forms |= {match.group(1).strip(), match.group(2).strip()}
    for form in list(forms):
        if "@" in form and "<" not in form:
            local = form.rsplit("@", 1)[0]
            forms |= {local, local.split("+", 1)[-1]}
    forms |= {f[:-5].rstrip() for f in forms if f.casefold().endswith("[bot]")}
    return {f for f in forms if f}


def trailers(message: str) -> list[tuple[str, str]]:
    """``(key, value)`` of every trailer-shaped line of ``message`` but its subject; a
    trailer continued on indented lines is given folded (and as its first line)."""
    lines = message.splitlines()[1:]
    normed = [norm(line) for line in lines]
    out: list[tuple[str, str]] = []
    for i, line in enumerate(normed):
        match = _TRAILER.match(line)
        if not match:
            continue
        key, value = trailer_key(match.group(1)), norm(match.group(2))
        out.append((key, value))
        more = []
        for j in range(i + 1, min(i + 1 + FOLD_LINES, len(lines))):
            if not lines[j][:1].isspace() or not normed[j]:
                break
            more.append(normed[j])
        if more:
            out.append((key, " ".join([value, *more]).strip()))
    return out


def _decode(data: bytes, encoding: str | None) -> str:
    try:
        return data.decode(codecs.lookup(encoding).name if encoding else "utf-8")
    except (LookupError, UnicodeDecodeError):
        return data.decode("utf-8", errors="replace")


def parse_commit(sha: str, raw: bytes) -> dict:
    """One raw commit object as ``{sha, people, trailers}``: ``people`` are the author and
    committer (``Name <email>``, no timestamp), ``trailers`` ``[key, value]`` pairs."""
    head, _, message = raw.partition(b"\n\n")
    fields = [line.split(b" ", 1) for line in head.split(b"\n") if b" " in line[1:]
              and not line[:1].isspace()]
    encoding = next((v.decode(errors="replace").strip() for k, v in fields
                     if k == b"encoding"), None)
    people = []
    for key, value in fields:
        if key in (b"author", b"committer"):
            ident = _decode(value, encoding)
            stamp = _TIMESTAMP.match(ident)
            people.append(norm(stamp.group(1) if stamp else ident))
    return {"sha": sha, "people": people,
            "trailers": [list(t) for t in trailers(_decode(message, encoding))]}


def _shallow_commits(repo: Path) -> set[str]:
    where = git.text(repo, "rev-parse", "--git-path", "shallow", code="MC824")
    path = Path(where) if os.path.isabs(where) else Path(repo) / where
    return set(path.read_text().split()) if path.is_file() else set()


def commit_identities(repo: Path, base: str, head: str) -> list[dict]:
    """:func:`parse_commit` of every commit in ``base..head`` (merges included, replace
    refs ignored). MC824 when they cannot all be read: a shallow clone whose history is cut
    inside the range (the commits behind the cut would go unseen), or a missing object."""
    env = {"GIT_NO_REPLACE_OBJECTS": "1"}
    shas = git.text(repo, "rev-list", f"{base}..{head}", code="MC824", env=env).split()
    cut = sorted(set(shas) & _shallow_commits(repo))
    if cut:
        raise UserError("MC824", f"this clone is shallow and its history stops at commit "
                        f"{cut[0][:12]}, inside the change: the commits behind it cannot be "
                        "read, so who wrote the change is unknown; fetch the full history "
                        "(e.g. actions/checkout with fetch-depth: 0)")
    objects = git.Objects(repo)
    commits = []
    for sha in shas:
        try:
            raw = objects.blob(sha)
        except UserError as err:
            raise UserError("MC824", f"commit {sha[:12]} of the change cannot be read "
                            f"({err.message}); who wrote the change is unknown") from None
        commits.append(parse_commit(sha, raw))
    return commits
