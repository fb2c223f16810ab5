"""Settings layers and their merge, remembering where every effective value came from.

The effective configuration of a workload is one tree:

    values  Istio injector values (Helm semantics: maps merge, null deletes)
    mesh    mesh config without defaultConfig (top-level fields replace)
    proxy   ProxyConfig overlay (fields replace; proxyMetadata entries merge)
    extras  settings with no Istio spelling (istio-init resources, dnsProxy)
    native  the nativeSidecar choice of a SidecarProxySettings layer

Layers are applied lowest first. Each leaf records its Origin, which is how `explain`
and lint findings point at the file and line that set a value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshrender.errors import Location
from meshrender.yamlio import Document, locate, plain

MERGED_PROXY_MAPS = ("proxyMetadata", "proxyHeaders")


@dataclass(frozen=True)
class Origin:
    """Where a setting came from: a layer, and the field in the file that set it."""

    layer: str
    doc: Document | None = None
    field: tuple = ()
    source: str | None = None

    def location(self) -> Location | None:
        if self.doc is not None:
            return locate(self.doc, self.field)
        if self.source:
            return Location(self.source, 1, 1)
        return None

    def describe(self) -> str:
        loc = self.location()
        return f"{self.layer} ({loc})" if loc else self.layer


@dataclass
class Layer:
    """One source of settings: an overlay on the tree, and each leaf's source field."""

    label: str
    overlay: dict[str, Any]
    doc: Document | None = None
    source: str | None = None
    fields: dict[tuple, tuple] = field(default_factory=dict)

    def origin(self, path: tuple) -> Origin:
        """The origin of the tree leaf at `path` (its own field, else its parent's)."""
        p = path
        while p:
            if p in self.fields:
                return Origin(self.label, self.doc, self.fields[p], self.source)
            p = p[:-1]
        return Origin(self.label, self.doc, (), self.source)


@dataclass
class Tree:
    """The merged configuration and the origin of each of its leaves."""

    data: dict[str, Any] = field(default_factory=lambda: {
        "values": {}, "mesh": {}, "proxy": {}, "extras": {}})
    origins: dict[tuple, Origin] = field(default_factory=dict)
    applied: list[Layer] = field(default_factory=list)  # in order, for explain's history

    def copy(self) -> Tree:
        return Tree(plain.deepcopy(self.data), dict(self.origins), list(self.applied))

    def apply(self, layer: Layer) -> None:
        self.applied.append(layer)
        self._merge(self.data, layer.overlay, (), layer)

    def _forget(self, path: tuple) -> None:
        n = len(path)
        for p in [p for p in self.origins if p[:n] == path]:
            del self.origins[p]

    def _record(self, value: Any, path: tuple, layer: Layer) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                self._record(v, (*path, k), layer)
        else:
            self.origins[path] = layer.origin(path)

    def _merge(self, tree: dict, overlay: dict, prefix: tuple, layer: Layer) -> None:
        for key, value in overlay.items():
            path = (*prefix, key)
            if value is None:
                tree.pop(key, None)
                self._forget(path)
                continue
            merge_maps = isinstance(value, dict) and isinstance(tree.get(key), dict)
            if prefix == ("proxy",) and key not in MERGED_PROXY_MAPS:
                merge_maps = False
            if len(prefix) == 1 and prefix[0] == "mesh":
                merge_maps = False
            if merge_maps:
                if value:  # an empty map that gets keys is no longer a leaf of its own
                    self.origins.pop(path, None)
                self._merge(tree[key], value, path, layer)
            else:
                self._forget(path)
                tree[key] = _without_nulls(plain.deepcopy(value))
                self._record(tree[key], path, layer)

    def get(self, *path: str, default: Any = None) -> Any:
        node: Any = self.data
        for p in path:
            if not isinstance(node, dict) or p not in node:
                return default
            node = node[p]
        return node

    def origin(self, *path: Any) -> Origin | None:
        """The origin of the value at `path`, or of the nearest leaf below it."""
        p = tuple(path)
        if p in self.origins:
            return self.origins[p]
        n = len(p)
        below = [o for q, o in self.origins.items() if q[:n] == p]
        if below:
            return below[0]
        while p:
            p = p[:-1]
            if p in self.origins:
                return self.origins[p]
        return None


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def leaf_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every leaf path of a nested map (a non-empty map is not a leaf)."""
    if isinstance(value, dict) and value:
        out = []
        for k, v in value.items():
            out += leaf_paths(v, (*prefix, k))
        return out
    return [prefix]
