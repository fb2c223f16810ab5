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
from meshrender.settings.provenance import MISSING, Origin, Place, Step
from meshrender.yamlio import Document, plain

MERGED_PROXY_MAPS = ("proxyMetadata", "proxyHeaders")


@dataclass
class Layer:
    """One source of settings: an overlay on the tree, and each leaf's source field.

    `kind` and `label` are the origin's kind and name (`SidecarProxySettings`,
    "SidecarProxySettings payments/checkout (workload)"); `fields` maps tree paths to the
    fields of `doc` that set them; `source` names a file that has no document (an empty
    --values file).
    """

    label: str
    overlay: dict[str, Any]
    doc: Document | None = None
    source: str | None = None
    fields: dict[tuple, tuple] = field(default_factory=dict)
    kind: str = "config"
    scope: str | None = None

    def field_of(self, path: tuple) -> tuple:
        """The field of `doc` that set tree path `path` (its own, else its nearest parent's)."""
        p = path
        while p:
            if p in self.fields:
                return self.fields[p]
            p = p[:-1]
        return ()

    def origin(self, path: tuple) -> Origin:
        """The origin of the tree leaf at `path`."""
        f = self.field_of(path)
        if self.doc is not None:
            if len(f) > 2 and f[0] == "data" and self.doc.data.get("kind") == "ConfigMap":
                # data.mesh / data.values hold YAML as text: the field is inside it
                place = Place(self.doc, f[:2], inner=f[2:])
            else:
                place = Place(self.doc, f)
        elif self.source:
            place = Place(location=Location(self.source, 1, 1))
        else:
            place = None
        return Origin(self.kind, self.label, place, self.scope)


@dataclass
class Tree:
    """The merged configuration and the origin of each of its leaves."""

    data: dict[str, Any] = field(default_factory=lambda: {
        "values": {}, "mesh": {}, "proxy": {}, "extras": {}})
    origins: dict[tuple, Origin] = field(default_factory=dict)
    applied: list[Layer] = field(default_factory=list)  # in order, for explain's history
    # steps(path), once per tree and path: the workloads that share a configuration share
    # its tree, and explain and lint ask each of them the same questions
    _steps: dict[tuple, list[Step]] = field(default_factory=dict, repr=False, compare=False)

    def copy(self) -> Tree:
        return Tree(plain.deepcopy(self.data), dict(self.origins), list(self.applied))

    def apply(self, layer: Layer) -> None:
        self.applied.append(layer)
        self._steps.clear()
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

    def steps(self, path: tuple) -> list[Step]:
        """Every layer that set `path` (a value, or None: it removed it), strongest first:
        the first is the effective one, the others what it overrode. (A new list each
        call; the steps in it are shared and must not be changed.)"""
        found = self._steps.get(path)
        if found is None:
            found = []
            for rank, layer in enumerate(self.applied):
                value = overlay_at(layer.overlay, path)
                if value is not MISSING:
                    found.append(Step(value, layer.origin(path), rank))
            found.reverse()
            self._steps[path] = found
        return list(found)

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


def overlay_at(overlay: Any, path: tuple) -> Any:
    """What a layer's overlay says about `path`: a value, None (removed) or MISSING."""
    node = overlay
    for p in path:
        if node is None:
            return None
        if not isinstance(node, dict) or p not in node:
            return MISSING
        node = node[p]
    return node


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
