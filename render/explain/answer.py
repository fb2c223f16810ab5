"""`meshrender explain`: why one workload gets the sidecar it gets.

Settings are collected from every input (they apply across files), but only the chosen
workload is resolved and injected, so explaining one workload of a large repository
costs little more than reading it. The answer has two parts: the native/traditional
decision with the rule of the contract's first-match table that made it, and each
effective proxy setting with its winning source (render/explain/attribution.py).
"""

from __future__ import annotations

import copy
import difflib
import os
from dataclasses import dataclass, field

from meshrender.errors import Location, UsageError
from meshrender.explain.attribution import Attributor, Setting, Source, Step, catalog
from meshrender.inputs.kinds import KindTable, Workload
from meshrender.inputs.sources import SourceFile
from meshrender.kube import fieldpath
from meshrender.run import pipeline
from meshrender.settings.collect import is_consumed
from meshrender.settings.mode import Cluster, show
from meshrender.settings.resolve import Options, Resolver
from meshrender.yamlio import locate

NATIVE_ANNOTATION = "sidecar.istio.io/nativeSidecar"
RULES = {
    1: f"pod annotation {NATIVE_ANNOTATION}",
    2: "nativeSidecar of the most specific SidecarProxySettings",
    3: "ASMMeshConfig spec.enableNativeSidecar",
    4: "--native-sidecars (cluster-wide)",
    5: "auto, from the Kubernetes and mesh versions",
}
# Annotations explained elsewhere, or written by the injector itself.
_NOT_OTHER = {NATIVE_ANNOTATION, "sidecar.istio.io/status", "proxy.istio.io/overrides"}
MAX_CANDIDATES = 12


@dataclass
class ModeExplanation:
    native: bool
    reason: str
    rule: int
    sources: list[Source] = field(default_factory=list)
    overridden: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def mode(self) -> str:
        return "native" if self.native else "traditional"


@dataclass
class Explanation:
    workload: Workload
    location: Location | None
    cluster: Cluster
    injected: bool
    skipped: str | None
    mode: ModeExplanation
    skip_source: Source | None = None
    settings: list[Setting] = field(default_factory=list)
    other_annotations: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- choosing the workload ----------------------------------------------------------------

def all_workloads(files: list[SourceFile], namespace: str, table: KindTable | None = None) -> list[Workload]:
    out = []
    for f in files:
        for doc in f.docs:
            if not is_consumed(doc.data):
                out += pipeline.iter_workloads(doc, namespace, table)
    return out


def workload_location(w: Workload) -> Location | None:
    """Where the workload starts: its document, or its item in a List."""
    if w.source_doc is None:
        return None
    return locate(w.source_doc, w.path) if w.path else w.source_doc.location


def _where(w: Workload) -> str:
    loc = workload_location(w)
    return f"{w.display}  ({loc.path}:{loc.line})" if loc else w.display


def _listing(ws: list[Workload]) -> str:
    lines = [f"  {_where(w)}" for w in ws[:MAX_CANDIDATES]]
    if len(ws) > MAX_CANDIDATES:
        lines.append(f"  ... and {len(ws) - MAX_CANDIDATES} more")
    return "\n".join(lines)


