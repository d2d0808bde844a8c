"""One JSON contract: every command that reports runs for real here with `--format json`,
and its stdout is validated against the JSON Schema it ships (`modelcfg schema --output`);
`--format github` is real for the gate and refused (MC050) elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from audit_helpers import make_baseline
from github_env import SHA, fake_github
from output_helpers import SCHEMAS
from output_helpers import check_output as check
from repo_helpers import GOLDEN, commit_all, git, make_repo, project_repo

from modelcfg.cli.app import main
from modelcfg.cli.outputs import OUTPUTS, format_of

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


# -- the schemas themselves ------------------------------------------------------------

def test_every_output_kind_has_a_valid_schema_and_a_test_here():
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(
        f"{kind}.schema.json" for kind in OUTPUTS)
    for kind in OUTPUTS:
        schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["properties"]["format"] == {"const": format_of(kind)}
    tested = {kind for path in Path(__file__).parents[1].rglob("test_*.py")
              for kind in re.findall(r'check(?:_output)?\("([a-z-]+)"', path.read_text())}
    assert tested == set(OUTPUTS)


def test_schema_output_prints_and_lists_the_kinds(capsys):
    rc, out, _ = run(capsys, "schema", "--output", "gate")
    assert rc == 0 and json.loads(out) == json.loads((SCHEMAS / "gate.schema.json").read_text())
    rc, out, _ = run(capsys, "schema", "--list-outputs")
    assert rc == 0 and [line.split()[0] for line in out.splitlines()] == list(OUTPUTS)
    assert format_of("gate") == "modelcfg-gate/1"  # gate.json keeps its version
    rc, out, err = run(capsys, "schema", "--output", "nope")
    assert rc == 2 and out == "" and err.startswith("error: MC051 unknown output kind 'nope'")


# -- torch-free commands on a copy of this project's configs ----------------------------

@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """main; `pr` reseeds tiny-arith (impact retrain); `docs` adds a notes file (nothing to
    judge); `broken` gives tiny-arith an unknown key (blocked before any training)."""
    repo = project_repo(tmp_path_factory.mktemp("json"))
    git(repo, "checkout", "-q", "-b", "pr")
    adapter = repo / "configs/adapters/tiny-arith.yaml"
    adapter.write_text(adapter.read_text().replace("  seed: 0\n", "  seed: 1\n"))
    commit_all(repo, "reseed")
    git(repo, "checkout", "-q", "-b", "docs", "main")
    (repo / "NOTES.md").write_text("notes\n")
    commit_all(repo, "notes")
    git(repo, "checkout", "-q", "-b", "broken", "main")
    adapter.write_text(adapter.read_text().replace("  r: 16\n", "  r: 16\n  rank: 3\n"))
    commit_all(repo, "unknown key")
    git(repo, "checkout", "-q", "main")
    return repo


def test_validate(repo, capsys):
    rc, out, _ = run(capsys, "validate", "--format", "json", "--root", str(repo))
    assert rc == 0 and check("validate", out)["valid"] is True


def test_diff_and_its_refused_github_format(repo, capsys):
    rc, out, _ = run(capsys, "diff", "main", "pr", "--format", "json", "--root", str(repo))
    assert rc == 0 and check("diff", out)["impacts"] == {"tiny-arith": "retrain"}
    rc, out, err = run(capsys, "diff", "main", "pr", "--format", "github", "--root", str(repo))
    assert rc == 2 and out == ""
    assert err.startswith("error: MC050 `modelcfg diff` has no --format github")


def test_gate_plan(repo, capsys):
    rc, out, _ = run(capsys, "gate", "plan", "--base", "main", "--head", "pr",
                     "--root", str(repo))
    assert rc == 0 and check("gate-plan", out)["matrix"] == {
        "include": [{"adapter": "tiny-arith"}]}


@pytest.fixture(scope="module")
def refused_gate(repo, tmp_path_factory):
    """An errored gate output (bad --labels-json: MC006, then MC820), written in a second."""
    out = tmp_path_factory.mktemp("refused")
    assert main(["gate", "--base", "main", "--labels-json", "bad", "--out", str(out),
                 "--root", str(repo), "-q"]) == 2
    return out


def test_gate_json_and_github_annotations(repo, refused_gate, tmp_path, capsys):
    rc, out, _ = run(capsys, "gate", "--base", "main", "--labels-json", "bad", "--out",
                     str(tmp_path / "g"), "--root", str(repo), "--format", "json")
    assert rc == 2
    doc = check("gate", out)
    assert doc["verdict"] == "error" and [r["code"] for r in doc["reasons"]] == ["MC820"]
    rc, out, _ = run(capsys, "gate", "--base", "main", "--labels-json", "bad", "--out",
                     str(tmp_path / "g"), "--root", str(repo), "--format", "github")
    assert rc == 2
    assert out.splitlines() == [
        "::error title=MC820::MC820 MC006 --labels-json must be a JSON list of strings, e.g. "
        "'[\"agent\", \"safety review\"]' (Expecting value%3A line 1 column 1 (char 0))"
        .replace("%3A", ":"),
        "::error title=modelcfg gate::gate: error"]


def test_gate_github_annotates_the_config_line(repo, tmp_path, capsys):
    """An invalid adapter blocks before any training: its reason on the line of the
    unknown key; a change with nothing to judge passes, and says so."""
    rc, out, _ = run(capsys, "gate", "--base", "main", "--head", "broken", "--out",
                     str(tmp_path / "g"), "--root", str(repo), "--format", "github", "-q")
    assert rc == 1
    assert out.splitlines() == [
        "::error file=configs/adapters/tiny-arith.yaml,line=9,title=MC801::MC801 "
        "configs/adapters/tiny-arith.yaml:9:9: MC202 unknown key 'rank' in lora (did you "
        "mean 'r'?)", "::error title=modelcfg gate::gate: block"]
    doc = check("gate", (tmp_path / "g/gate.json").read_text())
    assert [(c["adapter"], c["verdict"], [r["code"] for r in c["reasons"]])
            for c in doc["configs"]] == [("tiny-arith", "block", ["MC801"])]
    rc, out, _ = run(capsys, "gate", "--base", "main", "--head", "docs", "--out",
                     str(tmp_path / "p"), "--root", str(repo), "--format", "github", "-q")
    assert rc == 0 and out == "::notice title=modelcfg gate::gate: pass\n"


def test_gate_merge(repo, refused_gate, tmp_path, capsys):
    rc, out, _ = run(capsys, "gate", "merge", str(refused_gate), "--out", str(tmp_path / "m"),
                     "--root", str(repo), "--format", "json")
    assert rc == 2
    doc = check("gate", out)
    assert doc["verdict"] == "error" and "MC831" in [r["code"] for r in doc["reasons"]]


def test_compare(capsys):
    baseline = str(ROOT / "evals/baselines/tiny-arith.json")
    rc, out, _ = run(capsys, "compare", baseline, baseline, "--format", "json")
    assert rc == 0 and check("compare", out)["verdict"] == "pass"
    rc, legacy, _ = run(capsys, "compare", baseline, baseline, "--json")
    assert legacy == out


def test_audit_verify(repo, capsys):
    rc, out, _ = run(capsys, "audit", "verify", "--format", "json", "--root", str(repo))
    assert rc == 0 and check("audit-verify", out) == {
        "format": "modelcfg-audit-verify/1", "ok": True, "problems": []}


def test_audit_record_attempt(repo, refused_gate, capsys):
    rc, out, _ = run(capsys, "audit", "record-attempt", "--gate-out", str(refused_gate),
                     "--format", "json", "--root", str(repo))
    assert rc == 0 and check("audit-attempt", out)["recorded"] is False


def test_init_and_tiny(tmp_path, capsys):
    rc, out, _ = run(capsys, "init", str(tmp_path / "new"), "--format", "json")
    doc = check("init", out)
    assert rc == 0 and "evals/contract.yaml" in doc["files"]
    rc, out, _ = run(capsys, "tiny", "--format", "json")
    assert rc == 0 and Path(check("tiny", out)["path"]).is_dir()
    rc, out, err = run(capsys, "init", str(tmp_path / "other"), "--format", "github")
    assert rc == 2 and "MC050 `modelcfg init` has no --format github" in err


# -- promote and rollback on a real clone of a bare remote -------------------------------

def test_promote_anchor_and_rollback(tmp_path, capsys):
    from modelcfg.audit.promote import promote
    from modelcfg.config.model import config_key
    from modelcfg.config.resolve import resolve_adapter
    from modelcfg.config.trees import GitTree
    from modelcfg.config.workspace import load_workspace

    repo = make_repo(tmp_path, GOLDEN / "base")

    def evidence(fp: str) -> dict:
        key = config_key(resolve_adapter(load_workspace(GitTree(repo, "HEAD")), "a"))
        return {**make_baseline("a", commit=git(repo, "rev-parse", "HEAD"),
                                fingerprint=fp * 32), "config_key": key}

    first = promote(repo, adapter="a", evidence=evidence("ab"), actor="ci")
    config = repo / "configs/adapters/a.yaml"
    config.write_text(config.read_text().replace("r: 8", "r: 16"))
    commit_all(repo, "rank 16")
    git(repo, "push", "-q", "origin", "main")
    promote(repo, adapter="a", evidence=evidence("cd"), actor="ci")
    rc, out, _ = run(capsys, "promote", "--anchor", "a", "--actor", "maintainer",
                     "--format", "json", "--root", str(repo))
    doc = check("promote", out)
    assert rc == 0 and doc["action"] == "anchor" and doc["promoted"][0]["ledger_seq"] == 3
    rc, out, _ = run(capsys, "rollback", "a", "--to", first.commit, "--actor", "maintainer",
                     "--format", "json", "--root", str(repo))
    doc = check("rollback", out)
    assert rc == 0 and doc["commit"] == git(repo, "rev-parse", "origin/main")
    assert doc["ledger_seq"] == 4


# -- GitHub, through the fake API --------------------------------------------------------

@pytest.fixture
def gh(monkeypatch, tmp_path):
    with fake_github(monkeypatch, tmp_path) as fake:
        fake.add_pull(12, SHA, author="agent-bot[bot]", base_sha="b" * 40, base_ref="main")
        fake.state.labels[12] = ["agent"]
        yield fake


def test_github_commands(gh, repo, refused_gate, tmp_path, monkeypatch, capsys):
    rc, out, _ = run(capsys, "github", "pull-request", "12", "--format", "json")
    assert rc == 0 and check("github-pull-request", out)["labels"] == ["agent"]
    rc, out, _ = run(capsys, "github", "validate", "--root", str(repo), "--sha", SHA,
                     "--format", "json")
    doc = check("github-validate", out)
    assert rc == 0 and doc["errors"] == 0 and doc["check_run"] is not None
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run(capsys, "github", "report", "--gate-dir", str(refused_gate), "--pr", "7",
                     "--format", "json")
    doc = check("github-report", out)
    assert rc == 2 and doc["verdict"] == "error" and doc["failures"] == []


# -- train and eval: the tiny built-in model, two steps, two items -----------------------

def test_train_and_eval(tmp_path, tiny_model, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    repo = project_repo(tmp_path)
    adapter = repo / "configs/adapters/tiny-arith.yaml"
    adapter.write_text(adapter.read_text().replace("max_steps: 1200", "max_steps: 2"))
    rc, out, _ = run(capsys, "train", "tiny-arith", "-q", "--format", "json",
                     "--root", str(repo))
    doc = check("train", out)
    assert rc == 0 and doc["cache_hit"] is False and Path(doc["run_dir"]).is_dir()
    rc, out, _ = run(capsys, "eval", "tiny-arith", "--limit", "2", "--format", "json",
                     "--root", str(repo), "--out", str(tmp_path / "results.json"))
    doc = check("eval", out)
    assert rc == 0 and doc["results"] == str(tmp_path / "results.json")
    assert {m["n"] for task in doc["tasks"].values() for m in task.values()} == {2}

