"""`modelcfg propose --set`: the edit changes only the value's characters (comments, order,
layout kept), and whatever cannot be edited in place is refused (MC030)."""

from __future__ import annotations

import pytest

from modelcfg.agent.edit import parse_set, set_value
from modelcfg.core.errors import UserError

TEXT = """\
# a comment that stays
name: a   # trailing comment
training:
  learning_rate: 0.003  # tuned
  note: "a # b"
evals:
  suites: [capability, safety]
rationale: >
  folded
  text
"""


def edit(item: str) -> str:
    return set_value(TEXT, "a.yaml", *parse_set(item, "a")[1:])


def changed(new: str) -> list[tuple[str, str]]:
    old_lines, new_lines = TEXT.splitlines(), new.splitlines()
    return [(a, b) for a, b in zip(old_lines, new_lines) if a != b]


@pytest.mark.parametrize("item,want", [
    ("training.learning_rate=0.002", [("  learning_rate: 0.003  # tuned",
                                       "  learning_rate: 0.002  # tuned")]),
    ("a:name=b", [("name: a   # trailing comment", "name: b   # trailing comment")]),
    ("training.note='x'", [('  note: "a # b"', "  note: 'x'")]),
    ("evals.suites.0=safety", [("  suites: [capability, safety]", "  suites: [safety, safety]")]),
    ("evals.suites=[safety]", [("  suites: [capability, safety]", "  suites: [safety]")]),
])
def test_only_the_value_changes(item, want):
    new = edit(item)
    assert changed(new) == want and len(new.splitlines()) == len(TEXT.splitlines())


def test_a_new_key_goes_first_in_its_block_mapping():
    new = edit("training.seed=3")
    assert new.splitlines()[3] == "  seed: 3" and new.replace("  seed: 3\n", "") == TEXT


@pytest.mark.parametrize("item", ["rationale=x", "training=1", "nope.x=1", "b:name=x",
                                  "training.learning_rate", "training..x=1", "name=[1",
                                  "evals.suites.0=a, b"])  # would read back as a
def test_what_cannot_be_edited_in_place_is_mc030(item):
    with pytest.raises(UserError) as err:
        edit(item)
    assert err.value.code == "MC030"
