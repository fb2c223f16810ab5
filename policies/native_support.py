"""Native or traditional, against what the target cluster supports."""

from __future__ import annotations

from collections.abc import Iterator

from meshrender.lint.finding import Hit
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import workload_rule
from meshrender.settings.mode import ACK_PROVIDERS, Cluster, Version, show

from .webhooks import stripping_webhooks

PROVIDER_NAMES = {"ack": "ACK", "ack-serverless": "ACK Serverless", "acs": "ACS", "community": "community Kubernetes"}


def native_floor(cluster: Cluster) -> tuple[Version, str]:
    """The first Kubernetes version that runs native sidecars on this cluster, and its name."""
    provider = cluster.provider
    if provider in ACK_PROVIDERS or (provider is None and cluster.flavor == "asm"):
        name = PROVIDER_NAMES.get(provider or "ack", "ACK")
        return (1, 30), name + ("" if provider else " (assumed: set spec.provider in the ClusterProfile)")
    return (1, 29), PROVIDER_NAMES.get(provider or "community", provider or "Kubernetes")


@workload_rule(
    "native-sidecar-unsupported-kubernetes", "error",
    title="Native sidecar on a Kubernetes version without native sidecars",
    rationale="""Native sidecars (init containers with restartPolicy: Always) need Kubernetes 1.29+, and
    1.30+ on ACK, ACK Serverless and ACS. On 1.28 they exist only behind the SidecarContainers feature
    gate and still terminate out of order (with, not after, the app containers); older clusters
    reject the pod or run the proxy as a plain init container that blocks the app forever.""",
    fix="""Run the workload traditional (sidecar.istio.io/nativeSidecar: "false", nativeSidecar: false)
    until the cluster is upgraded, or correct the ClusterProfile's kubernetesVersion.""",
)
def unsupported_kubernetes(view: WorkloadView) -> Iterator[Hit]:
    cluster = view.model.cluster
    if not view.injected or not view.native or cluster is None or cluster.kube_version is None:
        return
    need, where = native_floor(cluster)
    kube = cluster.kube_version
    if kube >= need:
        return
    gate = ""
    if kube == (1, 28):
        gate = (" (1.28 has them only behind the SidecarContainers feature gate, and even then terminates "
                "them out of order: together with the app containers, not after them)")
    assert view.mode is not None
    yield Hit(
        f"runs istio-proxy as a native sidecar ({view.mode.reason}), but Kubernetes "
        f"{show(kube)} does not support native sidecars{gate}; {where} needs {show(need)}+. Run it "
        "traditional (sidecar.istio.io/nativeSidecar: \"false\") or upgrade the cluster",
        view.mode_anchor or view.model.kube_version_anchor or view.at_meta())


@workload_rule(
    "native-sidecar-available", "info",
    title="Traditional sidecar although the cluster runs native sidecars",
    rationale="""The workload is pinned to a traditional sidecar although its cluster and mesh version
    run native sidecars, which start before and stop after the app containers, give init containers
    a network and let Jobs complete.""",
    fix="""Remove the setting that forces traditional mode (the annotation, nativeSidecar: false,
    enableNativeSidecar: false or --native-sidecars false), unless something needs it.""",
)
def native_available(view: WorkloadView) -> Iterator[Hit]:
    cluster = view.model.cluster
    if not view.injected or view.native or cluster is None:
        return
    mode = view.mode
    assert mode is not None
    would, why = cluster.auto_native()
    if not would or mode.rule == 5:
        return
    if stripping_webhooks(view):  # traditional on purpose: a webhook would break native
        return
    yield Hit(
        f"runs a traditional sidecar ({mode.reason}) although the cluster would run it native "
        f"({why.removeprefix('auto: ')}); native sidecars start before and stop after the app "
        "containers. Remove that setting unless this workload needs the traditional layout",
        view.mode_or_template())
