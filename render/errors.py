"""Errors that end a run with exit status 2 and a message a user can act on.

Every message names the file, line and column where the problem is, so that CI logs
and editors can jump straight to it; nothing else in meshrender prints tracebacks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Location:
    """A place in a user's file: 1-based line and column, like compilers print.

    A path with no position (`Location.whole(path)`) is a file or folder as a whole (one
    that does not exist, a folder, a FIFO): it prints as the path alone, since a made-up
    `:1:1` would send editors and CI annotations to a line that has nothing to do with it.
    The path is printed escaped (meshrender.safetext): file names come from the repository.
    """

    path: str
    line: int | None = 1
    column: int | None = 1

    @classmethod
    def whole(cls, path: str) -> Location:
        """A file or folder as a whole, with no line or column."""
        return cls(path, None, None)

    def __str__(self) -> str:
        from meshrender.safetext import path_text

        if self.line is None:
            return path_text(self.path)
        return f"{path_text(self.path)}:{self.line}:{self.column}"


class MeshrenderError(Exception):
    """Bad input or usage: exit status 2, nothing written."""

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None, field: str | None = None,
                 details: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.location = location
        self.field = field
        self.details = tuple(details)  # more lines, printed under the message

    def __str__(self) -> str:
        # One line whatever the message quotes (names, keys and values come from the
        # input): a line break or escape sequence in them is shown escaped, never obeyed.
        from meshrender.safetext import line_text

        prefix = f"{self.location}: " if self.location else ""
        where = f"{line_text(self.field)}: " if self.field else ""
        head = f"{prefix}error: {where}{line_text(self.message)}"
        return "\n".join([head, *map(line_text, self.details)]) if self.details else head


class InputError(MeshrenderError):
    """A document or file that cannot be used as it is."""


class UsageError(MeshrenderError):
    """Flags or arguments that do not fit together."""


def field_path(path: Sequence[Any]) -> str:
    """`("spec", "containers", 0, "name")` as users write it: `spec.containers[0].name`."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def type_name(value: Any) -> str:
    """How a message names the YAML type of a value: a map, a list, the string "x", a number.

    Numbers and booleans are not shown: `1.10` reads as 1.1 and `yes` as true, so a
    message quoting the parsed value would misquote the user (see quote_hint)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string \"{shown}\""
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, int):
        return "a number"
    return type(value).__name__


def show_value(value: Any) -> str:
    """A value as it reads in YAML, shortened: true, null, "text", [1, 2], {"a": 1}."""
    import json
    import math

    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:57] + "...", ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: ".inf", -math.inf: "-.inf"}.get(value, ".nan")
    if isinstance(value, (int, float)):
        return repr(value)
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def quote_hint(raw: str | None) -> str:
    """`; quote it: "1.10"`, with the text as written (yamlio.scalar_text), if known."""
    return f'; quote it: "{raw}"' if raw else "; quote it"


def unexpected(what: str, location: Location | None, error: Exception) -> MeshrenderError:
    """An input the checks let through but a later stage could not handle: still exit 2 at
    the document, not a traceback; with MESHRENDER_DEBUG set, the original error instead."""
    import os

    if os.environ.get("MESHRENDER_DEBUG"):
        raise error
    return InputError(f"{what} ({type(error).__name__}: {error}); this input is not handled, which is a "
                      "meshrender bug: please report it with this document", location)
