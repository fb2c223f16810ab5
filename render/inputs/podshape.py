"""Type checks for the parts of a pod that injection reads (render/data/pod-shape.yaml).

Kubernetes decodes manifests into typed structs, so `env: {A: b}` or a probe port
written as a list never reach a cluster; kube-inject refuses them too. meshrender works
on plain data, and the injector would otherwise print garbage or stop halfway with a
Python error. Only shapes are enforced here (scalar types are `--validate`'s job, see
pod-shape.yaml). This walk is a few microseconds per pod: a table lookup per field
present, nothing for fields absent.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from meshrender.errors import type_name

Path = tuple


class PodShapeError(ValueError):
    """A field of the pod with the wrong type; `path` is where, relative to the document;
    `quote` as in kinds.ShapeError."""

    def __init__(self, message: str, path: Path, quote: str | None = None):
        super().__init__(message)
        self.path = path
        self.quote = quote


@cache
def _types() -> dict[str, dict[str, str]]:
    from meshrender import bundled

    return bundled.load("pod-shape.yaml")


_PRIMITIVE_NAMES = {
    "str": "a string",
    "int": "an integer",
    "bool": "true or false",
    "intOrString": "an integer or a name",
    "quantity": "a quantity such as 100m, 0.5, 2 or 128Mi",
    "portNumber": "a port number",
    "text": "a string",
}


def _expected(type_expr: str) -> str:
    if type_expr.startswith("["):
        return "a list"
    if type_expr.startswith("{") or type_expr in _types():
        return "a map"
    return _PRIMITIVE_NAMES.get(type_expr, type_expr)


def _hint(type_expr: str, value: Any) -> str:
    if type_expr.startswith("[") and isinstance(value, dict):
        return "; write each entry as a list item starting with -"
    return ""


def _fail(type_expr: str, value: Any, path: Path) -> PodShapeError:
    quote = "value" if type_expr == "text" and isinstance(value, (bool, int, float)) else None
    hint = "" if quote else _hint(type_expr, value)
    return PodShapeError(f"must be {_expected(type_expr)}, not {type_name(value)}{hint}", path, quote)


def _primitive_ok(type_expr: str, value: Any) -> bool:
    """Scalars are checked for shape only (see pod-shape.yaml): not a map, not a list."""
    if type_expr == "any":
        return True
    if type_expr not in _PRIMITIVE_NAMES:
        raise KeyError(type_expr)
    if type_expr == "text":
        return isinstance(value, str)
    if type_expr == "portNumber":
        if isinstance(value, str):
            return value.strip().isdigit()
        return isinstance(value, int) and not isinstance(value, bool)
    return not isinstance(value, (dict, list))


def check(value: Any, type_expr: str, path: Path) -> None:
    """Raise PodShapeError at the first field of `value` that does not have `type_expr`."""
    try:
        _checker(type_expr)(value)
    except PodShapeError as e:
        e.path = (*path, *e.path)
        raise


# Each type expression becomes a function once (this runs for every field of every pod).
# The functions raise with the path below the value they check; each level on the way
# up puts its key in front, so that no path is built unless a check fails.
_CHECKERS: dict[str, Callable[[Any], None]] = {}


def _checker(type_expr: str) -> Callable[[Any], None]:
    fn = _CHECKERS.get(type_expr)
    if fn is None:
        fn = _CHECKERS[type_expr] = _compile(type_expr)
    return fn


def _within(e: PodShapeError, key: Any) -> PodShapeError:
    e.path = (key, *e.path)
    return e


def _compile(type_expr: str) -> Callable[[Any], None]:
    if type_expr.startswith("["):
        inner = type_expr[1:-1]
        item_ok = _checker(inner)
        struct_items = inner in _types()

        def check_list(value: Any) -> None:
            if value is None:
                return
            if not isinstance(value, list):
                raise _fail(type_expr, value, ())
            for i, item in enumerate(value):
                if item is None:
                    if struct_items:
                        raise PodShapeError("is an empty list item; remove it", (i,))
                    continue
                _at(item_ok, item, i)

        return check_list
    if type_expr.startswith("{"):
        value_ok = _checker(type_expr[1:-1])

        def check_map(value: Any) -> None:
            if value is None:
                return
            if not isinstance(value, dict):
                raise _fail(type_expr, value, ())
            for k, v in value.items():
                if not isinstance(k, str):
                    raise PodShapeError(f"the key {k!r} is not a string", (k,), "key")
                if v is not None:
                    _at(value_ok, v, k)

        return check_map
    struct = _types().get(type_expr)
    if struct is None:
        if type_expr == "any":
            return _any
        if type_expr not in _PRIMITIVE_NAMES:
            raise KeyError(type_expr)

        def check_scalar(value: Any) -> None:
            if value is not None and not _primitive_ok(type_expr, value):
                raise _fail(type_expr, value, ())

        return check_scalar
    fields: list[tuple[str, Callable[[Any], None]]] = []
    by_key: dict[str, Callable[[Any], None]] = {}

    def check_struct(value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise _fail(type_expr, value, ())
        if not fields:  # compiled on first use: the structs refer to each other
            fields.extend((key, _checker(t)) for key, t in struct.items())
            by_key.update(fields)
        if len(value) < len(fields):
            # Most maps set a few of their type's fields (a container 5 of 30): check the
            # ones present. On a failure, the loop below reports the first bad field in
            # the table's order, as it always has (the checks only read).
            try:
                for key, v in value.items():
                    field_ok = by_key.get(key)
                    if field_ok is not None and v is not None:
                        field_ok(v)
                return
            except PodShapeError:
                pass
        for key, field_ok in fields:
            v = value.get(key)
            if v is not None:
                _at(field_ok, v, key)

    return check_struct


def _at(check: Callable[[Any], None], value: Any, step: Any) -> None:
    """`check(value)`, a failure reported as lying below `step`."""
    try:
        check(value)
    except PodShapeError as e:
        raise _within(e, step) from None


def _any(value: Any) -> None:
    return None


def check_pod_spec(spec: dict, path: Path) -> None:
    """Check a pod spec (already known to be a map) against the `pod` table."""
    check(spec, "pod", path)
