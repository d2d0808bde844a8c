"""AGENTS.md's table of reason codes is generated from the registry
(modelcfg/core/codes.py) and must match it; the pull-request template carries the sections
an agent's proposal fills in.

``python tests/test_agents_md.py --write`` rewrites the table.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENTS = ROOT / "AGENTS.md"
TEMPLATE = ROOT / ".github" / "pull_request_template.md"
BEGIN, END = "<!-- codes:begin -->", "<!-- codes:end -->"
# The codes an agent meets: validation (MC1xx-MC3xx) and the gate's reasons (MC8xx).
AGENT_CODES = re.compile(r"^MC[1238]\d\d$")
SECTIONS = ("Rationale", "Expected effect", "Risk assessment", "Eval plan", "Config diff",
            "Cost estimate")


def table() -> str:
    from modelcfg.core.codes import CODES

    rows = ["| " + code + " | " + text.replace("|", "\\|") + " |"
            for code, text in sorted(CODES.items()) if AGENT_CODES.match(code)]
    return "\n".join(["| code | meaning |", "|---|---|", *rows])


def rendered(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def test_the_codes_table_matches_the_registry():
    text = AGENTS.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert text == rendered(text), "run: python tests/test_agents_md.py --write"


def test_the_table_lists_the_gate_and_budget_codes():
    text = AGENTS.read_text()
    for code in ("MC202", "MC801", "MC814", "MC828", "MC840", "MC841"):
        assert re.search(rf"^\| {code} \| ", text, re.M), code
    assert not re.search(r"^\| MC7\d\d \| ", text, re.M)  # audit codes are a maintainer's


def test_the_template_has_the_proposal_sections_in_order():
    headings = re.findall(r"^## (.+)$", TEMPLATE.read_text(), re.M)
    assert tuple(headings) == SECTIONS


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    sys.path.insert(0, str(ROOT))
    AGENTS.write_text(rendered(AGENTS.read_text()))
