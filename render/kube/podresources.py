"""What a pod asks of a node, computed as Kubernetes computes it.

A port of the parts of Kubernetes that turn a pod spec into the requests the scheduler
fits and the limits the kubelet sets on the pod's cgroup:

- `SetDefaults_Pod` (pkg/apis/core/v1/defaults.go): a container's missing request
  defaults to its limit; with pod-level resources (KEP-2837) the pod-level requests and
  limits are defaulted from the containers' (`defaultHugePagePodLimits`,
  `defaultPodRequests`, `defaultPodLimits`);
- `PodRequests` / `PodLimits` (k8s.io/component-helpers/resource/helpers.go), with
  KEP-753's rule for native sidecars (restartable init containers): while the i-th init
  container runs, the sidecars declared before it run too, so

      InitContainerUse(i) = sum(restartable init containers before i) + init container i
      pod = max(max_i InitContainerUse(i), sum(containers) + sum(restartable init containers))

  (for a restartable init container, InitContainerUse(i) is the sum of the restartable
  ones up to and including it); then pod-level resources replace CPU, memory and
  hugepages when set, and the pod overhead is added (to limits only where non-zero);
- the kubelet's "limits declared" test (pkg/kubelet/cm ResourceConfigForPod): a pod whose
  containers do not all limit CPU (or memory) gets no pod-level CPU (memory) limit.

Quantities keep Go's semantics: exact values, and a sum or maximum keeps the format of
the quantity it started from (`1Gi` + `100M` prints in binary units, `100M` + `1Gi` in
decimal ones). Only what manifests hold is modelled: no pod status (in-place resize),
no LimitRange defaults, no DRA claims.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

from meshrender.errors import type_name
from meshrender.kube import quantity

CPU = "cpu"
MEMORY = "memory"
HUGEPAGES_PREFIX = "hugepages-"


class Q(NamedTuple):
    """A quantity: its exact value and Go's format (`BinarySI`, `DecimalSI`, `DecimalExponent`)."""

    value: Fraction
    fmt: str

    def __str__(self) -> str:
        return quantity.spell(self.value, self.fmt)

    def plus(self, other: Q) -> Q:
        return Q(self.value + other.value, self.fmt)

    def minus(self, other: Q) -> Q:
        return Q(self.value - other.value, self.fmt)

    def times(self, n: int) -> Q:
        return Q(self.value * n, self.fmt)


ResourceList = dict[str, Q]


class ResourceError(ValueError):
    """A resources field Kubernetes would refuse; `path` is where, relative to the pod spec."""

    def __init__(self, message: str, path: tuple):
        super().__init__(message)
        self.path = path


# -- ResourceList arithmetic, as helpers.go has it ------------------------------------------

def add(into: ResourceList, other: ResourceList) -> None:
    """addResourceList: `into[name] += other[name]`; a new name takes `other`'s format."""
    for name, q in other.items():
        have = into.get(name)
        into[name] = q if have is None else have.plus(q)


def maximum(into: ResourceList, other: ResourceList) -> None:
    """maxResourceList: `into[name] = max(into[name], other[name])`; a tie keeps `into`'s."""
    for name, q in other.items():
        have = into.get(name)
        if have is None or q.value > have.value:
            into[name] = q


def scaled(rl: ResourceList, n: int) -> ResourceList:
    return {name: q.times(n) for name, q in rl.items()}


def difference(a: ResourceList, b: ResourceList) -> ResourceList:
    """`a - b` for every name in either (a name missing from one counts as zero there)."""
    out: ResourceList = {}
    for name in {**a, **b}:
        qa, qb = a.get(name), b.get(name)
        if qa is None:
            assert qb is not None
            out[name] = Q(-qb.value, qb.fmt)
        else:
            out[name] = qa if qb is None else qa.minus(qb)
    return out


def _zero(q: Q | None) -> bool:
    return q is None or q.value == 0


def supported_at_pod_level(name: str) -> bool:
    """IsSupportedPodLevelResource: CPU, memory and hugepages."""
    return name in (CPU, MEMORY) or name.startswith(HUGEPAGES_PREFIX)


def overcommit_allowed(name: str) -> bool:
    """IsOvercommitAllowed: a native resource (no domain, or *kubernetes.io/) but not hugepages."""
    native = "/" not in name or "kubernetes.io/" in name
    return native and not name.startswith(HUGEPAGES_PREFIX)


