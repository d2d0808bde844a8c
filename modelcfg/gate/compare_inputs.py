"""What `modelcfg compare` reads: two JSON files and the thresholds to judge them by.

Thresholds, in order: ``--thresholds FILE``; else ``evals/thresholds.yaml`` of the modelcfg
repository the command runs in; else the schema's defaults with every task both files hold
judged as capability (:func:`modelcfg.gate.compare.default_thresholds`). Every input that
cannot be used is MC007 (exit 2), naming the file and what to do.
"""

from __future__ import annotations

from pathlib import Path

from modelcfg.config.model import Thresholds
from modelcfg.config.trees import FsTree
from modelcfg.config.workspace import load_document, repo_root
from modelcfg.core.errors import UserError
from modelcfg.core.numbers import strict_json
from modelcfg.gate.compare import as_results, default_thresholds

REPO_THRESHOLDS = "evals/thresholds.yaml"


def read_json(path: Path, which: str) -> dict:
    """A results or baseline file in results form (MC007 when it is not one)."""
    try:
        doc = strict_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError("MC007", f"cannot read the {which} file {path}: {err}; pass a "
                        "results file written by `modelcfg eval` or a baseline file",
                        exit_code=2) from err
    return as_results(doc, f"the {which} file {path}")


def thresholds_for(given: Path | None, cwd: Path, baseline: dict, candidate: dict
                   ) -> tuple[Thresholds, str]:
    """The thresholds and where they came from (a path, or ``schema defaults``)."""
    if given is not None:
        return _load(Path(given).resolve().parent, Path(given).name, str(given)), str(given)
    root = repo_root(cwd)
    if (root / REPO_THRESHOLDS).is_file():
        return _load(root, REPO_THRESHOLDS, REPO_THRESHOLDS), REPO_THRESHOLDS
    return default_thresholds(baseline, candidate), "schema defaults"


def _load(folder: Path, rel: str, shown: str) -> Thresholds:
    doc, problems = load_document(FsTree(folder), rel)
    if doc is None or problems or doc.kind != "Thresholds":
        what = problems[0].render() if problems else f"its kind is {doc.kind}"
        raise UserError("MC007", f"{shown} is not a valid Thresholds document ({what}); run "
                        "`modelcfg validate` on it or pass another --thresholds",
                        path=shown, exit_code=2)
    return Thresholds.from_document(doc.data)
