"""The thresholds' latency block and the adapter's serving field, as validate reads them."""

from __future__ import annotations

from modelcfg.config.trees import FsTree
from modelcfg.config.validate import validate
from modelcfg.config.workspace import load_workspace
from modelcfg.scaffold.init import init

SLO = """
latency:
  max_regression: 0.1
  repeats: {repeats}
  adapters:
    example:
      alpha: 0.001
"""


def repo_with(tmp_path, repeats: int):
    init(tmp_path / "r")
    path = tmp_path / "r/evals/thresholds.yaml"
    path.write_text(path.read_text() + SLO.format(repeats=repeats))
    return tmp_path / "r", path.read_text().splitlines()


def test_too_few_repeats_for_the_alpha_is_mc345_at_the_field(tmp_path):
    repo, lines = repo_with(tmp_path, repeats=4)
    found = [(p.path, p.line, p.code) for p in validate(repo) if p.code == "MC345"]
    repeats_line = next(i for i, t in enumerate(lines, 1) if t.strip() == "repeats: 4")
    entry_line = next(i for i, t in enumerate(lines, 1) if t.strip() == "alpha: 0.001")
    # 4 pairs: too few at the global alpha (0.05 needs 5) and at the adapter's 0.001 (needs
    # 11), reported at the adapter's entry (its mapping starts at its first key)
    assert found == [("evals/thresholds.yaml", repeats_line, "MC345"),
                     ("evals/thresholds.yaml", entry_line, "MC345")]


def test_enough_repeats_validate_and_the_rule_merges_the_adapters_entry(tmp_path):
    repo, _ = repo_with(tmp_path, repeats=12)
    assert [p for p in validate(repo) if p.is_error] == []
    thresholds = load_workspace(FsTree(repo)).thresholds()
    rule = thresholds.latency_for("example")
    assert (rule.max_regression, rule.alpha, rule.repeats, rule.new_tokens) == (0.1, 0.001, 12, 16)
    other = thresholds.latency_for("other")
    assert (other.alpha, other.repeats) == (0.05, 12)


def test_without_a_latency_block_nothing_is_judged(tmp_path):
    init(tmp_path / "r")
    assert load_workspace(FsTree(tmp_path / "r")).thresholds().latency_for("example") is None


def test_a_block_of_adapter_entries_times_only_those_adapters(tmp_path):
    init(tmp_path / "r")
    path = tmp_path / "r/evals/thresholds.yaml"
    path.write_text(path.read_text() + "latency:\n  repeats: 16\n  adapters:\n"
                    "    example:\n      max_seconds_per_token: 0.5\n")
    thresholds = load_workspace(FsTree(tmp_path / "r")).thresholds()
    rule = thresholds.latency_for("example")
    assert (rule.max_regression, rule.max_seconds_per_token, rule.repeats) == (None, 0.5, 16)
    # no limit applies to another adapter: it is not timed at all
    assert thresholds.latency_for("other") is None
