"""What each workload's mesh costs, from its evaluation.

For every workload the driver evaluates (render's settings, precedence and
native/traditional decision, unchanged), the report reads three pods:

- the pod as written (no mesh);
- the pod as rendered, in the mode that runs ("what runs": the decision of
  render/settings/mode.py, a pod's `sidecar.istio.io/nativeSidecar` annotation included);
- the same workload injected in the other mode ("if it were the other mode"): evaluated
  again against a Resolver that forces that mode, so every other setting is the same.

Each is priced as Kubernetes prices a pod (render/kube/podresources.py: API defaulting,
the KEP-753 rule for native sidecars, pod-level resources, overhead) and multiplied by
the pods the workload runs (render/data/report.yaml: `spec.replicas`, a Job's
parallelism, "per node" for DaemonSets; an autoscaler among the inputs is named, the
manifest's count kept). Totals are per namespace and overall, DaemonSets apart (per node).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from meshrender import bundled
from meshrender.errors import InputError, Location, field_path, show_value
from meshrender.evaluate.evaluation import Context, Evaluation, evaluate
from meshrender.inputs.sources import SourceFile
from meshrender.istio import INIT_NAMES, MESH_CONTAINERS, PROXY
from meshrender.kube import podresources as pr
from meshrender.kube.podresources import ResourceList
from meshrender.run.driver import Evaluated, Run, drive
from meshrender.settings.mode import Cluster, parse_version
from meshrender.settings.options import Options
from meshrender.settings.resolve import Resolver
from meshrender.yamlio import Document, locate


@cache
def table() -> dict[str, Any]:
    return bundled.load("report.yaml")


def resource_order(names: set[str] | list[str]) -> list[str]:
    """The report's resources first, in their order, then any other, by name."""
    first = [r for r in table()["resources"] if r in names]
    return first + sorted(n for n in names if n not in first)


# -- the model ------------------------------------------------------------------------------

@dataclass
class PodCost:
    """One pod, priced: its effective requests and limits, and the resources the kubelet
    sets no pod-level limit for."""

    requests: ResourceList
    limits: ResourceList
    unbounded: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, pod: pr.Pod) -> PodCost:
        return cls(pr.pod_requests(pod), pr.pod_limits(pod), pr.unbounded(pod))

    def add_overhead(self, overhead: ResourceList) -> None:
        """The pod overhead a RuntimeClass gives: added to the requests, and to the limits
        that are set and non-zero (PodRequests / PodLimits)."""
        pr.add(self.requests, overhead)
        for name, q in overhead.items():
            have = self.limits.get(name)
            if have is not None and have.value != 0:
                self.limits[name] = have.plus(q)


@dataclass
class MeshContainer:
    """The proxy or istio-init of a rendered pod, per pod."""

    name: str
    requests: ResourceList
    limits: ResourceList


@dataclass
class Autoscaler:
    """An autoscaler among the inputs and the workload it scales."""

    kind: str
    namespace: str
    name: str
    target_kind: str
    target_name: str
    min: int | None
    max: int | None

    def describe(self) -> str:
        span = f"{self.min if self.min is not None else '?'}-{self.max if self.max is not None else '?'}"
        return f"{self.kind} {self.namespace}/{self.name} scales it ({span} replicas)"


@dataclass
class Replicas:
    """How many pods a workload runs at once: `count`, or None for one per node."""

    count: int | None
    source: str  # the field it came from, or why it is what it is
    notes: list[str] = field(default_factory=list)

    @property
    def per_node(self) -> bool:
        return self.count is None

    def show(self) -> str:
        return "per node" if self.count is None else str(self.count)


