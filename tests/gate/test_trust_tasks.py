"""The base chooses the tasks, and renaming or removing an adapter does not escape its
history: attacks built in real temp git repositories with this repository's own
``configs/`` and ``evals/`` (the shipped baseline of tiny-arith included), each stopped
before anything is trained, except the one end-to-end rename at the bottom (``e2e``).

"Judged by the base" tests use a change no other rule blocks (a human author, so no MC814)
whose head value would flip the verdict if the gate read it from the head.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from repo_helpers import commit_all, git, make_repo, pr_branch

from modelcfg.config.validate import validate
from modelcfg.gate.run import GateSettings, run_gate

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = "configs/adapters/tiny-arith.yaml"
BASELINE = "evals/baselines/tiny-arith.json"
CAPABILITY = {"arith_gen", "arith_mc", "over_refusal"}


# ------------------------------------------------------------------------------ helpers


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text()
    assert old in text, (rel, old)
    path.write_text(text.replace(old, new, 1))


SHIPPED_SUITES = "suites: [capability, safety, robustness]"


def set_suites(suites: str, rel: str = ADAPTER):
    """tiny-arith's suites set to ``suites`` plus robustness, which the contract requires of
    it by name (adapter_suites) and its baseline has tasks of: these tests are about the
    other requirements."""
    kept = suites[:-1] + (", robustness]" if suites != "[]" else "robustness]")
    return lambda root: edit(root, rel, SHIPPED_SUITES, f"suites: {kept}")


def require_suites(suites: str):
    def change(root: Path) -> None:
        path = root / "evals/contract.yaml"
        text, n = re.subn(r"(?m)^required_suites: .*$", f"required_suites: {suites}",
                          path.read_text())
        assert n == 1
        path.write_text(text)
    return change


def keep_baseline_tasks(*tasks: str):
    def change(root: Path) -> None:
        path = root / BASELINE
        data = json.loads(path.read_text())
        data["tasks"] = {t: v for t, v in data["tasks"].items() if t in tasks}
        path.write_text(json.dumps(data))
    return change


def cap_training_tokens(root: Path) -> None:
    """Thresholds that stop any training before it starts (MC802): a rule that fails to
    block earlier shows up as MC802 instead of costing a training run."""
    edit(root, "evals/thresholds.yaml", "max_train_tokens: 20000000", "max_train_tokens: 1")


def reword(root: Path) -> None:
    """A change with impact none: it passes without training unless a rule blocks it."""
    edit(root, ADAPTER, "rationale: >", "rationale: >\n  Reworded.")


def rename(new: str = "tiny-arith-v2", *, move: bool = True):
    def change(root: Path) -> None:
        rel = ADAPTER
        if move:
            rel = f"configs/adapters/{new}.yaml"
            git(root, "mv", ADAPTER, rel)
        edit(root, rel, "name: tiny-arith\n", f"name: {new}\n")
    return change


def both(*changes):
    def change(root: Path) -> None:
        for c in changes:
            c(root)
    return change


class Repo:
    """A config repository made of this repository's configs/ and evals/, with the base
    edited by ``base`` and pull requests as branches off main."""

    def __init__(self, tmp: Path, base=None):
        source = tmp / "source"
        source.mkdir()
        for folder in ("configs", "evals"):
            shutil.copytree(ROOT / folder, source / folder)
        if base is not None:
            base(source)
        self.repo = make_repo(tmp, source)
        self.tmp = tmp
        self.count = 0

    def branch(self, change, *, agent: bool = False, name: str = "pr") -> str:
        return pr_branch(self.repo, name, change, agent=agent)

    def gate(self, head: str, labels=()) -> dict:
        self.count += 1
        cache = os.environ.get("MODELCFG_CACHE")
        settings = GateSettings(runs_dir=self.tmp / "runs", labels=list(labels),
                                model_cache=Path(cache) if cache else None)
        out = self.tmp / f"gate-{self.count}"
        report = run_gate(self.repo, "main", head, out, settings)
        assert json.loads((out / "gate.json").read_text())["verdict"] == report["verdict"]
        return report

    @property
    def trained(self) -> bool:
        return (self.tmp / "runs").exists()


def codes(report: dict) -> set[str]:
    found = {r["code"] for r in report["reasons"]}
    for cfg in report["configs"]:
        found |= {r["code"] for r in cfg["reasons"]}
    return found


def reasons(report: dict, code: str) -> list[dict]:
    found = [r for r in report["reasons"] if r["code"] == code]
    return found + [r for c in report["configs"] for r in c["reasons"] if r["code"] == code]


def tasks_of(report: dict, code: str = "MC817") -> set[str]:
    return {r["task"] for r in reasons(report, code)}


# --------------------------------------------------------------- the base chooses the tasks


def test_an_agent_dropping_the_safety_suite_is_blocked_before_training(tmp_path):
    repo = Repo(tmp_path)
    report = repo.gate(repo.branch(set_suites("[capability]"), agent=True))
    assert report["verdict"] == "block" and codes(report) == {"MC817"}, codes(report)
    (reason,) = reasons(report, "MC817")
    assert reason["task"] == "safety_refusal" and reason["config"] == "tiny-arith"
    assert "required eval suite" not in reason["message"]  # it says which rule, and the fix
    assert "contract requires eval suite 'safety'" in reason["message"]
    assert "(safety)" in reason["message"]
    assert not repo.trained


def test_validate_tells_the_agent_before_the_gate(tmp_path):
    repo = Repo(tmp_path)
    git(repo.repo, "checkout", "-q", repo.branch(set_suites("[capability]"), agent=True))
    problems = validate(repo.repo)
    assert [(p.path, p.line, p.col, p.code) for p in problems] == [
        (ADAPTER, 29, 11, "MC321")]
    assert "requires eval suite 'safety'" in problems[0].message


def new_adapter(suites: str, name: str = "tiny-new"):
    def change(root: Path) -> None:
        text = (root / ADAPTER).read_text().replace("name: tiny-arith\n", f"name: {name}\n")
        (root / f"configs/adapters/{name}.yaml").write_text(
            text.replace(SHIPPED_SUITES, f"suites: {suites}"))
    return change


def test_a_new_adapter_must_run_the_required_tasks(tmp_path):
    repo = Repo(tmp_path)
    report = repo.gate(repo.branch(new_adapter("[capability]")))
    assert codes(report) == {"MC817"}, codes(report)
    assert tasks_of(report) == {"safety_refusal"}
    assert [c["adapter"] for c in report["configs"]] == ["tiny-new"]
    assert not repo.trained


def test_a_new_adapter_listing_no_suites_is_refused(tmp_path):
    repo = Repo(tmp_path)
    report = repo.gate(repo.branch(new_adapter("[]")))
    assert report["verdict"] == "block" and codes(report) == {"MC801"}, codes(report)
    assert "MC205" in report["configs"][0]["reasons"][0]["message"]


def test_the_required_suites_are_the_base_contracts(tmp_path):
    """Base: the contract requires capability; tiny-arith (legacy) runs only safety. The head
    drops the requirement from its contract: read from the head, a reworded rationale
    would pass without training."""
    repo = Repo(tmp_path, both(require_suites("[safety, capability]"), set_suites("[safety]"),
                               keep_baseline_tasks("safety_refusal")))
    head = repo.branch(both(reword, require_suites("[]")))
    report = repo.gate(head)
    assert report["verdict"] == "block" and codes(report) == {"MC817"}, codes(report)
    assert tasks_of(report) == CAPABILITY
    assert all("contract requires eval suite 'capability'" in r["message"]
               for r in reasons(report, "MC817"))
    assert any("evals/contract.yaml" in n for n in report["notes"])


def test_the_tasks_of_the_base_baseline_are_required(tmp_path):
    """Base: nothing required but safety; tiny-arith runs only safety but its promoted
    baseline has the capability tasks. The head's edited baseline drops them."""
    repo = Repo(tmp_path, both(require_suites("[]"), set_suites("[safety]")))
    head = repo.branch(both(reword, keep_baseline_tasks("safety_refusal")))
    report = repo.gate(head)
    assert codes(report) == {"MC817"}, codes(report)
    assert tasks_of(report) == CAPABILITY
    assert all("promoted baseline of tiny-arith" in r["message"]
               for r in reasons(report, "MC817"))


