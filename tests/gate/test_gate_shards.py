"""Sharding the gate: `gate plan` lists what `modelcfg gate` judges, `--only` judges one
shard, `gate merge` combines the shards into what an unsharded run writes — or refuses.

A real git repository with this repository's configs/ and evals/, whose base thresholds cap
training at 1 token: every planned adapter blocks before training (MC802), so the real gate
runs end to end here without torch. The fail-closed cases edit copies of real shards.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from repo_helpers import AGENT, commit_all, git, project_repo

from modelcfg.audit.attempts import record_attempts
from modelcfg.cli.app import main
from modelcfg.demo.fake_github import FakeGitHub
from modelcfg.gate.merge import merge_shards
from modelcfg.gate.run import GateSettings, run_gate
from modelcfg.gate.shards import gate_plan

ARITH, POISONED, DPO = (f"configs/adapters/{n}.yaml"
                        for n in ("tiny-arith", "tiny-poisoned", "tiny-arith-dpo"))


def edit(repo: Path, rel: str, old: str, new: str) -> None:
    path = repo / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


def reseed(rel: str):
    return lambda repo: edit(repo, rel, "  seed: 0\n", "  seed: 7\n")


def reword(rel: str):  # a rationale edit: impact none
    return lambda repo: edit(repo, rel, "rationale: >\n  ", "rationale: >\n  Reworded. ")


def add_adapter(repo: Path) -> None:
    text = (repo / ARITH).read_text().replace("name: tiny-arith\n", "name: tiny-new\n")
    (repo / "configs/adapters/tiny-new.yaml").write_text(text)


def rename_poisoned(repo: Path) -> None:
    git(repo, "mv", POISONED, "configs/adapters/tiny-renamed.yaml")
    edit(repo, "configs/adapters/tiny-renamed.yaml", "name: tiny-poisoned\n",
         "name: tiny-renamed\n")


def remove_dpo(repo: Path) -> None:
    (repo / DPO).unlink()


def suite_tasks(repo: Path) -> None:  # a head edit of a suite: judged by the base's suite
    path = repo / "evals/suites/capability.yaml"
    path.write_text(re.sub(r"tasks: \[([^\]]*)\]", r"tasks: [\1, over_refusal]",
                           path.read_text()))


def symlink(repo: Path) -> None:
    (repo / "configs/link.yaml").symlink_to("adapters/tiny-arith.yaml")


BRANCHES = {
    "added": [add_adapter],
    "changed": [reseed(ARITH), reword(POISONED)],
    "renamed": [rename_poisoned],
    "removed": [remove_dpo, reseed(POISONED)],
    "suite": [suite_tasks],
    "symlink": [symlink, reseed(ARITH)],
    "two": [reseed(ARITH), reseed(POISONED), reword(DPO)],  # an agent's, for the shards
}


class World:
    def __init__(self, tmp: Path):
        self.repo, self.tmp, self.count = project_repo(tmp), tmp, 0
        edit(self.repo, "evals/thresholds.yaml", "max_train_tokens: 20000000",
             "max_train_tokens: 1")  # every planned adapter blocks before training
        commit_all(self.repo, "thresholds: every planned adapter blocks before training")
        for name, changes in BRANCHES.items():
            git(self.repo, "checkout", "-q", "-B", name, "main")
            for change in changes:
                change(self.repo)
            agent = name == "two"
            commit_all(self.repo, f"{name}\n\nAgent: arith-agent" if agent else name,
                       env=AGENT if agent else None)
            git(self.repo, "checkout", "-q", "main")

    def out(self, name: str) -> Path:
        self.count += 1
        return self.tmp / f"{name}-{self.count}"

    def gate(self, head: str, only=None, pr="5") -> tuple[dict, Path]:
        out = self.out("gate")
        settings = GateSettings(runs_dir=self.tmp / "runs", only=only, pr=pr)
        return run_gate(self.repo, "main", head, out, settings), out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    world = World(tmp_path_factory.mktemp("shards"))
    world.whole, world.whole_out = world.gate("two")
    world.shard_a = world.gate("two", only=["tiny-arith"])[1]
    world.shard_b = world.gate("two", only=["tiny-poisoned"])[1]
    return world


def codes(report: dict) -> list[str]:
    return sorted([r["code"] for r in report["reasons"]] +
                  [r["code"] for c in report["configs"] for r in c["reasons"]])


PLANNED = {
    "added": ["tiny-new"],
    "changed": ["tiny-arith"],
    "renamed": ["tiny-renamed"],
    "removed": ["tiny-poisoned"],
    "suite": ["tiny-arith", "tiny-arith-dpo", "tiny-poisoned"],
    "symlink": [],
    "two": ["tiny-arith", "tiny-poisoned"],
}


@pytest.mark.parametrize("branch", sorted(PLANNED))
def test_the_plan_is_what_the_gate_judges(world, branch):
    plan = gate_plan(world.repo, "main", branch)
    report, _ = world.gate(branch)
    names = [a["adapter"] for a in plan["adapters"]]
    assert names == PLANNED[branch]
    assert names == [c["adapter"] for c in report["configs"] if c["impact"] != "none"]
    assert plan["matrix"] == {"include": [{"adapter": n} for n in names]}
    judged = {c["adapter"]: c for c in report["configs"]}
    assert [(a["impact"], a["path"]) for a in plan["adapters"]] == \
        [(judged[n]["impact"], judged[n]["path"]) for n in names]
    assert {judged[n]["reasons"][0]["code"] for n in names} <= {"MC801", "MC802"}


def test_the_plan_command_prints_the_interface_json(world, capsys):
    assert main(["gate", "plan", "--base", "main", "--head", "renamed",
                 "--root", str(world.repo)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan == {"format": "modelcfg-gate-plan/1",
                    "base": git(world.repo, "rev-parse", "main"),
                    "head": git(world.repo, "rev-parse", "renamed"),
                    "adapters": [{"adapter": "tiny-renamed", "impact": "retrain",
                                  "path": "configs/adapters/tiny-renamed.yaml",
                                  "devices": 1}],
                    "matrix": {"include": [{"adapter": "tiny-renamed"}]}}
    assert main(["gate", "plan", "--base", "nope", "--head", "renamed",
                 "--root", str(world.repo)]) == 2
    assert "error: MC401 'nope' is not a commit" in capsys.readouterr().err


def test_a_shard_judges_its_adapter_and_the_change_level_rest(world):
    a = json.loads((world.shard_a / "gate.json").read_text())
    assert a["shard"]["only"] == ["tiny-arith"]
    assert set(a["shard"]["policy"]) == {"evals/contract.yaml", "evals/thresholds.yaml"}
    assert [c["adapter"] for c in a["configs"]] == ["tiny-arith", "tiny-arith-dpo"]
    assert a["agent"] == world.whole["agent"] != []


def test_only_an_adapter_the_plan_lacks_is_an_error_with_a_report(world, capsys):
    out = world.out("only")
    rc = main(["gate", "--base", "main", "--head", "two", "--only", "tiny-arith-dpo",
               "--only", "tiny-ghost", "--out", str(out), "--root", str(world.repo), "-q"])
    report = json.loads((out / "gate.json").read_text())
    assert rc == 2 and report["verdict"] == "error" and report["configs"] == []
    assert [(r["code"], r["config"]) for r in report["reasons"]] == \
        [("MC830", "tiny-arith-dpo"), ("MC830", "tiny-ghost")]
    assert report["shard"]["only"] == ["tiny-arith-dpo", "tiny-ghost"]
    assert "MC830 --only tiny-ghost: the plan of this change has no adapter tiny-ghost" in \
        capsys.readouterr().out


def comparable(report: dict) -> dict:
    return {k: v for k, v in report.items()
            if k not in ("wall_seconds", "merged", "shard", "plot")}


def test_merged_shards_are_the_unsharded_run(world, capsys):
    out = world.out("merged")
    rc = main(["gate", "merge", str(world.shard_b), str(world.shard_a), "--out", str(out),
               "--root", str(world.repo)])
    merged = json.loads((out / "gate.json").read_text())
    assert rc == 1 and merged["verdict"] == "block"
    assert comparable(merged) == comparable(json.loads((world.whole_out / "gate.json")
                                                       .read_text()))
    assert "shard" not in merged and (out / "judge-tree" / ARITH).is_file()
    assert (out / "report.md").read_text().startswith("# modelcfg gate: BLOCK")
    assert "gate: block" in capsys.readouterr().out
    # Downstream readers take the merged folder as they take an unsharded one.
    git(world.repo, "checkout", "-q", "main")
    first = record_attempts(world.repo, out)
    assert first.entry["action"] == "attempt" and not first.already
    assert record_attempts(world.repo, world.whole_out).already  # the very same attempts
    assert main(["promote", "--evidence", str(out), "--actor", "m", "--root",
                 str(world.repo)]) == 1
    assert "MC725 the gate's verdict is 'block'" in capsys.readouterr().err
    with FakeGitHub() as gh:
        gh.add_pull(5, merged["head"])
        env = {"GITHUB_TOKEN": "t", "GITHUB_API_URL": gh.url, "GITHUB_REPOSITORY": gh.repo,
               "GITHUB_STEP_SUMMARY": str(world.tmp / "summary.md"),
               "MODELCFG_GITHUB_BACKOFF": "0.001"}
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            mp.delenv("GITHUB_EVENT_PATH", raising=False)
            assert main(["github", "report", "--gate-dir", str(out), "--pr", "5"]) == 1
        [check] = gh.state.check_runs.values()
        assert check["conclusion"] == "failure" and gh.state.labels[5] == ["gate:block"]
        assert {n["path"] for n in check["output"]["annotations"]} == {ARITH, POISONED, DPO}
        assert gh.violations == []


def shard_copy(world, source: Path, change=None) -> Path:
    """A copy of a real shard's folder, its gate.json edited by ``change``."""
    out = world.out("fake")
    shutil.copytree(source, out)
    if change is not None:
        report = json.loads((out / "gate.json").read_text())
        change(report)
        (out / "gate.json").write_text(json.dumps(report))
    return out


