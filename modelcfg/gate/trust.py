"""The trust boundary: what a head may contribute to judging, and what the base must hold.

The head contributes ``configs/`` only, as regular files with each document in its kind's
place and each name once. Anything else in the head blocks the change before the judge tree
is built, whoever wrote it (docs/gate.md, "Trust boundary"):

* MC821: an entry under ``configs/`` that is not a regular file at a plain path (a symlink,
  even one that stays inside; a submodule; a ``..`` or ``.git`` part);
* MC822: a document outside its kind's place anywhere in the head (a Contract or an
  EvalSuite under ``configs/``, an Adapter under ``evals/``): it would never resolve, and
  it must not look as if it did;
* MC823: two documents of one kind and name under ``configs/``: the gate picks neither.

Everything under ``evals/`` of the judge tree is the base commit's. A problem there (an
empty task, a NaN or a zero margin in the thresholds, a second suite of one name) means the
base cannot judge anything: the gate refuses with an error (MC820), never a crash.
"""

from __future__ import annotations

from modelcfg.config.trees import GitTree
from modelcfg.config.workspace import load_workspace
from modelcfg.core.errors import Problem
from modelcfg.gate.verdict import Reason

HEAD_FOLDER = "configs"


def head_reasons(head: GitTree) -> list[Reason]:
    """What in the head blocks the change before anything is judged (MC821-MC823). Entries
    that are not regular files are reported alone: nothing in the head is read through them."""
    irregular = [Reason("MC821", f"{path} is {what}; only regular files are read from "
                        f"{HEAD_FOLDER}/: commit the file itself", field=path)
                 for path, what in head.irregular(HEAD_FOLDER)]
    if irregular:
        return irregular
    ws = load_workspace(head)
    reasons = [Reason("MC822", f"{p.render()}; the gate reads each kind only from its place "
                      "(the base commit's, for evals/): move or remove it", field=p.path)
               for p in ws.problems if p.code == "MC318"]
    reasons += [Reason("MC823", f"{kind} name {name!r} is used by {' and '.join(paths)}; "
                       "the gate will not pick one: rename or remove all but one",
                       field=paths[0])
                for (kind, name), paths in ws.ambiguous().items()
                if any(p.startswith(HEAD_FOLDER + "/") for p in paths)]
    return reasons


def base_reasons(problems: list[Problem], has_policy: bool) -> list[Reason]:
    """MC820 for each problem in the judge tree's ``evals/`` (the base commit's) and for a
    missing Contract or Thresholds: the base cannot judge by what does not validate."""
    reasons = [Reason("MC820", f"the base commit's {p.render()}; the gate cannot judge by "
                      "it: fix it on the base branch", field=p.path)
               for p in problems if p.path.startswith("evals/")]
    if not has_policy and not reasons:
        reasons.append(Reason("MC820", "the base commit has no valid Contract and Thresholds "
                              "under evals/; the gate has nothing to judge by"))
    return reasons
