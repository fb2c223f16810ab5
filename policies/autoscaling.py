"""Autoscalers among the inputs that do not see the proxy the way it is rendered."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshrender.istio import PROXY
from meshrender.lint.finding import Hit
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import workload_rule
from meshrender.settings.provenance import Place
from meshrender.yamlio import Document


def _group(api_version: Any) -> str:
    text = str(api_version or "")
    return text.split("/")[0] if "/" in text else ""


def targeting(view: WorkloadView) -> Iterator[Document]:
    """VerticalPodAutoscalers among the inputs whose spec.targetRef is this workload."""
    w = view.workload
    group = _group(w.doc.get("apiVersion"))
    for doc in view.model.settings.autoscalers:
        data = doc.data
        meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        ref = (data.get("spec") or {}).get("targetRef") if isinstance(data.get("spec"), dict) else None
        if not isinstance(ref, dict) or ref.get("kind") != w.kind or ref.get("name") != w.name:
            continue
        if (meta.get("namespace") or view.model.options.namespace) != w.namespace:
            continue
        if ref.get("apiVersion") and _group(ref["apiVersion"]) != group:
            continue
        yield doc


def _policies(doc: Document) -> list[tuple[int, dict[str, Any]]]:
    spec = doc.data.get("spec") if isinstance(doc.data.get("spec"), dict) else {}
    policy = spec.get("resourcePolicy") if isinstance(spec.get("resourcePolicy"), dict) else {}
    found = policy.get("containerPolicies") if isinstance(policy.get("containerPolicies"), list) else []
    return [(i, p) for i, p in enumerate(found) if isinstance(p, dict)]


def _proxy_left_out(doc: Document) -> bool:
    """The VPA already keeps its hands off the proxy (or off everything): nothing is lost."""
    by_name = {str(p.get("containerName")): p for _, p in _policies(doc)}
    proxy = by_name.get(PROXY) or by_name.get("*")  # its own policy, else the default one
    return proxy is not None and str(proxy.get("mode")) == "Off"


@workload_rule(
    "vpa-ignores-native-sidecar", "warning",
    title="A VerticalPodAutoscaler does not size the native sidecar",
    rationale="""The Vertical Pod Autoscaler ignores init containers: its recommender skips them
    (kubernetes/autoscaler vertical-pod-autoscaler/pkg/recommender/input/cluster_feeder.go; issues
    kubernetes/autoscaler#6691 "VPA does not appear to support native sidecars" and #7229). A native
    istio-proxy is an init container with restartPolicy: Always, so a VPA that sized the traditional
    proxy with the app containers stops sizing it once the workload runs native: the proxy keeps the
    requests and limits of its settings however busy it gets, and a containerPolicy for istio-proxy
    does nothing. Support is proposed behind an alpha NativeSidecar feature gate (AEP-8905,
    kubernetes/autoscaler#8905; implementation #8498, not released when this rule was written).""",
    fix="""Size the proxy in the sidecar settings (proxy.resources in SidecarProxySettings, or the
    sidecar.istio.io/proxyCPU / proxyMemory annotations), or keep the workload traditional while the
    proxy must follow VPA; set containerPolicies for istio-proxy to mode: "Off" to say it is sized by
    hand.""",
)
def vpa_ignores_native_sidecar(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected or not view.native:
        return
    for doc in targeting(view):
        if _proxy_left_out(doc):
            continue
        name = ((doc.data.get("metadata") or {}).get("name")) or "(unnamed)"
        named = [(i, p) for i, p in _policies(doc) if p.get("containerName") == PROXY]
        cpu = view.setting("proxy.resources.requests.cpu")
        memory = view.setting("proxy.resources.requests.memory")
        sized = ", ".join(f"{what} {s.value}" for what, s in (("cpu", cpu), ("memory", memory))
                          if s is not None and s.value is not None) or "no requests"
        if named:
            i, _ = named[0]
            yield Hit(f"VerticalPodAutoscaler {name} has a containerPolicy for istio-proxy, but istio-proxy runs as "
                      "a native sidecar (an init container), which VPA ignores: the policy does nothing and the "
                      f"proxy keeps its settings' requests ({sized}); size it in the sidecar settings or run the "
                      "workload traditional",
                      Place(doc, ("spec", "resourcePolicy", "containerPolicies", i, "containerName")), view.subject)
        else:
            yield Hit(f"VerticalPodAutoscaler {name} sizes this workload's containers, but istio-proxy runs as a "
                      "native sidecar (an init container), which VPA ignores: the proxy keeps its settings' "
                      f"requests ({sized}) however busy it gets; size it in the sidecar settings, or set a "
                      "containerPolicy for istio-proxy with mode: \"Off\" to say it is sized by hand",
                      Place(doc, ("spec", "targetRef", "name")), view.subject)