def merge(world, *folders) -> dict:
    out = world.out("merge")
    report = merge_shards(world.repo, list(folders), out)
    assert json.loads((out / "gate.json").read_text())["verdict"] == report["verdict"]
    return report


def test_a_missing_shard_is_an_error(world):
    report = merge(world, world.shard_a)
    assert report["verdict"] == "error"
    assert [(r["code"], r.get("config")) for r in report["reasons"]
            if r["code"].startswith("MC83")] == [("MC833", "tiny-poisoned")]


def test_a_duplicate_shard_is_an_error(world):
    report = merge(world, world.shard_a, world.shard_b, shard_copy(world, world.shard_a))
    assert [r["code"] for r in report["reasons"] if r["code"].startswith("MC83")] == ["MC834"]
    assert report["verdict"] == "error"


def test_a_shard_of_an_adapter_outside_the_plan_is_an_error(world):
    def ghost(report):
        report["shard"]["only"] = ["tiny-ghost"]
        report["configs"][0]["adapter"] = "tiny-ghost"

    report = merge(world, world.shard_a, world.shard_b, shard_copy(world, world.shard_a, ghost))
    assert [(r["code"], r.get("config")) for r in report["reasons"]
            if r["code"].startswith("MC83")] == [("MC830", "tiny-ghost")]


