"""The workflows and the composite action pass the GitHub Actions linters: zizmor (security),
actionlint (types, expressions, runner labels, shell) and GitHub's workflow and action JSON
schemas, with every remaining finding suppressed in place with a written reason; every action
is pinned by a full commit SHA that is a known release. The linters are dev dependencies
(pinned in constraints.txt): a missing one fails, never skips."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
ACTION = ROOT / "action.yml"

# Each pin, read from the action repository's release tag (tag -> commit). Adding an action
# or bumping one means checking its tag and adding the pair here.
KNOWN_PINS = {
    "actions/checkout": {"3d3c42e5aac5ba805825da76410c181273ba90b1": "v7.0.1"},
    "actions/setup-python": {"5fda3b95a4ea91299a34e894583c3862153e4b97": "v7.0.0"},
    "actions/upload-artifact": {"bbbca2ddaa5d8feaa63e36b76fdaad77386f024f": "v7.0.0"},
    "actions/download-artifact": {"3e5f45b2cfb9172054b4087a40e8e0b5a5461e7c": "v8.0.1"},
    "actions/cache": {"27d5ce7f107fe9357f9df03efb73ab90386fccae": "v5.0.5"},
}
# A reusable workflow of this repository, or modelcfg's own action from its second checkout.
LOCAL = re.compile(r"^\s*(?:-\s+)?uses:\s*\./(\.github/workflows/modelcfg-[a-z]+\.yml|"
                   r"\.modelcfg-src)(\s|$)")
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+?)@(\S+)(?:\s+#\s*(\S+))?\s*$")


def tool(name: str) -> str:
    """The linter beside this interpreter (the dev extra installs it), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: install the dev extra (pip install -c "
                    "constraints.txt -e '.[dev]')")
    return found


def test_there_are_three_callers_of_three_reusable_workflows():
    assert [p.name for p in FILES] == [
        "gate.yml", "modelcfg-gate.yml", "modelcfg-promote.yml", "modelcfg-validate.yml",
        "promote.yml", "validate.yml"]


def test_zizmor_offline_finds_nothing_even_as_an_auditor():
    # The auditor persona also reports what the default one keeps quiet (self-hosted
    # runners, undocumented permissions, concurrency), so each of those is decided in place.
    proc = subprocess.run([tool("zizmor"), "--offline", "--persona", "auditor",
                           "--format", "json", "--no-progress", *map(str, FILES), str(ACTION)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    findings = json.loads(proc.stdout or "[]")
    summary = [(f["ident"], f["locations"][0]["symbolic"]["key"], f["desc"]) for f in findings]
    assert findings == [], summary
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_actionlint_finds_nothing():
    # Reads .github/actionlint.yaml (the `gpu` runner label); runs shellcheck on `run:`
    # scripts when shellcheck is installed. (actionlint reads workflows only: action.yml is
    # checked by zizmor and the actions schema.)
    proc = subprocess.run([tool("actionlint"), "-no-color", *map(str, FILES)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess:
    """check-jsonschema with its vendored copy of GitHub's schema (offline)."""
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           schema, *map(str, files)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_the_workflows_fit_githubs_workflow_schema():
    proc = check_jsonschema("vendor.github-workflows", *FILES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_composite_action_fits_githubs_action_schema():
    proc = check_jsonschema("vendor.github-actions", ACTION)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_gpu_runner_label_is_declared_for_actionlint():
    config = yaml.safe_load((ROOT / ".github" / "actionlint.yaml").read_text())
    assert config == {"self-hosted-runner": {"labels": ["gpu"]}}


def test_every_suppression_says_why():
    for path in [*FILES, ACTION]:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if "actionlint:ignore" in line:  # actionlint itself requires " -- reason"
                reason = line.split(" -- ", 1)[1].strip() if " -- " in line else ""
                assert len(reason) > 10, f"{path.name}:{i + 1}: a suppression without a reason"
            if "zizmor: ignore[" not in line:
                continue
            after = line.split("zizmor: ignore[", 1)[1].split("]", 1)[1].strip()
            above = lines[i - 1].strip() if i else ""
            # The reason is on the line itself, or in a comment line right above it.
            assert len(after) > 10 or (above.startswith("#") and len(above) > 20), \
                f"{path.name}:{i + 1}: a suppression without a reason"


def test_every_action_is_pinned_to_a_known_release_commit():
    seen = set()
    for path in FILES:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "uses:" not in line.split("#", 1)[0] or LOCAL.match(line):
                continue
            m = USES.match(line)
            assert m, f"{path.name}:{n}: cannot read {line.strip()!r}"
            action, ref, comment = m.groups()
            repo = "/".join(action.split("/")[:2])  # actions/cache/save -> actions/cache
            assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path.name}:{n}: {action}@{ref} " \
                "is not pinned by a full commit SHA"
            assert KNOWN_PINS.get(repo, {}).get(ref) == comment, \
                f"{path.name}:{n}: {action}@{ref} # {comment} is not a known release pin"
            seen.add(repo)
    assert seen == set(KNOWN_PINS)
