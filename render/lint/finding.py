"""What a rule reports, and where in the user's files it points.

A rule says *where* by a `Place` (meshrender.settings.provenance: a document and a field
path, or a fixed location); the line and column are only computed for places that end
up in a finding, because locating a field needs a second, precise parse of its document.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from meshrender.errors import Location
from meshrender.settings.provenance import Place


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


@dataclass
class Subject:
    """The object a finding affects (a workload, or a settings document) and its opt-outs."""

    name: str | None
    ignores: dict[str, str] = field(default_factory=dict)  # rule id or "*" -> where it was said


@dataclass
class Hit:
    """One problem as a rule sees it: message and anchor; the engine adds the rule."""

    message: str
    anchor: Place
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
