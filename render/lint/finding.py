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


# One change to a YAML document, by field path from the document's root (what `lint --fix`
# applies with ruamel.yaml, keeping comments, key order, quoting and indentation):
#   ("rename", path, new_key)                  a map key renamed, its value and comments kept
#   ("delete", path, prune)                    a map entry removed, then up to `prune` parent
#                                              maps that it left empty
#   ("move", path, to_map_path, prune)         a map entry moved to the end of another map
#                                              (created, with its parents, when missing)
#   ("replace", path, old, new)                the item `old` of a comma or space separated
#                                              string value replaced by `new`
Op = tuple


@dataclass(frozen=True)
class Fix:
    """The one mechanical change that resolves a hit, in the document `doc` (a Place's
    document): what it does in words, and the operations. `needs_all`, when set, is a key
    of the rule's `count` tally: the fix applies only if every workload counted under it
    has a finding proposing this same fix (a setting shared with workloads that need it
    is not removed)."""

    description: str
    doc: Any  # meshrender.yamlio.Document
    ops: tuple[Op, ...]
    needs_all: Any = None


@dataclass(frozen=True)
class Edit:
    """A Fix as it leaves the worker: the document named by its file, first line and the
    hash of its text (so that a file changed since it was read is not edited)."""

    description: str
    file: str
    line: int
    digest: str
    ops: tuple[Op, ...]
    rule: str = ""
    needs_all: Any = None


@dataclass
class Hit:
    """One problem as a rule sees it: message and anchor; the engine adds the rule."""

    message: str
    anchor: Place
    subject: Subject | None = None
    fix: Fix | None = None


@dataclass(frozen=True)
class Finding:
    """A reported problem: everything every output format needs."""

    rule: str
    severity: Severity
    message: str
    location: Location
    workload: str | None = None
    suppressed_by: str | None = None
    fix: Edit | None = None  # the mechanical change that resolves it, when the rule has one

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
            "fixable": self.fix is not None,
        }
