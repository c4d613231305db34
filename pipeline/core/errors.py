"""Errors a user can act on.

Every reader reports bad input as ``FILE:LINE: field: what was expected``; the CLI prints
these lines to stderr and exits non-zero. Nothing else in the package formats user errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MAX_REPORTED = 20  # enough to see a pattern, short enough to read


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one place of an input file."""

    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.field}: {self.message}"


class PipelineError(Exception):
    """An error caused by input or configuration, not by a bug: shown without a traceback."""


class DataError(PipelineError):
    """Bad input: one or more problems, each naming file, line, field and expectation."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self, limit: int = MAX_REPORTED) -> str:
        lines = [str(p) for p in self.problems[:limit]]
        hidden = len(self.problems) - limit
        if hidden > 0:
            lines.append(f"... and {hidden} more problem(s)")
        return "\n".join(lines)

    @classmethod
    def single(cls, path: str | Path, line: int | None, field: str, message: str) -> DataError:
        return cls([Problem(str(path), line, field, message)])
