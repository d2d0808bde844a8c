"""The gate cannot be walked around: kinds are read from their places only, the head gives
regular files under configs/ and nothing else, and every outcome writes gate.json.

A real git repository with this repository's own configs/ and evals/ (baselines and ledger
included). Every pull request here is a human's (no agent rule applies) and, apart from its
attack, changes only tiny-arith's rationale: impact none, so without the attack it passes
with no training (test_the_plain_change_passes). Each attack is stopped before training.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from repo_helpers import GIT_ENV, commit_all, git, project_repo

from modelcfg.cli.app import main
from modelcfg.gate.run import GateSettings, run_gate

ADAPTER = "configs/adapters/tiny-arith.yaml"
SUITE = ("apiVersion: modelcfg/v1\nkind: EvalSuite\nname: safety\n"
         "description: only what the candidate passes\ntasks: [over_refusal]\n")


class Repo:
    def __init__(self, tmp: Path):
        self.path = project_repo(tmp)
        self.tmp = tmp
        self.count = 0

    def branch(self, name: str, change=None, base: str = "main") -> str:
        """A human's commit on ``name`` (from ``base``): ``change``, plus (for a pull
        request, ``change`` given) a rationale edit of tiny-arith."""
        git(self.path, "checkout", "-q", "-f", "-B", name, base)
        git(self.path, "clean", "-q", "-fdx")
        if change is not None:
            path = self.path / ADAPTER
            path.write_text(path.read_text().replace("Teach the tiny model",
                                                     "Teach the small model"))
            change(self.path)
        commit_all(self.path, name)
        git(self.path, "checkout", "-q", "main")
        return name

    def gate(self, head: str, base: str = "main", **kwargs) -> dict:
        self.count += 1
        out = self.tmp / f"gate-{self.count}"
        settings = GateSettings(runs_dir=self.tmp / "runs", model_cache=self.tmp / "cache")
        report = run_gate(self.path, base, head, out, settings, **kwargs)
        written = json.loads((out / "gate.json").read_text())
        assert written["verdict"] == report["verdict"]
        assert (out / "report.md").read_text().startswith("# modelcfg gate: ")
        assert not (self.tmp / "runs").exists(), "nothing may train"
        report["out"] = out
        return report


def codes(report: dict) -> set[str]:
    found = {r["code"] for r in report["reasons"]}
    for cfg in report["configs"]:
        found |= {r["code"] for r in cfg["reasons"]}
    return found


def write(rel: str, text: str):
    def change(repo: Path) -> None:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    return change


def edit(rel: str, old: str, new: str):
    def change(repo: Path) -> None:
        text = (repo / rel).read_text()
        assert old in text, (rel, old)
        (repo / rel).write_text(text.replace(old, new, 1))
    return change


def both(*changes):
    return lambda repo: [c(repo) for c in changes]


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return Repo(tmp_path_factory.mktemp("trust"))


def test_the_plain_change_passes(repo):
    report = repo.gate(repo.branch("plain", lambda r: None))
    assert report["verdict"] == "pass" and codes(report) == set()
    assert [c["impact"] for c in report["configs"]] == ["none"]
    assert report["agent"] == []


# -- 1. kinds are bound to their places ------------------------------------------------


def _copy(src: str, dest: str, *replace: tuple[str, str]):
    def change(repo: Path) -> None:
        text = (repo / src).read_text()
        for old, new in replace:
            text = text.replace(old, new)
        write(dest, text)(repo)
    return change


def _at(dest: str, src: str | None = None, *replace: tuple[str, str]):
    """``(dest, change)``: ``SUITE`` written at ``dest``, or ``src`` copied there, edited."""
    return dest, (write(dest, SUITE) if src is None else _copy(src, dest, *replace))


MISPLACED = {  # attack: (path, change)
    # configs/ sorts before evals/: by path order this `safety` replaced the base's.
    "suite-shadowing-the-base": _at("configs/suites/safety.yaml"),
    "suite-among-adapters": _at("configs/adapters/safety.yaml"),
    "contract-under-configs": _at("configs/contract.yaml", "evals/contract.yaml",
                                  ("max_gpu_hours: 4", "max_gpu_hours: 400")),
    "thresholds-under-configs": _at("configs/adapters/thresholds.yaml",
                                    "evals/thresholds.yaml", ("floor: 0.8", "floor: 0.0")),
    "adapter-under-evals": _at("evals/suites/tiny-arith-2.yaml", ADAPTER,
                               ("name: tiny-arith", "name: tiny-arith-2")),
    "model-among-adapters": _at("configs/adapters/tiny-llama-2.yaml",
                                "configs/models/tiny-llama.yaml",
                                ("name: tiny-llama", "name: tiny-llama-2")),
    "adapter-in-a-subfolder": _at("configs/adapters/team/tiny-arith-3.yaml", ADAPTER,
                                  ("name: tiny-arith", "name: tiny-arith-3")),
}


@pytest.mark.parametrize("attack", sorted(MISPLACED))
def test_a_document_out_of_its_place_blocks_before_the_judge_tree(repo, attack):
    path, change = MISPLACED[attack]
    report = repo.gate(repo.branch(f"misplaced-{attack}", change))
    assert report["verdict"] == "block"
    assert codes(report) == {"MC822"}
    assert [r["field"] for r in report["reasons"]] == [path]
    assert report["reasons"][0]["message"].startswith(f"{path}:")
    assert "MC318" in report["reasons"][0]["message"]
    assert report["configs"] == []
    assert not (report["out"] / "judge-tree").exists()


def test_the_shadowing_suite_is_not_in_the_diff_either(repo):
    report = repo.gate(repo.branch("misplaced-diff", MISPLACED["suite-shadowing-the-base"][1]))
    kinds = {(c["kind"], c["name"]) for c in report["diff"]["changes"]}
    assert kinds == {("Adapter", "tiny-arith")}
    assert "configs/suites/safety.yaml" in report["diff"]["changed_paths"]


DUPLICATES = {
    # sorts before tiny-arith.yaml: by path order it replaced the adapter being judged
    "adapter": _copy(ADAPTER, "configs/adapters/a-tiny-arith.yaml",
                     ("max_steps: 1200", "max_steps: 10")),
    "model": _copy("configs/models/tiny-llama.yaml", "configs/models/a-tiny.yaml",
                   ("context_length: 128", "context_length: 64")),
}


@pytest.mark.parametrize("attack", sorted(DUPLICATES))
def test_two_documents_of_one_kind_and_name_block(repo, attack):
    report = repo.gate(repo.branch(f"twice-{attack}", DUPLICATES[attack]))
    assert report["verdict"] == "block"
    assert codes(report) == {"MC823"}
    assert " and configs/" in report["reasons"][0]["message"]


# -- 2. one reader: regular files only, the same objects -------------------------------


def _symlink(rel: str, target: str):
    def change(repo: Path) -> None:
        os.symlink(target, repo / rel)
    return change


def _gitlink(repo: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},configs/vendor")


NOT_REGULAR = {
    "symlink-inside": ("configs/adapters/copy.yaml",
                       _symlink("configs/adapters/copy.yaml", "tiny-arith.yaml")),
    "symlink-to-eval-data": ("configs/datasets/evals.jsonl",
                             _symlink("configs/datasets/evals.jsonl",
                                      "../../evals/tasks/arith_gen/arith_gen.jsonl")),
    "symlinked-folder": ("configs/more", _symlink("configs/more", "adapters")),
    "gitlink": ("configs/vendor", _gitlink),
    "configs-itself-a-symlink": ("configs", lambda repo: (shutil.rmtree(repo / "configs"),
                                                          os.symlink("evals", repo / "configs"))),
    "configs-itself-a-file": ("configs", lambda repo: (shutil.rmtree(repo / "configs"),
                                                       (repo / "configs").write_text("x\n"))),
}


@pytest.mark.parametrize("attack", sorted(NOT_REGULAR))
def test_anything_but_a_regular_file_under_configs_blocks(repo, attack):
    path, change = NOT_REGULAR[attack]
    git(repo.path, "checkout", "-q", "-B", f"irregular-{attack}", "main")
    change(repo.path)
    if attack != "gitlink":
        git(repo.path, "add", "-A")
    git(repo.path, "commit", "-q", "-m", attack)
    git(repo.path, "checkout", "-q", "-f", "main")
    report = repo.gate(f"irregular-{attack}")
    assert report["verdict"] == "block"
    assert codes(report) == {"MC821"}
    assert [r["field"] for r in report["reasons"]] == [path]
    assert not (report["out"] / "judge-tree").exists()


def _commit_tree(repo: Path, tree: str, name: str) -> str:
    main = git(repo, "rev-parse", "main")
    sha = git(repo, "commit-tree", tree, "-p", main, "-m", name)
    git(repo, "branch", "-f", name, sha)
    return name


def _tree_with(repo: Path, *entries: str) -> str:
    """main's tree plus ``mode,sha,path`` index entries (objects need not exist)."""
    index = repo.parent / "scratch-index"
    env = {**GIT_ENV, "GIT_INDEX_FILE": str(index)}
    git(repo, "read-tree", "main", env=env)
    for entry in entries:
        git(repo, "update-index", "--add", "--cacheinfo", entry, env=env)
    tree = git(repo, "write-tree", "--missing-ok", env=env)
    index.unlink()
    return tree


