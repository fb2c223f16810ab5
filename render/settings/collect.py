"""Finding settings documents among the inputs and checking them.

Settings are recognised by kind wherever they are (any file, any folder). meshrender's
own kinds (SidecarProxySettings, ClusterProfile) are consumed; Istio's and ASM's own
resources (ConfigMaps, ProxyConfig, ASMMeshConfig, IstioOperator) are read and also
passed through, because they are real cluster objects that a GitOps sync must not prune.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from render import yamlio
from render.errors import InputError
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


# Every kind Collector.add records. A document's text must spell one of them (or hide it
# behind a double-quoted escape) to be one; other documents need not be parsed to find
# the settings first.
_RECORDED_KINDS = ("SidecarProxySettings", "ClusterProfile", "ASMMeshConfig", "IstioOperator", "ProxyConfig",
                   "Namespace", "MutatingWebhookConfiguration")


def may_be_settings(text: str) -> bool:
    """False only for a document's text that cannot be one Collector.add records."""
    if "\\" in text or any(k in text for k in _RECORDED_KINDS):
        return True
    return "ConfigMap" in text and "istio" in text


def is_consumed(data: Any) -> bool:
    """Settings that exist only for meshrender, and so are not written to the output."""
    return settings_kind(data) in CONSUMED_KINDS


def _embedded(doc: Document, key: str, what: str) -> Any:
    """A YAML or JSON payload inside a ConfigMap's data, parsed, with errors pointing at it."""
    text = doc.data["data"][key]
    try:
        return yamlio.load_plain(text, f"{doc.source} (data.{key})")
    except InputError as e:
        raise InputError(f"{what}: data.{key} is not valid YAML: {e.message}",
                         locate(doc, ("data", key)), field=f"data.{key}") from None


def _namespace_of(doc: Document, kind: str) -> str | None:
    ns = (doc.data.get("metadata") or {}).get("namespace")
    if ns == "":
        raise InputError(f"{kind} has an empty metadata.namespace; remove it for global scope "
                         "or name the namespace", locate(doc, ("metadata", "namespace")),
                         field="metadata.namespace")
    return ns


def _name(doc: Document) -> str:
    return str((doc.data.get("metadata") or {}).get("name") or "")


class Collector:
    """Accumulates settings from documents, in input order."""

    def __init__(self) -> None:
        self.settings = Settings()

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
        schema.validate(doc, "sidecarproxysettings.json", f"SidecarProxySettings {_name(doc)}")
        ns = _namespace_of(doc, "SidecarProxySettings")
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
                f"{first.location}. Keep one ClusterProfile per render",
                doc.location, field="kind")
        self.settings.profile = doc

    def _ASMMeshConfig(self, doc: Document) -> None:
        schema.validate(doc, "asmmeshconfig.json", f"ASMMeshConfig {_name(doc)}")
        if self.settings.asm_mesh_config is not None:
            first = self.settings.asm_mesh_config
            raise InputError(f"a second ASMMeshConfig; the first is at {first.location}", doc.location,
                             field="kind")
        self.settings.asm_mesh_config = doc

    def _IstioOperator(self, doc: Document) -> None:
        schema.validate(doc, "istiooperator.json", f"IstioOperator {_name(doc)}")
        spec = doc.data.get("spec") or {}
        values = dict(spec.get("values") or {})
        for key in ("hub", "tag"):
            if key in spec:
                values.setdefault("global", {})
                values["global"] = {**values["global"], key: spec[key]}
        if spec.get("revision"):
            values["revision"] = spec["revision"]
        layer = upstream_layer(
            f"IstioOperator {_name(doc)}", values, spec.get("meshConfig"), doc=doc,
            values_field=("spec", "values"), mesh_field=("spec", "meshConfig"))
        for key in ("hub", "tag"):  # spec.hub / spec.tag are read as values.global.*
            if key in spec:
                layer.fields[("values", "global", key)] = ("spec", key)
        if spec.get("revision"):
            layer.fields[("values", "revision")] = ("spec", "revision")
        self.settings.upstream.append(layer)

    def _ConfigMap_istio(self, doc: Document) -> None:
        schema.validate(doc, "configmap-istio.json", "ConfigMap istio")
        data = doc.data.get("data") or {}
        if "mesh" not in data:
            return
        mesh = _embedded(doc, "mesh", "ConfigMap istio")
        if mesh is not None and not isinstance(mesh, dict):
            raise InputError("ConfigMap istio: data.mesh must be a mesh config map",
                             locate(doc, ("data", "mesh")), field="data.mesh")
        self._check_mesh(doc, mesh or {}, ("data", "mesh"))
        self.settings.upstream.append(upstream_layer(
            "ConfigMap istio (data.mesh)", None, mesh, doc=doc, mesh_field=("data", "mesh")))

    def _ConfigMap_istio_sidecar_injector(self, doc: Document) -> None:
        schema.validate(doc, "configmap-istio.json", "ConfigMap istio-sidecar-injector")
        data = doc.data.get("data") or {}
        values: dict[str, Any] = {}
        if "values" in data:
            parsed = _embedded(doc, "values", "ConfigMap istio-sidecar-injector")
            if parsed is not None and not isinstance(parsed, dict):
                raise InputError("ConfigMap istio-sidecar-injector: data.values must be a map",
                                 locate(doc, ("data", "values")), field="data.values")
            values = parsed or {}
        if "config" in data:
            config = _embedded(doc, "config", "ConfigMap istio-sidecar-injector") or {}
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
        selector = spec.get("selector")
        label = f"ProxyConfig {ns + '/' if ns else ''}{_name(doc)}"
        self.settings.proxy_configs.append(ProxyConfigResource(
            doc, ns, selector, Layer(label, {"proxy": overlay}, doc=doc, fields=fields)))

    def _check_mesh(self, doc: Document, mesh: dict, at: tuple) -> None:
        if schema.surely_valid("meshconfig.json", mesh):
            return
        errors = sorted(
            schema._validator("meshconfig.json").iter_errors(mesh), key=lambda e: list(map(str, e.path)))
        if errors:
            e = errors[0]
            path = ".".join(map(str, e.absolute_path))
            raise InputError(f"mesh config: {path or '(root)'}: {e.message}", locate(doc, at),
                             field=".".join(map(str, at)))


def load_values_file(path: str, what: str) -> tuple[Document | None, dict]:
    """A `--values` / `--mesh-config` file: one YAML (or JSON) map."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise InputError(f"cannot read {what}: {e.strerror}", None) from None
    text = yamlio.decode(raw, path)
    docs = yamlio.parse(text, path)
    if not docs:
        return None, {}
    if len(docs) > 1:
        raise InputError(f"{what} must hold one YAML document", docs[1].location)
    data = docs[0].data
    if isinstance(data, dict) and data.get("kind") == "IstioOperator":
        spec = data.get("spec") or {}
        key = "values" if what.startswith("values") else "meshConfig"
        return docs[0], spec.get(key) or {}
    if not isinstance(data, dict):
        raise InputError(f"{what} must be a YAML map, not {type(data).__name__}", docs[0].location)
    return docs[0], data


def json_compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