@dataclass
class WorkloadCost:
    """One workload's mesh, priced (see the module docstring)."""

    kind: str
    namespace: str
    name: str
    location: Location
    replicas: Replicas
    injected: bool
    skipped: str | None
    mode: str | None  # "native" or "traditional": what runs (None when not injected)
    mode_reason: str | None
    without_mesh: PodCost
    native: PodCost | None = None
    traditional: PodCost | None = None
    proxy: MeshContainer | None = None
    init: MeshContainer | None = None
    notes: list[str] = field(default_factory=list)
    runtime_class: str | None = None  # spec.runtimeClassName, when the pod sets no overhead itself

    @property
    def display(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"

    @property
    def rendered(self) -> PodCost:
        """The pod as it runs: the rendered mode's, or the pod as written when not injected."""
        got = {"native": self.native, "traditional": self.traditional}.get(self.mode or "")
        return got or self.without_mesh

    def in_mode(self, native: bool) -> PodCost:
        """The pod if the workload ran in that mode (as written when not injected; as it
        runs when the other mode cannot be rendered, with a note saying so)."""
        if not self.injected:
            return self.without_mesh
        return (self.native if native else self.traditional) or self.rendered

    @property
    def mesh_cost(self) -> ResourceList:
        """What the mesh adds to the pod's effective request (per pod)."""
        return pr.difference(self.rendered.requests, self.without_mesh.requests)

    @property
    def pods(self) -> int:
        """Multiplier for totals: the pods, or one for a per-node workload (its totals are per node)."""
        return 1 if self.replicas.count is None else self.replicas.count


@dataclass
class Totals:
    """Requests summed over workloads (× pods), and the proxy's and istio-init's limits."""

    workloads: int = 0
    proxy_requests: ResourceList = field(default_factory=dict)
    proxy_limits: ResourceList = field(default_factory=dict)
    init_requests: ResourceList = field(default_factory=dict)
    init_limits: ResourceList = field(default_factory=dict)
    without_mesh: ResourceList = field(default_factory=dict)
    rendered: ResourceList = field(default_factory=dict)
    native: ResourceList = field(default_factory=dict)
    traditional: ResourceList = field(default_factory=dict)
    # The resource names each proxy (istio-init) counted limits: a limit total over
    # containers some of which have no limit on a resource bounds nothing.
    proxy_limited: list[set[str]] = field(default_factory=list)
    init_limited: list[set[str]] = field(default_factory=list)

    def add(self, w: WorkloadCost) -> None:
        n = w.pods
        self.workloads += 1
        if w.proxy is not None:
            pr.add(self.proxy_requests, pr.scaled(w.proxy.requests, n))
            pr.add(self.proxy_limits, pr.scaled(w.proxy.limits, n))
            self.proxy_limited.append(set(w.proxy.limits))
        if w.init is not None:
            pr.add(self.init_requests, pr.scaled(w.init.requests, n))
            pr.add(self.init_limits, pr.scaled(w.init.limits, n))
            self.init_limited.append(set(w.init.limits))
        pr.add(self.without_mesh, pr.scaled(w.without_mesh.requests, n))
        pr.add(self.rendered, pr.scaled(w.rendered.requests, n))
        pr.add(self.native, pr.scaled(w.in_mode(True).requests, n))
        pr.add(self.traditional, pr.scaled(w.in_mode(False).requests, n))

    @staticmethod
    def _unbounded(limited: list[set[str]], *lists: ResourceList) -> set[str]:
        names = set().union(*lists)
        return {name for name in names if any(name not in keys for keys in limited)}

    @property
    def proxy_unbounded(self) -> set[str]:
        """Resources the proxies counted ask for (or limit) without every one limiting them."""
        return self._unbounded(self.proxy_limited, self.proxy_requests, self.proxy_limits)

    @property
    def init_unbounded(self) -> set[str]:
        return self._unbounded(self.init_limited, self.init_requests, self.init_limits)

    @property
    def mesh_cost(self) -> ResourceList:
        return pr.difference(self.rendered, self.without_mesh)

    def resources(self) -> list[str]:
        names: set[str] = set()
        for rl in (self.proxy_requests, self.proxy_limits, self.init_requests, self.init_limits,
                   self.without_mesh, self.rendered, self.native, self.traditional):
            names.update(rl)
        return resource_order(names)


@dataclass
class Report:
    """Every workload priced, in input order, and what it was priced against."""

    cluster: Cluster | None
    pod_level_resources: bool
    workloads: list[WorkloadCost]

    def groups(self) -> list[tuple[str, Totals, Totals]]:
        """(namespace, totals of workloads with a pod count, per-node totals), by namespace."""
        out: dict[str, tuple[Totals, Totals]] = {}
        for w in self.workloads:
            fixed, per_node = out.setdefault(w.namespace, (Totals(), Totals()))
            (per_node if w.replicas.per_node else fixed).add(w)
        return [(ns, *out[ns]) for ns in sorted(out)]

    def overall(self) -> tuple[Totals, Totals]:
        fixed, per_node = Totals(), Totals()
        for w in self.workloads:
            (per_node if w.replicas.per_node else fixed).add(w)
        return fixed, per_node

    def resources(self) -> list[str]:
        """Every resource any workload's pod or mesh container asks for."""
        names: set[str] = set()
        for w in self.workloads:
            for cost in (w.without_mesh, w.native, w.traditional):
                if cost is not None:
                    names.update(cost.requests)
                    names.update(cost.limits)
            for c in (w.proxy, w.init):
                if c is not None:
                    names.update(c.requests)
                    names.update(c.limits)
        return resource_order(names)


# -- pods a workload runs ------------------------------------------------------------------

def _get(data: Any, path: list[str]) -> tuple[bool, Any]:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return False, None
        data = data[key]
    return True, data


def _count(e: Evaluation, path: list[str]) -> int | None:
    """A replica-like field of the workload: None when absent or null; a whole number of
    zero or more, else bad input at the field."""
    found, value = _get(e.workload.doc, path)
    if not found or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        where = (*e.workload.path, *path)
        raise InputError(f"{e.display}: must be a whole number of pods (0 or more), not {show_value(value)}",
                         locate(e.doc, where), field=field_path(where))
    return value


def replicas_of(e: Evaluation) -> Replicas:
    """How many pods the workload runs, by render/data/report.yaml."""
    kind = e.workload.kind
    rule = table()["replicas"].get(kind)
    if rule is None:
        return Replicas(1, "unknown", [f"meshrender does not know how many pods a {kind} runs: counted as one"])
    if rule.get("perNode"):
        return Replicas(None, "one pod per node it selects")
    if "fixed" in rule:
        return Replicas(int(rule["fixed"]), "a single pod")
    name = ".".join(rule["field"])
    count = _count(e, rule["field"])
    notes = [rule["note"]] if rule.get("note") else []
    if count is None:
        count = int(rule["default"])
        source = f"{name} not set (Kubernetes' default)"
    else:
        source = name
    if rule.get("capBy"):
        cap = _count(e, rule["capBy"])
        if cap is not None and cap < count:
            notes.append(f"{name} {count}, but no more pods at once than {'.'.join(rule['capBy'])} ({cap})")
            count = cap
    return Replicas(count, source, notes)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _group(api_version: Any) -> str:
    text = str(api_version or "")
    return text.split("/", 1)[0] if "/" in text else ""


def autoscalers_in(docs: list[Document], namespace: str) -> list[Autoscaler]:
    """The autoscalers of render/data/report.yaml among `docs` (and the items of Lists)."""
    rules = table()["autoscalers"]
    out = []
    for doc in docs:
        data = doc.data
        items = data.get("items") if isinstance(data, dict) and data.get("kind") == "List" else [data]
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, dict) or item.get("kind") not in rules:
                continue
            rule = rules[item["kind"]]
            if _group(item.get("apiVersion")) not in rule["groups"]:
                continue
            _, target = _get(item, rule["target"])
            meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
            if not isinstance(target, dict) or not isinstance(target.get("name"), str):
                continue
            low = _get(item, rule["min"])[1]
            high = _get(item, rule["max"])[1]
            out.append(Autoscaler(
                item["kind"], str(meta.get("namespace") or namespace), str(meta.get("name") or ""),
                str(target.get("kind") or rule.get("targetKind") or ""), target["name"],
                low if _whole(low) else rule.get("minDefault"),
                high if _whole(high) else rule.get("maxDefault")))
    return out