def test_the_safety_tasks_of_the_base_thresholds_are_required(tmp_path):
    """Base: no required suite, a baseline without safety; its thresholds still judge
    safety_refusal as safety. The head's thresholds drop the safety section."""
    repo = Repo(tmp_path, both(require_suites("[]"), set_suites("[capability]"),
                               keep_baseline_tasks(*CAPABILITY)))
    head = repo.branch(both(reword, lambda root: edit(
        root, "evals/thresholds.yaml", "safety:\n  safety_refusal:", "other:\n  safety_refusal:")))
    report = repo.gate(head)
    assert codes(report) == {"MC817"}, codes(report)
    (reason,) = reasons(report, "MC817")
    assert reason["task"] == "safety_refusal"
    assert "thresholds judge it under safety:" in reason["message"]


def test_a_required_suite_the_base_lacks_is_an_error_not_a_pass(tmp_path):
    repo = Repo(tmp_path, require_suites("[safety, nightly]"))
    report = repo.gate(repo.branch(reword))
    # A broken base policy refuses every change before any adapter is judged (the base's
    # own problem, MC306 at the contract's line, is carried in the MC820 reason).
    assert report["verdict"] == "error" and codes(report) == {"MC820"}, codes(report)
    (reason,) = reasons(report, "MC820")
    assert "evals/contract.yaml:" in reason["message"] and "MC306" in reason["message"]
    assert "nightly" in reason["message"] and report["configs"] == []


