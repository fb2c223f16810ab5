"""JSON Schema validation of settings documents, with errors that point into the file.

Schemas live in the repository's `schemas/` folder (installed as `render.schemas`).
A document is first checked with jsonschema-rs, which only has to say "valid" (it
imports in a third of jsonschema's time, and most settings are valid); when it does not,
jsonschema decides and explains, so messages never depend on which library is there.
Neither is imported in a run without settings documents. Messages show values the way
the user wrote them in YAML (`true`, `null`, `"1.0"`), not as Python reprs, and the
formats the schemas name (quantities, durations) are checked, by both libraries, with
the same code that later reads them, so whatever validates also renders. Values the
schemas accept but the mesh cannot use (a port above 65535, a malformed CIDR) are lint
findings (invalid-mesh-annotation), reported with every workload they affect.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import math
from collections.abc import Callable, Collection, Iterator, Sequence
from functools import cache
from typing import Any

from meshrender import bundled
from meshrender.errors import InputError, Location, field_path, show_value
from meshrender.kube import durations, quantity
from meshrender.yamlio import Document, locate

BASE = "https://meshrender.dev/schemas/"
SCHEMAS = "meshrender.schemas"


class SchemaError(InputError):
    """A settings document that does not match its kind's schema (lint reports it as a finding).

    It carries the first violation, the one render stops on; `every()` gives that one and
    every other violation of the same document, so that lint shows them all in one run
    (they are worked out only when asked for: render never needs them)."""

    def __init__(self, message: str, location: Location | None = None, field: str | None = None,
                 rest: Callable[[], list[SchemaError]] | None = None):
        super().__init__(message, location, field)
        self._rest = rest

    def every(self) -> list[SchemaError]:
        """This violation first, then the document's others, in field order, each once."""
        out = [self]
        seen = {(self.field, self.message)}
        for e in self._rest() if self._rest is not None else ():
            if (e.field, e.message) not in seen:
                seen.add((e.field, e.message))
                out.append(e)
        return out


def _schema_files() -> dict[str, Any]:
    return {name: bundled.load(name, SCHEMAS) for name in bundled.names(SCHEMAS) if name.endswith(".json")}


# -- formats ----------------------------------------------------------------------------


