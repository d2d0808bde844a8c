"""Unit tests of modelcfg.evaluation.harness that need no model: task names, item order, statistics,
results files and merging."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from modelcfg.core.errors import UserError
from modelcfg.evaluation import harness as ev
from modelcfg.evaluation import results as res

TASKS_DIR = Path(__file__).resolve().parents[2] / "evals" / "tasks"


def test_import_is_cheap():
    code = ("import sys, modelcfg.evaluation.harness; "
            "print([m for m in ('torch', 'transformers', 'peft', 'lm_eval', 'datasets') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_local_tasks_index_only_their_folders():
    include, with_defaults = ev.task_index_args(["arith_gen", "over_refusal"], TASKS_DIR)
    assert include == [str(TASKS_DIR / "arith_gen"), str(TASKS_DIR / "over_refusal")]
    assert with_defaults is False


def test_standard_task_turns_on_builtin_index():
    include, with_defaults = ev.task_index_args(["arith_mc", "lm-eval:hellaswag"], TASKS_DIR)
    assert include == [str(TASKS_DIR / "arith_mc")]
    assert with_defaults is True
    include, with_defaults = ev.task_index_args(["lm-eval:arc_easy"], TASKS_DIR)
    assert (include, with_defaults) == ([], True)


def test_split_task_names():
    assert ev.split_task_names(["a_1", "lm-eval:mmlu"]) == (["a_1"], ["mmlu"])


@pytest.mark.parametrize("name", ["../arith_gen", ".hidden", "arith/gen", "", "hellaswag:x",
                                  "lm-eval:"])
def test_bad_task_names_are_refused(name):
    with pytest.raises(UserError) as err:
        ev.task_index_args([name], TASKS_DIR)
    assert err.value.code == "MC609"


def test_unknown_local_task(tmp_path):
    with pytest.raises(UserError) as err:
        ev.task_index_args(["nope"], tmp_path)
    assert err.value.code == "MC602"
    assert err.value.path == str(tmp_path.resolve() / "nope")


def test_item_order_is_a_fixed_permutation():
    order = ev.item_order(400, 7)
    assert sorted(order) == list(range(400))
    assert order == ev.item_order(400, 7)
    assert order != ev.item_order(400, 8)
    assert ev.item_order(5, None) == [0, 1, 2, 3, 4]
    # Pinned so a change of the order (which would silently change every batch) is noticed.
    assert ev.item_order(10, 0) == [7, 8, 1, 5, 3, 4, 2, 0, 9, 6]


def test_batches_cover_every_doc_once():
    batches = [ev.select_doc_ids(103, order_seed=3, offset=o, limit=25) for o in range(0, 150, 25)]
    assert batches[-1] == []
    assert all(b == sorted(b) for b in batches)
    ids = [i for b in batches for i in b]
    assert sorted(ids) == list(range(103))
    assert set(batches[0]) == set(ev.item_order(103, 3)[:25])


def test_selection_defaults():
    assert ev.select_doc_ids(10, order_seed=None) is None
    assert ev.select_doc_ids(10, order_seed=None, limit=3) == [0, 1, 2]
    assert ev.select_doc_ids(10, order_seed=None, offset=8) == [8, 9]


def test_mean_and_stderr_matches_sample_sd():
    mean, stderr = res.mean_and_stderr([1, 0, 1, 1])
    assert mean == 0.75
    assert stderr == pytest.approx(math.sqrt(0.25 / 4))  # sd(ddof=1) = 0.5
    assert res.mean_and_stderr([1.0]) == (1.0, None)
    assert res.mean_and_stderr([]) == (None, None)


def test_config_hash_ignores_where_the_config_was_read():
    a = {"task": "t", "metadata": {"version": 1, "config_source": "/home/a/t.yaml"}}
    b = {"task": "t", "metadata": {"version": 1, "config_source": "/srv/ci/t.yaml"}}
    c = {"task": "t", "metadata": {"version": 2, "config_source": "/srv/ci/t.yaml"}}
    assert ev.config_hash(a) == ev.config_hash(b) != ev.config_hash(c)
    assert ev.config_hash(a).startswith("sha256:")


def _results(scores: dict[int, float], *, seed=1, batch=(0, 2), version=1.0, chash="sha256:x"):
    samples = {str(d): {"doc_hash": f"h{d}", "scores": {"acc": s}} for d, s in scores.items()}
    mean, stderr = res.mean_and_stderr(list(scores.values()))
    return {
        "format": res.RESULTS_FORMAT, "created": "2026-01-01T00:00:00+00:00",
        "modelcfg_version": "0", "lm_eval_version": "0.4.13",
        "model": {"base": "m", "adapter": None, "fingerprint": {"id": "f"}},
        "selection": {"order_seed": seed, "batches": [list(batch)]},
        "tasks": {"t": {"source": "local", "version": version, "config_hash": chash,
                        "n_docs": 10, "metrics": {"acc": {"value": mean, "stderr": stderr,
                                                          "n": len(scores),
                                                          "higher_is_better": True}},
                        "samples": samples}},
        "timing": {"wall_seconds": 1.0, "generation_seconds": 0.5, "generated_tokens": 10,
                   "tokens_per_second": 20.0},
    }


def test_merge_recomputes_metrics_from_samples():
    merged = res.merge_results(_results({3: 1.0, 7: 0.0}), _results({1: 1.0, 5: 1.0}, batch=(2, 2)))
    task = merged["tasks"]["t"]
    assert list(task["samples"]) == ["1", "3", "5", "7"]
    assert task["metrics"]["acc"]["value"] == 0.75
    assert task["metrics"]["acc"]["n"] == 4
    assert task["metrics"]["acc"]["stderr"] == pytest.approx(0.25)
    assert task["metrics"]["acc"]["higher_is_better"] is True
    assert merged["selection"]["batches"] == [[0, 2], [2, 2]]
    assert merged["timing"]["generated_tokens"] == 20
    assert merged["timing"]["tokens_per_second"] == 20.0


def test_merge_accepts_identical_overlap_and_refuses_conflicts():
    a = _results({1: 1.0, 2: 0.0})
    assert res.merge_results(a, _results({2: 0.0}))["tasks"]["t"]["metrics"]["acc"]["n"] == 2
    with pytest.raises(UserError, match="doc 2"):
        res.merge_results(a, _results({2: 1.0}))


@pytest.mark.parametrize("change, message", [
    ({"version": 2.0}, "version differs"),
    ({"chash": "sha256:y"}, "config_hash differs"),
    ({"seed": 2}, "item orders"),
])
def test_merge_refuses_mismatches(change, message):
    with pytest.raises(UserError, match=message) as err:
        res.merge_results(_results({1: 1.0}), _results({2: 1.0}, **change))
    assert err.value.code == "MC607"


def test_merge_refuses_other_model():
    b = _results({2: 1.0})
    b["model"]["fingerprint"] = {"id": "other"}
    with pytest.raises(UserError, match="different models"):
        res.merge_results(_results({1: 1.0}), b)


def test_write_results_is_atomic_and_strict(tmp_path):
    out = tmp_path / "sub" / "results.json"
    res.write_results(_results({1: 1.0}), out)
    assert res.load_results(out)["tasks"]["t"]["samples"]["1"]["doc_hash"] == "h1"
    bad = _results({1: 1.0})
    bad["tasks"]["t"]["metrics"]["acc"]["value"] = float("nan")
    with pytest.raises(ValueError):
        res.write_results(bad, out)
    assert res.load_results(out)["tasks"]["t"]["metrics"]["acc"]["value"] == 1.0  # untouched
    assert [p.name for p in out.parent.iterdir()] == ["results.json"]  # no temp file left


def test_load_results_refuses_other_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(UserError) as err:
        res.load_results(path)
    assert err.value.code == "MC606"
    path.write_text("{not json")
    with pytest.raises(UserError):
        res.load_results(path)


def test_evaluate_checks_inputs_before_loading_anything(tmp_path):
    with pytest.raises(UserError) as err:
        ev.evaluate(tmp_path / "missing", ["arith_gen"], TASKS_DIR, tmp_path / "r.json")
    assert err.value.code == "MC601"
    with pytest.raises(UserError) as err:
        ev.evaluate(tmp_path, ["arith_gen"], TASKS_DIR, tmp_path / "r.json", limit=0)
    assert err.value.code == "MC604"
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError) as err:
        ev.evaluate(tmp_path, ["arith_gen"], TASKS_DIR, tmp_path / "r.json",
                    adapter_path=tmp_path / "none")
    assert err.value.code == "MC603"


def test_per_sample_scores_become_plain_json():
    import numpy as np

    assert res.score_value(np.float64(1)) == 1.0 and type(res.score_value(np.float64(1))) is float
    assert res.score_value(np.bool_(True)) == 1.0
    assert res.score_value(np.int64(3)) == 3.0
    assert res.score_value(float("nan")) is None
    assert res.score_value(float("inf")) is None and res.score_value(float("-inf")) is None
    assert res.score_value(("pred", "ref")) == ["pred", "ref"]
