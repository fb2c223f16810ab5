"""What a traditional sidecar (istio-proxy among the app containers) breaks."""

from __future__ import annotations

from collections.abc import Iterator

from meshrender.lint.finding import Hit
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import workload_rule

from .native_support import native_floor

PROXY_UID = 1337
MESH_INIT = frozenset({"istio-init", "istio-validation", "enable-core-dump", "istio-proxy"})


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


@workload_rule(
    "init-container-without-mesh", "warning",
    title="Init containers have no network under a traditional sidecar",
    rationale="""With a traditional sidecar, istio-init redirects the pod's traffic before the init
    containers run, but istio-proxy only starts after them: init containers that use the network
    fail (connection refused), typically migrations and config downloads.""",
    fix="""Run the workload native (the proxy then starts before the init containers), run the init
    container as UID 1337 (its traffic bypasses the redirect), or exclude what it calls with
    traffic.sidecar.istio.io/excludeOutboundIPRanges or excludeOutboundPorts.""",
)
def init_container_without_mesh(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected or view.native:
        return
    mode = view.setting("traffic.interceptionMode")
    if mode is not None and mode.value == "NONE":
        return
    outbound = view.setting("traffic.includeOutboundIPRanges")
    if outbound is not None and outbound.value is not None and str(outbound.value).strip() == "":
        return
    for i, c in view.containers("initContainers"):
        name = c.get("name")
        if name in MESH_INIT or view.run_as_user("initContainers", i)[0] == PROXY_UID:
            continue
        yield Hit(f"init container {name} runs after istio-init has redirected the pod's traffic but before "
                  "the traditional istio-proxy starts, so its network calls fail; run the workload native, run "
                  "this container as UID 1337, or exclude what it calls from capture "
                  "(traffic.sidecar.istio.io/excludeOutboundIPRanges / excludeOutboundPorts)",
                  view.at_spec("initContainers", i, "name"))
