"""The committed index of lm-eval's names (modelcfg/config/data/lmeval-index.json.gz) is what
the installed, pinned lm-eval has: regenerated here from lm-eval itself (indexing its ~13,000
task YAMLs, no hub access) and compared. After upgrading lm-eval, regenerate it with
`python -m modelcfg.evaluation.lmeval_index` (CONTRIBUTING.md)."""

from __future__ import annotations

import gzip
import json

import pytest
import yaml

from modelcfg.config import lmeval_index as committed
from modelcfg.core.errors import UserError
from modelcfg.evaluation import lmeval_index
from modelcfg.evaluation.harness import _load_tasks

pytestmark = pytest.mark.e2e


def test_the_committed_index_is_regenerated_exactly_from_the_installed_lm_eval(tmp_path):
    from lm_eval.tasks import TaskManager

    manager = TaskManager()
    fresh = lmeval_index.build(manager)
    assert fresh == committed.load(), ("the committed lm-eval index is out of date: run "
                                       "python -m modelcfg.evaluation.lmeval_index")
    assert lmeval_index.encode(fresh) == lmeval_index.DATA.read_bytes()  # byte-stable
    # What validate relies on: the index's names are exactly lm-eval's.
    assert sorted(fresh["tasks"]) == sorted(manager.all_subtasks)
    assert sorted(fresh["groups"]) == sorted(manager.all_groups)
    assert sorted(fresh["tags"]) == sorted(manager.all_tags)
    # The shipped standard suite names tasks lm-eval has; a name it lacks is MC605 when run.
    suite = yaml.safe_load((lmeval_index.DATA.parents[3] / "evals/suites/standard.yaml")
                           .read_text())
    assert all(committed.kind(t.removeprefix("lm-eval:")) == "task" for t in suite["tasks"])
    with pytest.raises(UserError) as err:
        _load_tasks(manager, [], ["no_such_task_xyz"], tmp_path)
    assert err.value.code == "MC605"
    # --check says so when the committed file differs.
    stale = tmp_path / "stale.json.gz"
    stale.write_bytes(gzip.compress(json.dumps({**fresh, "lm_eval_version": "0"}).encode()))
    assert lmeval_index.check(fresh, stale) == 1
    assert lmeval_index.check(fresh, lmeval_index.DATA) == 0
