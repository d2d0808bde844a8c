"""Problems (collected, reported all at once) and UserError (one fatal, user-facing error).

Library code never prints or exits. Validation collects :class:`Problem` values; anything a
user can fix that stops a command raises :class:`UserError`, which the CLI renders as
``path:line:col: CODE message`` and maps to an exit code. Codes are stable and documented in
docs/error-codes.md; never renumber one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding at ``path:line:col``. A ``warning`` is advice (e.g. a task too small for
    its margin): it is reported, but it does not make a repository invalid."""

    path: str
    line: int
    col: int
    code: str
    message: str
    severity: str = ERROR

    @property
    def is_error(self) -> bool:
        return self.severity != WARNING

    def render(self) -> str:
        label = "warning: " if self.severity == WARNING else ""
        return f"{self.path}:{self.line}:{self.col}: {self.code} {label}{self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


class UserError(Exception):
    """A mistake the user can fix. ``exit_code`` 1 for bad input, 2 for usage errors."""

    def __init__(self, code: str, message: str, *, path: str | None = None, line: int = 0,
                 col: int = 0, exit_code: int = 1):
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path
        self.line = line
        self.col = col
        self.exit_code = exit_code

    def render(self) -> str:
        where = f"{self.path}:{self.line}:{self.col}: " if self.path else ""
        return f"{where}{self.code} {self.message}"
