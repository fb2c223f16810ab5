"""Settings documents, translated into overlays on the effective-configuration tree.

A SidecarProxySettings field maps onto the Istio value or ProxyConfig field the injector
template reads (proxy resources -> values.global.proxy.resources, drain duration ->
ProxyConfig.terminationDrainDuration, ...), so that the pod annotations, which the
template reads first, keep the highest precedence without special cases.
"""

from __future__ import annotations

from typing import Any

from meshrender.kube import durations
from meshrender.kube.quantity import canonical_resources
from meshrender.settings.layers import Layer
from meshrender.yamlio import Document

# SidecarProxySettings field -> tree path.
_PROXY_FIELDS: dict[tuple, tuple] = {
    ("proxy", "image"): ("values", "global", "proxy", "image"),
    ("proxy", "resources"): ("values", "global", "proxy", "resources"),
    ("proxy", "lifecycle"): ("values", "global", "proxy", "lifecycle"),
    ("proxy", "holdApplicationUntilProxyStarts"): ("proxy", "holdApplicationUntilProxyStarts"),
    ("proxy", "terminationDrainDuration"): ("proxy", "terminationDrainDuration"),
    ("proxy", "concurrency"): ("proxy", "concurrency"),
    ("proxy", "logLevel"): ("values", "global", "proxy", "logLevel"),
    ("proxy", "componentLogLevel"): ("values", "global", "proxy", "componentLogLevel"),
    ("proxy", "proxyMetadata"): ("proxy", "proxyMetadata"),
    ("proxy", "readinessProbe", "initialDelaySeconds"): ("values", "global", "proxy", "readinessInitialDelaySeconds"),
    ("proxy", "readinessProbe", "periodSeconds"): ("values", "global", "proxy", "readinessPeriodSeconds"),
    ("proxy", "readinessProbe", "failureThreshold"): ("values", "global", "proxy", "readinessFailureThreshold"),
    ("init", "image"): ("values", "global", "proxy_init", "image"),
    ("init", "resources"): ("extras", "initResources"),
    ("traffic", "interceptionMode"): ("proxy", "interceptionMode"),
    ("traffic", "includeOutboundIPRanges"): ("values", "global", "proxy", "includeIPRanges"),
    ("traffic", "excludeOutboundIPRanges"): ("values", "global", "proxy", "excludeIPRanges"),
    ("traffic", "includeInboundPorts"): ("values", "global", "proxy", "includeInboundPorts"),
    ("traffic", "excludeInboundPorts"): ("values", "global", "proxy", "excludeInboundPorts"),
    ("traffic", "includeOutboundPorts"): ("values", "global", "proxy", "includeOutboundPorts"),
    ("traffic", "excludeOutboundPorts"): ("values", "global", "proxy", "excludeOutboundPorts"),
    ("dnsProxy",): ("extras", "dnsProxy"),
    ("nativeSidecar",): ("native",),
}


_MISSING = object()


def lookup(tree: Any, path: tuple, missing: Any = _MISSING) -> Any:
    """The value at `path` in nested maps, or `missing`: None is a value here (a user's
    explicit null removes a default), so absence needs its own sentinel."""
    for p in path:
        if not isinstance(tree, dict) or p not in tree:
            return missing
        tree = tree[p]
    return tree


def _set(tree: dict, path: tuple, value: Any) -> None:
    for p in path[:-1]:
        tree = tree.setdefault(p, {})
    tree[path[-1]] = value


def _comma_list(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v).strip() for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ",".join(p.strip() for p in str(value).split(",")) if value not in ("", "*") else str(value)


def _convert(field: tuple, value: Any) -> Any:
    if field[-1] == "resources":
        return canonical_resources(value)
    if field[0] == "traffic" and field[-1] != "interceptionMode":
        return _comma_list(value)
    if field[-1] == "terminationDrainDuration":
        return durations.normalize(value)
    if field[-1] == "proxyMetadata":
        return {str(k): str(v) for k, v in value.items()}
    return value


def sidecar_settings_layer(label: str, doc: Document, scope: str) -> Layer:
    """The layer of one SidecarProxySettings document (already schema-checked)."""
    spec = doc.data.get("spec") or {}
    overlay: dict[str, Any] = {}
    fields: dict[tuple, tuple] = {}
    for field, target in _PROXY_FIELDS.items():
        value = lookup(spec, field)
        if value is _MISSING or value is None:
            continue
        converted = _convert(field, value)
        _set(overlay, target, converted)
        src = ("spec", *field)
        fields[target] = src
        if isinstance(converted, dict):
            for k in converted:
                sub = value.get(k) if isinstance(value, dict) else None
                fields[(*target, k)] = (*src, k)
                if isinstance(sub, dict):
                    for kk in sub:
                        fields[(*target, k, kk)] = (*src, k, kk)
    return Layer(label, overlay, doc=doc, fields=fields, kind="SidecarProxySettings", scope=scope)


def _mesh_overlay(mesh: dict) -> tuple[dict, dict]:
    """A mesh config map split into the mesh part and the ProxyConfig part."""
    from meshrender.inject import proxyconfig

    mesh = dict(mesh)
    default_config = mesh.pop("defaultConfig", None)
    proxy = proxyconfig.normalize(default_config) if isinstance(default_config, dict) else {}
    return mesh, proxy


def upstream_layer(label: str, values: dict | None, mesh: dict | None, *, kind: str, doc: Document | None = None,
                   source: str | None = None, values_field: tuple = (), mesh_field: tuple = ()) -> Layer:
    """A layer from Istio's own formats: injector values and/or mesh config."""
    overlay: dict[str, Any] = {}
    fields: dict[tuple, tuple] = {}
    if values:
        overlay["values"] = values
        _map_fields(values, ("values",), values_field, fields)
    if mesh:
        m, p = _mesh_overlay(mesh)
        if m:
            overlay["mesh"] = m
            _map_fields(m, ("mesh",), mesh_field, fields)
        if p:
            overlay["proxy"] = p
            _map_fields(p, ("proxy",), (*mesh_field, "defaultConfig"), fields)
    return Layer(label, overlay, doc=doc, source=source, fields=fields, kind=kind)


def _map_fields(value: Any, target: tuple, src: tuple, fields: dict) -> None:
    fields[target] = src
    if isinstance(value, dict):
        for k, v in value.items():
            _map_fields(v, (*target, k), (*src, k) if src or target else (k,), fields)
