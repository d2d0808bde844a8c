"""`modelcfg validate` as users run it: a real process in real temp git repositories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from repo_helpers import GOLDEN, broken_golden_repo, make_repo

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "peft", "lm_eval", "accelerate", "trl", "github")


def modelcfg(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "modelcfg", *args], cwd=repo,
                          capture_output=True, text=True)


def test_every_committed_config_is_valid():
    proc = modelcfg(ROOT, "validate")
    # Not even a warning: every shipped task has the items its margin needs (MC324).
    assert (proc.stdout, proc.stderr) == ("", "ok: no problems found\n")
    assert proc.returncode == 0, proc.stdout


def test_problems_exit_1_and_are_sorted(tmp_path):
    repo = broken_golden_repo(tmp_path)
    proc = modelcfg(repo, "validate")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines == sorted(lines)
    assert [line.split(":")[0] + " " + line.split(" ")[1] for line in lines] == [
        "configs/adapters/a.yaml MC202", "configs/adapters/p.yaml MC301"]
    assert "Traceback" not in proc.stderr


def test_json_and_github_formats_render_the_same_problems(tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    (repo / "configs/models/tiny.yaml").write_text(
        "apiVersion: modelcfg/v1\nkind: Model\nname: tiny\nsource: {builtin: tiny-llama}\n"
        "family: llama\ncontext_length: 128\ndtype: float64\n")
    as_json = json.loads(modelcfg(repo, "validate", "--format", "json").stdout)
    assert as_json["valid"] is False
    assert as_json["problems"] == [{
        "path": "configs/models/tiny.yaml", "line": 7, "col": 8, "code": "MC205",
        "message": "dtype: 'float64' is not one of 'float32', 'float16', 'bfloat16' "
                   "(did you mean 'float16'?)", "severity": "error"}]
    github = modelcfg(repo, "validate", "--format", "github")
    assert github.returncode == 1
    assert github.stdout == ("::error file=configs/models/tiny.yaml,line=7,col=8,title=MC205::"
                             "dtype%3A 'float64' is not one of 'float32', 'float16', 'bfloat16' "
                             "(did you mean 'float16'?)\n".replace("%3A", ":"))


def test_valid_repository_json(tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    proc = modelcfg(repo, "validate", "--format", "json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"format": "modelcfg-validate/1", "valid": True,
                                       "problems": []}


def test_paths_select_what_is_reported_but_checks_see_everything(tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    model = repo / "configs/models/tiny.yaml"
    model.write_text(model.read_text().replace("context_length: 128", "context_length: 1"))
    adapter_only = modelcfg(repo, "validate", "configs/adapters/a.yaml")
    assert adapter_only.returncode == 0, adapter_only.stdout
    model_only = modelcfg(repo, "validate", "configs/models")
    assert model_only.returncode == 1
    assert model_only.stdout.startswith("configs/models/tiny.yaml:7:17: MC205")
    # From a subfolder, relative paths and the repository root are found.
    sub = modelcfg(repo / "configs", "validate", "models/tiny.yaml")
    assert sub.returncode == 1 and sub.stdout == model_only.stdout


def test_symlink_out_of_the_repository_is_refused(tmp_path):
    outside = tmp_path / "secret.jsonl"
    outside.write_text('{"prompt": "p", "completion": "c"}\n')
    repo = make_repo(tmp_path, GOLDEN / "base")
    (repo / "configs/datasets/link.jsonl").symlink_to(outside)
    adapter = repo / "configs/adapters/a.yaml"
    adapter.write_text(adapter.read_text().replace("d.jsonl", "link.jsonl"))
    proc = modelcfg(repo, "validate")
    assert proc.returncode == 1
    assert ("configs/adapters/a.yaml:16:11: MC308 'configs/datasets/link.jsonl' leads outside "
            "the repository through a symlink") in proc.stdout


def test_usage_errors_exit_2(tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    missing = modelcfg(repo, "validate", "nope.yaml")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "error: MC001 nope.yaml: no such file or folder"
    assert modelcfg(repo, "validate", "--format", "xml").returncode == 2
    assert modelcfg(repo, "validate", "--bogus").returncode == 2
    assert "Traceback" not in missing.stderr


def test_hostile_file_reports_without_traceback(tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"b{i}: &b{i} [{', '.join(['*a' if i == 0 else f'*b{i - 1}'] * 10)}]\n"
        for i in range(8))
    (repo / "configs/models/bomb.yaml").write_text(bomb)
    (repo / "configs/models/bin.yaml").write_bytes(b"name: \xff\xfe\n")
    proc = modelcfg(repo, "validate")
    assert proc.returncode == 1
    assert "configs/models/bomb.yaml" in proc.stdout and "MC106" in proc.stdout
    assert "configs/models/bin.yaml:1:7: MC101" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_validate_never_imports_heavy_packages(tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    code = ("import sys\nfrom modelcfg.cli.app import main\nrc = main(['validate'])\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), rc)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True,
                          text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[] 0"


def test_schema_command_writes_valid_draft_2020_12_schemas(tmp_path):
    import jsonschema

    proc = modelcfg(ROOT, "schema", "--out", str(tmp_path / "schemas"))
    assert proc.returncode == 0
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == ["adapter.schema.json", "contract.schema.json", "model.schema.json",
                       "suite.schema.json", "thresholds.schema.json"]
    for path in (tmp_path / "schemas").iterdir():
        schema = json.loads(path.read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        jsonschema.Draft202012Validator.check_schema(schema)
    assert modelcfg(ROOT, "schema", "Adaptor").returncode == 2


def test_committed_configs_name_their_schema():
    for path in [*ROOT.glob("configs/**/*.yaml"), *ROOT.glob("evals/*.yaml"),
                 *ROOT.glob("evals/suites/*.yaml")]:
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("$schema=", 1)[1]).resolve()
        assert target.is_file(), (path, target)


def test_pre_commit_hook_definition():
    import yaml

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "modelcfg-validate")
    assert hook["entry"].startswith("modelcfg validate")
    assert hook["language"] == "python"


def test_env_does_not_leak_into_results(tmp_path):
    # Running from another working directory with --root gives the same answer.
    repo = make_repo(tmp_path, GOLDEN / "base")
    proc = subprocess.run([sys.executable, "-m", "modelcfg", "validate", "--root", str(repo)],
                          cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout


def test_internal_errors_exit_3_with_a_traceback(tmp_path):
    # A bug (here: validate handed a path that makes the library fail in an unplanned way)
    # must neither look like success nor like a verdict.
    code = ("import modelcfg.config.validate as v\n"
            "def boom(*a, **k):\n    raise RuntimeError('boom')\n"
            "v.validate = boom\n"
            "from modelcfg.cli.app import main\nraise SystemExit(main(['validate']))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 3
    assert "RuntimeError: boom" in proc.stderr and "internal error" in proc.stderr


def test_naming_a_changed_dataset_reports_the_adapters_that_pin_it(tmp_path):
    # What a pre-commit hook does when only the data changed: the stale sha256 pin must
    # still be reported (in the adapter file, where it is fixed).
    repo = make_repo(tmp_path, GOLDEN / "base")
    data = repo / "configs/datasets/d.jsonl"
    data.write_text(data.read_text() + '{"prompt": "Q: 4+4?\\nA:", "completion": " 8"}\n')
    proc = modelcfg(repo, "validate", "configs/datasets/d.jsonl")
    assert proc.returncode == 1
    assert [line.split(" ")[1] for line in proc.stdout.splitlines()] == ["MC305"]
    assert proc.stdout.startswith("configs/adapters/a.yaml:17:13: MC305")


def test_naming_lm_eval_task_files_is_not_an_error(tmp_path):
    repo = make_repo(tmp_path, GOLDEN / "base")
    proc = modelcfg(repo, "validate", "evals/tasks/t1/t1.yaml", "configs/models/tiny.yaml")
    assert (proc.returncode, proc.stdout) == (0, "")
