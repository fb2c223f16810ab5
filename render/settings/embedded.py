"""YAML embedded in a ConfigMap's data (Istio's `data.mesh`, `data.values`), with errors
that point at the line inside the block, not just at the key.

Istio keeps its mesh config and injector values as YAML text inside ConfigMaps. When that
text is written as a literal block (`mesh: |`), each of its lines is a line of the file,
so a syntax error or a wrongly typed field is reported where it is; for other scalar
styles the message points at the data key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError, Location, type_name
from meshrender.settings import schema
from meshrender.settings.provenance import embedded_location
from meshrender.yamlio import Document, locate


def _translate(doc: Document, key: str, inner: Location | None) -> Location:
    """A location inside the payload at data.`key` as a location in the file (the key
    itself, unless the payload is a literal block whose lines are the file's)."""
    where = embedded_location(doc, ("data", key), inner) if inner is not None else None
    return where or locate(doc, ("data", key))


def parse(doc: Document, key: str, what: str, want: type = dict) -> Any:
    """The payload at data.`key`, parsed (YAML or JSON); errors point inside the block."""
    text = doc.data["data"][key]
    try:
        docs = yamlio.parse(text, f"{doc.source} (data.{key})")
    except InputError as e:
        problem = e.message.removeprefix("invalid YAML: ")
        raise InputError(f"{what}: data.{key} is not valid YAML or JSON: {problem}",
                         _translate(doc, key, e.location), field=f"data.{key}") from None
    if len(docs) > 1:
        raise InputError(f"{what}: data.{key} holds {len(docs)} YAML documents; it must hold one",
                         _translate(doc, key, docs[1].location), field=f"data.{key}")
    parsed = docs[0].data if docs else None
    if parsed is not None and not isinstance(parsed, want):
        raise InputError(f"{what}: data.{key} must be a map, not {type_name(parsed)}",
                         locate(doc, ("data", key)), field=f"data.{key}")
    return parsed


def where(doc: Document, key: str) -> Callable[[list], Location]:
    """Location of a field path inside the payload at data.`key` (parsed again: only on errors)."""
    def at(path: list) -> Location:
        docs = yamlio.parse(doc.data["data"][key], f"{doc.source} (data.{key})")
        return _translate(doc, key, locate(docs[0], path) if docs else None)
    return at


def check(doc: Document, key: str, data: Any, schema_name: str, what: str) -> None:
    """Validate the payload at data.`key` against `schema_name`, errors at the field's line."""
    if schema.known_valid(doc):
        return
    schema.validate_embedded(schema.without_nulls(data or {}), schema_name, what, ("data", key), where(doc, key))
