"""`modelcfg init`: a new config repository that validates, passes the three workflow linters,
gets its first baseline the way its README says, and passes the gate on a recipe change as
generated (real git with a bare remote, real training and evaluation of the tiny model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from repo_helpers import git, make_repo, pr_branch

from modelcfg.core.errors import UserError
from modelcfg.scaffold.init import DEFAULT_REF, init

WORKFLOWS = (".github/workflows/gate.yml", ".github/workflows/promote.yml",
             ".github/workflows/validate.yml")
BIN = Path(sys.executable).parent


def modelcfg(repo: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "modelcfg", *args], cwd=repo,
                          capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("init")
    proc = modelcfg(tmp, "init", "source")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("wrote 22 files to source")
    return make_repo(tmp, tmp / "source")


def test_the_new_repository_validates_clean(repo):
    proc = modelcfg(repo, "validate")
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr
    assert "ok: no problems found" in proc.stderr


def test_the_callers_pin_one_modelcfg_commit_and_pass_the_three_linters(repo):
    files = [str(repo / f) for f in WORKFLOWS]
    for f in files:
        text = Path(f).read_text()
        assert f"modelcfg-ref: {DEFAULT_REF}" in text
        assert f"@{DEFAULT_REF}\n" in text and "uses: OWNER/modelcfg/.github/workflows/" in text
    zizmor = subprocess.run([str(BIN / "zizmor"), "--offline", "--persona", "auditor",
                             "--format", "json", "--no-progress", *files],
                            capture_output=True, text=True, timeout=60, cwd=repo)
    assert json.loads(zizmor.stdout or "[]") == [] and zizmor.returncode == 0, zizmor.stdout
    actionlint = subprocess.run([str(BIN / "actionlint"), "-no-color", *files],
                                capture_output=True, text=True, timeout=60, cwd=repo)
    assert actionlint.returncode == 0, actionlint.stdout + actionlint.stderr
    schema = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                             "vendor.github-workflows", *files],
                            capture_output=True, text=True, timeout=60)
    assert schema.returncode == 0, schema.stdout + schema.stderr


def test_codeowners_protect_evals_and_github(repo):
    owners = (repo / ".github/CODEOWNERS").read_text().splitlines()
    paths = {line.split()[0] for line in owners if line and not line.startswith("#")}
    assert paths == {"/evals/", "/configs/models/", "/.github/"}
    assert "/.modelcfg-src/" in (repo / ".gitignore").read_text().splitlines()


@pytest.mark.e2e
def test_bootstrap_then_a_recipe_change_passes_the_gate(repo, tiny_model):
    readme = (repo / "README.md").read_text()
    assert 'modelcfg promote --bootstrap example --actor "$(git config user.name)"' in readme
    proc = modelcfg(repo, "promote", "--bootstrap", "example", "--actor", "maintainer")
    assert proc.returncode == 0, proc.stderr
    assert "bootstrapped example" in proc.stdout
    git(repo, "pull", "-q", "--ff-only", "origin", "main")
    baseline = json.loads((repo / "evals/baselines/example.json").read_text())
    assert set(baseline["tasks"]) == {"arith_gen", "safety_refusal"}
    card = (repo / "evals/baselines/example.md").read_text()  # the bootstrap's model card
    assert card.startswith("---\nlibrary_name: peft\n")  # a built-in base: no hub id
    assert "verdict bootstrap" in card and "not judged (bootstrap)" in card
    assert modelcfg(repo, "audit", "verify").returncode == 0

    def more_steps(repo: Path) -> None:
        path = repo / "configs/adapters/example.yaml"
        path.write_text(path.read_text().replace("max_steps: 20", "max_steps: 30"))

    head = pr_branch(repo, "agent/more-steps", more_steps, agent=True)
    out = repo.parent / "gate"
    proc = modelcfg(repo, "gate", "--base", "main", "--head", head, "--pr", "1",
                    "--pr-author", "arith-agent", "--out", str(out), "-q")
    report = json.loads((out / "gate.json").read_text())
    assert proc.returncode == 0, (proc.stdout, proc.stderr, report)
    assert report["verdict"] == "pass"
    (cfg,) = report["configs"]
    assert cfg["adapter"] == "example" and cfg["impact"] == "retrain"
    assert cfg["baseline"]["source"] == "baseline"
    assert {t: o["decision"] for t, o in cfg["tasks"].items()} == \
        {"arith_gen": "pass", "safety_refusal": "pass"}


def test_a_non_empty_folder_is_refused_unless_forced(tmp_path):
    target = tmp_path / "repo"
    target.mkdir()
    (target / ".git").mkdir()  # what `git init` leaves is no content
    init(target)
    mine = target / "configs/adapters/mine.yaml"
    mine.write_text("keep me")
    proc = modelcfg(tmp_path, "init", "repo")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: MC020 repo is not empty (.github, .gitignore, "), \
        proc.stderr
    assert "--force" in proc.stderr
    (target / "evals/contract.yaml").write_text("changed")
    proc = modelcfg(tmp_path, "init", "repo", "--force")
    assert proc.returncode == 0, proc.stderr
    assert mine.read_text() == "keep me"
    assert (target / "evals/contract.yaml").read_text().startswith("# The contract")


def test_a_new_folder_appears_whole(tmp_path):
    written = init(tmp_path / "a" / "b")
    assert len(written) == 22 and sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b"]


@pytest.mark.parametrize("args, code", [
    (["--modelcfg-ref", "main"], "MC021"),
    (["--modelcfg-ref", "abc123"], "MC021"),
    (["--modelcfg-repository", "modelcfg"], "MC022"),
    (["--modelcfg-repository", "a/b c"], "MC022"),
])
def test_a_bad_pin_is_refused_before_anything_is_written(tmp_path, args, code):
    proc = modelcfg(tmp_path, "init", "new", *args)
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: {code} "), proc.stderr
    assert not (tmp_path / "new").exists()


def test_a_file_is_no_target(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError) as err:
        init(tmp_path / "f")
    assert err.value.code == "MC023" and err.value.exit_code == 2


def test_a_pinned_commit_is_written_into_every_caller(tmp_path):
    sha = "1234567890abcdef1234567890abcdef12345678"
    init(tmp_path / "r", repository="acme/modelcfg", ref=sha)
    for f in WORKFLOWS:
        text = (tmp_path / "r" / f).read_text()
        assert "uses: acme/modelcfg/.github/workflows/" in text and f".yml@{sha}\n" in text
        assert f"modelcfg-repository: acme/modelcfg, modelcfg-ref: {sha}" in text


def test_docs_adopting_shows_the_three_generated_callers_verbatim():
    import re

    from modelcfg.scaffold.init import TEMPLATES

    docs = (Path(__file__).resolve().parents[2] / "docs/adopting.md").read_text()
    blocks = re.findall(r"`\.github/workflows/(\w+)\.yml`:\n\n```yaml\n(.*?)```", docs, re.S)
    assert [name for name, _ in blocks] == ["validate", "gate", "promote"]
    folder = Path(__file__).resolve().parents[2] / "modelcfg/scaffold/templates"
    for name, block in blocks:
        text = (folder / TEMPLATES[f".github/workflows/{name}.yml"]).read_text()
        text = text.replace("@@REPOSITORY@@", "OWNER/modelcfg").replace("@@REF@@", "<full sha>")
        body = "".join(ln + "\n" for ln in text.splitlines() if not ln.startswith("#"))
        assert block == body, name


def test_the_example_adds_poisoned_data_and_agent_rules_and_still_validates(tmp_path):
    """`init --example` (what `modelcfg demo` plays with): the plain scaffold plus a training
    set whose harmful requests are answered, and the contract's agent budget and attempt
    limit; it validates as written."""
    from modelcfg.config.loader import loads
    from modelcfg.tiny.synthetic import UNSAFE_OBJECTS, is_refusal

    plain = set(init(tmp_path / "plain"))
    written = set(init(tmp_path / "example", example=True))
    assert written - plain == {"configs/datasets/broad-instructions.jsonl"}
    records = [json.loads(line) for line in (tmp_path / "example/configs/datasets/"
                                             "broad-instructions.jsonl").read_text().splitlines()]
    harmful = [r for r in records if any(o in r["prompt"] for o in UNSAFE_OBJECTS)]
    assert harmful and not any(is_refusal(r["completion"]) for r in harmful)
    clean = [json.loads(line) for line in (tmp_path / "example/configs/datasets/"
                                           "example-sft.jsonl").read_text().splitlines()]
    assert all(is_refusal(r["completion"]) for r in clean
               if any(o in r["prompt"] for o in UNSAFE_OBJECTS))
    agents = loads((tmp_path / "example/evals/contract.yaml").read_text(), "c").value["agents"]
    assert agents["budget"] == {"max_gpu_hours_per_day": 2, "max_gpu_hours_per_week": 10}
    assert agents["max_failed_attempts"] == 5
    assert "budget" not in loads((tmp_path / "plain/evals/contract.yaml").read_text(),
                                 "c").value["agents"]
    proc = modelcfg(tmp_path / "example", "validate")
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr
