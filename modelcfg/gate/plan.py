"""Which adapters of a change the gate judges, and which of them need a GPU: the plan.

One selection serves the gate, `modelcfg gate plan`, `--only` and `modelcfg gate merge`
(docs/gate.md, "Sharding the gate over GPU runners"):

* **judged**: every adapter the change adds, modifies or renames (a removed adapter is a
  change-level matter: lineage rules, MC818);
* **planned**: the judged adapters whose impact is ``retrain`` or ``re-evaluate`` — the
  ones a shard trains or evaluates. It depends on the diff alone (never on the pull
  request's author or labels), so every runner computes the same plan. A planned adapter
  may still block in its shard before any training (MC801, MC802, MC817, MC818, MC828).

Judged adapters of impact ``none`` need no GPU: every shard judges them, like the
change-level checks, and the merge requires the shards to agree on them.
"""

from __future__ import annotations

import hashlib

from modelcfg import __version__
from modelcfg.config.diff import ConfigChange, TreeDiff
from modelcfg.config.workspace import Workspace
from modelcfg.gate.verdict import Reason

NONE = "none"
# The base's policy documents, by place: shards must have judged by the same ones.
POLICY_FILES = ("evals/contract.yaml", "evals/thresholds.yaml")


def judged(changes: TreeDiff) -> list[ConfigChange]:
    """The adapters the gate judges, in diff order."""
    return [c for c in changes if c.kind == "Adapter" and c.status != "removed"]


def planned(changes: TreeDiff) -> list[ConfigChange]:
    """The judged adapters that train or evaluate (impact other than ``none``)."""
    return [c for c in judged(changes) if (c.impact or NONE) != NONE]


def devices(ws: Workspace, name: str) -> int:
    """``training.devices`` of the head config (read as data, in the judge tree); 1 when
    the config does not pass its schema (its shard blocks it with MC801 before training)."""
    doc = ws.adapters.get(name)
    training = doc.data.get("training") if doc is not None and doc.valid else None
    value = training.get("devices", 1) if isinstance(training, dict) else 1
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def plan_document(base: str, head: str, changes: TreeDiff | None, ws: Workspace | None
                  ) -> dict:
    """`modelcfg gate plan`'s JSON: the planned adapters and the workflow matrix. No changes
    (a head blocked before judging) plans nothing."""
    entries = [{"adapter": c.name, "impact": c.impact, "path": c.path,
                "devices": devices(ws, c.name)}
               for c in (planned(changes) if changes is not None else [])]
    return {"base": base, "head": head, "adapters": entries,
            "matrix": {"include": [{"adapter": e["adapter"]} for e in entries]}}


def policy_identity(judge) -> dict[str, str | None]:
    """sha256 of each policy document the judge tree holds (the base commit's)."""
    out = {}
    for rel in POLICY_FILES:
        path = judge / rel
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return out


def shard_record(only: list[str]) -> dict:
    """gate.json's ``shard``: the adapters this shard judges (each once, as given) and the
    modelcfg that judged them; the policy identity is added once the judge tree exists."""
    return {"only": list(dict.fromkeys(only)), "modelcfg": __version__}


def only_reasons(only: list[str], changes: TreeDiff) -> list[Reason]:
    """MC830 for each ``--only`` name the plan does not contain."""
    names = [c.name for c in planned(changes)]
    has = ", ".join(names) if names else "none: the gate trains and evaluates nothing here"
    return [Reason("MC830", f"--only {name}: the plan of this change has no adapter {name} "
                   f"(planned: {has}); pass only names that `modelcfg gate plan` lists, or "
                   "run the gate without --only", config=name)
            for name in only if name not in names]