# -- reading a pod spec ------------------------------------------------------------------------

def resource_list(value: Any, path: tuple) -> ResourceList:
    """A `requests` / `limits` / `overhead` map as quantities; ResourceError for what the
    API server refuses (not a map, not a quantity, negative)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ResourceError(f"must be a map of resource names to quantities, not {type_name(value)}", path)
    out: ResourceList = {}
    for name, raw in value.items():
        if not isinstance(name, str):
            raise ResourceError(f"the resource name {name!r} is not a string", (*path, name))
        if raw is None:
            continue
        try:
            v, fmt = quantity.stored(raw)
        except quantity.QuantityError as e:
            raise ResourceError(str(e), (*path, name)) from None
        if v < 0:
            raise ResourceError(f"{quantity.canonical(raw)} is negative; a resource quantity must be "
                                "zero or more", (*path, name))
        out[name] = Q(v, fmt)
    return out


@dataclass
class Container:
    """One container's resources after the API server's defaulting."""

    name: str
    requests: ResourceList
    limits: ResourceList
    restartable: bool = False  # an init container with restartPolicy: Always (a native sidecar)


@dataclass
class Pod:
    """A pod's resources as the scheduler and kubelet see them (after defaulting)."""

    containers: list[Container]
    init_containers: list[Container]
    requests: ResourceList | None = None  # pod-level spec.resources (KEP-2837), when honoured
    limits: ResourceList | None = None
    overhead: ResourceList = field(default_factory=dict)

    def find(self, name: str) -> Container | None:
        for c in (*self.init_containers, *self.containers):
            if c.name == name:
                return c
        return None


def _container(c: Any, path: tuple) -> Container:
    if not isinstance(c, dict):
        raise ResourceError(f"must be a container (a map), not {type_name(c)}", path)
    res = c.get("resources")
    if res is not None and not isinstance(res, dict):
        raise ResourceError(f"must be a map, not {type_name(res)}", (*path, "resources"))
    res = res or {}
    requests = resource_list(res.get("requests"), (*path, "resources", "requests"))
    limits = resource_list(res.get("limits"), (*path, "resources", "limits"))
    for name, q in limits.items():  # SetDefaults_Pod: a missing request defaults to the limit
        requests.setdefault(name, q)
    return Container(str(c.get("name") or ""), requests, limits, c.get("restartPolicy") == "Always")


def read_pod(spec: dict[str, Any], *, pod_level_resources: bool = True) -> Pod:
    """The resources of a pod spec, defaulted as the API server defaults a Pod created from
    it. `pod_level_resources`: the cluster honours `spec.resources` (the PodLevelResources
    feature); otherwise the API server drops it and so is it ignored here."""
    containers = [_container(c, ("containers", i)) for i, c in enumerate(spec.get("containers") or ())]
    inits = [_container(c, ("initContainers", i)) for i, c in enumerate(spec.get("initContainers") or ())]
    pod = Pod(containers, inits, overhead=resource_list(spec.get("overhead"), ("overhead",)))
    res = spec.get("resources")
    if pod_level_resources and res is not None:
        if not isinstance(res, dict):
            raise ResourceError(f"must be a map, not {type_name(res)}", ("resources",))
        pod.requests = resource_list(res.get("requests"), ("resources", "requests"))
        pod.limits = resource_list(res.get("limits"), ("resources", "limits"))
        _default_hugepage_pod_limits(pod)
        _default_pod_requests(pod)
        _default_pod_limits(pod)
    return pod


def _levels_set(rl: ResourceList | None) -> bool:
    return bool(rl) and any(supported_at_pod_level(n) for n in rl or ())


def pod_level_requests_set(pod: Pod) -> bool:
    return _levels_set(pod.requests)


def pod_level_limits_set(pod: Pod) -> bool:
    return _levels_set(pod.limits)


def pod_level_set(pod: Pod) -> bool:
    return pod_level_requests_set(pod) or pod_level_limits_set(pod)


def _default_hugepage_pod_limits(pod: Pod) -> None:
    """defaultHugePagePodLimits: pod-level hugepage limits from the containers' ones."""
    if not pod.limits and not pod.requests:
        return
    limits = dict(pod.limits or {})
    for name, q in aggregate_limits(pod).items():
        if name.startswith(HUGEPAGES_PREFIX) and name not in (pod.requests or {}) and name not in limits:
            limits[name] = q
    if limits:
        pod.limits = limits


