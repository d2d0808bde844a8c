"""One GitHub connection (PyGithub, imported here only) and the retry rule for every call.

Retried, with bounded exponential backoff: a 403/429 secondary rate limit (``Retry-After``
honoured up to the cap), any 5xx, and network errors. Anything else (401, a 403 without a
rate limit, 404, 422) fails at once: retrying cannot fix a token's permissions.
``MODELCFG_GITHUB_BACKOFF`` (seconds, default 1) is the first delay, doubled per retry up to
30 times it; it also paces writes, as GitHub asks of integrations.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

RETRIED_STATUS = {429, 500, 502, 503, 504}
ATTEMPTS = 5


@dataclass(frozen=True)
class Failure:
    """One part of the report GitHub did not take: MC013 (still failing after retries) or
    MC014 (refused: permissions, an unknown repository or pull request, a rejected body)."""

    code: str
    what: str
    detail: str

    def render(self) -> str:
        return f"{self.code} {self.what}: {self.detail}"


class GitHubFailed(Exception):
    def __init__(self, failure: Failure):
        super().__init__(failure.render())
        self.failure = failure


@dataclass(frozen=True)
class Pacing:
    backoff: float = 1.0
    attempts: int = ATTEMPTS

    @classmethod
    def from_env(cls) -> "Pacing":
        raw = os.environ.get("MODELCFG_GITHUB_BACKOFF")
        try:
            return cls(backoff=max(0.0, float(raw))) if raw else cls()
        except ValueError:
            return cls()

    def delay(self, attempt: int, retry_after: float | None) -> float:
        cap = 30 * self.backoff
        wanted = retry_after * self.backoff if retry_after is not None else \
            self.backoff * 2 ** attempt
        return min(wanted, cap)


def connect(token: str, api_url: str, pacing: Pacing):
    from github import Auth, Github

    return Github(base_url=api_url.rstrip("/"), auth=Auth.Token(token), retry=None,
                  timeout=30, lazy=True, per_page=100,
                  seconds_between_requests=None,
                  seconds_between_writes=pacing.backoff or None)


def _retry_after(exc) -> float | None:
    headers = {k.lower(): v for k, v in (getattr(exc, "headers", None) or {}).items()}
    try:
        return float(headers["retry-after"])
    except (KeyError, TypeError, ValueError):
        return None


def _retried(exc) -> tuple[bool, float | None]:
    from github import GithubException
    from requests import RequestException

    if isinstance(exc, GithubException):
        status = exc.status
        limited = status == 403 and ("rate limit" in str(exc.data).lower()
                                     or _retry_after(exc) is not None)
        return status in RETRIED_STATUS or limited, _retry_after(exc)
    return isinstance(exc, (RequestException, OSError)), None


def call(what: str, fn, pacing: Pacing):
    """``fn()`` with the retry rule; GitHubFailed naming ``what`` when it gives up."""
    from github import GithubException

    for attempt in range(pacing.attempts):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below, the rest re-raised
            retried, after = _retried(exc)
            if not retried and not isinstance(exc, GithubException):
                raise
            detail = _describe(exc)
            if not retried:
                raise GitHubFailed(Failure("MC014", what, detail)) from None
            if attempt + 1 == pacing.attempts:
                raise GitHubFailed(Failure("MC013", what, f"{detail} (after {pacing.attempts} "
                                           "attempts)")) from None
            time.sleep(pacing.delay(attempt, after))
    raise AssertionError("unreachable")


def _describe(exc) -> str:
    status = getattr(exc, "status", None)
    data = getattr(exc, "data", None)
    message = data.get("message") if isinstance(data, dict) else None
    if status is not None:
        return f"HTTP {status}" + (f" {message}" if message else "")
    return f"{type(exc).__name__}: {exc}"[:300]
