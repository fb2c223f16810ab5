"""What a rule reports, and where in the user's files it points.

A rule says *where* by an `Anchor` (a document and a field path, or a fixed location);
the line and column are only computed for anchors that end up in a finding, because
locating a field needs a second, precise parse of its document.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from meshrender.errors import Location
from meshrender.yamlio import Document, locate


class Severity(enum.IntEnum):
    """Ordered so that `>=` answers "at or above --fail-on"."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]


@dataclass(frozen=True)
class Anchor:
    """A field in an input document (or a fixed location) that a finding is about.

    `needle` narrows the location to the first occurrence of a word inside the field's
    value: the `holdApplicationUntilProxyStarts` line inside a `proxy.istio.io/config`
    block, rather than the annotation's key.
    """

    doc: Document | None = None
    path: tuple = ()
    location: Location | None = None
    needle: str | None = None

    def resolve(self) -> Location | None:
        if self.location is not None:
            return self.location
        if self.doc is None:
            return None
        where = locate(self.doc, self.path)
        if self.needle:
            where = _find_in_value(self.doc, where, self.needle) or where
        return where


def _find_in_value(doc: Document, key_at: Location, needle: str) -> Location | None:
    """The first `needle` in the value that starts at `key_at` (same line or the block below)."""
    lines = doc.text.split("\n")
    first = key_at.line - doc.line
    if not 0 <= first < len(lines):
        return None
    key_indent = key_at.column - 1
    for i in range(first, len(lines)):
        text = lines[i]
        if i > first and text.strip() and len(text) - len(text.lstrip(" ")) <= key_indent:
            break
        start = key_at.column - 1 if i == first else 0
        col = text.find(needle, start)
        if col != -1:
            return Location(doc.source, doc.line + i, col + 1)
    return None


@dataclass
class Subject:
    """The object a finding affects (a workload, or a settings document) and its opt-outs."""

    name: str | None
    ignores: dict[str, str] = field(default_factory=dict)  # rule id or "*" -> where it was said


@dataclass
class Hit:
    """One problem as a rule sees it: message and anchor; the engine adds the rule."""

    message: str
    anchor: Anchor
    subject: Subject | None = None


@dataclass(frozen=True)
class Finding:
    """A reported problem: everything every output format needs."""

    rule: str
    severity: Severity
    message: str
    location: Location
    workload: str | None = None
    suppressed_by: str | None = None

    def sort_key(self) -> tuple[Any, ...]:
        loc = self.location
        return (loc.path, loc.line, loc.column, self.rule, self.workload or "", self.message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "message": self.message,
            "file": self.location.path,
            "line": self.location.line,
            "column": self.location.column,
            "workload": self.workload,
        }
