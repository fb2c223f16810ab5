"""Finding settings documents among the inputs and checking them.

Settings are recognised by kind wherever they are (any file, any folder). meshrender's
own kinds (SidecarProxySettings, ClusterProfile) are consumed; Istio's and ASM's own
resources (ConfigMaps, ProxyConfig, ASMMeshConfig, IstioOperator) are read and also
passed through, because they are real cluster objects that a GitOps sync must not prune.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError, field_path, type_name
from meshrender.inject.context import PINNED_PROXY
from meshrender.inputs import kinds
from meshrender.settings import embedded, istioconfig, schema
from meshrender.settings.layers import Layer
from meshrender.settings.translate import sidecar_settings_layer, upstream_layer
from meshrender.yamlio import Document, locate

OWN_GROUP = "meshrender.dev/"
CONSUMED_KINDS = frozenset({"SidecarProxySettings", "ClusterProfile"})


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
    """An Istio ProxyConfig: mesh-wide in the root namespace, namespace-wide without a
    selector, for the selected workloads of its namespace with `spec.selector.matchLabels`."""

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
    upstream_ranks: list[int] = field(default_factory=list)
    configmaps: dict[str, Document] = field(default_factory=dict)
    sidecar: list[SidecarSettings] = field(default_factory=list)
    proxy_configs: list[ProxyConfigResource] = field(default_factory=list)
    namespaces: dict[str, Document] = field(default_factory=dict)
    webhooks: list[Document] = field(default_factory=list)
    declared_kinds: kinds.KindTable | None = None  # built-in kinds and the profile's workloadKinds
    autoscalers: list[Document] = field(default_factory=list)  # VerticalPodAutoscalers (for lint)

    @property
    def workload_kinds(self) -> kinds.KindTable:
        """The kinds whose pod templates are injected (render/data/workload-kinds.yaml, and
        ClusterProfile.spec.workloadKinds in front of them)."""
        return self.declared_kinds or kinds.builtin()

    def add_upstream(self, kind: str, layer: Layer) -> None:
        """Keep upstream layers in Istio's order (istioconfig.RANK), input order within a kind."""
        rank = istioconfig.RANK[kind]
        at = sum(1 for r in self.upstream_ranks if r <= rank)
        self.upstream.insert(at, layer)
        self.upstream_ranks.insert(at, rank)

    @property
    def profile_spec(self) -> dict[str, Any]:
        return (self.profile.data.get("spec") or {}) if self.profile else {}


def settings_kind(data: Any) -> str | None:
    """The settings kind of a document, or None if it is not one meshrender reads."""
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    if not isinstance(kind, str):  # objects.check refuses it, with its location
        return None
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
        return istioconfig.configmap_kind(name, data.get("data"))
    return None


# Every kind Collector.add records. A document's text must spell one of them (or hide it
# behind a double-quoted escape) to be one; other documents need not be parsed to find
# the settings first.
_RECORDED_KINDS = ("SidecarProxySettings", "ClusterProfile", "ASMMeshConfig", "IstioOperator", "ProxyConfig",
                   "Namespace", "MutatingWebhookConfiguration", "VerticalPodAutoscaler")


def may_be_settings(text: str) -> bool:
    """False only for a document's text that cannot be one Collector.add records."""
    if "\\" in text or any(k in text for k in _RECORDED_KINDS):
        return True
    return "ConfigMap" in text and "istio" in text