def _default_pod_requests(pod: Pod) -> None:
    """defaultPodRequests: with pod-level limits, a pod-level request not written defaults to
    the containers' effective request, else to the pod-level limit."""
    if not pod.limits:
        return
    requests = dict(pod.requests or {})
    for name, q in aggregate_requests(pod).items():
        if name not in requests and supported_at_pod_level(name) and overcommit_allowed(name):
            requests[name] = q
    for name, q in pod.limits.items():
        if name not in requests and supported_at_pod_level(name):
            requests[name] = q
    if requests:
        pod.requests = requests


def _default_pod_limits(pod: Pod) -> None:
    """defaultPodLimits: with pod-level requests and no pod-level limits, a CPU or memory
    limit every container has becomes the pod's, summed as the KEP-753 rule sums."""
    if pod_level_limits_set(pod) or not pod_level_requests_set(pod):
        return
    limits = dict(pod.limits or {})
    everyone = (*pod.containers, *pod.init_containers)
    for name, q in aggregate_limits(pod).items():
        if name in limits or not supported_at_pod_level(name) or not overcommit_allowed(name):
            continue
        if all(name in c.limits for c in everyone):
            limits[name] = q
    if limits:
        pod.limits = limits


# -- the aggregation -----------------------------------------------------------------------

def _init_uses(pod: Pod, which: str) -> list[ResourceList]:
    """InitContainerUse(i) for each init container: its own resources plus those of the
    restartable init containers declared before it (for a restartable one: the sum of the
    restartable ones up to and including it)."""
    running: ResourceList = {}
    uses = []
    for c in pod.init_containers:
        own = getattr(c, which)
        if c.restartable:
            add(running, own)
            uses.append(dict(running))
        else:
            use: ResourceList = {}
            add(use, own)
            add(use, running)
            uses.append(use)
    return uses


def _aggregate(pod: Pod, which: str) -> ResourceList:
    """aggregateContainerResourcesByFn over the spec: the sum of the containers and the
    restartable init containers, or the largest InitContainerUse if that is more."""
    total: ResourceList = {}
    for c in pod.containers:
        add(total, getattr(c, which))
    for c in pod.init_containers:
        if c.restartable:
            add(total, getattr(c, which))
    peak: ResourceList = {}
    for use in _init_uses(pod, which):
        maximum(peak, use)
    maximum(total, peak)
    return total


def aggregate_requests(pod: Pod) -> ResourceList:
    """AggregateContainerRequests: the containers' effective request, without pod-level
    resources or overhead."""
    return _aggregate(pod, "requests")


def aggregate_limits(pod: Pod) -> ResourceList:
    """AggregateContainerLimits."""
    return _aggregate(pod, "limits")


def pod_requests(pod: Pod) -> ResourceList:
    """PodRequests: what the scheduler fits on a node and ResourceQuota counts."""
    out = aggregate_requests(pod)
    if pod_level_requests_set(pod):
        for name, q in (pod.requests or {}).items():
            if supported_at_pod_level(name):
                out[name] = q
    add(out, pod.overhead)
    return out


def pod_limits(pod: Pod) -> ResourceList:
    """PodLimits: the containers' limits by the same rule; pod-level limits replace them;
    the overhead is added to the limits that are set and non-zero."""
    out = aggregate_limits(pod)
    if pod_level_set(pod):
        for name, q in (pod.limits or {}).items():
            if supported_at_pod_level(name):
                out[name] = q
    for name, q in pod.overhead.items():
        have = out.get(name)
        if have is not None and have.value != 0:
            out[name] = have.plus(q)
    return out


def unbounded(pod: Pod) -> list[str]:
    """CPU and memory the kubelet sets no pod-level limit for: some container, or some
    init container's InitContainerUse, has no (or a zero) limit on it, and no pod-level
    limit says otherwise (ResourceConfigForPod's cpuLimitsDeclared / memoryLimitsDeclared)."""
    out = []
    uses = [c.limits for c in pod.containers] + _init_uses(pod, "limits")
    for name in (CPU, MEMORY):
        declared = all(not _zero(u.get(name)) for u in uses)
        if pod_level_set(pod) and not _zero((pod.limits or {}).get(name)):
            declared = True
        if not declared:
            out.append(name)
    return out
