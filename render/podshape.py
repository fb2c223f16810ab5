"""Type checks for the parts of a pod that injection reads (render/data/pod-shape.yaml).

Kubernetes decodes manifests into typed structs, so `env: {A: b}` or a probe port
written as a list never reach a cluster; kube-inject refuses them too. meshrender works
on plain data, and the injector would otherwise print garbage or stop halfway with a
Python error. Only shapes are enforced here (scalar types are `--validate`'s job, see
pod-shape.yaml). This walk is a few microseconds per pod: a table lookup per field
present, nothing for fields absent.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from render.errors import type_name

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
    import yaml

    text = resources.files("render").joinpath("data", "pod-shape.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


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
    if value is None:
        return
    if type_expr.startswith("["):
        if not isinstance(value, list):
            raise _fail(type_expr, value, path)
        inner = type_expr[1:-1]
        for i, item in enumerate(value):
            if item is None and inner in _types():
                raise PodShapeError("is an empty list item; remove it", (*path, i))
            check(item, inner, (*path, i))
        return
    if type_expr.startswith("{"):
        if not isinstance(value, dict):
            raise _fail(type_expr, value, path)
        inner = type_expr[1:-1]
        for k, v in value.items():
            if not isinstance(k, str):
                raise PodShapeError(f"the key {k!r} is not a string", (*path, k), "key")
            check(v, inner, (*path, k))
        return
    struct = _types().get(type_expr)
    if struct is None:
        if not _primitive_ok(type_expr, value):
            raise _fail(type_expr, value, path)
        return
    if not isinstance(value, dict):
        raise _fail(type_expr, value, path)
    for key, field_type in struct.items():
        if key in value:
            check(value[key], field_type, (*path, key))


def check_pod_spec(spec: dict, path: Path) -> None:
    """Check a pod spec (already known to be a map) against the `pod` table."""
    check(spec, "pod", path)