def test_unreadable_nan_or_unsharded_reports_are_errors(world):
    nan = shard_copy(world, world.shard_b)
    path = nan / "gate.json"
    path.write_text(path.read_text().replace('"wall_seconds": ', '"wall_seconds": NaN, "x": '))
    gone = shard_copy(world, world.shard_b)
    (gone / "gate.json").unlink()
    for bad in (nan, gone, world.whole_out):
        report = merge(world, world.shard_a, bad)
        assert report["verdict"] == "error"
        assert [r["code"] for r in report["reasons"] if r["code"].startswith("MC83")] == \
            ["MC831"], bad
    assert "has no shard record" in merge(world, world.shard_a, world.whole_out)[
        "reasons"][0]["message"]


@pytest.mark.parametrize("field", ["pr", "head", "policy"])
def test_shards_that_disagree_are_an_error(world, field):
    def other(report):
        if field == "policy":
            report["shard"]["policy"]["evals/thresholds.yaml"] = "0" * 64
        else:
            report[field] = "6" if field == "pr" else git(world.repo, "rev-parse", "changed")

    report = merge(world, world.shard_a, shard_copy(world, world.shard_b, other))
    assert report["verdict"] == "error"
    found = [r for r in report["reasons"] if r["code"].startswith("MC83")]
    assert [r["code"] for r in found] == ["MC832"]
    assert f"disagree on {'shard.' if field == 'policy' else ''}{field}" in found[0]["message"]


def verdict(own: str, value: str):
    """Set the shard's own adapter to ``value`` and tiny-arith-dpo (impact none, in every
    shard; MC802 under these thresholds) to pass, alike in each shard."""
    def change(report):
        report["verdict"] = value
        for cfg in report["configs"]:
            if cfg["adapter"] in (own, "tiny-arith-dpo"):
                cfg["verdict"] = "pass" if cfg["adapter"] != own else value
                cfg["reasons"] = [] if cfg["verdict"] == "pass" else cfg["reasons"]
    return change


@pytest.mark.parametrize("a,b,want", [("pass", "pass", "pass"), ("pass", "block", "block"),
                                      ("error", "block", "error")])
def test_error_beats_block_beats_pass(world, a, b, want):
    report = merge(world, shard_copy(world, world.shard_a, verdict("tiny-arith", a)),
                   shard_copy(world, world.shard_b, verdict("tiny-poisoned", b)))
    assert report["verdict"] == want
    assert [r["code"] for r in report["reasons"]] == []
    assert [c["verdict"] for c in report["configs"]] == [a, "pass", b]