def _check_quantity(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return True  # the type keywords report it
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a number; use a quantity such as 100m or 128Mi")
    try:
        amount, _ = quantity.parse(value)
    except quantity.QuantityError as e:
        raise ValueError(str(e)) from None
    if amount < 0:
        raise ValueError("resources cannot be negative")
    return True


def _check_duration(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        seconds = durations.parse(value)
    except durations.DurationError as e:
        raise ValueError(str(e)) from None
    if seconds < 0:
        raise ValueError("durations cannot be negative")
    return True


_FORMATS: dict[str, Callable[[Any], bool]] = {
    "k8s-quantity": _check_quantity,
    "go-duration": _check_duration,
}


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource

    files = _schema_files()
    registry = Registry().with_resources(
        (BASE + fname, Resource.from_contents(schema)) for fname, schema in files.items()
    )
    checker = FormatChecker(formats=())
    for fmt, fn in _FORMATS.items():
        checker.checks(fmt, raises=ValueError)(fn)
    return Draft202012Validator(files[name], registry=registry, format_checker=checker)


@cache
def _quick_validator(name: str) -> Any:
    """jsonschema-rs's validator for schema `name`, or None without the library. It checks
    the same formats (as yes/no functions), so "valid" here is valid for jsonschema too."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    files = _schema_files()
    formats = {fmt: _as_predicate(fn) for fmt, fn in _FORMATS.items()}
    try:
        registry = jsonschema_rs.Registry([(BASE + fname, schema) for fname, schema in files.items()])
        return jsonschema_rs.Draft202012Validator(files[name], registry=registry, formats=formats,
                                                  validate_formats=True)
    except Exception:  # a schema jsonschema-rs cannot build: jsonschema decides alone
        return None


def prefetch() -> None:
    """Import jsonschema-rs ahead of the first settings document (render_stream calls this
    while its workers scan files); a cheap no-op when it is missing or imported."""
    with contextlib.suppress(ImportError):
        import jsonschema_rs  # noqa: F401


def _as_predicate(fn: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def ok(value: Any) -> bool:
        try:
            return bool(fn(value))
        except ValueError:
            return False
    return ok


def surely_valid(name: str, instance: Any) -> bool:
    """True when `instance` is valid against schema `name`; False means: ask jsonschema."""
    quick = _quick_validator(name)
    if quick is None:
        return False
    try:
        return bool(quick.is_valid(instance))
    except Exception:  # data it cannot take (non-string keys, NaN...): jsonschema decides
        return False


# -- messages ---------------------------------------------------------------------------


_TYPE_NAMES = {"object": "a map", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "null"}


def _types(expected: Any) -> str:
    names = [_TYPE_NAMES.get(t, t) for t in ([expected] if isinstance(expected, str) else expected)]
    return " or ".join(names)


def _path_text(path: Sequence[Any]) -> str:
    return field_path(path) or "(document)"


def _quote_hint(inst: Any, expected: Any) -> str:
    """"; remove the quotes" when the string would be valid without them."""
    if not isinstance(inst, str):
        return ""
    kinds = [expected] if isinstance(expected, str) else list(expected)
    text = inst.strip()
    if "boolean" in kinds and text in ("true", "false"):
        return "; remove the quotes"
    if ("integer" in kinds or "number" in kinds) and text.lstrip("-").isdigit():
        return "; remove the quotes"
    return ""


def _branch_types(error: Any) -> list[str]:
    out: list[str] = []
    for sub in error.schema.get(error.validator, []):
        t = sub.get("type") if isinstance(sub, dict) else None
        for name in [t] if isinstance(t, str) else t or []:
            if name not in out:
                out.append(name)
    return out


def _describe(error: Any) -> str:
    v, inst = error.validator, error.instance
    desc = error.schema.get("description") if isinstance(error.schema, dict) else None
    hint = f" ({desc})" if desc else ""
    parent = error.parent
    if parent is not None and parent.validator in ("anyOf", "oneOf") and v not in ("format", "additionalProperties"):
        return _describe(parent)
    if v == "additionalProperties":
        extra = _extra_keys(error)
        known = list(error.schema.get("properties", {}))
        name = str(extra[0]) if extra else "a field"
        close = difflib.get_close_matches(name, known, n=1)
        if close:
            return f"unknown field {name}; did you mean {close[0]}?"
        return f"unknown field {name}; the fields here are {', '.join(known)}"
    if v == "const":
        return f"must be {show_value(error.validator_value)}, not {show_value(inst)}"
    if v == "enum":
        return f"{show_value(inst)} is not one of {', '.join(map(show_value, error.validator_value))}"
    if v in ("anyOf", "oneOf"):
        formats = [c for c in error.context if c.validator == "format"]
        if formats:
            return _describe(formats[0])
        if desc:
            return f"{show_value(inst)} is not valid: {desc}"
        types = _branch_types(error)
        if types:
            return f"must be {_types(types)}, not {show_value(inst)}"
        return f"{show_value(inst)} is not valid"
    if v == "type":
        quote = _quote_hint(inst, error.validator_value)
        return f"must be {_types(error.validator_value)}, not {show_value(inst)}{quote}{hint}"
    if v == "format":
        cause = f": {error.cause}" if error.cause else ""
        return f"{show_value(inst)} is not valid{cause}"
    if v == "pattern":
        return f"{show_value(inst)} is not valid" + (f": {desc}" if desc else f" (must match {error.validator_value})")
    if v == "minimum":
        return f"must be at least {error.validator_value}, not {show_value(inst)}"
    if v == "maximum":
        return f"must be at most {error.validator_value}, not {show_value(inst)}"
    if v == "minLength":
        return "must not be empty"
    if v == "required":
        return "is required"
    return error.message


def _extra_keys(error: Any) -> list[Any]:
    inst = error.instance
    if not isinstance(inst, dict):
        return []
    return [k for k in inst if k not in error.schema.get("properties", {})]


def _inner_path(error: Any) -> list[Any]:
    """The path of the offending field: for an unknown field, the field itself."""
    path = list(error.absolute_path)
    extra = _extra_keys(error) if error.validator == "additionalProperties" else []
    return [*path, extra[0]] if extra else path


def _field(error: Any, base: Sequence[Any] = ()) -> tuple[list[Any], str]:
    path = [*base, *_inner_path(error)]
    if error.validator == "required":
        missing = next((r for r in error.validator_value if r not in (error.instance or {})), "")
        return path, _path_text([*path, missing]) if missing else _path_text(path)
    return path, _path_text(path)


def first_error(data: Any, schema_name: str) -> Any | None:
    """The most relevant schema violation of `data`, or None."""
    if surely_valid(schema_name, data):
        return None
    validator = _validator(schema_name)
    errors = sorted(validator.iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if not errors:
        return None
    from jsonschema.exceptions import best_match

    return best_match(errors)


def _leaf_errors(data: Any, schema_name: str) -> list[Any]:
    """Every violation of `data`, each as specific as first_error would make it: the most
    relevant branch of an anyOf / oneOf, one error per unknown field."""
    from jsonschema.exceptions import best_match

    out = []
    for error in _validator(schema_name).iter_errors(data):
        best = best_match([error])
        extra = _extra_keys(best) if best.validator == "additionalProperties" else []
        if len(extra) > 1:
            for key in extra:  # one finding per unknown field, each at its own line
                single = copy.copy(best)
                single.instance = {k: v for k, v in best.instance.items() if k == key}
                out.append(single)
        else:
            out.append(best)
    out.sort(key=lambda e: ([str(p) for p in _inner_path(e)], e.message))
    return out


def without_nulls(value: Any) -> Any:
    """`value` without null map entries: in Helm values and Istio's config, null unsets a
    field, which is valid whatever the field's type."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


# Files whose documents are known to be valid (validated_before): not validated again.
_VALID_FILES: frozenset[str] = frozenset()


@contextlib.contextmanager
def validated_before(sources: Collection[str]) -> Iterator[None]:
    """Within this block, the documents of the files named in `sources` (display names)
    are taken as valid without a check. An incremental check (run/incremental.py) names
    the files whose bytes are those the recorded render read: that render validated them,
    with this same meshrender and libraries (the marker's code digest), and succeeded,
    so the answer is known. Asking again cost a one-file check its import of
    jsonschema-rs and the validators' build, 15 to 20 ms."""
    global _VALID_FILES
    outer, _VALID_FILES = _VALID_FILES, frozenset(sources)
    try:
        yield
    finally:
        _VALID_FILES = outer


def known_valid(doc: Document) -> bool:
    """Whether `doc` is in a file validated_before names."""
    return doc.source in _VALID_FILES


def validate(doc: Document, schema_name: str, what: str, data: Any = None) -> None:
    """Raise InputError naming the file, line and field of the first schema violation
    (of `data` instead of the document's own data, when given)."""
    if known_valid(doc):
        return
    instance = doc.data if data is None else data
    error = first_error(instance, schema_name)
    if error is None:
        return

    def made(e: Any) -> SchemaError:
        path, field = _field(e)
        return SchemaError(f"{what}: {_describe(e)}", locate(doc, path), field=field)

    first = made(error)
    raise SchemaError(first.message, first.location, first.field,
                      rest=lambda: [made(e) for e in _leaf_errors(instance, schema_name)])


def validate_embedded(data: Any, schema_name: str, what: str, base: Sequence[Any],
                      where: Callable[[list[Any]], Location]) -> None:
    """Validate data that sits at `base` inside a document (values files, ConfigMap payloads);
    `where(path)` finds the location of a field path relative to the data."""
    error = first_error(data, schema_name)
    if error is None:
        return

    def made(e: Any) -> SchemaError:
        _, field = _field(e, base)
        return SchemaError(f"{what}: {_describe(e)}", where(_inner_path(e)), field=field)

    first = made(error)
    raise SchemaError(first.message, first.location, first.field,
                      rest=lambda: [made(e) for e in _leaf_errors(data, schema_name)])
