"""Errors that end a run with exit status 2 and a message a user can act on.

Every message names the file, line and column where the problem is, so that CI logs
and editors can jump straight to it; nothing else in meshrender prints tracebacks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a user's file: 1-based line and column, like compilers print."""

    path: str
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


class MeshrenderError(Exception):
    """Bad input or usage: exit status 2, nothing written."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.location = location
        self.field = field

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location else ""
        where = f"{self.field}: " if self.field else ""
        return f"{prefix}error: {where}{self.message}"


class InputError(MeshrenderError):
    """A document or file that cannot be used as it is."""


class UsageError(MeshrenderError):
    """Flags or arguments that do not fit together."""