def test_a_dot_dot_entry_cannot_write_into_the_base_evals(repo):
    # A tree entry named '..' under configs/ (git mktree accepts it): exported naively, its
    # suite would land in the judge tree's evals/suites/, next to the base's.
    sub = _mktree(repo.path, f"100644 blob {_blob(repo.path, SUITE)}\tsafety.yaml")
    for name in ("suites", "evals"):
        sub = _mktree(repo.path, f"040000 tree {sub}\t{name}")
    head = _commit_tree(repo.path, _with_configs(repo.path, f"040000 tree {sub}\t.."),
                        "dot-dot")
    report = repo.gate(head)
    assert codes(report) == {"MC821"} and report["verdict"] == "block"
    assert [r["field"] for r in report["reasons"]] == ["configs/../evals/suites/safety.yaml"]
    assert not (report["out"] / "judge-tree").exists()


def _blob(repo: Path, text: str) -> str:
    path = repo.parent / "scratch-blob"
    path.write_text(text)
    sha = git(repo, "hash-object", "-w", str(path))
    path.unlink()
    return sha


def _mktree(repo: Path, *entries: str, missing: bool = False) -> str:
    import subprocess

    proc = subprocess.run(["git", "-C", str(repo), "mktree", *(["--missing"] if missing else [])],
                          input="\n".join(entries) + "\n", capture_output=True, text=True,
                          check=True)
    return proc.stdout.strip()