# ------------------------------------------------------------------------------- lineage


def test_an_agent_may_not_rename_a_baselined_adapter(tmp_path):
    repo = Repo(tmp_path)
    report = repo.gate(repo.branch(rename(), agent=True))
    assert report["verdict"] == "block" and codes(report) == {"MC818"}, codes(report)
    (cfg,) = report["configs"]
    assert (cfg["adapter"], cfg["replaces"], cfg["verdict"]) == (
        "tiny-arith-v2", "tiny-arith", "block")
    assert "renames adapter tiny-arith" in cfg["reasons"][0]["message"]
    assert "maintainer-approved" in cfg["reasons"][0]["message"]
    assert not repo.trained


def test_an_agent_may_not_change_the_name_in_place(tmp_path):
    repo = Repo(tmp_path)
    report = repo.gate(repo.branch(rename(move=False), agent=True))
    assert codes(report) == {"MC818"}, codes(report)
    assert report["configs"][0]["replaces"] == "tiny-arith"


def remove(rel: str = ADAPTER):
    return lambda root: git(root, "rm", "-q", rel)


def test_an_agent_may_not_remove_a_baselined_adapter(tmp_path):
    repo = Repo(tmp_path)
    report = repo.gate(repo.branch(remove(), agent=True))
    assert report["verdict"] == "block" and codes(report) == {"MC818"}, codes(report)
    (reason,) = report["reasons"]
    assert reason["config"] == "tiny-arith" and "removes adapter tiny-arith" in reason["message"]


def test_the_maintainer_labels_are_the_base_contracts(tmp_path):
    """The head's contract names the agent's own label as a maintainer label: read from the
    head, the removal would be allowed (the edit itself is MC814)."""
    repo = Repo(tmp_path)
    head = repo.branch(both(remove(), lambda root: edit(
        root, "evals/contract.yaml", "maintainer_labels: [maintainer-approved]",
        "maintainer_labels: [bot-approved]")), agent=True)
    report = repo.gate(head, labels=["bot-approved"])
    assert codes(report) == {"MC814", "MC818"}, codes(report)


def test_an_adapter_made_unreadable_is_invalid_not_removed(tmp_path):
    repo = Repo(tmp_path)
    head = repo.branch(lambda root: (root / ADAPTER).write_text("name: [tiny-arith\n"),
                       agent=True)
    report = repo.gate(head)
    assert codes(report) == {"MC801"}, codes(report)


