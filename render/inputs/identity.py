"""Which Kubernetes object a document is, and the same object given twice.

The API server, kubectl and Argo CD know an object by its API group, kind, namespace and
name: two documents with the same four are one object, and whichever is applied last
wins (Argo CD refuses the application outright). Inputs that hold an object twice (a
file copied to another folder, `apps/` and a rendered `deploy/` given together) are a
mistake meshrender must not render through: render stops naming both places, lint
reports it (rule duplicate-object).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from meshrender import bundled
from meshrender.errors import Location
from meshrender.inputs.kinds import item_identity

# (group, kind, namespace, name); namespace "" for cluster-scoped kinds
Key = tuple[str, str, str, str]


@cache
def _cluster_scoped() -> frozenset[tuple[str, str]]:
    table = bundled.load("cluster-scoped-kinds.yaml")
    return frozenset((group, kind) for group, kinds in table.items() for kind in kinds)


def group_of(api_version: Any) -> str:
    """`apps/v1` -> `apps`; `v1` -> `` (the core group)."""
    text = api_version if isinstance(api_version, str) else ""
    group, slash, _ = text.rpartition("/")
    return group if slash else ""


def key_of(api_version: Any, kind: Any, data: dict, namespace: str) -> Key | None:
    """The identity of one object (`namespace`: the run's, for a namespaced object without
    metadata.namespace), or None for one that has none yet (generateName, no name)."""
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name or not isinstance(kind, str):
        return None
    group = group_of(api_version)
    if (group, kind) in _cluster_scoped():
        return group, kind, "", name
    ns = meta.get("namespace") if isinstance(meta, dict) else None
    return group, kind, ns if isinstance(ns, str) and ns else namespace, name


def objects_in(data: Any, namespace: str) -> Iterator[tuple[Key, tuple]]:
    """(identity, path inside the document) of each object a document creates: the
    document itself, or each item of a List (kubectl creates the items, not the list)."""
    if not isinstance(data, dict):
        return
    kind = data.get("kind")
    items = data.get("items")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                api, item_kind = item_identity(data, item)
                key = key_of(api, item_kind, item, namespace)
                if key is not None:
                    yield key, ("items", i)
        return
    key = key_of(data.get("apiVersion"), kind, data, namespace)
    if key is not None:
        yield key, ()


def describe(key: Key) -> str:
    """`Deployment shop/web`, `ClusterRole reader`, as messages name an object."""
    _, kind, ns, name = key
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


@dataclass(frozen=True)
class Duplicate:
    """An object given a second time: where it was first, and where again."""

    key: Key
    first: Location
    again: Location

    @property
    def reason(self) -> str:
        """Why this is a problem, as a finding about the object says it."""
        return (f"defined twice, here and at {self.first}: Kubernetes keeps one object per group, kind, "
                "namespace and name (the one applied last), and Argo CD refuses the application; remove one, "
                "or rename it")

    @property
    def message(self) -> str:
        return f"{describe(self.key)} is {self.reason}"


# Where an object is in the inputs: (file index, document index, path inside the document).
Where = tuple[int, int, tuple]


class Registry:
    """The objects seen so far in input order, each with the place it was first seen.

    A run that renders (strict) holds every input in one set: its output is one
    application. A lint run may be given a whole repository: there each folder written by
    `render -o` (marked by its `.meshrender-output`) is an application of its own, so an
    object in it and the same object in the sources it was rendered from (or in another
    environment's output) are not two definitions of one object.
    """

    def __init__(self, scoped: bool = False) -> None:
        self.first: dict[tuple[Path | None, Key], Where] = {}
        self.scoped = scoped
        self._folders: dict[Path, Path | None] = {}

    def add(self, key: Key, where: Where, path: Path | None = None) -> Where | None:
        """None for an object not seen before; else where it was first. `path`: the file."""
        scope = None
        if self.scoped and path is not None:
            scope = output_folder(Path(os.path.abspath(path)).parent, self._folders)
        first = self.first.setdefault((scope, key), where)
        return None if first is where else first


def output_folder(folder: Path, memo: dict[Path, Path | None]) -> Path | None:
    """The folder written by `meshrender render -o` that holds `folder`, if any: a loop up
    the tree (trees may be thousands of levels deep), remembered per folder in `memo` (one
    run's: a marker may appear between two runs of one process)."""
    from meshrender.run.output import MARKER

    walked: list[Path] = []
    here = folder
    while here not in memo:
        if (here / MARKER).is_file():
            memo[here] = here
            break
        walked.append(here)
        parent = here.parent
        if parent == here:
            memo[here] = None
            break
        here = parent
    found = memo[here]
    for f in walked:
        memo[f] = found
    return found