# -- pricing one workload -------------------------------------------------------------------

def _read(e: Evaluation, spec: dict[str, Any], pod_level: bool, written: bool) -> pr.Pod:
    """The resources of a pod spec; bad input located in the workload as written."""
    try:
        return pr.read_pod(spec, pod_level_resources=pod_level)
    except pr.ResourceError as err:
        if written:
            where = (*e.workload.spec_path, *err.path)
            raise InputError(f"{e.display}: {err}", locate(e.doc, where), field=field_path(where)) from None
        raise InputError(f"{e.display}: the injected pod's {field_path(err.path)}: {err}", e.location) from None


def _has_mesh(spec: dict[str, Any]) -> bool:
    return any(isinstance(c, dict) and c.get("name") in MESH_CONTAINERS
               for key in ("containers", "initContainers") for c in spec.get(key) or ())


def _without_mesh(spec: dict[str, Any]) -> dict[str, Any]:
    out = dict(spec)
    for key in ("containers", "initContainers"):
        if spec.get(key):
            out[key] = [c for c in spec[key] if not (isinstance(c, dict) and c.get("name") in MESH_CONTAINERS)]
    return out


def _mesh_container(pod: pr.Pod, names: tuple[str, ...]) -> MeshContainer | None:
    for name in names:
        c = pod.find(name)
        if c is not None:
            return MeshContainer(c.name, c.requests, c.limits)
    return None