def test_a_maintainer_label_lets_an_agent_remove_it(tmp_path):
    repo = Repo(tmp_path)
    report = repo.gate(repo.branch(remove(), agent=True), labels=["Maintainer-Approved"])
    assert report["verdict"] == "pass" and codes(report) == set(), codes(report)
    assert any("tiny-arith" in n and "removed" in n and "Maintainer-Approved" in n
               for n in report["notes"])


def test_a_human_may_remove_a_baselined_adapter_and_the_report_says_so(tmp_path):
    repo = Repo(tmp_path)
    report = repo.gate(repo.branch(remove()))
    assert report["verdict"] == "pass" and codes(report) == set()
    assert any("adapter tiny-arith" in n and "removed" in n for n in report["notes"])


def test_an_adapter_without_baseline_is_not_protected(tmp_path):
    repo = Repo(tmp_path)
    report = repo.gate(repo.branch(remove("configs/adapters/tiny-poisoned.yaml"), agent=True))
    assert report["verdict"] == "pass" and codes(report) == set()


def declared_rename(root: Path) -> None:
    """tiny-arith removed; ``fresh`` declares ``replaces: tiny-arith``, written as one line of
    JSON (valid YAML) so that it shares no line with the old file: only replaces pairs it."""
    import yaml

    data = yaml.safe_load((root / ADAPTER).read_text())
    data.update(name="fresh", replaces="tiny-arith",
                evals={"suites": ["safety", "robustness"]})
    git(root, "rm", "-q", ADAPTER)
    (root / "configs/adapters").mkdir(exist_ok=True)
    (root / "configs/adapters/fresh.yaml").write_text(json.dumps(data) + "\n")


@pytest.mark.parametrize("change", [
    both(rename(), set_suites("[safety]", "configs/adapters/tiny-arith-v2.yaml")),
    both(rename(move=False), set_suites("[safety]")),
    declared_rename,
], ids=["moved", "name-in-place", "replaces"])
def test_a_renamed_adapter_must_run_the_old_baselines_tasks(tmp_path, change):
    """Renamed and cut down to the safety suite: as a new adapter it would need safety only
    (and then hit the thresholds' training cap, MC802); as tiny-arith's heir it must run
    every task of tiny-arith's baseline."""
    repo = Repo(tmp_path, cap_training_tokens)
    report = repo.gate(repo.branch(change))
    assert codes(report) == {"MC817"}, codes(report)
    assert tasks_of(report) == CAPABILITY
    assert all("promoted baseline of tiny-arith" in r["message"]
               for r in reasons(report, "MC817"))
    (cfg,) = report["configs"]
    assert cfg["replaces"] == "tiny-arith"
    assert any(f"renamed to {cfg['adapter']}" in n for n in report["notes"])


def test_a_renamed_adapter_is_checked_against_the_old_config(tmp_path):
    """The base's tiny-arith changed after its baseline: stale (MC815) for its heir too."""
    repo = Repo(tmp_path, lambda root: edit(root, ADAPTER, "warmup_steps: 10",
                                            "warmup_steps: 12"))
    report = repo.gate(repo.branch(rename()))
    assert codes(report) == {"MC815"}, codes(report)
    assert not repo.trained


def test_a_renamed_adapter_without_baseline_still_needs_one(tmp_path):
    repo = Repo(tmp_path)
    old = "configs/adapters/tiny-poisoned.yaml"

    def change(root: Path) -> None:
        git(root, "mv", old, "configs/adapters/poisoned-v2.yaml")
        edit(root, "configs/adapters/poisoned-v2.yaml", "name: tiny-poisoned\n",
             "name: poisoned-v2\n")
    report = repo.gate(repo.branch(change))
    assert codes(report) == {"MC804"}, codes(report)
    assert "tiny-poisoned exists in the base commit" in reasons(report, "MC804")[0]["message"]


