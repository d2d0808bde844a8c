"""One completed check run with its annotations, for the gate and for validate.

The run is found before it is made: a ``name`` run on the commit with this workflow run's
``external_id`` (``GITHUB_RUN_ID/GITHUB_RUN_ATTEMPT``; ``manual`` outside Actions) is updated
in place, so a create whose answer was lost (a 5xx after GitHub stored it) is never made
twice. Annotations go 50 per update request (the API's limit), most severe first, at most
``cap``; past it the check's text says "and N more".
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from modelcfg.github.annotations import Annotation, batches
from modelcfg.github.client import Pacing, call


@dataclass
class Posted:
    check_run: int | None = None
    annotated: int = 0
    left_out: int = 0


def external_id() -> str:
    run = os.environ.get("GITHUB_RUN_ID")
    return f"{run}/{os.environ.get('GITHUB_RUN_ATTEMPT') or 1}" if run else "manual"


def post_check(repo, sha: str, name: str, conclusion: str, title: str, summary: str,
               found: list[Annotation], cap: int, pacing: Pacing, posted: Posted) -> None:
    """Create or update the check run ``name`` on ``sha``; then annotate it."""
    groups, left_out = batches(found, cap)
    output = {"title": title[:255], "summary": summary}
    if left_out:
        output["text"] = (f"{cap} annotations shown, and {left_out} more: every reason is in "
                          "the report above.")
    ext = external_id()
    fields = dict(status="completed", conclusion=conclusion, output=output)

    def upsert():  # retried as a whole: a create whose answer was lost is found first
        for run in repo.get_commit(sha).get_check_runs(check_name=name):
            if run.external_id == ext:
                run.edit(**fields)
                return run
        return repo.create_check_run(name=name, head_sha=sha, external_id=ext, **fields)
    run = call(f"create the check run {name}", upsert, pacing)
    posted.check_run = run.id
    for group in groups:  # the API takes 50 annotations per request: one update each
        call(f"annotate the check run {name}", lambda g=group: run.edit(
            output=dict(output, annotations=g)), pacing)
        posted.annotated += len(group)
    posted.left_out = left_out
