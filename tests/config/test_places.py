"""Kinds are bound to their places, names resolve once, numbers are finite and tasks have
items: what `modelcfg validate` refuses (exact code and line:col), and what then resolves.
Real temp git repositories made from the golden base."""

from __future__ import annotations

import pytest
from repo_helpers import GOLDEN, commit_all, git, make_repo

from modelcfg.config.trees import FsTree, GitTree
from modelcfg.config.validate import validate
from modelcfg.config.workspace import load_workspace
from modelcfg.core.errors import UserError

SUITE = "apiVersion: modelcfg/v1\nkind: EvalSuite\nname: {name}\ntasks: [t1]\n"
CONTRACT = ("apiVersion: modelcfg/v1\nkind: Contract\nname: loose\nmodels: {allow: ['**']}\n"
            "datasets: {allow: ['**']}\n")
THRESHOLDS = "apiVersion: modelcfg/v1\nkind: Thresholds\nname: loose\ntasks: {}\n"
MODEL = ("apiVersion: modelcfg/v1\nkind: Model\nname: tiny2\nsource: {builtin: tiny-llama}\n"
         "family: llama\ncontext_length: 128\n")


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path, GOLDEN / "base")


def found(repo) -> set[tuple[str, int, int, str]]:
    return {(p.path, p.line, p.col, p.code) for p in validate(repo)}


def adapter_text(repo, name: str = "a") -> str:
    text = (repo / "configs/adapters/a.yaml").read_text()
    return text.replace("name: a\n", f"name: {name}\n")


@pytest.mark.parametrize("path, text", [
    ("configs/contract.yaml", CONTRACT),
    ("configs/adapters/contract.yaml", CONTRACT),
    ("evals/contract.yml", CONTRACT),
    ("evals/baselines/thresholds.yaml", THRESHOLDS),
    ("configs/thresholds.yaml", THRESHOLDS),
    ("configs/suites/cap.yaml", SUITE.format(name="cap")),
    ("configs/models/cap.yaml", SUITE.format(name="cap")),
    ("evals/suites/deeper/cap2.yaml", SUITE.format(name="cap2")),
    ("configs/adapters/tiny2.yaml", MODEL),
    ("evals/models/tiny2.yaml", MODEL),
])
def test_a_kind_outside_its_place_is_refused_at_its_kind(repo, path, text):
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    assert found(repo) == {(path, 2, 7, "MC318")}


@pytest.mark.parametrize("path", ["evals/suites/b.yaml", "configs/b.yaml",
                                  "configs/adapters/team/b.yaml", "configs/adapters/b.yml"])
def test_an_adapter_outside_configs_adapters_is_refused(repo, path):
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(adapter_text(repo, "b"))
    assert found(repo) == {(path, 2, 7, "MC318")}


def test_a_misplaced_document_never_shadows_the_one_in_its_place(repo):
    # configs/ sorts before evals/: by path order, this suite would have replaced the
    # base's `cap` (and a second Contract would have made evals/contract.yaml "the second").
    (repo / "configs/suites").mkdir()
    (repo / "configs/suites/cap.yaml").write_text(SUITE.format(name="cap").replace(
        "[t1]", "[t2]"))
    (repo / "configs/contract.yaml").write_text(CONTRACT)
    commit_all(repo, "shadows")
    for tree in (FsTree(repo), GitTree(repo, "HEAD")):
        ws = load_workspace(tree)
        assert ws.suites["cap"].path == "evals/suites/cap.yaml"
        assert ws.suites["cap"].data["tasks"] == ["t1", "t2", "lm-eval:hellaswag"]
        assert ws.policy("Contract").path == "evals/contract.yaml"
        assert ws.contract().name == "c"
        assert sorted(d.path for d in ws.misplaced) == ["configs/contract.yaml",
                                                         "configs/suites/cap.yaml"]
    assert {p[3] for p in found(repo)} == {"MC318"}


def test_two_documents_of_one_kind_and_name_resolve_to_neither(repo):
    (repo / "configs/adapters/b.yaml").write_text(adapter_text(repo, "a"))
    ws = load_workspace(FsTree(repo))
    assert "a" not in ws.adapters and "p" in ws.adapters
    assert ws.ambiguous() == {("Adapter", "a"): ["configs/adapters/a.yaml",
                                                 "configs/adapters/b.yaml"]}
    assert found(repo) == {("configs/adapters/a.yaml", 3, 7, "MC300"),
                           ("configs/adapters/b.yaml", 3, 7, "MC300")}
    with pytest.raises(UserError) as err:
        ws.find("a")
    assert err.value.code == "MC300" and "configs/adapters/b.yaml" in err.value.message
    with pytest.raises(UserError):
        ws.find("configs/adapters/a.yaml")


def test_a_shared_model_name_is_reported_where_adapters_refer_to_it(repo):
    (repo / "configs/models/tiny-copy.yaml").write_text(
        (repo / "configs/models/tiny.yaml").read_text())
    problems = {(p.path, p.code) for p in validate(repo)}
    assert problems == {("configs/models/tiny.yaml", "MC300"),
                        ("configs/models/tiny-copy.yaml", "MC300"),
                        ("configs/adapters/a.yaml", "MC301"),
                        ("configs/adapters/p.yaml", "MC301")}
    assert any("defined more than once" in p.message for p in validate(repo)
               if p.code == "MC301")