def _with_configs(repo: Path, *entries: str, missing: bool = False) -> str:
    """main's tree with ``entries`` (``mode type sha\\tname``) added to its configs/."""
    configs = _mktree(repo, *git(repo, "ls-tree", "main:configs").splitlines(), *entries,
                      missing=missing)
    return _mktree(repo, *[e for e in git(repo, "ls-tree", "main").splitlines()
                           if not e.endswith("\tconfigs")], f"040000 tree {configs}\tconfigs")


@pytest.mark.parametrize("entry", ["100644,{sha},configs/adapters/ghost.yaml",
                                   "100644,{sha},configs/datasets/ghost.jsonl",
                                   "040000 tree {sha}\tghosts"])
def test_a_missing_object_is_an_error_with_a_report(repo, tmp_path, entry):
    sha = "1" * 40
    tree = (_tree_with(repo.path, entry.format(sha=sha)) if "," in entry
            else _with_configs(repo.path, entry.format(sha=sha), missing=True))
    head = _commit_tree(repo.path, tree, "missing-object")
    report = repo.gate(head)
    assert report["verdict"] == "error" and codes(report) == {"MC820"}
    assert "1111111111" in report["reasons"][0]["message"]
    out = tmp_path / "cli"
    assert main(["gate", "--base", "main", "--head", head, "--out", str(out), "-q",
                 "--runs-dir", str(tmp_path / "runs"), "--root", str(repo.path)]) == 2
    assert json.loads((out / "gate.json").read_text())["verdict"] == "error"


