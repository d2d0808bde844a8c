"""`modelcfg gate plan`: the adapters a change trains or evaluates, as a workflow matrix.

Computed by the gate's own first steps (:func:`modelcfg.gate.run.prepare`: the diff, the
head's structure, the judge tree under the base policy) and its own selection
(:func:`modelcfg.gate.plan.planned`), so the matrix holds exactly the adapters a shard run
with ``--only`` will judge. Torch-free: nothing is trained or evaluated.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from modelcfg.core.errors import UserError
from modelcfg.gate.plan import plan_document
from modelcfg.gate.run import Prepared, commits, prepare


def prepared_change(repo: Path, base: str, head: str, out_dir: Path
                    ) -> tuple[dict, Prepared]:
    """The resolved commits (``{"base", "head", "merge_base"}``) and the prepared change;
    a base the gate cannot judge by is the gate's own error (MC820, exit 2)."""
    shas: dict = {}
    base_sha, head_sha, fork = commits(Path(repo), base, head, shas)
    p = prepare(Path(repo), base_sha, head_sha, fork, out_dir)
    if p.refusals:
        raise UserError("MC820", "; ".join(r.message for r in p.refusals), exit_code=2)
    return shas, p


def gate_plan(repo: Path, base: str, head: str) -> dict:
    """`modelcfg gate plan`'s document (docs/gate.md): base and head shas, the planned
    adapters with impact, config path and ``training.devices``, and ``matrix``."""
    with tempfile.TemporaryDirectory(prefix="modelcfg-plan-") as scratch:
        shas, p = prepared_change(repo, base, head, Path(scratch))
        return plan_document(shas["base"], shas["head"],
                             None if p.blocked else p.changes, p.ws)