def find_workload(workloads: list[Workload], selector: str, kind: str | None = None) -> Workload:
    """The one workload `[NAMESPACE/]NAME` (and KIND) names; UsageError listing candidates."""
    ns, _, name = selector.rpartition("/")
    if not name or selector.count("/") > 1:
        raise UsageError(f"--workload {selector!r}: expected NAME or NAMESPACE/NAME")
    matches = [w for w in workloads if w.name == name and (not ns or w.namespace == ns)
               and (not kind or w.kind.lower() == kind.lower())]
    if len(matches) == 1:
        return matches[0]
    if matches:
        same_ns = len({w.namespace for w in matches}) == 1
        how = "add --kind KIND" if same_ns else "name one with --workload NAMESPACE/NAME"
        raise UsageError(f"--workload {selector} matches {len(matches)} workloads; {how}:\n{_listing(matches)}")
    if not workloads:
        raise UsageError(f"no workload {selector} among the inputs: they hold no workloads")
    names = [f"{w.namespace}/{w.name}" for w in workloads]
    wanted = selector if ns else name
    pool = names if ns else [w.name for w in workloads]
    close = set(difflib.get_close_matches(wanted, pool, n=MAX_CANDIDATES, cutoff=0.6))
    near = [w for w, n, p in zip(workloads, names, pool, strict=True) if p in close]
    same_name = [w for w in workloads if w.name == name]
    shown = same_name or near or workloads
    what = ("workloads of that name" if same_name else "did you mean" if near else "workloads in the inputs")
    raise UsageError(f"no workload {selector}{f' of kind {kind}' if kind else ''} among the inputs; "
                     f"{what}:\n{_listing(shown)}")


# -- the mode decision --------------------------------------------------------------------

def _profile_source(resolver: Resolver, key: str) -> Source | None:
    doc = resolver.settings.profile
    if doc is None or key not in resolver.settings.profile_spec:
        return None
    name = (doc.data.get("metadata") or {}).get("name") or ""
    path = ("spec", key)
    return Source("ClusterProfile", f"ClusterProfile {name} {key}", locate(doc, path),
                  fieldpath.format_path(path))


def _auto_sources(resolver: Resolver) -> list[Source]:
    out: list[Source] = []
    if resolver.options.kube_version:
        out.append(Source("command-line", f"--kube-version {resolver.options.kube_version}"))
    elif os.environ.get("KUBE_VERSION"):
        out.append(Source("environment", f"KUBE_VERSION={os.environ['KUBE_VERSION']}"))
    else:
        got = _profile_source(resolver, "kubernetesVersion")
        if got:
            out.append(got)
    for key in ("provider", "meshVersion"):
        got = _profile_source(resolver, key)
        if got:
            out.append(got)
    return out


def explain_mode(resolver: Resolver, attributor: Attributor, decision, annotations: dict[str, str]) -> ModeExplanation:
    origin = decision.origin
    kind = ""
    if origin is not None and origin.doc is not None and isinstance(origin.doc.data, dict):
        kind = str(origin.doc.data.get("kind") or "")
    m = ModeExplanation(decision.native, decision.reason, 5)
    if origin is not None and origin.layer == "pod annotation":
        m.rule = 1
        step = attributor.annotation_step(NATIVE_ANNOTATION)
        m.sources = [step.source] if step else []
        value = annotations.get(NATIVE_ANNOTATION)
        if value not in ("true", "false"):
            m.notes.append(f'{NATIVE_ANNOTATION}: "{value}" is read as true; write "true" or "false"')
        m.overridden = attributor.tree_steps(("native",))
    elif kind == "SidecarProxySettings":
        m.rule = 2
        steps = attributor.tree_steps(("native",))
        m.sources = [steps[0].source] if steps else []
        m.overridden = steps[1:]
    elif kind == "ASMMeshConfig":
        m.rule = 3
        name = (origin.doc.data.get("metadata") or {}).get("name") or ""
        m.sources = [Source("ASMMeshConfig", f"ASMMeshConfig {name}", origin.location(),
                            fieldpath.format_path(origin.field))]
    elif resolver.cluster.native_flag in ("true", "false"):
        m.rule = 4
        m.sources = [Source("command-line", f"--native-sidecars {resolver.cluster.native_flag}")]
    else:
        m.sources = _auto_sources(resolver)
    return m


# -- the whole answer ---------------------------------------------------------------------

