"""Fingerprint unit tests: pure, torch-free."""

from __future__ import annotations

import subprocess
import sys

from trainhelp import edited, resolve_yaml, with_changes

from modelcfg.core.hashing import canonical_json
from modelcfg.train.fingerprint import fingerprint, fingerprint_inputs

ARITH = "configs/adapters/tiny-arith.yaml"


def test_same_inputs_same_fingerprint():
    assert fingerprint(resolve_yaml(ARITH)) == fingerprint(resolve_yaml(ARITH))


def test_fields_that_do_not_change_the_result_are_left_out():
    base = resolve_yaml(ARITH)
    def change(data):
        data["adapter"]["rationale"] = "different words"
        data["adapter"]["budget"] = {"max_train_tokens": 1}
        data["adapter"]["evals"] = {"suites": ["safety"]}
        data["model"]["description"] = "other"

    changed = edited(with_changes(base, checkpoint_every=7), change)
    assert fingerprint(changed) == fingerprint(base)


def test_everything_that_changes_the_result_is_in():
    base = resolve_yaml(ARITH)
    fp = fingerprint(base)
    assert fingerprint(with_changes(base, learning_rate=0.001)) != fp
    assert fingerprint(with_changes(base, devices=2)) != fp
    lora = edited(base, lambda d: d["adapter"]["lora"].update(r=4))
    assert fingerprint(lora) != fp
    data = edited(base, lambda d: d["datasets"][0].update(sha256="0" * 64))
    assert fingerprint(data) != fp
    renamed = edited(base, lambda d: d["datasets"][0].update(path="elsewhere.jsonl"))
    assert fingerprint(renamed) == fp  # the content hash, not the path, counts


def test_inputs_name_versions_and_base_revision():
    inputs = fingerprint_inputs(resolve_yaml(ARITH))
    assert set(inputs["versions"]) == {"modelcfg", "torch", "transformers", "peft"}
    assert inputs["base_revision"].startswith("builtin:tiny-llama:")
    assert "trl" in fingerprint_inputs(resolve_yaml("configs/adapters/tiny-arith-dpo.yaml"))[
        "versions"]


def test_canonical_json_is_order_independent():
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1})


def test_fingerprint_module_stays_torch_free():
    code = ("import sys; import modelcfg.train.fingerprint, modelcfg.train.run, "
            "modelcfg.tiny.build; "
            "heavy = {'torch', 'transformers', 'peft', 'trl', 'accelerate'} & set(sys.modules); "
            "print(sorted(heavy)); sys.exit(1 if heavy else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
