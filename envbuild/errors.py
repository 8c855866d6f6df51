"""The one exception root of envbuild and the exit-code contract.

Every command exits with one of these codes: 0 success; 1 a check or verification
failed; 2 bad input (manifest, lock, usage, an impossible hardware combination);
3 an external failure (network, index, registry, engine). Only the CLI renders errors.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    OK = 0
    CHECK_FAILED = 1
    BAD_INPUT = 2
    EXTERNAL = 3


class EnvbuildError(Exception):
    """Base of every error envbuild reports: a message, an optional hint, an exit code."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InputError(EnvbuildError):
    """Bad input: a manifest, a lock file, an option or an impossible combination."""

    exit_code = ExitCode.BAD_INPUT


class CheckFailed(EnvbuildError):
    """A check ran and found a mismatch (stale lock, digest mismatch, ...)."""

    exit_code = ExitCode.CHECK_FAILED


class ExternalError(EnvbuildError):
    """Something outside envbuild failed: network, index, registry, engine, tool."""

    exit_code = ExitCode.EXTERNAL


@dataclass(frozen=True, kw_only=True, slots=True)
class Problem:
    """One problem found in an input file: where it is and how to fix it."""

    file: str
    line: int | None
    key: str
    message: str

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ProblemsError(InputError):
    """Every problem found in one input, sorted by position, raised together."""

    def __init__(self, problems: Iterable[Problem], *, hint: str | None = None) -> None:
        self.problems = sorted(
            problems, key=lambda p: (p.file, p.line if p.line is not None else 0, p.key, p.message)
        )
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} found"
        super().__init__("\n".join([head, *(p.render() for p in self.problems)]), hint=hint)