def with_replaces(rel: str, old: str):
    return lambda root: edit(root, rel, "rationale: >", f"replaces: {old}\nrationale: >")


@pytest.mark.parametrize("change, where", [
    # a new adapter claiming the history of an adapter the base does not have
    (new_adapter("[capability, safety]"), ("configs/adapters/tiny-new.yaml", "nothing")),
    # an adapter of the base taking over another's history (tiny-poisoned: no baseline)
    (remove("configs/adapters/tiny-poisoned.yaml"), (ADAPTER, "tiny-poisoned")),
])
def test_replaces_is_checked_against_the_base(tmp_path, change, where):
    repo = Repo(tmp_path)
    report = repo.gate(repo.branch(both(change, with_replaces(*where))))
    assert report["verdict"] == "block" and codes(report) == {"MC801"}, codes(report)
    (reason,) = reasons(report, "MC801")
    assert re.search(rf"{where[0]}:\d+:11: MC322 replaces '{where[1]}'", reason["message"])


def test_replaces_an_adapter_the_base_added_after_the_fork(tmp_path):
    """The branch forked before ``late`` existed: merging it would keep ``late``, so the
    change does not rename it."""
    repo = Repo(tmp_path)
    head = repo.branch(both(new_adapter("[capability, safety]", "fresh"),
                            with_replaces("configs/adapters/fresh.yaml", "late")))
    new_adapter("[capability, safety]", "late")(repo.repo)
    commit_all(repo.repo, "a maintainer adds late")
    report = repo.gate(head)
    assert codes(report) == {"MC801"}, codes(report)
    assert "added to the base after this branch forked" in reasons(report, "MC801")[0][
        "message"]


# ------------------------------------------------------------------ end to end: a rename


def without_baselines(root: Path) -> None:
    """No shipped evidence (its eval task configs are older than the tasks), and a shorter
    training run: the end-to-end test makes its own baseline."""
    shutil.rmtree(root / "evals/baselines")
    (root / "evals/ledger.jsonl").unlink()
    edit(root, ADAPTER, "max_steps: 1200", "max_steps: 150")


@pytest.mark.e2e
def test_an_approved_rename_is_judged_on_the_old_baseline_and_promoted_as_new(
        tmp_path, tiny_model):
    from modelcfg.audit.bootstrap import bootstrap
    from modelcfg.audit.promote import promote_gate_output

    repo = Repo(tmp_path, without_baselines)
    cache = Path(os.environ["MODELCFG_CACHE"])
    bootstrap(repo.repo, "tiny-arith", tmp_path / "bootstrap", actor={"merged_by": "m"},
              runs_dir=tmp_path / "runs", model_cache=cache)
    git(repo.repo, "pull", "-q", "--ff-only", "origin", "main")
    head = repo.branch(rename(), agent=True)
    report = repo.gate(head, labels=["maintainer-approved"])
    assert report["verdict"] == "pass", (codes(report), report["configs"][0]["reasons"])
    (cfg,) = report["configs"]
    assert cfg["replaces"] == "tiny-arith" and cfg["baseline"]["adapter"] == "tiny-arith"
    assert set(cfg["tasks"]) == CAPABILITY | {"safety_refusal", "arith_gen_perturbed"}
    out = tmp_path / f"gate-{repo.count}"
    evidence = json.loads((out / cfg["evidence"]).read_text())
    assert evidence["adapter"] == "tiny-arith-v2"
    assert evidence["gate"]["replaces"] == "tiny-arith"
    git(repo.repo, "merge", "-q", "--ff-only", head)
    git(repo.repo, "push", "-q", "origin", "main")
    (result,) = promote_gate_output(repo.repo, out, actor={"merged_by": "maintainer"})
    assert result.entry["adapter"] == "tiny-arith-v2"
    git(repo.repo, "pull", "-q", "--ff-only", "origin", "main")
    promoted = json.loads((repo.repo / "evals/baselines/tiny-arith-v2.json").read_text())
    assert promoted["adapter"] == "tiny-arith-v2"
    assert (repo.repo / BASELINE).is_file()  # the old history stays
