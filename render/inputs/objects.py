"""Every input document must be a Kubernetes object; this says so before anything reads it.

A document that is a list or a scalar, an object without `kind`, or metadata of the
wrong type is refused here with its file, line and field, rather than passed through to
fail in the cluster (Argo CD: "Object 'Kind' is missing") or crash a later stage.
Unknown kinds pass through: meshrender only needs the envelope to be well formed. Not in
its own API group (meshrender.dev), though: there an unknown kind is a misspelt setting.
"""

from __future__ import annotations

import difflib
from typing import Any

from meshrender.errors import InputError, field_path, quote_hint, type_name
from meshrender.inputs.kinds import ShapeError, check_meta, is_workload_kind, item_identity
from meshrender.yamlio import Document, locate, scalar_text

OWN_GROUP = "meshrender.dev"


def _describe(data: dict) -> str:
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    name = meta.get("name") if isinstance(meta.get("name"), str) else None
    kind = data.get("kind") if isinstance(data.get("kind"), str) else "object"
    return f"{kind} {name}" if name else kind


def _error(doc: Document, path: tuple, message: str) -> InputError:
    return InputError(message, locate(doc, path), field=field_path(path) or None)


def shape_error(e: ShapeError, doc: Document, what: str) -> InputError:
    """A ShapeError as the user sees it: located, and quoting their own text back."""
    message = f"{what}: {e}"
    if e.quote:
        message += quote_hint(scalar_text(doc, e.path, key=e.quote == "key"))
    return _error(doc, e.path, message)


def _check(doc: Document, data: Any, path: tuple, inherited: tuple[Any, Any] | None = None) -> None:
    what = "must be" if path else "a YAML document must be"
    if not isinstance(data, dict):
        raise _error(doc, path, f"{what} a Kubernetes object (a map with apiVersion and kind), "
                                f"not {type_name(data)}")
    api, kind = inherited if inherited is not None else (data.get("apiVersion"), data.get("kind"))
    if kind is None:
        raise _error(doc, path, "this document has no kind; a Kubernetes object needs apiVersion and "
                                "kind (is this file a manifest?)")
    if not isinstance(kind, str) or not kind:
        raise _error(doc, (*path, "kind"), f"must be a non-empty string, not {type_name(kind)}")
    if api is not None and not isinstance(api, str):
        hint = "" if isinstance(api, (list, dict)) else quote_hint(scalar_text(doc, (*path, "apiVersion")))
        raise _error(doc, (*path, "apiVersion"), f"must be a string, not {type_name(api)}{hint}")
    if isinstance(api, str) and api.partition("/")[0] == OWN_GROUP:
        _check_own_kind(doc, kind, path)
    meta = data.get("metadata")
    if meta is not None:
        if not isinstance(meta, dict):
            raise _error(doc, (*path, "metadata"), f"{kind}: must be a map, not {type_name(meta)}")
        try:
            check_meta(meta, (*path, "metadata"))
        except ShapeError as e:
            raise shape_error(e, doc, _describe(data)) from None
    if is_workload_kind(api, kind):
        meta = meta or {}
        if not meta.get("name") and not meta.get("generateName"):
            where = (*path, "metadata") if "metadata" in data else path
            raise _error(doc, where, f"{kind} has no metadata.name; Kubernetes needs a name (or "
                                     "generateName) for every workload")
    if kind.endswith("List"):  # List, PodList, DeploymentList, ...: kubectl creates the items
        items = data.get("items")
        if items is None:
            return
        if not isinstance(items, list):
            raise _error(doc, (*path, "items"), f"{kind}: must be a list of objects, not {type_name(items)}")
        for i, item in enumerate(items):
            _check(doc, item, (*path, "items", i), item_identity(data, item))


def _check_own_kind(doc: Document, kind: str, path: tuple) -> None:
    """A kind of meshrender's own API group that meshrender does not know is a typo: passed
    through, it would be applied to the cluster (where no such resource exists) while the
    settings it meant to give are silently missing."""
    from meshrender.settings.collect import CONSUMED_KINDS  # (settings import the inputs)

    if kind in CONSUMED_KINDS:
        return
    known = sorted(CONSUMED_KINDS)
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(kind.lower(), list(lowered), n=1, cutoff=0.6)
    hint = f"did you mean {lowered[close[0]]}? " if close else ""
    raise _error(doc, (*path, "kind"), f"{kind} is not a kind of the {OWN_GROUP} API group; {hint}"
                                       f"its kinds are {' and '.join(known)}")


def check(doc: Document) -> None:
    """Raise InputError if `doc` is not a well-formed Kubernetes object (or List of them)."""
    _check(doc, doc.data, ())