def is_consumed(data: Any) -> bool:
    """Settings that exist only for meshrender, and so are not written to the output."""
    return settings_kind(data) in CONSUMED_KINDS


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
            if kind == "VerticalPodAutoscaler" and str(data.get("apiVersion") or "").startswith("autoscaling.k8s.io/"):
                self.settings.autoscalers.append(doc)
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
            SidecarSettings(doc, _name(doc), ns, selector, sidecar_settings_layer(label, doc, scope)))

    def _ClusterProfile(self, doc: Document) -> None:
        schema.validate(doc, "clusterprofile.json", f"ClusterProfile {_name(doc)}")
        if self.settings.profile is not None:
            first = self.settings.profile
            raise InputError(
                f"a second ClusterProfile ({_name(doc)}); the first, {_name(first)}, is at "
                f"{locate(first, ('kind',))}. Keep one ClusterProfile per render",
                locate(doc, ("kind",)), field="kind")
        self.settings.profile = doc
        declared = (doc.data.get("spec") or {}).get("workloadKinds")
        if declared:
            try:
                self.settings.declared_kinds = kinds.builtin().with_declared(declared)
            except kinds.KindError as e:
                path = ("spec", "workloadKinds", e.index, *((e.key,) if e.key else ()))
                raise InputError(f"ClusterProfile {_name(doc)}: {e}", locate(doc, path),
                                 field=field_path(path)) from None

    def _ASMMeshConfig(self, doc: Document) -> None:
        schema.validate(doc, "asmmeshconfig.json", f"ASMMeshConfig {_name(doc)}")
        if self.settings.asm_mesh_config is not None:
            first = self.settings.asm_mesh_config
            raise InputError(f"a second ASMMeshConfig; the first is at {locate(first, ('kind',))}. Keep one",
                             locate(doc, ("kind",)), field="kind")
        self.settings.asm_mesh_config = doc

    def _IstioOperator(self, doc: Document) -> None:
        schema.validate(doc, "istiooperator.json", f"IstioOperator {_name(doc)}", schema.without_nulls(doc.data))
        self.settings.add_upstream("IstioOperator", istioconfig.istio_operator_layer(doc))

    def _one_configmap(self, kind: str, doc: Document) -> None:
        """One ConfigMap of each kind: two (say, two revisions') would each silently
        override the other, and meshrender renders for one control plane."""
        first = self.settings.configmaps.get(kind)
        if first is not None:
            raise InputError(
                f"a second {kind.split('/')[1]} ConfigMap ({_name(doc)}); the first, {_name(first)}, is at "
                f"{locate(first, ('metadata', 'name'))}. Keep the one of the control plane the workloads use",
                locate(doc, ("metadata", "name")), field="metadata.name")
        self.settings.configmaps[kind] = doc

    def _ConfigMap_istio(self, doc: Document) -> None:
        schema.validate(doc, "configmap-istio.json", f"ConfigMap {_name(doc)}")
        self._one_configmap("ConfigMap/istio", doc)
        layer, mesh = istioconfig.mesh_configmap_layer(doc)
        if layer is None:
            return
        check_mesh(doc, mesh, ("data", "mesh"))
        self.settings.add_upstream("ConfigMap/istio", layer)

    def _ConfigMap_istio_sidecar_injector(self, doc: Document) -> None:
        schema.validate(doc, "configmap-istio.json", f"ConfigMap {_name(doc)}")
        self._one_configmap("ConfigMap/istio-sidecar-injector", doc)
        layer = istioconfig.injector_configmap_layer(doc)
        if layer is not None:
            self.settings.add_upstream("ConfigMap/istio-sidecar-injector", layer)

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
        if selector is not None and not (selector.get("matchLabels") or {}):
            # Istio: a selector without matchLabels selects no workload (and is not
            # namespace-wide either).
            return
        label = f"ProxyConfig {ns + '/' if ns else ''}{_name(doc)}"
        full: dict[str, Any] = {"proxy": overlay}
        if selector is not None:
            full["extras"] = {PINNED_PROXY: overlay}
        scope = "workload" if selector is not None else ("namespace" if ns else "global")
        self.settings.proxy_configs.append(ProxyConfigResource(
            doc, ns, selector, Layer(label, full, doc=doc, fields=fields, kind="ProxyConfig", scope=scope)))


def check_mesh(doc: Document, mesh: dict, at: tuple) -> None:
    """A mesh config map against schemas/meshconfig.json, errors at the offending field:
    inside the ConfigMap's data.mesh block (`at` = ("data", "mesh")) or in a mesh config
    file (`at` = ())."""
    if at[:1] == ("data",) and len(at) == 2:
        embedded.check(doc, at[1], mesh, "meshconfig.json", f"ConfigMap {_name(doc)}: mesh config")
    else:
        schema.validate_embedded(schema.without_nulls(mesh), "meshconfig.json", "mesh config", at,
                                 lambda p: locate(doc, (*at, *p)))


def _read_one(path: str, what: str) -> Document | None:
    from meshrender.inputs.sources import read_text  # bounded by meshrender.limits, errors at the path

    docs = yamlio.parse(read_text(path, Path(path)), path)
    if not docs:
        return None
    if len(docs) > 1:
        raise InputError(f"{what} must hold one YAML document", docs[1].location)
    if not isinstance(docs[0].data, dict):
        raise InputError(f"{what} must be a YAML map, not {type_name(docs[0].data)}", docs[0].location)
    return docs[0]


def values_file_layer(path: str, mesh: bool) -> Layer:
    """The layer of a `--values` (mesh=False) or `--mesh-config` (mesh=True) file.

    Besides the plain maps istioctl kube-inject takes (`--valuesFile`, `--meshConfigFile`),
    the file may be an IstioOperator (its values, hub, tag and revision, or its
    meshConfig) or the ConfigMap as `kubectl get cm -o yaml` prints it (the
    istio-sidecar-injector ConfigMap for values, the istio ConfigMap for mesh config).
    """
    flag = "--mesh-config" if mesh else "--values"
    what = "mesh config file" if mesh else "values file"
    kind = "mesh-config-file" if mesh else "values-file"
    doc = _read_one(path, what)
    if doc is None:
        return Layer(f"{flag} file", {}, source=path, kind=kind)
    data = doc.data
    settings = settings_kind(data)
    if settings == "IstioOperator":
        schema.validate(doc, "istiooperator.json", f"{flag} IstioOperator", schema.without_nulls(data))
        layer = istioconfig.istio_operator_layer(doc)
        layer.overlay.pop("values" if mesh else "mesh", None)
        if not mesh:
            layer.overlay.pop("proxy", None)
    elif settings == "ConfigMap/istio" and mesh:
        cm_layer, cm_mesh = istioconfig.mesh_configmap_layer(doc)
        check_mesh(doc, cm_mesh, ("data", "mesh"))
        layer = cm_layer or Layer(flag, {}, doc=doc)
    elif settings == "ConfigMap/istio-sidecar-injector" and not mesh:
        layer = istioconfig.injector_configmap_layer(doc) or Layer(flag, {}, doc=doc)
    elif mesh:
        check_mesh(doc, data, ())
        layer = upstream_layer(flag, None, data, kind=kind, doc=doc)
    else:
        schema.validate_embedded(schema.without_nulls(data), "values.json", what, (), lambda p: locate(doc, p))
        layer = upstream_layer(flag, data, None, kind=kind, doc=doc)
    layer.label, layer.kind = f"{flag} file", kind  # whatever it holds, the flag is what set it
    layer.source = path
    return layer
