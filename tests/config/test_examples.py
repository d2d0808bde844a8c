"""The translated public recipes in docs/examples/ validate, name their source, and keep the
source's numbers (read as YAML 1.2 reads them: torchtune writes ``lr: 2e-3``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from modelcfg.cli.app import main
from modelcfg.config.loader import load_bytes

EXAMPLES = Path(__file__).parents[2] / "docs" / "examples"
ADAPTERS = sorted((EXAMPLES / "configs" / "adapters").glob("*.yaml"))
SOURCE = re.compile(r"^# Translated from (torchtune 0\.6\.1, recipes/configs/\S+\.yaml|axolotl, "
                    r"examples/\S+\.ya?ml at commit\s+(?:#\s+)?[0-9a-f]{40})", re.M)

# Numbers as the source recipes write them (field in the example -> value).
KEPT = {
    "torchtune-qwen2-0.5b-lora": {("lora", "r"): 32, ("lora", "lora_alpha"): 64,
                                  ("training", "learning_rate"): 2e-3,
                                  ("training", "warmup_steps"): 100,
                                  ("training", "gradient_accumulation_steps"): 8,
                                  ("training", "weight_decay"): 0.01},
    "torchtune-llama3.2-1b-qlora": {("lora", "r"): 64, ("lora", "lora_alpha"): 128,
                                    ("training", "learning_rate"): 3e-4},
    "torchtune-llama3.1-8b-lora-dpo": {("lora", "r"): 8, ("training", "learning_rate"): 5e-4,
                                       ("training", "max_seq_length"): 1024,
                                       ("training", "weight_decay"): 0.05},
    "axolotl-llama3.2-1b-lora": {("lora", "r"): 16, ("lora", "lora_dropout"): 0.05,
                                 ("training", "batch_size"): 2,
                                 ("training", "max_seq_length"): 2048,
                                 ("training", "validation_fraction"): 0.1},
    "axolotl-llama3.2-1b-qlora": {("lora", "r"): 32, ("lora", "lora_alpha"): 16,
                                  ("training", "gradient_accumulation_steps"): 4},
}


def test_the_examples_validate(capsys):
    code = main(["validate", "--root", str(EXAMPLES)])
    out = capsys.readouterr()
    assert (code, out.out) == (0, "")


def test_there_are_lora_qlora_and_dpo_translations_from_both_tools():
    names = {p.stem for p in ADAPTERS}
    assert set(KEPT) <= names
    assert {n.split("-")[0] for n in names} == {"torchtune", "axolotl"}


@pytest.mark.parametrize("path", ADAPTERS, ids=lambda p: p.stem)
def test_each_example_names_its_source_and_keeps_its_numbers(path):
    text = path.read_text()
    assert SOURCE.search(text), f"{path.name} does not say which recipe it translates"
    # A hub dataset without a reviewed commit is marked as such, never passed off as pinned.
    for revision in re.findall(r"revision: \"?([0-9a-f]{40})", text):
        assert revision != "0" * 40 or "PLACEHOLDER revision" in text
    data = load_bytes(path.read_bytes(), path.name).value
    for keys, want in KEPT.get(path.stem, {}).items():
        value = data
        for key in keys:
            value = value[key]
        assert value == want and type(value) is type(want), (path.name, keys)


def test_a_changed_example_is_caught(tmp_path, capsys):
    """The check is live: the same tree with one recipe number written as a float fails."""
    import shutil

    tree = tmp_path / "examples"
    shutil.copytree(EXAMPLES, tree)
    target = tree / "configs" / "adapters" / "torchtune-qwen2-0.5b-lora.yaml"
    target.write_text(target.read_text().replace("  r: 32 ", "  r: 32.0 "))
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        code = main(["validate", "--root", str(tree)])
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert code == 1
    assert out == ("configs/adapters/torchtune-qwen2-0.5b-lora.yaml:11:6: MC204 lora.r must be "
                   "an integer, not a number (32.0); write 32\n")