def position(text: str, token: str) -> tuple[int, int]:
    """1-based line and column of the first ``token`` in ``text``."""
    before = text[:text.index(token)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


@pytest.mark.parametrize("path, old, new", [
    ("configs/adapters/a.yaml", "learning_rate: 0.001", "learning_rate: .nan"),
    ("configs/adapters/a.yaml", "max_train_tokens: 10000", "max_train_tokens: .inf"),
    ("configs/adapters/a.yaml", "rationale: A golden test adapter.", "rationale: -.Inf"),
    ("configs/models/tiny.yaml", "context_length: 128", "context_length: .inf"),
    ("configs/models/tiny.yaml", "family: llama", "family: llama\nparameters: .NaN"),
    ("evals/suites/cap.yaml", "tasks: [t1, t2,", "tasks: [t1, .nan, t2,"),
    ("evals/contract.yaml", "max_lora_rank: 32", "max_lora_rank: 32\n  assumed_tflops: .inf"),
    ("evals/thresholds.yaml", "t1: {metric: acc}", "t1: {metric: acc, margin: .nan}"),
    ("evals/thresholds.yaml", "floor: 0.9}", "floor: .inf}"),
])
def test_a_non_finite_number_anywhere_in_any_kind_is_mc319(repo, path, old, new):
    file = repo / path
    assert old in file.read_text()
    text = file.read_text().replace(old, new)
    file.write_text(text)
    token = next(t for t in (".nan", ".NaN", "-.Inf", ".inf") if t in new)
    assert found(repo) == {(path, *position(text, token), "MC319")}
    doc = next(d for d in load_workspace(FsTree(repo)).documents if d.path == path)
    assert doc.valid is False  # never typed, so never reaches the gate's arithmetic


@pytest.mark.parametrize("defaults, field, where", [
    ("margin: 0", "defaults.margin", (5, 11)),
    ("margin: 0.0", "defaults.margin", (5, 11)),
    ("power: 0.49", "defaults.power", (5, 10)),
    ("power: 1", "defaults.power", (5, 10)),
    ("alpha: 0.5", "defaults.alpha", (5, 10)),
    ("safety_alpha: 0.5", "defaults.safety_alpha", (5, 17)),
])
def test_threshold_values_the_statistics_refuse_are_mc205(repo, defaults, field, where):
    path = repo / "evals/thresholds.yaml"
    path.write_text(path.read_text().replace("tasks:", f"defaults:\n  {defaults}\ntasks:"))
    problems = validate(repo)
    assert {(p.path, p.line, p.col, p.code) for p in problems} == {
        ("evals/thresholds.yaml", *where, "MC205")}
    assert problems[0].message.startswith(field + ":")


def test_the_smallest_allowed_values_pass(repo):
    path = repo / "evals/thresholds.yaml"
    path.write_text(path.read_text().replace(
        "tasks:", "defaults:\n  margin: 0.001\n  power: 0.5\n  alpha: 0.499\ntasks:"))
    assert found(repo) == set()


def write_task(repo, data: str, yaml_extra: str = "", data_files: str = "t1/t1.jsonl"):
    (repo / "evals/tasks/t1/t1.yaml").write_text(
        f"include: ../_shared.yaml\ntask: t1\ndataset_kwargs:\n  data_files: {data_files}\n"
        f"process_results: !function utils.score\n{yaml_extra}")
    (repo / "evals/tasks/_shared.yaml").write_text("custom_dataset: !function utils.load\n"
                                                   "test_split: test\n")
    (repo / "evals/tasks/t1/t1.jsonl").write_text(data)


@pytest.mark.parametrize("data", ["", "\n", "  \n\n \n"])
def test_a_task_without_items_is_mc320_at_the_suite_entry(repo, data):
    write_task(repo, data)
    problems = validate(repo)
    assert [(p.path, p.line, p.col, p.code) for p in problems] == [
        ("evals/suites/cap.yaml", 4, 9, "MC320")]
    assert "evals/tasks/t1/t1.jsonl is empty" in problems[0].message


def test_a_task_split_by_name_is_judged_by_its_test_split(repo):
    write_task(repo, "", data_files="{train: t1/train.jsonl, test: t1/t1.jsonl}")
    (repo / "evals/tasks/t1/train.jsonl").write_text('{"x": 1}\n')
    assert found(repo) == {("evals/suites/cap.yaml", 4, 9, "MC320")}
    (repo / "evals/tasks/t1/t1.jsonl").write_text('{"x": 1}\n')
    assert found(repo) == set()


def test_a_task_with_items_or_without_known_data_is_left_alone(repo):
    write_task(repo, '{"prompt": "1+1=", "answer": "2"}\n')
    assert found(repo) == set()
    write_task(repo, "", data_files="t1/elsewhere.jsonl")  # not in the tree: lm-eval's to say
    assert found(repo) == set()


def test_a_working_tree_and_a_commit_list_the_same_documents(repo):
    (repo / "configs/adapters/.b.yaml").write_text(adapter_text(repo, "b"))
    (repo / "configs/.hidden").mkdir()
    (repo / "configs/.hidden/c.yaml").write_text(adapter_text(repo, "c"))
    commit_all(repo, "hidden files")
    assert git(repo, "ls-files", "configs/adapters/.b.yaml") == "configs/adapters/.b.yaml"
    assert GitTree(repo, "HEAD").documents() == FsTree(repo).documents()
    assert "configs/adapters/.b.yaml" not in FsTree(repo).documents()
