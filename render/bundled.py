"""The one loader for data files that ship with meshrender.

Defaults, release tables, the explain catalog and pod shapes live in `render/data/`
(package `meshrender.data`), lint rule catalogs beside the rules in `policies/`
(`meshrender.policies`), JSON Schemas in `schemas/` (`meshrender.schemas`). Each file is
read and parsed once per process, through the same YAML reader as the inputs, so a data
file means what a manifest with the same text would mean.
"""

from __future__ import annotations

import importlib
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

DATA = "meshrender.data"


def text(name: str, package: str = DATA) -> str:
    """The text of a bundled file (`name` relative to `package`), from the first folder of
    the package that has it (a package's `__path__` may be extended, as tests do with
    policies/)."""
    module = importlib.import_module(package)
    for folder in getattr(module, "__path__", ()):
        path = Path(folder) / name
        if path.is_file():
            return path.read_text(encoding="utf-8")
    return resources.files(package).joinpath(name).read_text(encoding="utf-8")  # zipped installs


def source_name(name: str, package: str = DATA) -> str:
    """How messages and explain name a bundled file: its path in the repository."""
    folder = {DATA: "render/data", "meshrender.policies": "policies", "meshrender.schemas": "schemas"}
    return f"{folder.get(package, package)}/{name}"


def load(name: str, package: str = DATA) -> Any:
    """A bundled YAML or JSON file as plain data, parsed once. Callers must not change it."""
    return _load(name, package)


@cache
def _load(name: str, package: str) -> Any:
    raw = text(name, package)
    if name.endswith(".json"):
        return json.loads(raw)
    from meshrender import yamlio

    return yamlio.load_plain(raw, source_name(name, package))


load.cache_clear = _load.cache_clear  # type: ignore[attr-defined]


@cache
def document(name: str, package: str = DATA) -> Any:
    """A bundled YAML file as a yamlio.Document, for pointing at its lines (explain)."""
    from meshrender import yamlio

    return yamlio.parse(text(name, package), source_name(name, package))[0]


def names(package: str) -> list[str]:
    """The files of a bundled folder, sorted."""
    return sorted(entry.name for entry in resources.files(package).iterdir() if entry.is_file())
