"""Where a value came from: one vocabulary for render summaries, lint findings and explain.

Every fact meshrender works out about a workload (an effective proxy setting, native or
traditional, injected or not) has an origin, and usually a chain of lower sources it
overrode. Render names the origin in its summary, lint points a finding at the origin's
place in the file to edit, explain prints the whole chain. They all use these types:

- `Place`: a field of an input document (or a fixed location): where to point a person.
  The line and column are computed only when asked for, since locating a field needs a
  second, precise parse of its document.
- `Origin`: what set a value (its kind and a name people recognise) and its place.
- `Step`: a value one origin gave, with its precedence (`rank`, higher wins).
- `Effective`: the value that won, its step, the ordered steps it overrode, and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshrender.errors import Location
from meshrender.kube.fieldpath import format_path
from meshrender.yamlio import Document, literal_block_start, locate, parse

# The kinds of origin, in the words explain prints (`Origin.kind`).
BUILT_IN_KINDS = frozenset({"flavor-default", "istio-default", "injector", "default"})


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Place:
    """A field of an input document, by its path, or a fixed location.

    `needle` narrows the place to the first occurrence of a word inside the field's value
    (a rule id inside an ignore annotation); `inner` is a field of YAML embedded in the
    string at `path` (`proxy.istio.io/config`, a ConfigMap's `data.mesh`), found inside
    it when the string is a literal block (`|`), whose lines are the file's lines.
    """

    doc: Document | None = None
    path: tuple = ()
    location: Location | None = None
    needle: str | None = None
    inner: tuple = ()

    def resolve(self) -> Location | None:
        if self.location is not None:
            return self.location
        if self.doc is None:
            return None
        if self.inner:
            return _locate_embedded(self.doc, self.path, self.inner)
        where = locate(self.doc, self.path)
        if self.needle:
            where = _find_in_value(self.doc, where, self.needle) or where
        return where

    def located(self) -> Place:
        """This place with its location computed and its document dropped: what can leave
        the process that read the file (the field path stays, for messages)."""
        if self.doc is None:
            return self
        return Place(None, self.path, self.resolve(), None, self.inner)


def _find_in_value(doc: Document, key_at: Location, needle: str) -> Location | None:
    """The first `needle` in the value that starts at `key_at` (same line or the block below)."""
    lines = doc.lines()
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


def embedded_location(doc: Document, key_path: tuple, inner: Location) -> Location | None:
    """A location inside the YAML text held by the string at `key_path`, as a location in
    the file: only when that string is a literal block (other styles fold lines)."""
    start = literal_block_start(doc, key_path)
    if start is None:
        return None
    return Location(doc.source, start[0] + inner.line - 1, start[1] + inner.column)


def _locate_embedded(doc: Document, key_path: tuple, inner: tuple) -> Location:
    outer = locate(doc, key_path)
    inner_doc = _embedded_doc(doc, key_path)
    if inner_doc is None:
        return outer
    return embedded_location(doc, key_path, locate(inner_doc, inner)) or outer


def _embedded_doc(doc: Document, key_path: tuple) -> Document | None:
    """The YAML document held by the string at `key_path`, parsed once per document (each
    finding inside it is located in the same parse, with its maps indexed)."""
    if doc.memo is None:
        doc.memo = {}
    key = ("embedded", key_path)
    if key not in doc.memo:
        value: Any = doc.data
        for p in key_path:
            value = value.get(p) if isinstance(value, dict) else None
        parsed = None
        if isinstance(value, str):
            try:
                docs = parse(value, doc.source)
            except Exception:
                docs = []
            parsed = docs[0] if docs else None
        doc.memo[key] = parsed
    return doc.memo[key]


@dataclass(frozen=True)
class Origin:
    """What set a value: its kind (`flavor-default`, `SidecarProxySettings`, `annotation`,
    `container`, `command-line`, ...), the name people recognise, and its place."""

    kind: str
    name: str
    place: Place | None = None
    scope: str | None = None  # global | namespace | workload, for scoped settings kinds

    @property
    def field(self) -> str | None:
        """The field as people write it (`spec.proxy.concurrency`), when a document set it."""
        if self.place is None or not (self.place.path or self.place.inner):
            return None
        return format_path((*self.place.path, *self.place.inner))

    def located(self) -> Origin:
        """This origin with its place located (see Place.located)."""
        if self.place is None or self.place.doc is None:
            return self
        return Origin(self.kind, self.name, self.place.located(), self.scope)

    @property
    def doc(self) -> Document | None:
        return self.place.doc if self.place is not None else None

    @property
    def user_set(self) -> bool:
        """Set in a file (an input or a --values / --mesh-config file), not by meshrender."""
        return self.kind not in BUILT_IN_KINDS and self.place is not None

    def location(self) -> Location | None:
        return self.place.resolve() if self.place is not None else None

    def describe(self) -> str:
        loc = self.location()
        return f"{self.name} ({loc})" if loc else self.name


@dataclass
class Step:
    """One origin that set a value (None: it removed the value)."""

    value: Any
    origin: Origin
    rank: int = -1  # precedence; higher wins


@dataclass
class Effective:
    """A value as the injected pod gets it, the step that decided it and what it overrode.

    `value` is what the pod carries; `winner.value` is what the winning origin wrote (the
    two differ where the injector adds to it: ASM's excluded ports, quantities spelled
    another way). Decisions (injected or not, native or traditional) are Effectives too:
    `reason` says why in a sentence and `rule` names the rule of their table that decided.
    """

    name: str
    value: Any
    winner: Step
    overridden: list[Step] = field(default_factory=list)  # strongest first
    notes: list[str] = field(default_factory=list)
    parts: list[tuple[str, Step]] = field(default_factory=list)  # composed values (images)
    reason: str = ""
    rule: Any = None
    sources: list[Origin] = field(default_factory=list)  # more origins that decided it (versions)

    configured: Any = MISSING  # the winning origin's own value, where the pod shows another

    @property
    def origin(self) -> Origin:
        return self.winner.origin

    def located(self) -> Effective:
        """This effective value with every place located (see Place.located)."""
        return self.with_origins(Origin.located)

    def with_origins(self, change: Callable[[Origin], Origin]) -> Effective:
        """A copy with every origin (of the winner, what it overrode, parts, sources) changed."""
        def step(s: Step) -> Step:
            return Step(s.value, change(s.origin), s.rank)

        return Effective(self.name, self.value, step(self.winner), [step(s) for s in self.overridden],
                         list(self.notes), [(n, step(s)) for n, s in self.parts], self.reason, self.rule,
                         [change(o) for o in self.sources], self.configured)

    @property
    def user_set(self) -> bool:
        return self.origin.user_set

