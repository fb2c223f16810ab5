"""Finding settings documents among the inputs and checking them.

Settings are recognised by kind wherever they are (any file, any folder). meshrender's
own kinds (SidecarProxySettings, ClusterProfile) are consumed; Istio's and ASM's own
resources (ConfigMaps, ProxyConfig, ASMMeshConfig, IstioOperator) are read and also
passed through, because they are real cluster objects that a GitOps sync must not prune.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render import yamlio
from render.errors import InputError, Location, field_path, type_name
from render.settings import schema
from render.settings.layers import Layer
from render.settings.translate import sidecar_settings_layer, upstream_layer
from render.yamlio import Document, locate

OWN_GROUP = "meshrender.dev/"
CONSUMED_KINDS = frozenset({"SidecarProxySettings", "ClusterProfile"})
ISTIO_CONFIGMAPS = ("istio", "istio-sidecar-injector")


@dataclass
class SidecarSettings:
    """One SidecarProxySettings document and its scope."""

    doc: Document
    name: str
    namespace: str | None
    selector: dict | None
    layer: Layer

    @property
    def scope(self) -> str:
        if self.selector is not None:
            return "workload"
        return "namespace" if self.namespace else "global"


@dataclass
class ProxyConfigResource:
    doc: Document
    namespace: str | None
    selector: dict | None
    layer: Layer


@dataclass
class Settings:
    """Everything the inputs say about the mesh and the cluster."""

    profile: Document | None = None
    asm_mesh_config: Document | None = None
    upstream: list[Layer] = field(default_factory=list)
    sidecar: list[SidecarSettings] = field(default_factory=list)
    proxy_configs: list[ProxyConfigResource] = field(default_factory=list)
    namespaces: dict[str, Document] = field(default_factory=dict)
    webhooks: list[Document] = field(default_factory=list)

    @property
    def profile_spec(self) -> dict[str, Any]:
        return (self.profile.data.get("spec") or {}) if self.profile else {}


def settings_kind(data: Any) -> str | None:
    """The settings kind of a document, or None if it is not one meshrender reads."""
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    api = str(data.get("apiVersion") or "")
    if kind in CONSUMED_KINDS and api.startswith(OWN_GROUP):
        return kind
    if kind == "ASMMeshConfig" and api.startswith("istio.alibabacloud.com/"):
        return kind
    if kind == "IstioOperator" and api.startswith("install.istio.io/"):
        return kind
    if kind == "ProxyConfig" and api.startswith("networking.istio.io/"):
        return kind
    if kind == "ConfigMap" and api == "v1":
        name = (data.get("metadata") or {}).get("name") if isinstance(data.get("metadata"), dict) else None
        if name in ISTIO_CONFIGMAPS:
            return "ConfigMap/" + name
    return None


def is_consumed(data: Any) -> bool:
    """Settings that exist only for meshrender, and so are not written to the output."""
    return settings_kind(data) in CONSUMED_KINDS


def _block_start(doc: Document, path: tuple) -> tuple[int, int] | None:
    """(file line of the first line, indentation) of the literal block scalar (`|`) at
    `path`, so that a line inside the embedded text maps onto a line of the file."""
    import yaml

    try:
        node = yaml.compose(doc.text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    for step in path:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if k.value == step), None)
    if not isinstance(node, yaml.ScalarNode) or node.style != "|":
        return None
    first = node.start_mark.line + 1  # content starts on the line after the `|`
    lines = doc.text.split("\n")
    body = next((ln for ln in lines[first:] if ln.strip()), "")
    return doc.line + first, len(body) - len(body.lstrip(" "))


def _embedded_where(doc: Document, key: str, inner: Document | None) -> Callable[[list], Location]:
    """Where a field of a ConfigMap's embedded payload is in the file (the key if unknown)."""
    def where(path: list) -> Location:
        start = _block_start(doc, ("data", key)) if inner is not None else None
        if start is None or inner is None:
            return locate(doc, ("data", key))
        at = locate(inner, path)
        return Location(doc.source, start[0] + at.line - 1, start[1] + at.column)
    return where


def _embedded(doc: Document, key: str, what: str) -> tuple[Any, Document | None]:
    """A YAML or JSON payload inside a ConfigMap's data, parsed, with errors pointing at it."""
    text = doc.data["data"][key]
    try:
        docs = yamlio.parse(text, f"{doc.source} (data.{key})")
    except InputError as e:
        inner_at = e.location.line if e.location else 1
        start = _block_start(doc, ("data", key))
        where = (Location(doc.source, start[0] + inner_at - 1, start[1] + (e.location.column if e.location else 1))
                 if start else locate(doc, ("data", key)))
        problem = e.message.removeprefix("invalid YAML: ")
        raise InputError(f"{what}: data.{key} is not valid YAML: {problem}", where,
                         field=f"data.{key}") from None
    if not docs:
        return None, None
    if len(docs) > 1:
        raise InputError(f"{what}: data.{key} holds {len(docs)} YAML documents; it must hold one",
                         locate(doc, ("data", key)), field=f"data.{key}")
    return docs[0].data, docs[0]


