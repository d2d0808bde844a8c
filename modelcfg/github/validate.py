"""``modelcfg github validate``: ``validate``'s problems as the check run ``modelcfg/validate``
(one annotation per problem on its file, line and column; the gate's batching, cap and
find-before-create), and as the job summary. torch-free, like ``validate`` itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelcfg.github.annotations import from_problems
from modelcfg.github.checks import Posted, post_check
from modelcfg.github.client import Failure, GitHubFailed, Pacing, connect
from modelcfg.github.report import (
    ANNOTATION_CAP,
    Target,
    append_step_summary,
    head_sha,
    truncate,
)

CHECK_NAME = "modelcfg/validate"


@dataclass
class Checked(Posted):
    errors: int = 0
    warnings: int = 0
    failures: list[Failure] = field(default_factory=list)


def summary(problems) -> tuple[str, str]:
    """The check's title and its markdown summary (also the job summary)."""
    errors = sum(1 for p in problems if p.is_error)
    warnings = len(problems) - errors
    if errors:
        title = f"modelcfg validate: {errors} error(s)" + (f", {warnings} warning(s)"
                                                          if warnings else "")
    else:
        title = "modelcfg validate: valid" + (f" ({warnings} warning(s))" if warnings else "")
    lines = [f"# {title}", ""]
    lines += [f"- `{p.path}:{p.line}:{p.col}` **{p.code}** "
              f"{'warning: ' if not p.is_error else ''}{p.message}" for p in problems]
    return title, "\n".join(lines).rstrip("\n") + "\n"


def post(root: Path, paths: list[Path], where: Target, *, token: str, api_url: str,
         pacing: Pacing | None = None, cap: int | None = None) -> Checked:
    from modelcfg.config.validate import validate

    pacing = pacing or Pacing.from_env()
    problems = validate(root, paths, warnings=True)
    checked = Checked(errors=sum(1 for p in problems if p.is_error))
    checked.warnings = len(problems) - checked.errors
    title, markdown = summary(problems)
    append_step_summary(markdown)
    repo = connect(token, api_url, pacing).get_repo(where.repo)
    try:
        post_check(repo, head_sha(repo, where, pacing), CHECK_NAME, "failure" if checked.errors else "success",
                   title, truncate(markdown), from_problems(problems),
                   ANNOTATION_CAP if cap is None else cap, pacing, checked)
    except GitHubFailed as exc:
        checked.failures.append(exc.failure)
    return checked