ATTRIBUTES = ("configs/** export-ignore\n"
              "configs/**/*.yaml ident eol=crlf working-tree-encoding=UTF-16 filter=evil\n"
              "* export-subst\n")


def test_gitattributes_in_the_head_change_nothing(repo):
    # A filter the runner happens to have configured, which the head asks for by name.
    git(repo.path, "config", "filter.evil.smudge", "sed s/safety/nothing/")
    git(repo.path, "config", "filter.evil.clean", "cat")
    repo.branch("attributes", edit(ADAPTER, "rationale: >", "# $Id$ $Format:%H$\nrationale: >"))
    git(repo.path, "checkout", "-q", "attributes")
    (repo.path / ".gitattributes").write_text(ATTRIBUTES)  # added last: git add obeys it
    git(repo.path, "add", ".gitattributes")
    git(repo.path, "commit", "-q", "-m", "attributes")
    git(repo.path, "checkout", "-q", "-f", "main")
    report = repo.gate("attributes")
    assert report["verdict"] == "pass" and codes(report) == set()
    assert report["notes"] == [] and report["agent"] == []
    assert ".gitattributes" in report["diff"]["changed_paths"]
    judge = report["out"] / "judge-tree"
    files = git(repo.path, "ls-tree", "-r", "--name-only", "attributes", "configs").split()
    assert sorted(p.relative_to(judge).as_posix() for p in (judge / "configs").rglob("*")
                  if p.is_file()) == files
    for rel in files:
        blob = git(repo.path, "cat-file", "blob", f"attributes:{rel}")
        assert (judge / rel).read_text().strip() == blob, rel  # (git() strips its output)
    assert "# $Id$ $Format:%H$\n" in (judge / ADAPTER).read_text()


# -- 3. every outcome writes gate.json; crash values are refused -----------------------


def test_an_unknown_head_is_an_error_with_a_report(repo):
    report = repo.gate("no-such-branch")
    assert report["verdict"] == "error" and codes(report) == {"MC820"}
    assert "'no-such-branch' is not a commit" in report["reasons"][0]["message"]
    assert report["base"] is not None and report["head"] is None


def test_unrelated_histories_are_an_error_with_a_report(repo):
    orphan = git(repo.path, "commit-tree", _tree_with(repo.path), "-m", "no parent")
    git(repo.path, "branch", "-f", "orphan", orphan)
    report = repo.gate("orphan")
    assert report["verdict"] == "error" and codes(report) == {"MC820"}
    assert "share no history" in report["reasons"][0]["message"]
    assert report["merge_base"] is None


def value_at(text: str, token: str) -> str:
    """``line:col`` of the value in ``token`` (``key: value``, or a bare value)."""
    at = text.index(token) + (token.index(": ") + 2 if ": " in token else 0)
    before = text[:at]
    return f"{before.count(chr(10)) + 1}:{len(before) - before.rfind(chr(10))}"


BAD_BASE = {  # case: (file, old, new, code, where the problem is reported, its token)
    "margin-0": ("evals/thresholds.yaml", "margin: 0.05\n  alpha", "margin: 0\n  alpha",
                 "MC205", None, "margin: 0\n"),
    "power-0.4": ("evals/thresholds.yaml", "power: 0.8", "power: 0.4", "MC205", None,
                  "power: 0.4"),
    "nan-margin": ("evals/thresholds.yaml", "margin: 0.1", "margin: .nan", "MC319", None,
                   "margin: .nan"),
    "inf-floor": ("evals/thresholds.yaml", "floor: 0.8", "floor: .inf", "MC319", None,
                  "floor: .inf"),
    "inf-cap": ("evals/contract.yaml", "max_gpu_hours: 4", "max_gpu_hours: .inf", "MC319",
                None, "max_gpu_hours: .inf"),
    "empty-task": ("evals/tasks/arith_gen/arith_gen.jsonl", None, "", "MC320",
                   "evals/suites/capability.yaml", "arith_gen"),
    "suite-twice": ("evals/suites/a-safety.yaml", None, SUITE, "MC300", None, "name: safety"),
}