def _check_namespace_given(doc: Document, kind: str) -> None:
    """`namespace: ""` or a bare `namespace:` is not "no namespace": it is most often a
    template that rendered nothing, and reading it as global scope would apply the
    settings to every namespace. Omit the field for global scope."""
    meta = doc.data.get("metadata")
    if isinstance(meta, dict) and "namespace" in meta and meta["namespace"] in ("", None):
        raise InputError(f"{kind} has an empty metadata.namespace; remove it for global scope "
                         "or name the namespace", locate(doc, ("metadata", "namespace")),
                         field="metadata.namespace")


def _namespace_of(doc: Document, kind: str) -> str | None:
    _check_namespace_given(doc, kind)
    return (doc.data.get("metadata") or {}).get("namespace")


def _name(doc: Document) -> str:
    meta = doc.data.get("metadata")
    return str((meta.get("name") if isinstance(meta, dict) else None) or "(unnamed)")


class Collector:
    """Accumulates settings from documents, in input order."""

    def __init__(self) -> None:
        self.settings = Settings()
        self._identities: dict[tuple[str, str | None, str], Document] = {}

    def _check_unique(self, doc: Document, kind: str, namespace: str | None) -> None:
        """Two objects with one kind, namespace and name: in a cluster, the second would
        replace the first, so which settings apply would depend on file order."""
        key = (kind, namespace, _name(doc))
        first = self._identities.get(key)
        if first is not None:
            shown = f"{namespace}/{key[2]}" if namespace else key[2]
            raise InputError(f"{kind} {shown} is defined twice; the first is at {locate(first, ('metadata', 'name'))}. "
                             "Rename one or merge them", locate(doc, ("metadata", "name")), field="metadata.name")
        self._identities[key] = doc

    def add(self, doc: Document) -> bool:
        """Record `doc` if it is a settings document; True if it was one."""
        data = doc.data
        if isinstance(data, dict):
            kind = data.get("kind")
            if kind == "Namespace":
                name = _name(doc)
                if name:
                    self.settings.namespaces[name] = doc
                return False
            if kind == "MutatingWebhookConfiguration":
                self.settings.webhooks.append(doc)
                return False
        kind = settings_kind(data)
        if kind is None:
            return False
        handler = getattr(self, "_" + kind.replace("/", "_").replace("-", "_"))
        handler(doc)
        return True

    def _SidecarProxySettings(self, doc: Document) -> None:
        _check_namespace_given(doc, "SidecarProxySettings")
        schema.validate(doc, "sidecarproxysettings.json", f"SidecarProxySettings {_name(doc)}")
        ns = _namespace_of(doc, "SidecarProxySettings")
        self._check_unique(doc, "SidecarProxySettings", ns)
        spec = doc.data.get("spec") or {}
        selector = spec.get("selector")
        scope = "workload" if selector is not None else ("namespace" if ns else "global")
        label = f"SidecarProxySettings {ns + '/' if ns else ''}{_name(doc)} ({scope})"
        self.settings.sidecar.append(
            SidecarSettings(doc, _name(doc), ns, selector, sidecar_settings_layer(label, doc)))

    def _ClusterProfile(self, doc: Document) -> None:
        schema.validate(doc, "clusterprofile.json", f"ClusterProfile {_name(doc)}")
        if self.settings.profile is not None:
            first = self.settings.profile
            raise InputError(
                f"a second ClusterProfile ({_name(doc)}); the first, {_name(first)}, is at "
                f"{locate(first, ('kind',))}. Keep one ClusterProfile per render",
                locate(doc, ("kind",)), field="kind")
        self.settings.profile = doc

    def _ASMMeshConfig(self, doc: Document) -> None:
        schema.validate(doc, "asmmeshconfig.json", f"ASMMeshConfig {_name(doc)}")
        if self.settings.asm_mesh_config is not None:
            first = self.settings.asm_mesh_config
            raise InputError(f"a second ASMMeshConfig; the first is at {locate(first, ('kind',))}. Keep one",
                             locate(doc, ("kind",)), field="kind")
        self.settings.asm_mesh_config = doc

    def _IstioOperator(self, doc: Document) -> None:
        schema.validate(doc, "istiooperator.json", f"IstioOperator {_name(doc)}", schema.without_nulls(doc.data))
        spec = doc.data.get("spec") or {}
        values = dict(spec.get("values") or {})
        for key in ("hub", "tag"):
            if key in spec:
                values.setdefault("global", {})
                values["global"] = {**values["global"], key: spec[key]}
        if spec.get("revision"):
            values["revision"] = spec["revision"]
        self.settings.upstream.append(upstream_layer(
            f"IstioOperator {_name(doc)}", values, spec.get("meshConfig"), doc=doc,
            values_field=("spec", "values"), mesh_field=("spec", "meshConfig")))

    def _ConfigMap_istio(self, doc: Document) -> None:
        schema.validate(doc, "configmap-istio.json", "ConfigMap istio")
        data = doc.data.get("data") or {}
        if "mesh" not in data:
            return
        mesh, inner = _embedded(doc, "mesh", "ConfigMap istio")
        if mesh is not None and not isinstance(mesh, dict):
            raise InputError("ConfigMap istio: data.mesh must be a mesh config map",
                             locate(doc, ("data", "mesh")), field="data.mesh")
        schema.validate_embedded(schema.without_nulls(mesh or {}), "meshconfig.json", "ConfigMap istio: mesh config",
                                 ("data", "mesh"), _embedded_where(doc, "mesh", inner))
        self.settings.upstream.append(upstream_layer(
            "ConfigMap istio (data.mesh)", None, mesh, doc=doc, mesh_field=("data", "mesh")))

    def _ConfigMap_istio_sidecar_injector(self, doc: Document) -> None:
        schema.validate(doc, "configmap-istio.json", "ConfigMap istio-sidecar-injector")
        data = doc.data.get("data") or {}
        values: dict[str, Any] = {}
        if "values" in data:
            parsed, inner = _embedded(doc, "values", "ConfigMap istio-sidecar-injector")
            if parsed is not None and not isinstance(parsed, dict):
                raise InputError("ConfigMap istio-sidecar-injector: data.values must be a map",
                                 locate(doc, ("data", "values")), field="data.values")
            values = parsed or {}
            schema.validate_embedded(schema.without_nulls(values), "values.json",
                                     "ConfigMap istio-sidecar-injector: values", ("data", "values"),
                                     _embedded_where(doc, "values", inner))
        if "config" in data:
            config = _embedded(doc, "config", "ConfigMap istio-sidecar-injector")[0] or {}
            if isinstance(config, dict):
                hook = dict(values.get("sidecarInjectorWebhook") or {})
                templates = {k: v for k, v in (config.get("templates") or {}).items()
                             if k not in ("sidecar", "gateway", "grpc-simple", "grpc-agent")}
                if templates:
                    hook["templates"] = {**(hook.get("templates") or {}), **templates}
                if config.get("defaultTemplates"):
                    hook["defaultTemplates"] = config["defaultTemplates"]
                if config.get("injectedAnnotations"):
                    hook["injectedAnnotations"] = config["injectedAnnotations"]
                if hook:
                    values = {**values, "sidecarInjectorWebhook": hook}
        if values:
            self.settings.upstream.append(upstream_layer(
                "ConfigMap istio-sidecar-injector (data.values)", values, None, doc=doc,
                values_field=("data", "values")))

    def _ProxyConfig(self, doc: Document) -> None:
        _check_namespace_given(doc, "ProxyConfig")
        schema.validate(doc, "proxyconfig.json", f"ProxyConfig {_name(doc)}")
        spec = doc.data.get("spec") or {}
        overlay: dict[str, Any] = {}
        fields: dict[tuple, tuple] = {}
        if "concurrency" in spec:
            overlay["concurrency"] = spec["concurrency"]
            fields[("proxy", "concurrency")] = ("spec", "concurrency")
        if spec.get("environmentVariables"):
            overlay["proxyMetadata"] = {str(k): str(v) for k, v in spec["environmentVariables"].items()}
            fields[("proxy", "proxyMetadata")] = ("spec", "environmentVariables")
            for k in spec["environmentVariables"]:
                fields[("proxy", "proxyMetadata", str(k))] = ("spec", "environmentVariables", k)
        if spec.get("image"):
            overlay["image"] = spec["image"]
            fields[("proxy", "image")] = ("spec", "image")
        ns = _namespace_of(doc, "ProxyConfig")
        self._check_unique(doc, "ProxyConfig", ns)
        selector = spec.get("selector")
        label = f"ProxyConfig {ns + '/' if ns else ''}{_name(doc)}"
        self.settings.proxy_configs.append(ProxyConfigResource(
            doc, ns, selector, Layer(label, {"proxy": overlay}, doc=doc, fields=fields)))


def load_values_file(path: str, what: str) -> tuple[Document | None, dict]:
    """A `--values` / `--mesh-config` file: one YAML (or JSON) map."""
    from render.sources import read_text

    text = read_text(path, Path(path))
    docs = yamlio.parse(text, path)
    if not docs:
        return None, {}
    if len(docs) > 1:
        raise InputError(f"{what} must hold one YAML document", docs[1].location)
    doc = docs[0]
    data = doc.data
    base: tuple = ()
    if isinstance(data, dict) and data.get("kind") == "IstioOperator":
        spec = data.get("spec") or {}
        if not isinstance(spec, dict):
            raise InputError(f"{what}: IstioOperator spec must be a map", locate(doc, ("spec",)), field="spec")
        key = "values" if what.startswith("values") else "meshConfig"
        base, data = ("spec", key), spec.get(key) or {}
    if not isinstance(data, dict):
        raise InputError(f"{what} must be a YAML map, not {type_name(data)}", locate(doc, base),
                         field=field_path(base) or None)
    schema_name = "values.json" if what.startswith("values") else "meshconfig.json"
    schema.validate_embedded(schema.without_nulls(data), schema_name, what, base, lambda p: locate(doc, (*base, *p)))
    return doc, data


def json_compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
