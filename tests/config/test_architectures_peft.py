"""validate's verdict on target_modules equals what peft itself does, on every architecture of
the committed table: a tiny random model per architecture (CPU), one LoraConfig per probe,
``get_peft_model`` either adapts something or raises. The agreement table is printed (run with
-s) and written to ``$MODELCFG_AGREEMENT_MD`` when set (docs/architectures.md holds a copy)."""

from __future__ import annotations

import copy
import os
import warnings

import pytest

from modelcfg.config.architectures import table
from modelcfg.config.architectures.match import fused_parameters, plan

pytest.importorskip("peft")
torch = pytest.importorskip("torch")

ARCHES = table.known()


def first(model_type: str, kinds: str, contains: str = "") -> table.Row | None:
    arch = table.architecture(model_type)
    return next((r for r in arch.rows if r.kind in kinds and contains in r.cls.lower()
                 and r.path != arch.head and f"{arch.layers}.0." in r.path + "."), None)


def probes(model_type: str) -> dict[str, dict]:
    """LoRA sections to try: exact, suffix, leaf, regex (public-recipe style), norms,
    nonexistent, containers, all-linear, exclusions, layers, MoE names, target_parameters."""
    linear = first(model_type, "LC")
    norm = first(model_type, "N", "norm")
    layers = table.architecture(model_type).layers
    leaf = linear.path.rsplit(".", 1)[-1]
    suffix = ".".join(linear.path.split(".")[-2:])
    out = {
        "exact path": {"target_modules": [linear.path]},
        "suffix": {"target_modules": [suffix]},
        "leaf list": {"target_modules": [leaf]},
        "bare string q_proj": {"target_modules": "q_proj"},
        "regex .*\\.(q|v)_proj": {"target_modules": r".*\.(q|v)_proj"},
        "regex self_attn/mlp": {"target_modules": r".*(self_attn|mlp)\.(q_proj|k_proj|v_proj|"
                                r"o_proj|gate_proj|up_proj|down_proj)"},
        "regex layer index": {"target_modules": rf"{layers.replace('.', '[.]')}\.1\..*_proj"},
        "norm": {"target_modules": [norm.path.rsplit(".", 1)[-1]]},
        "container mlp": {"target_modules": ["mlp"]},
        "nonexistent": {"target_modules": ["not_a_module"]},
        "all-linear": {"target_modules": "all-linear"},
        "all-linear dropout": {"target_modules": "all-linear", "lora_dropout": 0.05},
        "exclude layer 0": {"target_modules": [leaf], "exclude_modules": [linear.path]},
        "exclude all": {"target_modules": [leaf], "exclude_modules": [leaf]},
        "layers_to_transform": {"target_modules": [leaf], "layers_to_transform": [1]},
        "mixtral v4 experts": {"target_modules": ["w1", "w2", "w3"]},
        "v4 experts dropout": {"target_modules": ["gate_proj", "up_proj"], "lora_dropout": 0.1},
    }
    fused = fused_parameters(model_type)
    other = [r for r in table.architecture(model_type).rows if r.kind in "LC"
             and f"{layers}.0." in r.path and r.path.rsplit(".", 1)[-1] != leaf][-1]
    out["target_parameters"] = {"target_modules": [leaf], "target_parameters": [
        f"experts.{p}" for p in fused] or [other.path.rsplit(".", 1)[-1] + ".weight"]}
    out["target_parameters dropout"] = {**out["target_parameters"], "lora_dropout": 0.1}
    return out


def peft_verdict(model, lora: dict) -> str:
    from peft import LoraConfig, get_peft_model

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            get_peft_model(copy.deepcopy(model), LoraConfig(r=2, lora_alpha=4, **lora))
    except (ValueError, TypeError) as exc:
        return "refused: " + str(exc).split("\n")[0][:60]
    return "ok"


def validate_verdict(lora: dict, model_type: str) -> str:
    findings = plan(lora, model_type).findings
    return " ".join(sorted({f.code for f in findings})) or "ok"


@pytest.fixture(scope="module")
def agreement():
    from modelcfg.config.architectures.build import tiny_model

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = {}
    for model_type in ARCHES:
        model = tiny_model(model_type, "cpu")
        rows[model_type] = {name: (validate_verdict(lora, model_type), peft_verdict(model, lora))
                            for name, lora in probes(model_type).items()}
    return rows


def markdown(rows: dict) -> str:
    names = list(next(iter(rows.values())))
    lines = ["| architecture | " + " | ".join(n.replace("|", "\\|") for n in names) + " |",
             "|---" * (len(names) + 1) + "|"]
    for model_type, cells in rows.items():
        marks = []
        for name in names:
            mine, theirs = cells[name]
            agree = (mine == "ok") == (theirs == "ok")
            marks.append(("ok" if mine == "ok" else mine) + ("" if agree else " ≠peft"))
        lines.append(f"| {model_type} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"


def test_validate_agrees_with_peft(agreement):
    text = markdown(agreement)
    print("\n" + text)
    if os.environ.get("MODELCFG_AGREEMENT_MD"):
        with open(os.environ["MODELCFG_AGREEMENT_MD"], "w") as fh:
            fh.write(text)
    disagree = [(m, name, mine, theirs) for m, cells in agreement.items()
                for name, (mine, theirs) in cells.items() if (mine == "ok") != (theirs == "ok")]
    assert disagree == []
    # and the probes are not all one-sided: both verdicts occur on every architecture
    for model_type, cells in agreement.items():
        assert {mine == "ok" for mine, _ in cells.values()} == {True, False}, model_type
