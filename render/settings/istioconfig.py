"""Istio's own configuration formats, read as settings layers.

A GitOps repo for Istio usually holds the control plane's configuration in one of the
forms Istio itself reads or generates:

- `IstioOperator` (install.istio.io): `spec.values`, `spec.meshConfig`, and the shortcuts
  `spec.hub`, `spec.tag`, `spec.revision` (which win over the same keys in values, as
  istioctl's translation does);
- the `istio` ConfigMap (`data.mesh`, the mesh config as YAML) and the
  `istio-sidecar-injector` ConfigMap (`data.values`, the injector values as JSON or YAML;
  `data.config`, the injector config), as `kubectl get cm -o yaml` prints them, including
  the revisioned names `istio-<rev>` and `istio-sidecar-injector-<rev>`;
- `ProxyConfig` resources (networking.istio.io), handled in collect.py.

The injector config (`data.config`) is what istiod's injector acts on; the chart fills it
from the values, so its fields land on the values they come from (`policy` on
`global.proxy.autoInject`, the selectors, templates and injected annotations on
`sidecarInjectorWebhook.*`), and override them.
"""

from __future__ import annotations

import re
from typing import Any

from meshrender.settings import embedded
from meshrender.settings.layers import Layer
from meshrender.settings.translate import upstream_layer
from meshrender.yamlio import Document

MESH_CONFIGMAP = "istio"
INJECTOR_CONFIGMAP = "istio-sidecar-injector"
_REVISION = r"-[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_INJECTOR_NAME = re.compile(re.escape(INJECTOR_CONFIGMAP) + f"({_REVISION})?")
_MESH_NAME = re.compile(re.escape(MESH_CONFIGMAP) + f"({_REVISION})?")
# Templates meshrender implements itself: a ConfigMap's copies of them (Go templates) are
# not used, whatever their text.
BUILTIN_TEMPLATES = frozenset({"sidecar", "gateway", "grpc-simple", "grpc-agent"})
# Upstream layers apply in this order whatever the input order: an IstioOperator is how the
# ConfigMaps are generated; the ConfigMaps are what istiod actually reads.
RANK = {"IstioOperator": 0, "ConfigMap/istio": 1, "ConfigMap/istio-sidecar-injector": 2}
# data.config field -> where it lands in the settings tree.
_CONFIG_FIELDS: dict[str, tuple[str, ...]] = {
    "policy": ("values", "global", "proxy", "autoInject"),
    "neverInjectSelector": ("values", "sidecarInjectorWebhook", "neverInjectSelector"),
    "alwaysInjectSelector": ("values", "sidecarInjectorWebhook", "alwaysInjectSelector"),
    "injectedAnnotations": ("values", "sidecarInjectorWebhook", "injectedAnnotations"),
    "defaultTemplates": ("values", "sidecarInjectorWebhook", "defaultTemplates"),
    "aliases": ("extras", "templateAliases"),
}


def configmap_kind(name: Any, data: Any) -> str | None:
    """`ConfigMap/istio` or `ConfigMap/istio-sidecar-injector` for Istio's ConfigMaps
    (revisioned names included, recognised by their data keys), else None."""
    if not isinstance(name, str):
        return None
    keys = set(data) if isinstance(data, dict) else set()
    if name == INJECTOR_CONFIGMAP or (_INJECTOR_NAME.fullmatch(name) and keys & {"values", "config"}):
        return "ConfigMap/" + INJECTOR_CONFIGMAP
    if name == MESH_CONFIGMAP or (_MESH_NAME.fullmatch(name) and "mesh" in keys):
        return "ConfigMap/" + MESH_CONFIGMAP
    return None


def name_of(doc: Document) -> str:
    meta = doc.data.get("metadata")
    return str(meta.get("name") or "") if isinstance(meta, dict) else ""


def _embedded(doc: Document, key: str, what: str, want: type = dict) -> Any:
    """A YAML or JSON payload in a ConfigMap's data, parsed; errors point inside it."""
    return embedded.parse(doc, key, what, want)


def istio_operator_layer(doc: Document) -> Layer:
    spec = doc.data.get("spec") or {}
    values = dict(spec.get("values") or {})
    fields: dict[tuple, tuple] = {}
    shortcuts = {key: spec[key] for key in ("hub", "tag") if spec.get(key) not in (None, "")}
    if shortcuts:
        values["global"] = {**(values.get("global") or {}), **shortcuts}
    if spec.get("revision"):
        values["revision"] = spec["revision"]
    layer = upstream_layer(f"IstioOperator {name_of(doc) or '(unnamed)'}", values, spec.get("meshConfig"),
                           kind="IstioOperator", doc=doc, values_field=("spec", "values"),
                           mesh_field=("spec", "meshConfig"))
    for key in shortcuts:
        fields[("values", "global", key)] = ("spec", key)
    if spec.get("revision"):
        fields[("values", "revision")] = ("spec", "revision")
    layer.fields.update(fields)
    return layer


def mesh_configmap_layer(doc: Document) -> tuple[Layer | None, dict]:
    """The layer of an `istio` ConfigMap, and its mesh config (for validation)."""
    data = doc.data.get("data") or {}
    if "mesh" not in data:
        return None, {}
    label = f"ConfigMap {name_of(doc)}"
    mesh = _embedded(doc, "mesh", label) or {}
    embedded.check(doc, "mesh", mesh, "meshconfig.json", f"{label}: mesh config")  # before reading it
    return upstream_layer(f"{label} (data.mesh)", None, mesh, kind="ConfigMap", doc=doc,
                          mesh_field=("data", "mesh")), mesh


def injector_configmap_layer(doc: Document) -> Layer | None:
    """The layer of an `istio-sidecar-injector` ConfigMap: data.values, with data.config
    over it."""
    data = doc.data.get("data") or {}
    label = f"ConfigMap {name_of(doc)}"
    values: dict[str, Any] = {}
    if "values" in data:
        values = _embedded(doc, "values", label) or {}
        embedded.check(doc, "values", values, "values.json", f"{label}: values")
    parts = ", ".join(f"data.{key}" for key in ("values", "config") if key in data)
    layer = upstream_layer(f"{label} ({parts})", values, None, kind="ConfigMap", doc=doc,
                           values_field=("data", "values"))
    if "config" in data:
        config = _embedded(doc, "config", label) or {}
        embedded.check(doc, "config", config, "injector-config.json", f"{label}: injector config")
        _apply_config(layer, config)
    return layer if layer.overlay else None


def _apply_config(layer: Layer, config: dict[str, Any]) -> None:
    for key, target in _CONFIG_FIELDS.items():
        value = config.get(key)
        if value is None or value == "" or (key == "injectedAnnotations" and value == {}):
            continue
        _set(layer.overlay, target, value)
        layer.fields[target] = ("data", "config")
    templates = config.get("templates")
    if isinstance(templates, dict):
        for name, text in templates.items():
            if name in BUILTIN_TEMPLATES:
                continue
            target = ("values", "sidecarInjectorWebhook", "templates", str(name))
            _set(layer.overlay, target, text)
            layer.fields[target] = ("data", "config")


def _set(tree: dict, path: tuple, value: Any) -> None:
    for p in path[:-1]:
        node = tree.get(p)
        if not isinstance(node, dict):
            node = tree[p] = {}
        else:
            node = tree[p] = dict(node)
        tree = node
    tree[path[-1]] = value
