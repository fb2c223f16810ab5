"""What a traditional sidecar (istio-proxy among the app containers) breaks."""

from __future__ import annotations

from collections.abc import Iterator

from meshrender.istio import INIT, MESH_CONTAINERS, PROXY, VALIDATION
from meshrender.lint.finding import Hit
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import workload_rule

from .native_support import native_floor

PROXY_UID = 1337
BEFORE_PROXY = "sidecar.istio.io/init-containers-before-proxy"


def _can_run_native(view: WorkloadView) -> bool:
    cluster = view.model.cluster
    if cluster is None or cluster.kube_version is None:
        return False
    return cluster.kube_version >= native_floor(cluster)[0]


def _calls_quit(view: WorkloadView) -> bool:
    """The job stops its proxy itself (curl -X POST localhost:15020/quitquitquit)."""
    for _, c in view.containers():
        words = [*(c.get("command") or []), *(c.get("args") or [])]
        if any("quitquitquit" in str(w) for w in words):
            return True
    return False


@workload_rule(
    "job-sidecar-never-exits", "warning",
    title="A traditional sidecar keeps Job pods from completing",
    rationale="""A traditional istio-proxy keeps running after a Job's containers finish, so the pod
    never completes: the Job hangs, CronJob runs pile up, and resources stay reserved.""",
    fix="""Run Jobs and CronJobs with a native sidecar (sidecar.istio.io/nativeSidecar: "true" on
    Kubernetes 1.29+, 1.30+ on ACK), or have the job stop its proxy when done
    (curl -X POST localhost:15020/quitquitquit).""",
)
def job_sidecar_never_exits(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected or view.native or view.kind not in ("Job", "CronJob") or _calls_quit(view):
        return
    assert view.mode is not None
    if _can_run_native(view) and view.mode_anchor is not None:
        advice = f"run it native (the cluster supports it): change {view.mode.reason}"
    elif _can_run_native(view):
        advice = "run it native (the cluster supports it): sidecar.istio.io/nativeSidecar: \"true\""
    else:
        advice = ("stop the proxy when the job is done (curl -X POST localhost:15020/quitquitquit), or run it "
                  "native once the cluster supports native sidecars")
    yield Hit(f"runs a traditional sidecar, which keeps running after the {view.kind}'s containers finish, "
              f"so its pods never complete; {advice}", view.mode_or_template())


def _capture_window(view: WorkloadView) -> tuple[int, int | None, str] | None:
    """When the rendered pod's init containers have their traffic redirected but no proxy
    to take it: (first index redirected, index of a native istio-proxy or None, what
    redirects). None when nothing is redirected (interceptionMode NONE).

    Read from the pod as the injector orders it (Istio's reorderPod, mirrored by
    meshrender's injector): traditional without CNI, istio-init is moved last, after the
    user's init containers, which therefore still have plain network; with the Istio CNI
    plugin the redirect exists before any init container runs (istio-validation only
    checks it); native, istio-init and istio-validation come first, then the init
    containers named in sidecar.istio.io/init-containers-before-proxy, then istio-proxy.
    """
    names = [c.get("name") for c in (view.rendered or {}).get("spec", {}).get("initContainers") or []
             if isinstance(c, dict)]
    if VALIDATION in names:
        start, how = -1, "the Istio CNI plugin has redirected the pod's traffic (before any init container runs)"
    elif INIT in names:
        start, how = names.index(INIT), "istio-init has redirected the pod's traffic"
    else:
        return None
    return start, (names.index(PROXY) if PROXY in names else None), how


@workload_rule(
    "init-container-without-mesh", "warning",
    title="Init containers run with their traffic redirected but no proxy to take it",
    rationale="""An init container that runs after the pod's traffic is redirected to the proxy but before
    the proxy has started gets "connection refused" on every network call (migrations, config
    downloads). Which init containers that is follows the injector's ordering (Istio's reorderPod in
    pkg/kube/inject/webhook.go): traditional without CNI, istio-init runs last, so init containers
    keep plain network; traditional with the Istio CNI plugin, the redirect is set up before any init
    container runs and the proxy only starts after them; native, the proxy starts right after
    istio-init, except for init containers listed in sidecar.istio.io/init-containers-before-proxy,
    which run between the two.""",
    fix="""Run the workload native (the proxy then starts before the init containers), leave the container
    out of sidecar.istio.io/init-containers-before-proxy, run it as UID 1337 (its traffic bypasses the
    redirect), or exclude what it calls with traffic.sidecar.istio.io/excludeOutboundIPRanges or
    excludeOutboundPorts.""",
)
def init_container_without_mesh(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected or view.rendered is None:
        return
    mode = view.setting("traffic.interceptionMode")
    if mode is not None and mode.value == "NONE":
        return
    outbound = view.setting("traffic.includeOutboundIPRanges")
    if outbound is not None and outbound.value is not None and str(outbound.value).strip() == "":
        return
    window = _capture_window(view)
    if window is None:
        return
    start, proxy, how = window
    order = [c.get("name") for c in view.rendered["spec"].get("initContainers") or [] if isinstance(c, dict)]
    before = view.annotations.get(BEFORE_PROXY)
    for i, c in view.containers("initContainers"):
        name = c.get("name")
        if name in MESH_CONTAINERS or name not in order or view.run_as_user("initContainers", i)[0] == PROXY_UID:
            continue
        at = order.index(name)
        if at <= start or (proxy is not None and at > proxy):
            continue
        if proxy is not None:
            listed = isinstance(before, str) and name in [n.strip() for n in before.split(",")]
            why = f"is listed in {BEFORE_PROXY}, so it runs" if listed else "runs"
            yield Hit(f"init container {name} {why} after {how} but before the native istio-proxy starts: its "
                      "network calls fail; "
                      + ("leave it out of the annotation unless it makes no network calls, " if listed else "")
                      + "run it as UID 1337, or exclude what it calls from capture "
                      "(traffic.sidecar.istio.io/excludeOutboundIPRanges / excludeOutboundPorts)",
                      view.at_annotation(BEFORE_PROXY, needle=name) if listed
                      else view.at_spec("initContainers", i, "name"))
        else:
            yield Hit(f"init container {name} runs after {how} but before the traditional istio-proxy starts "
                      "(it starts after every init container), so its network calls fail; run the workload "
                      "native, run this container as UID 1337, or exclude what it calls from capture "
                      "(traffic.sidecar.istio.io/excludeOutboundIPRanges / excludeOutboundPorts)",
                      view.at_spec("initContainers", i, "name"))