def where(repo: Path, rev: str, rel: str, token: str) -> str:
    return f"{rel}:{value_at(git(repo, 'show', f'{rev}:{rel}') + chr(10), token)}"


@pytest.mark.parametrize("case", sorted(BAD_BASE))
def test_a_base_that_would_crash_the_gate_is_an_error_with_its_problem(repo, case):
    rel, old, new, code, at, token = BAD_BASE[case]
    change = write(rel, new) if old is None else edit(rel, old, new)
    git(repo.path, "checkout", "-q", "-B", f"bad-base-{case}", "main")
    change(repo.path)
    commit_all(repo.path, f"a maintainer breaks {rel}")
    git(repo.path, "checkout", "-q", "main")
    head = repo.branch(f"on-bad-base-{case}", lambda r: None, base=f"bad-base-{case}")
    report = repo.gate(head, base=f"bad-base-{case}")
    assert report["verdict"] == "error"
    assert codes(report) == {"MC820"}
    location = where(repo.path, f"bad-base-{case}", at or rel, token)
    assert [f"{location}:", code] in [r["message"].split(" ", 5)[3:5]
                                      for r in report["reasons"]], report["reasons"]


def test_crash_values_in_the_head_evals_are_ignored_for_the_base(repo):
    # (Not the task data: a changed eval task re-evaluates the adapter, with the base's data.)
    breaks = both(*(edit(rel, old, new) if old else write(rel, new)
                    for case, (rel, old, new, *_) in BAD_BASE.items() if case != "empty-task"))
    report = repo.gate(repo.branch("head-evals", breaks))
    assert report["verdict"] == "pass" and codes(report) == set()
    assert "evals/thresholds.yaml" in report["notes"][0]


HEAD_VALUES = {  # case: (file, old, new)
    "nan-learning-rate": (ADAPTER, "learning_rate: 0.003", "learning_rate: .nan"),
    "inf-budget": (ADAPTER, "max_gpu_hours: 0.01", "max_gpu_hours: .inf"),
    "inf-model": ("configs/models/tiny-llama.yaml", "context_length: 128",
                  "context_length: .inf"),
}


@pytest.mark.parametrize("case", sorted(HEAD_VALUES))
def test_crash_values_in_the_head_configs_block_with_mc801(repo, case):
    rel, old, new = HEAD_VALUES[case]
    head = repo.branch(f"head-{case}", edit(rel, old, new))
    report = repo.gate(head)
    assert report["verdict"] == "block"
    assert codes(report) == {"MC801"}
    messages = [r["message"] for r in report["reasons"]] + [
        r["message"] for c in report["configs"] for r in c["reasons"]]
    assert any(f"{where(repo.path, head, rel, new)}: MC319" in m for m in messages), messages


def test_an_unexpected_exception_still_writes_the_report(repo):
    def emit(event):
        if event["event"] == "verdict":
            raise RuntimeError("a progress printer broke")

    head = repo.branch("plain", lambda r: None)
    out = repo.tmp / f"gate-{repo.count + 1}"
    with pytest.raises(RuntimeError, match="a progress printer broke"):
        repo.gate(head, emit=emit)
    written = json.loads((out / "gate.json").read_text())
    assert written["verdict"] == "error"
    assert [r["code"] for r in written["reasons"]] == ["MC820"]
    assert "internal error in modelcfg (RuntimeError" in written["reasons"][0]["message"]


def test_an_interrupted_run_leaves_no_earlier_verdict_behind(repo):
    out = repo.tmp / "interrupted"
    out.mkdir()
    (out / "gate.json").write_text('{"verdict": "pass"}\n')

    def emit(event):
        if event["event"] == "verdict":
            raise KeyboardInterrupt

    head = repo.branch("plain", lambda r: None)
    with pytest.raises(KeyboardInterrupt):
        run_gate(repo.path, "main", head, out, emit=emit)
    assert not (out / "gate.json").exists() and not (out / "report.md").exists()
