"""One registry of codes (modelcfg.core.codes): what the package emits, what the docs list
and what the registry holds are the same set."""

from __future__ import annotations

import re
from pathlib import Path

from modelcfg.core.codes import CODES

ROOT = Path(__file__).resolve().parents[2]
CODE = re.compile(r"\bMC\d{3}\b")


def emitted() -> dict[str, set[str]]:
    """Codes written in the package's source, by file (the registry itself excluded)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "modelcfg").rglob("*.py"):
        if path.name == "codes.py" and path.parent.name == "core":
            continue
        for code in CODE.findall(path.read_text()):
            found.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    return found


def documented() -> set[str]:
    return {m.group(1) for path in (ROOT / "docs").glob("*.md")
            for m in re.finditer(r"^\| *(MC\d{3}) *\|", path.read_text(), re.M)}


def test_every_emitted_code_is_registered():
    unknown = {code: sorted(files) for code, files in emitted().items() if code not in CODES}
    assert unknown == {}


def test_every_registered_code_is_emitted_somewhere():
    assert sorted(set(CODES) - set(emitted())) == []


def test_the_docs_list_exactly_the_registered_codes():
    docs = documented()
    assert sorted(set(CODES) - docs) == [], "registered but not documented"
    assert sorted(docs - set(CODES)) == [], "documented but not registered"


def test_the_check_sees_a_code_in_source(tmp_path):
    assert CODE.findall('raise UserError("MC999", "x")') == ["MC999"]
    assert "MC999" not in CODES
