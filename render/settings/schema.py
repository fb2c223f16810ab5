"""JSON Schema validation of settings documents, with errors that point into the file.

Schemas live in the repository's `schemas/` folder (installed as `render.schemas`).
A document is first checked with jsonschema-rs, which only has to say "valid" (it
imports in a third of jsonschema's time, and most settings are valid); when it does not,
jsonschema decides and explains, so messages never depend on which library is there.
Neither is imported in a run without settings documents.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from render.errors import InputError
from render.yamlio import Document, locate

BASE = "https://meshrender.dev/schemas/"


class SchemaError(InputError):
    """A settings document that does not match its kind's schema (lint reports it as a finding)."""


def _schema_files() -> dict[str, Any]:
    out = {}
    for entry in resources.files("render.schemas").iterdir():
        if entry.name.endswith(".json"):
            out[entry.name] = json.loads(entry.read_text(encoding="utf-8"))
    return out


@cache
def _validator(name: str) -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    files = _schema_files()
    registry = Registry().with_resources(
        (BASE + fname, Resource.from_contents(schema)) for fname, schema in files.items()
    )
    return Draft202012Validator(files[name], registry=registry)


@cache
def _quick_validator(name: str) -> Any:
    """jsonschema-rs's validator for schema `name`, or None without the library."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    files = _schema_files()
    try:
        registry = jsonschema_rs.Registry([(BASE + fname, schema) for fname, schema in files.items()])
        return jsonschema_rs.Draft202012Validator(files[name], registry=registry)
    except Exception:  # a schema jsonschema-rs cannot build: jsonschema decides alone
        return None


def surely_valid(name: str, instance: Any) -> bool:
    """True when `instance` is valid against schema `name`; False means: ask jsonschema."""
    quick = _quick_validator(name)
    if quick is None:
        return False
    try:
        return bool(quick.is_valid(instance))
    except Exception:  # data it cannot take (non-string keys...): jsonschema decides
        return False


def _path_text(path: list[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


def _describe(error: Any) -> str:
    if error.validator == "additionalProperties":
        return f"{error.message}; check the spelling against schemas/"
    if error.validator == "const":
        return f"must be {error.validator_value!r}"
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {', '.join(map(str, error.validator_value))}"
    if error.validator in ("anyOf", "oneOf"):
        descs = [c.schema.get("description") for c in error.context if c.schema.get("description")]
        hint = descs[0] if descs else error.schema.get("description")
        return f"{error.instance!r} is not valid" + (f": {hint}" if hint else "")
    if error.validator == "type" and error.schema.get("description"):
        return f"{error.message} ({error.schema['description']})"
    return error.message


def validate(doc: Document, schema_name: str, what: str) -> None:
    """Raise InputError naming the file, line and field of the first schema violation."""
    if surely_valid(schema_name, doc.data):
        return
    validator = _validator(schema_name)
    errors = sorted(validator.iter_errors(doc.data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if not errors:
        return
    from jsonschema.exceptions import best_match

    error = best_match(errors)
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        field = _path_text([*path, missing]) if missing else _path_text(path)
    else:
        field = _path_text(path)
    raise SchemaError(f"{what}: {_describe(error)}", locate(doc, path), field=field)