def _skip_source(w: Workload, original_meta: dict, original_spec: dict) -> Source | None:
    doc = w.source_doc
    if doc is None:
        return None
    candidates = [
        ("labels", "sidecar.istio.io/inject", (*w.meta_path, "labels", "sidecar.istio.io/inject")),
        ("annotations", "sidecar.istio.io/inject", (*w.meta_path, "annotations", "sidecar.istio.io/inject")),
    ]
    for where, key, path in candidates:
        if key in (original_meta.get(where) or {}):
            return Source("annotation" if where == "annotations" else "label", f"{where[:-1]} {key}",
                          locate(doc, path), fieldpath.format_path(path))
    if original_spec.get("hostNetwork") is True:
        path = (*w.spec_path, "hostNetwork")
        return Source("pod-spec", "spec.hostNetwork", locate(doc, path), fieldpath.format_path(path))
    return None


def _covered_annotations() -> set[str]:
    return {a.partition("#")[0] for s in catalog() for a in s.annotations} | _NOT_OTHER


def _misplaced(w: Workload) -> list[str]:
    """Mesh annotations on the workload's own metadata, which the injector never reads."""
    if w.kind == "Pod":
        return []
    meta = w.doc.get("metadata") if isinstance(w.doc.get("metadata"), dict) else {}
    anns = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    out = []
    for key in sorted(anns):
        if ("sidecar.istio.io/" in key or key.startswith("proxy.istio.io/")) and key not in w.pod.annotations:
            where = locate(w.source_doc, (*w.path, "metadata", "annotations", key)) if w.source_doc else None
            out.append(f"{key} is on the {w.kind}'s own metadata{f' ({where})' if where else ''}, "
                       "where the injector never reads it; move it to the pod template")
    return out


def explain(files: list[SourceFile], options: Options, selector: str, kind: str | None = None) -> Explanation:
    resolver = Resolver(pipeline.collect_settings(files), options)
    w = find_workload(all_workloads(files, options.namespace, resolver.settings.workload_kinds), selector, kind)
    original_meta = copy.deepcopy(w.pod.metadata)
    original_spec = copy.deepcopy(w.pod.spec)
    annotations = dict(original_meta.get("annotations") or {})
    result = pipeline.inject_workload(w, w.source_doc, resolver)
    resolved = result.resolved
    assert resolved is not None
    attributor = Attributor(
        w, resolved.tree, native=resolved.mode.native, flavor=resolver.cluster.flavor,
        annotations=annotations, original_spec=original_spec,
        rendered_spec=w.pod.spec if result.injected else None)
    out = Explanation(
        workload=w,
        location=workload_location(w),
        cluster=resolver.cluster,
        injected=result.injected,
        skipped=result.skipped,
        mode=explain_mode(resolver, attributor, resolved.mode, annotations),
    )
    out.notes += _misplaced(w)
    if not result.injected:
        out.skip_source = _skip_source(w, original_meta, original_spec)
        return out
    out.settings = attributor.settings()
    out.notes += list(attributor.general_notes)
    covered = _covered_annotations()
    for key in sorted(annotations):
        if "istio.io/" in key and key not in covered:
            step = attributor.annotation_step(key)
            if step is not None:
                out.other_annotations.append(step)
    proxy_in_inits = any(c.get("name") == "istio-proxy" for c in w.pod.spec.get("initContainers") or [])
    has_proxy = attributor.container("proxy") is not None
    if not has_proxy:
        out.notes.append("the injected pod has no istio-proxy container (custom injection templates?); "
                         "values below are the configuration, not read back from the pod")
    elif proxy_in_inits != resolved.mode.native:
        out.mode.notes.append(f"the injected pod runs the proxy as a {'native' if proxy_in_inits else 'regular'} "
                              "container: an injection template or container override changed it")
    return out


def cluster_summary(c: Cluster) -> str:
    mesh = "Istio" if c.flavor == "istio" else "ASM"
    where = f" ({c.provider})" if c.provider else ""
    return f"flavor {c.flavor}, Kubernetes {show(c.kube_version)}{where}, {mesh} {show(c.mesh_version)}"