def price(e: Evaluation, other: dict[bool, Context], pod_level: bool) -> WorkloadCost:
    """One workload's costs; `other[native]` evaluates it in the mode forced to `native`."""
    w = e.workload
    replicas = replicas_of(e)
    written = _read(e, w.pod.spec, pod_level, True)  # first: bad input is located as written
    injected = e.injected and e.pod is not None
    if injected and _has_mesh(w.pod.spec):
        # Mesh containers written in the input (already-injected output, a user's
        # istio-proxy overrides) are the injector's to replace: not the app's cost.
        written = _read(e, _without_mesh(w.pod.spec), pod_level, False)
    cost = WorkloadCost(w.kind, w.namespace, w.name, e.location, replicas, e.injected, e.skipped,
                        e.mode_name if e.injected else None,
                        e.mode.reason if e.injected and e.mode is not None else None,
                        PodCost.of(written))
    if not written.overhead and isinstance(w.pod.spec.get("runtimeClassName"), str):
        cost.runtime_class = w.pod.spec["runtimeClassName"]
    if not injected:
        return cost
    assert e.pod is not None
    rendered = _read(e, e.pod["spec"], pod_level, False)
    cost.proxy = _mesh_container(rendered, (PROXY,))
    cost.init = _mesh_container(rendered, tuple(INIT_NAMES))
    runs = PodCost.of(rendered)
    other_mode = not e.native
    twin = evaluate(w, e.doc, other[other_mode])
    theirs: PodCost | None = None
    if twin.pod is not None:
        theirs = PodCost.of(_read(e, twin.pod["spec"], pod_level, False))
    else:
        name = "native" if other_mode else "traditional"
        why = str(twin.error.message if twin.error is not None else "not injected")
        cost.notes.append(f"cannot be rendered {name}: {why}; its {name} cost is shown as it runs")
    if e.native:
        cost.native, cost.traditional = runs, theirs
    else:
        cost.native, cost.traditional = theirs, runs
    return cost


# -- through the driver ---------------------------------------------------------------------

