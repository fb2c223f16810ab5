"""What the injector needs to know about one pod, gathered before the template runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshrender.inject.release import Release, newest

# The `extras` key holding the fields a workload-selected ProxyConfig resource sets: they
# win over the proxy.istio.io/config annotation (Istio's EffectiveProxyConfig).
PINNED_PROXY = "workloadProxyConfig"


@dataclass(frozen=True)
class InjectConfig:
    """The cluster-side configuration, after every settings layer but the pod's own.

    `values` and `mesh` are Istio's injector values and mesh config (`defaultConfig`
    excluded); `proxy` is the effective ProxyConfig overlay; `extras` carries settings
    that have no Istio spelling (istio-init resources, DNS proxy) for the flavor to apply.
    `release` is the mesh release whose injector this is (render/inject/release.py): the
    templates ask it `release.has("feature")`.
    """

    flavor: str
    values: dict[str, Any]
    mesh: dict[str, Any]
    proxy: dict[str, Any]
    native: bool
    compliance_policy: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    release: Release = field(default_factory=newest)


@dataclass
class PodRef:
    """A pod (template) inside a workload: the pieces kube-inject hands to the injector."""

    metadata: dict[str, Any]
    spec: dict[str, Any]
    api_version: str
    kind: str
    deploy_name: str
    deploy_namespace: str
    namespace: str

    @property
    def annotations(self) -> dict[str, str]:
        return self.metadata.get("annotations") or {}

    @property
    def labels(self) -> dict[str, str]:
        return self.metadata.get("labels") or {}
