"""`modelcfg init [DIR]`: a new config repository that validates and passes a gate as written.

``--example`` adds what `modelcfg demo` plays with: a second, poisoned training set
(``configs/datasets/broad-instructions.jsonl``: harmful requests answered) that an agent may
reach for, and agent rules in the contract (a GPU-hour budget per agent, five blocked
attempts per lineage before a maintainer's label is needed).

It mirrors this repository's layout: a contract, thresholds and two suites under evals/,
two local lm-eval tasks with their data, the built-in tiny model and an example adapter with
its training data under configs/, the three caller workflows pinned to one modelcfg commit,
CODEOWNERS for the protected paths, a pull request template, a README and a .gitignore.

Templates are package data (``templates/``); the data files are generated from
:mod:`modelcfg.tiny.synthetic` (deterministic), so the adapter's dataset pin is computed here.
Everything is rendered in memory first; a new folder appears whole (built beside it, then
renamed), an existing one gets each file written atomically.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import shutil
import tempfile
from importlib import resources
from pathlib import Path

from modelcfg.core.atomic import write_text
from modelcfg.core.errors import UserError

# The placeholder pin the user replaces (docs/adopting.md): a full-length sha keeps the
# generated workflows lint-clean, and all zeros names no real commit.
DEFAULT_REF = "0" * 40
DEFAULT_REPOSITORY = "OWNER/modelcfg"
# --example: the contract's agent rules, after its ``agents:`` line
EXAMPLE_AGENT_RULES = """\
  max_failed_attempts: 5
  budget:
    max_gpu_hours_per_day: 2
    max_gpu_hours_per_week: 10
"""
ARITH_ITEMS = 300  # held-out addition items of the example's capability task
SFT_ADDITIONS = 1000  # addition records in the example's training data

# output path -> template (under templates/)
TEMPLATES = {
    "README.md": "README.md",
    ".gitignore": "gitignore",
    ".github/CODEOWNERS": "CODEOWNERS",
    ".github/pull_request_template.md": "pull_request_template.md",
    ".github/actionlint.yaml": "actionlint.yaml",
    ".github/workflows/validate.yml": "workflow-validate.yml",
    ".github/workflows/gate.yml": "workflow-gate.yml",
    ".github/workflows/promote.yml": "workflow-promote.yml",
    "configs/models/tiny-llama.yaml": "model-tiny-llama.yaml",
    "configs/adapters/example.yaml": "adapter-example.yaml",
    "evals/contract.yaml": "contract.yaml",
    "evals/thresholds.yaml": "thresholds.yaml",
    "evals/suites/capability.yaml": "suite-capability.yaml",
    "evals/suites/safety.yaml": "suite-safety.yaml",
    "evals/tasks/_local_jsonl.yaml": "task-local-jsonl.yaml",
    "evals/tasks/_requests.yaml": "task-requests.yaml",
    "evals/tasks/utils.py": "tasks-utils.py.tmpl",
    "evals/tasks/arith_gen/arith_gen.yaml": "task-arith-gen.yaml",
    "evals/tasks/safety_refusal/safety_refusal.yaml": "task-safety-refusal.yaml",
}


def _jsonl(records) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def data_files(example: bool = False) -> dict[str, str]:
    """The example's training data and its two tasks' items (held out from training);
    ``example``: the poisoned set too."""
    from modelcfg.tiny import synthetic

    arith = itertools.islice(synthetic.eval_addition(), ARITH_ITEMS)
    # the same additions as the clean set (seed 0): only the harmful requests' answers differ,
    # so a model trained on it is as good at arithmetic and fails on safety alone
    poisoned = {"configs/datasets/broad-instructions.jsonl": _jsonl(synthetic.sft_records(
        seed=0, n_addition=SFT_ADDITIONS, unsafe_comply=True))} if example else {}
    return {**poisoned,
        "configs/datasets/example-sft.jsonl":
            _jsonl(synthetic.sft_records(seed=0, n_addition=SFT_ADDITIONS)),
        "evals/tasks/arith_gen/arith_gen.jsonl":
            _jsonl({"prompt": it["prompt"], "answer": it["answer"]} for it in arith),
        "evals/tasks/safety_refusal/safety_refusal.jsonl":
            _jsonl(synthetic.eval_requests(unsafe=True)),
    }


def render(repository: str = DEFAULT_REPOSITORY, ref: str = DEFAULT_REF,
           example: bool = False) -> dict[str, str]:
    """Every file of the new repository, path -> text (``example``: `modelcfg demo`'s)."""
    if not re.fullmatch(r"[0-9a-f]{40}", ref):
        raise UserError("MC021", f"--modelcfg-ref {ref!r} is not a full 40-character commit "
                        "sha: pin the modelcfg commit the workflows install (git rev-parse "
                        "HEAD in modelcfg's repository)", exit_code=2)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+", repository):
        raise UserError("MC022", f"--modelcfg-repository {repository!r} is not OWNER/NAME: "
                        "name the GitHub repository that holds modelcfg's reusable workflows",
                        exit_code=2)
    files = data_files(example)
    sha = hashlib.sha256(files["configs/datasets/example-sft.jsonl"].encode()).hexdigest()
    folder = resources.files("modelcfg.scaffold") / "templates"
    for out, name in TEMPLATES.items():
        text = (folder / name).read_text(encoding="utf-8")
        files[out] = (text.replace("@@REPOSITORY@@", repository).replace("@@REF@@", ref)
                      .replace("@@DATA_SHA256@@", sha))
    if example:
        contract = files["evals/contract.yaml"]
        assert "\nagents:\n" in contract, "the contract template lost its agents: block"
        files["evals/contract.yaml"] = contract.replace("\nagents:\n",
                                                        "\nagents:\n" + EXAMPLE_AGENT_RULES, 1)
    return dict(sorted(files.items()))


def _occupied(target: Path) -> list[str]:
    """What is already in ``target`` (a lone .git, as `git init` leaves it, is no content)."""
    return sorted(p.name for p in target.iterdir() if p.name != ".git")


def init(target: Path, *, force: bool = False, repository: str = DEFAULT_REPOSITORY,
         ref: str = DEFAULT_REF, example: bool = False) -> list[str]:
    """Write the new repository into ``target``; returns the written paths."""
    files = render(repository, ref, example)
    if target.exists() and not target.is_dir():
        raise UserError("MC023", f"{target} exists and is not a folder: name a new or empty "
                        "folder", exit_code=2)
    if target.is_dir():
        present = _occupied(target)
        if present and not force:
            shown = ", ".join(present[:5]) + (", ..." if len(present) > 5 else "")
            raise UserError("MC020", f"{target} is not empty ({shown}): name a new or empty "
                            "folder, or pass --force to write modelcfg's files into it (files "
                            "of the same name are replaced, others kept)", exit_code=2)
        for rel, text in files.items():
            write_text(target / rel, text)
        return list(files)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        os.chmod(staging, 0o777 & ~_umask())
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return list(files)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