def pod_level_counts(cluster: Cluster | None) -> bool:
    """Whether the target cluster honours pod-level resources (render/data/report.yaml)."""
    since = parse_version(table()["podLevelResources"])
    kube = cluster.kube_version if cluster is not None else None
    return kube is None or since is None or kube >= since


def runtime_classes_in(docs: list[Document]) -> dict[str, ResourceList]:
    """The pod overhead of each RuntimeClass among `docs`; bad input for one Kubernetes refuses."""
    rule = table()["runtimeClass"]
    out = {}
    for doc in docs:
        data = doc.data
        items = data.get("items") if isinstance(data, dict) and data.get("kind") == "List" else [data]
        for i, item in enumerate(items if isinstance(items, list) else ()):
            if not isinstance(item, dict) or item.get("kind") != rule["kind"] \
                    or _group(item.get("apiVersion")) not in rule["groups"]:
                continue
            meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
            prefix = ("items", i) if item is not data else ()
            try:
                overhead = pr.resource_list(_get(item, rule["overhead"])[1], tuple(rule["overhead"]))
            except pr.ResourceError as err:
                where = (*prefix, *err.path)
                raise InputError(f"RuntimeClass {meta.get('name')}: {err}", locate(doc, where),
                                 field=field_path(where)) from None
            if overhead and isinstance(meta.get("name"), str):
                out[meta["name"]] = overhead
    return out


class Reporter:
    """The report handler: each file's workloads priced in the worker that evaluates them."""

    def __init__(self) -> None:
        self.workloads: list[WorkloadCost] = []
        self.autoscalers: list[Autoscaler] = []
        self.runtime_classes: dict[str, ResourceList] = {}
        self.other: dict[bool, Context] = {}
        self.pod_level = True

    def start(self, run: Run) -> None:
        settings, options = run.settings, run.context.options
        # The other mode, forced; tolerant: a pod the other mode refuses is a note, not an exit.
        self.other = {native: Context(options, settings, Resolver(settings, options, force_native=native),
                                      strict=False, keep_original=True)
                      for native in (True, False)}
        self.pod_level = pod_level_counts(run.context.cluster)

    def file(self, run: Run, evaluated: Evaluated) -> tuple[list[WorkloadCost], list[Autoscaler],
                                                             dict[str, ResourceList]]:
        costs = [price(e, self.other, self.pod_level) for e in evaluated.evaluations]
        docs = evaluated.file.docs
        return costs, autoscalers_in(docs, run.context.options.namespace), runtime_classes_in(docs)

    def collect(self, run: Run, index: int, file: SourceFile, result: Any) -> None:
        costs, autoscalers, runtime_classes = result
        self.workloads += costs
        self.autoscalers += autoscalers
        for name, overhead in runtime_classes.items():
            self.runtime_classes.setdefault(name, overhead)

    def finish(self, run: Run) -> Report:
        for w in self.workloads:
            overhead = self.runtime_classes.get(w.runtime_class or "")
            if overhead:
                for cost in {id(c): c for c in (w.without_mesh, w.native, w.traditional) if c is not None}.values():
                    cost.add_overhead(overhead)
                shown = ", ".join(f"{name} {q}" for name, q in overhead.items())
                w.notes.append(f"pod overhead of RuntimeClass {w.runtime_class} counted ({shown})")
            for a in self.autoscalers:
                if (a.namespace, a.target_kind, a.target_name) == (w.namespace, w.kind, w.name):
                    w.replicas.notes.append(f"{a.describe()}; counted as the manifest says ({w.replicas.show()})")
        return Report(run.context.cluster, self.pod_level, self.workloads)


def report(paths: list[str], options: Options) -> Report:
    """Price every workload of `paths` (render's inputs, settings and options)."""
    reporter = Reporter()
    run = drive(paths, options, reporter, strict=True, keep_original=True)
    return reporter.finish(run)
