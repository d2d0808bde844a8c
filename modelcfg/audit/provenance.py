"""Evidence belongs to the branch it lands on: its commit is in the branch's history (MC719)
and it was judged for the config the branch holds now (MC728).

So evidence of an unmerged pull request, of another branch or repository, or a stale gate
output (a later merge changed the config) is never promoted, and a rollback restores only
what the branch itself once accepted.
"""

from __future__ import annotations

from pathlib import Path

from modelcfg.config.model import config_key
from modelcfg.config.resolve import resolve_adapter
from modelcfg.config.workspace import load_workspace
from modelcfg.core import git
from modelcfg.core.errors import UserError


def _is_ancestor(repo: Path, commit: str, head: str) -> bool:
    return git.attempt(repo, "merge-base", "--is-ancestor", commit, head)[0]


def require_in_history(repo: Path, commit: str, head: str, remote: str, what: str,
                       where: str) -> None:
    """MC719 unless ``commit`` is ``head`` or one of its ancestors. A shallow clone (CI) is
    deepened from ``remote`` first: there a missing ancestry may only be cut off."""
    if _is_ancestor(repo, commit, head):
        return
    if git.attempt(repo, "rev-parse", "--is-shallow-repository")[1] == "true":
        git.attempt(repo, "fetch", "-q", "--unshallow", remote)
        if _is_ancestor(repo, commit, head):
            return
    raise UserError("MC719", f"{what} {commit[:12]} is not in the history of {where} "
                    f"({head[:12]}): evidence of an unmerged pull request, another branch or "
                    "another repository is never accepted; merge the change, run the gate on "
                    "the merged head and promote that output", exit_code=1)


def require_same_config(tree, adapter: str, evidence: dict, where: str) -> None:
    """MC728 unless ``evidence['config_key']`` is the config key of ``adapter`` as ``tree``
    (the branch head) resolves it now."""
    key = evidence.get("config_key")
    if not isinstance(key, str):
        raise UserError("MC728", f"the evidence of {adapter} has no config_key, so what config "
                        "it was judged for is unknown; promote the gate's evidence (it has one)")
    try:
        now = config_key(resolve_adapter(load_workspace(tree), adapter))
    except UserError as err:
        raise UserError("MC728", f"{adapter} does not resolve on {where} ({err.render()}), so "
                        "the evidence cannot be matched to its config; fix the branch first"
                        ) from None
    if key != now:
        raise UserError("MC728", f"the evidence of {adapter} was judged for config key "
                        f"{key[:12]}, but {where} holds config key {now[:12]}: the config "
                        "changed since the gate ran (a later merge) or the evidence is of "
                        "another change; run the gate on the branch head and promote that")
