"""``modelcfg github pull-request N``: what the gate workflow needs to know about a pull
request, read through the API (``GET /repos/{owner}/{repo}/pulls/{n}``), as ``key=value``
lines for ``$GITHUB_OUTPUT``. No gh CLI."""

from __future__ import annotations

import json
import os

from modelcfg.core.errors import UserError
from modelcfg.github.client import Pacing, call, connect

KEYS = ("number", "author", "labels", "base_sha", "base_ref", "head_sha")


def read(repo: str, number: int, *, token: str, api_url: str,
         pacing: Pacing | None = None) -> dict[str, str]:
    """The lines' values; GitHubFailed (MC013/MC014) when the API does not answer."""
    pacing = pacing or Pacing.from_env()
    gh = connect(token, api_url, pacing)

    def get():
        pull = gh.get_repo(repo).get_pull(number)
        return {"number": str(pull.number), "author": pull.user.login,
                "labels": json.dumps([label.name for label in pull.labels],
                                     separators=(",", ":")),
                "base_sha": pull.base.sha, "base_ref": pull.base.ref,
                "head_sha": pull.head.sha}
    return call(f"read pull request #{number}", get, pacing)


def lines(values: dict[str, str]) -> str:
    for key in KEYS:  # one line each: a newline would let a value write another output
        if "\n" in values[key] or "\r" in values[key]:
            raise UserError("MC017", f"the pull request's {key} holds a line break; refused "
                            "(it would write a second output)", exit_code=2)
    return "".join(f"{key}={values[key]}\n" for key in KEYS)


def append_output(text: str) -> None:
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        raise UserError("MC017", "--github-output needs GITHUB_OUTPUT (set by GitHub "
                        "Actions): run it in a workflow step, or drop --github-output",
                        exit_code=2)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
