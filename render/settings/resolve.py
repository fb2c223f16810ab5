"""The effective configuration of each workload, from the layers that apply to it.

Precedence, lowest first: flavor defaults < Istio config (in-repo ConfigMaps and
IstioOperator, then --values / --mesh-config) < ProxyConfig resources (root namespace,
namespace, selector) < global < namespace < workload SidecarProxySettings < pod
annotations (which the injector reads itself). Results are cached per namespace and set
of matching selectors, so thousands of workloads cost a handful of merges.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from meshrender import bundled
from meshrender.errors import InputError, UsageError, show_value
from meshrender.inject import proxyconfig, release
from meshrender.inject.context import InjectConfig
from meshrender.inputs.kinds import Workload
from meshrender.istio import NATIVE
from meshrender.kube import selectors
from meshrender.settings.collect import ProxyConfigResource, Settings, SidecarSettings, values_file_layer
from meshrender.settings.layers import Layer, Tree, leaf_paths
from meshrender.settings.mode import Cluster, decide, parse_version
from meshrender.settings.options import Options
from meshrender.settings.provenance import Effective, Origin, Place, Step
from meshrender.settings.selector_index import SelectorIndex
from meshrender.settings.translate import upstream_layer

DNS_KEYS = ("ISTIO_META_DNS_CAPTURE", "ISTIO_META_DNS_AUTO_ALLOCATE")
# Settings trees and configurations kept for reuse (per namespace, per set of selectors).
MAX_CACHED = 1024
# What a cached Resolved holds until each workload's own mode is decided.
_UNDECIDED = Effective("mode", None, Step(None, Origin("default", "undecided")))


@cache
def flavor_defaults(flavor: str) -> dict[str, Any]:
    return bundled.load(f"{flavor}.yaml")


@dataclass
class Resolved:
    """One workload's effective configuration (the tree, with each leaf's origin), the
    injector configuration made from it, and native or traditional (an Effective whose
    value is True for native)."""

    tree: Tree
    config: InjectConfig
    mode: Effective
    # The workload SidecarProxySettings and selector ProxyConfig layers that matched it
    # (Resolver.matching): what incremental work files it under (run/digests.py).
    matched: tuple[list[SidecarSettings], list[Layer]] = ([], [])


def _value_at(tree: dict, path: tuple) -> Any:
    for p in path:
        tree = tree[p]
    return tree


def _apply_scope(tree: Tree, layers: list[Layer], scope: str) -> None:
    """Apply same-scope layers, refusing two that set one field to different values."""
    seen: dict[tuple, tuple[Any, Layer]] = {}
    for layer in layers:
        for path in leaf_paths(layer.overlay):
            value = _value_at(layer.overlay, path)
            if path in seen and seen[path][0] != value:
                other = seen[path][1]
                here = layer.origin(path)
                there = other.origin(path)
                raise InputError(
                    f"{scope} settings disagree on {there.field or '.'.join(map(str, path))}: "
                    f"{other.label} ({there.location()}) sets {show_value(seen[path][0])}, "
                    f"{layer.label} sets {show_value(value)}; keep one value or narrow one document's scope",
                    here.location(), field=here.field or ".".join(map(str, path)))
            seen[path] = (value, layer)
        tree.apply(layer)


class Resolver:
    """Computes `Resolved` for workloads; one per render."""

    def __init__(self, settings: Settings, options: Options, *, force_native: bool | None = None):
        """`force_native`: every workload native (True) or traditional (False), whatever
        the rules of render/settings/mode.py say: how `report` prices the mode a workload
        does not run in (a pod annotation would otherwise win over any flag)."""
        self.settings = settings
        self.options = options
        self.force_native = force_native
        profile = settings.profile_spec
        config = options.config
        flavor = options.flavor or profile.get("flavor") or config.default("flavor") or "asm"
        if flavor not in ("asm", "istio"):
            raise InputError(f"unknown flavor {flavor!r}; use asm or istio")
        kube = (options.kube_version or os.environ.get("KUBE_VERSION") or profile.get("kubernetesVersion")
                or config.default("kubernetesVersion"))
        if kube and parse_version(kube) is None:
            source = "--kube-version" if options.kube_version else "KUBE_VERSION"
            raise UsageError(f"Kubernetes version {kube!r} is not a version like 1.30", field=source)
        mesh = options.mesh_version or profile.get("meshVersion") or config.default("meshVersion")
        self.release, self.warnings = release.for_render(
            flavor, options.mesh_version, settings.profile, config,
            options.region or profile.get("region") or config.default("region"))
        self.cluster = Cluster(
            flavor=flavor,
            kube_version=parse_version(kube),
            provider=options.provider or profile.get("provider") or config.default("provider"),
            mesh_version=parse_version(mesh),
            native_flag=options.native_sidecars,
            origins=self._cluster_origins(),
        )
        self.used_settings: set[int] = set()
        self.base = self._base_tree()
        self._ns_cache: dict[str, Tree] = {}
        self._cache: dict[tuple, Resolved] = {}
        # The caches hold a settings tree and injector configurations per namespace and per
        # set of matching selectors: bounded (a run may have that many distinct ones), and
        # emptied whole when full. `generation` counts the emptyings: what is keyed by the
        # id of a configuration (evaluation.shared_settings_key) includes it, since a new
        # configuration may reuse the id of one emptied away.
        self.generation = 0
        # The traditional-mode config of each `_cache` entry, made once: workloads that
        # share it share one InjectConfig, which the sidecar cache keys on.
        self._traditional: dict[tuple, InjectConfig] = {}
        self._sps_index: SelectorIndex[SidecarSettings] | None = None
        self._pc_index: SelectorIndex[Layer] | None = None

    def _cluster_origins(self) -> dict[str, Origin]:
        """Where each fact about the cluster came from: a flag, the environment, the ClusterProfile."""
        out: dict[str, Origin] = {}
        options, doc = self.options, self.settings.profile
        spec = self.settings.profile_spec
        name = ((doc.data.get("metadata") or {}).get("name") or "") if doc is not None else ""
        config = options.config
        for key in ("flavor", "kubernetesVersion", "provider", "meshVersion"):
            if doc is not None and key in spec:
                out[key] = Origin("ClusterProfile", f"ClusterProfile {name} {key}", Place(doc, ("spec", key)))
            elif config.default(key) is not None:
                out[key] = Origin("config", f"{config.path} render.{key}", Place(config.doc, ("render", key)))
        if options.provider:
            out["provider"] = Origin("command-line", f"--provider {options.provider}")
        if options.flavor:
            out["flavor"] = Origin("command-line", f"--flavor {options.flavor}")
        if options.kube_version:
            out["kubernetesVersion"] = Origin("command-line", f"--kube-version {options.kube_version}")
        elif os.environ.get("KUBE_VERSION"):
            out["kubernetesVersion"] = Origin("environment", f"KUBE_VERSION={os.environ['KUBE_VERSION']}")
        if options.native_sidecars in ("true", "false"):
            if "native_sidecars" in options.given or config.default("nativeSidecars") is None:
                out["nativeSidecars"] = Origin("command-line", f"--native-sidecars {options.native_sidecars}")
            else:
                out["nativeSidecars"] = Origin("config", f"{config.path} render.nativeSidecars",
                                               Place(config.doc, ("render", "nativeSidecars")))
        return out

    # -- layers -------------------------------------------------------------------------

    def _ns(self, pc: ProxyConfigResource) -> str:
        """A ProxyConfig without metadata.namespace lands in the render's namespace."""
        return pc.namespace or self.options.namespace

    def _base_tree(self) -> Tree:
        tree = Tree()
        flavors = ["istio"] if self.cluster.flavor == "istio" else ["istio", "asm"]
        for f in flavors:
            d = flavor_defaults(f)
            tree.apply(upstream_layer(f"{f} flavor default", d.get("values"), d.get("meshConfig"),
                                      kind="flavor-default", doc=bundled.document(f"{f}.yaml"),
                                      values_field=("values",), mesh_field=("meshConfig",)))
        image = release.image_values(self.release)  # the release's own proxy image
        if image:
            tree.apply(upstream_layer(f"{self.release.label} release default", image, None, kind="flavor-default",
                                      source=release.data_file(self.release)))
        for layer in self.settings.upstream:
            tree.apply(layer)
        for path in self.options.values_files:
            tree.apply(values_file_layer(path, mesh=False))
        for path in self.options.mesh_config_files:
            tree.apply(values_file_layer(path, mesh=True))
        root = tree.get("mesh", "rootNamespace") or "istio-system"
        mesh_wide = [pc.layer for pc in self.settings.proxy_configs
                     if self._ns(pc) == root and not pc.selector]
        _apply_scope(tree, mesh_wide, "mesh-wide ProxyConfig")
        globals_ = [s for s in self.settings.sidecar if s.scope == "global"]
        self.used_settings.update(id(s) for s in globals_)
        _apply_scope(tree, [s.layer for s in globals_], "global")
        return tree

    def _namespace_tree(self, ns: str) -> Tree:
        cached = self._ns_cache.get(ns)
        if cached is not None:
            return cached
        if len(self._ns_cache) >= MAX_CACHED:
            self._ns_cache.clear()
        tree = self.base.copy()
        root = self.base.get("mesh", "rootNamespace") or "istio-system"
        if ns != root:
            _apply_scope(tree, [pc.layer for pc in self.settings.proxy_configs
                                if self._ns(pc) == ns and not pc.selector], f"namespace {ns} ProxyConfig")
        nss = [s for s in self.settings.sidecar if s.scope == "namespace" and s.namespace == ns]
        self.used_settings.update(id(s) for s in nss)
        _apply_scope(tree, [s.layer for s in nss], f"namespace {ns}")
        self._ns_cache[ns] = tree
        return tree

    def matching(self, w: Workload) -> tuple[list[SidecarSettings], list[Layer]]:
        """The workload SidecarProxySettings (of its namespace or of none) and the
        selector ProxyConfigs (of its namespace) whose selectors match its labels, in
        input order: looked up in indexes made once (settings/selector_index.py), so a
        render does not try every selector on every workload."""
        if self._sps_index is None:
            self._sps_index = SelectorIndex([(s.namespace, s.selector, s) for s in self.settings.sidecar
                                             if s.scope == "workload"])
            self._pc_index = SelectorIndex([(self._ns(pc), pc.selector, pc.layer)
                                            for pc in self.settings.proxy_configs if pc.selector])
        return self._sps_index.matching(w.namespace, w.labels), self._pc_index.matching(w.namespace, w.labels)

    def matching_scan(self, w: Workload) -> tuple[list[SidecarSettings], list[Layer]]:
        """`matching` by trying every selector: the reference the index is checked against."""
        labels = w.labels
        ns = w.namespace
        sps = [s for s in self.settings.sidecar if s.scope == "workload"
               and (s.namespace is None or s.namespace == ns) and selectors.matches(s.selector, labels)]
        pcs = [pc.layer for pc in self.settings.proxy_configs
               if pc.selector and self._ns(pc) == ns and selectors.matches(pc.selector, labels)]
        return sps, pcs

    # -- per workload -------------------------------------------------------------------

    def resolve(self, w: Workload) -> Resolved:
        sps, pcs = self.matching(w)
        self.used_settings.update(id(s) for s in sps)
        key = (w.namespace, tuple(id(s) for s in sps), tuple(id(p) for p in pcs))
        base = self._cache.get(key)
        if base is None:
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
                self._traditional.clear()
                self.generation += 1
            tree = self._namespace_tree(w.namespace).copy()
            _apply_scope(tree, pcs, "workload ProxyConfig")
            _apply_scope(tree, [s.layer for s in sps], "workload")
            if not self.release.image_known:
                try:
                    release.check_image(self.release, tree.data["values"])
                except UsageError as e:
                    # The workload cannot be rendered; lint reports it there and checks the rest.
                    where = w.source_doc.location if w.source_doc is not None else None
                    raise InputError(f"{w.display}: {e.message}", where, field=e.field) from None
            base = Resolved(tree, self._config(tree, True), _UNDECIDED)
            self._cache[key] = base
        mode = self._mode(w, base.tree)
        if mode.value:
            config = base.config
        else:
            config = self._traditional.get(key)
            if config is None:
                config = self._traditional[key] = self._config(base.tree, False)
        return Resolved(base.tree, config, mode, (sps, pcs))

    def _mode(self, w: Workload, tree: Tree) -> Effective:
        if self.force_native is not None:
            name = "native" if self.force_native else "traditional"
            return Effective("mode", self.force_native, Step(self.force_native, Origin("default", f"forced {name}")),
                             reason=f"{name}, forced (the other mode's cost)")
        place = None
        if NATIVE in w.pod.annotations and w.source_doc is not None:
            place = Place(w.source_doc, (*w.meta_path, "annotations", NATIVE))
        asm_native = asm_origin = None
        amc = self.settings.asm_mesh_config
        if amc is not None and "enableNativeSidecar" in (amc.data.get("spec") or {}):
            asm_native = bool(amc.data["spec"]["enableNativeSidecar"])
            name = (amc.data.get("metadata") or {}).get("name") or ""
            asm_origin = Origin("ASMMeshConfig", f"ASMMeshConfig {name}", Place(amc, ("spec", "enableNativeSidecar")))
        return decide(w.pod.annotations, place, tree, asm_native, asm_origin, self.cluster)

    def _config(self, tree: Tree, native: bool) -> InjectConfig:
        proxy = proxyconfig.effective(tree.data["proxy"])
        extras = dict(tree.data["extras"])
        dns = extras.get("dnsProxy")
        if dns is not None:
            meta = dict(proxy.get("proxyMetadata") or {})
            for k in DNS_KEYS:
                if dns:
                    meta[k] = "true"
                else:
                    meta.pop(k, None)
            proxy["proxyMetadata"] = meta
        values = tree.data["values"]
        if not self.release.image_known:  # the image comes from the settings
            values = release.hub_and_tag_from_image(values)
        return InjectConfig(
            flavor=self.cluster.flavor,
            values=values,
            mesh=tree.data["mesh"],
            proxy=proxy,
            native=native,
            compliance_policy=self.options.compliance_policy,
            extras=extras,
            release=self.release,
        )

    def unused_selectors(self) -> list[SidecarSettings]:
        return [s for s in self.settings.sidecar if s.scope == "workload" and id(s) not in self.used_settings]
