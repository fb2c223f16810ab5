"""Mesh annotations: values the mesh refuses or misreads, unknown names, the wrong object.

The known annotations, their types and the object they belong on are data
(`mesh-annotations.yaml`); Istio's own checks (`meshrender.inject.validate`) decide what the
injector refuses, and the types add what it silently misreads.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Iterator
from functools import cache
from typing import Any

from meshrender.inject.probes import parse_go_bool
from meshrender.inject.release import Release
from meshrender.inject.validate import VALIDATORS, AnnotationError, check
from meshrender.istio import INJECT, STATUS, ProxyConfigError, read_proxy_config
from meshrender.kube import durations
from meshrender.kube.quantity import QuantityError
from meshrender.kube.quantity import parse as parse_quantity
from meshrender.lint.finding import Fix, Hit, Subject
from meshrender.lint.model import LintModel, WorkloadView, doc_subject
from meshrender.lint.rules import catalog, rule_ids, run_rule, workload_rule
from meshrender.lint.suppress import IGNORE, parse
from meshrender.settings.layers import Tree
from meshrender.settings.mode import parse_version, show
from meshrender.settings.provenance import Origin, Place

INJECT_WORDS = ("y", "yes", "true", "on", "n", "no", "false", "off", "")
# Settings-tree leaves that hold values the mesh parses, and the annotation whose check applies.
TREE_CHECKS: dict[tuple, str] = {
    ("values", "global", "proxy", "includeIPRanges"): "traffic.sidecar.istio.io/includeOutboundIPRanges",
    ("values", "global", "proxy", "excludeIPRanges"): "traffic.sidecar.istio.io/excludeOutboundIPRanges",
    ("values", "global", "proxy", "includeInboundPorts"): "traffic.sidecar.istio.io/includeInboundPorts",
    ("values", "global", "proxy", "excludeInboundPorts"): "traffic.sidecar.istio.io/excludeInboundPorts",
    ("values", "global", "proxy", "includeOutboundPorts"): "traffic.sidecar.istio.io/includeOutboundPorts",
    ("values", "global", "proxy", "excludeOutboundPorts"): "traffic.sidecar.istio.io/excludeOutboundPorts",
    ("values", "global", "proxy", "statusPort"): "status.sidecar.istio.io/port",
    ("proxy", "interceptionMode"): "sidecar.istio.io/interceptionMode",
}
QUANTITY_TREES = (("values", "global", "proxy", "resources"), ("values", "global", "proxy_init", "resources"),
                  ("extras", "initResources"))


@cache
def known() -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in catalog("mesh-annotations.yaml")["annotations"]}


def in_mesh_domain(key: str) -> bool:
    domain, slash, _ = key.partition("/")
    if not slash:
        return False
    return any(domain == d or domain.endswith("." + d) for d in catalog("mesh-annotations.yaml")["domains"])


@cache
def suggest(word: str, candidates: tuple[str, ...]) -> str | None:
    """The near miss a user most likely meant: same letters in another case, else a close spelling."""
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.8)
    return close[0] if close else None


# -- values ------------------------------------------------------------------------------

def _type_problem(entry: dict[str, Any], value: str) -> str | None:
    kind = entry.get("type")
    if value.strip() in entry.get("allows", ()):
        return None
    if kind == "bool" and parse_go_bool(value) is None:
        return f"{value!r} is not a boolean; use \"true\" or \"false\" (the mesh ignores this value)"
    if kind == "strict-bool" and value not in ("true", "false"):
        default = "true" if entry["name"].endswith("/nativeSidecar") else "false"
        return (f"{value!r} is not \"true\" or \"false\"; every other value counts as \"{default}\", "
                "which is probably not what you meant")
    if kind == "inject" and value.strip().lower() not in INJECT_WORDS:
        return (f"{value!r} is not a yes/no value; it counts as \"false\" and the pod is not injected; "
                "use \"true\" or \"false\"")
    if kind == "enum" and value not in entry["values"]:
        return f"{value!r} is not one of {', '.join(entry['values'])}"
    if kind == "quantity":
        try:
            parse_quantity(value)
        except QuantityError as e:
            return str(e)
    if kind == "duration":
        try:
            durations.parse(value)
        except durations.DurationError as e:
            return str(e)
    if kind == "json":
        try:
            json.loads(value)
        except ValueError as e:
            return f"is not valid JSON ({e})"
    if kind == "ports":
        for p in value.split(","):
            if p.strip() and (not p.strip().isdigit() or int(p.strip()) > 65535):
                return f"{p.strip()!r} is not a port (0-65535)"
    if kind == "proxyconfig":
        try:
            read_proxy_config(value)
        except ProxyConfigError as e:
            return f"{e}; Istio's injector refuses the pod"
    return None


def value_problem(name: str, value: Any, release: Release | None = None) -> str | None:
    """What is wrong with an annotation's value, or None; Istio's own checks first, as the
    injector of `release` makes them (some checks arrived in later releases)."""
    if not isinstance(value, str):
        return "annotation values must be strings"
    errors: list[AnnotationError] = check({name: value}, release)
    if errors:
        return f"{errors[0].reason}; Istio's injector refuses the pod"
    entry = known().get(name)
    return _type_problem(entry, value) if entry else None


def _annotation_hits(view: WorkloadView) -> Iterator[Hit]:
    reported = set()
    release = view.model.resolver.release if view.model.resolver is not None else None
    for name in sorted(view.annotations):
        problem = value_problem(name, view.annotations[name], release)
        if problem:
            reported.add(name)
            yield Hit(f"annotation {name}: {problem}", view.at_annotation(name), view.subject)
    for name, why in sorted(view.dropped.items()):
        if name not in reported:
            yield Hit(f"annotation {name}: {why}", view.at_annotation(name), view.subject)


def _tree_value_problem(path: tuple, value: Any) -> str | None:
    if path in TREE_CHECKS:
        try:
            VALIDATORS[TREE_CHECKS[path]](str(value) if not isinstance(value, str) else value)
        except ValueError as e:
            return str(e)
        return None
    try:
        parse_quantity(value)
    except QuantityError as e:
        return str(e)
    return None


def _tree_fields(model: LintModel, tree: Tree) -> list[tuple[tuple, Any]]:
    """(key, detail) for each leaf of `tree` set by a file with a value the mesh parses
    (ports, CIDRs, quantities, ...), once per tree: detail is None when the value is fine,
    else (message, anchor, subject), located here since it may go to another process.

    The key is where the settings document that set the leaf is (file and line) and the
    field: the same in every worker process and in every run, as the result cache needs
    (run/cache.py keeps a file's tallies for later runs).
    """
    def compute() -> list[tuple[tuple, Any]]:
        out: list[tuple[tuple, Any]] = []
        details: dict[tuple, Any] = {}
        for path, origin in tree.origins.items():
            if origin.doc is None or not origin.user_set or not (path in TREE_CHECKS or any(
                    path[:len(q)] == q and len(path) == len(q) + 2 for q in QUANTITY_TREES)):
                continue
            assert origin.place is not None
            key = (origin.doc.source, origin.doc.line, origin.place.path, origin.place.inner)
            if key not in details:
                problem = _tree_value_problem(path, tree.get(*path))
                details[key] = (f"{_field_name(origin)}: {problem}", Place(location=origin.location()),
                                doc_subject(origin.doc, model.namespaces)) if problem else None
            out.append((key, details[key]))
        return out

    return model.memo(("tree-fields", id(tree)), compute)


def _tree_count(view: WorkloadView) -> Iterator[tuple[tuple, Any]]:
    if view.tree is not None:
        yield from _tree_fields(view.model, view.tree)


def _tree_hits(model: LintModel) -> Iterator[Hit]:
    """Values in settings files that schemas accept but the mesh cannot parse (ports, CIDRs, ...).

    Reported once per field, with the number of workloads whose configuration includes it
    (the base configuration first: a bad global value is reported even when no workload uses it).
    """
    found: dict[tuple, Any] = {}
    affected: Counter[tuple] = Counter()
    if model.resolver is not None:
        for key, detail in _tree_fields(model, model.resolver.base):
            found.setdefault(key, detail)
    for key, (detail, n) in model.tallies.get(INVALID, {}).items():
        found.setdefault(key, detail)
        affected[key] += n
    for key, detail in found.items():
        if detail is not None:
            message, anchor, subject = detail
            n = affected[key]
            yield Hit(f"{message} (in the configuration of {n} workload{'s' if n != 1 else ''})", anchor, subject)


def _field_name(origin: Origin) -> str:
    return f"{origin.name}: {origin.field}" if origin.field else origin.name


INVALID = "invalid-mesh-annotation"


@run_rule(
    INVALID, "error",
    title="A mesh annotation or setting has an invalid value",
    rationale="""A mesh annotation or setting has a value the mesh refuses (Istio's injector rejects
    the pod: bad CIDRs, ports, quantities) or silently misreads (a boolean that is not true/false,
    a nativeSidecar other than "true"/"false", a duration or JSON value that does not parse).""",
    fix="Correct the value; the message says what the field accepts.",
    each=_annotation_hits,
    count=_tree_count,
)
def invalid_mesh_annotation(model: LintModel) -> Iterator[Hit]:
    for p in model.problems:
        if p.kind == "invalid-setting":
            yield Hit(p.message, p.place, model.subject_of(p))
    yield from _tree_hits(model)


# -- names -------------------------------------------------------------------------------

def _unknown_key_hits(annotations: dict[str, Any], at: Any, subject: Subject | None,
                      written: frozenset[str] = frozenset()) -> Iterator[Hit]:
    names = tuple(known())
    for key in sorted(annotations):
        if not in_mesh_domain(key) or key in known() or key in written:
            continue
        hint = suggest(key, names)
        message = f"unknown annotation {key}" + (f"; did you mean {hint}?" if hint else
                                                 "; the mesh ignores it (check the spelling)")
        place = at(key)
        fix = Fix(f"rename {key} to {hint}", place.doc, (("rename", place.path, hint),)) \
            if hint and hint not in annotations else None
        yield Hit(message, place, subject, fix)
    ids = tuple(sorted(rule_ids()))
    for rule in parse(annotations.get(IGNORE)):
        if rule == "*" or rule in ids:
            continue
        hint = suggest(rule, ids)
        message = f"{IGNORE} names unknown rule {rule!r}" + (f"; did you mean {hint}?" if hint else
                                                            "; see meshrender lint --list-rules")
        place = at(IGNORE)
        fix = Fix(f"replace {rule} with {hint} in {IGNORE}", place.doc, (("replace", place.path, rule, hint),)) \
            if hint else None
        yield Hit(message, Place(place.doc, place.path, needle=rule), subject, fix)


def injected_annotations(view: WorkloadView) -> frozenset[str]:
    """On a pod that is already injected (rendered output), the annotations the injector
    configuration itself adds (values sidecarInjectorWebhook.injectedAnnotations): they are
    what the settings asked for, not something written on the pod by hand."""
    if STATUS not in view.annotations or view.tree is None:
        return frozenset()
    added = view.tree.get("values", "sidecarInjectorWebhook", "injectedAnnotations")
    return frozenset(map(str, added)) if isinstance(added, dict) else frozenset()


def _unknown_on_workload(view: WorkloadView) -> Iterator[Hit]:
    yield from _unknown_key_hits(view.annotations, view.at_annotation, view.subject, injected_annotations(view))
    if view.kind != "Pod":
        yield from _unknown_key_hits(view.own_meta.get("annotations") or {},
                                     lambda k: view.at("metadata", "annotations", k), view.subject)


@run_rule(
    "unknown-mesh-annotation", "warning",
    title="Unknown mesh annotation",
    rationale="""An annotation in a mesh domain (*.istio.io, meshrender.dev) that the mesh does not
    know does nothing: a misspelt sidecar.istio.io/proxyCpu leaves the proxy with its default CPU, a
    misspelt rule id in meshrender.dev/ignore silences nothing.""",
    fix="Use the name the message suggests, or remove the annotation.",
    each=_unknown_on_workload,
    autofix="renames the annotation (or the rule id in meshrender.dev/ignore) to the name the message suggests",
)
def unknown_mesh_annotation(model: LintModel) -> Iterator[Hit]:
    for name in sorted(model.namespaces):
        doc = model.namespaces[name]
        anns = (doc.data.get("metadata") or {}).get("annotations") or {}
        if isinstance(anns, dict):
            yield from _unknown_key_hits(anns, lambda k, d=doc: Place(d, ("metadata", "annotations", k)),
                                         doc_subject(doc, model.namespaces))


@workload_rule(
    "mesh-annotation-on-workload-metadata", "warning",
    title="A pod annotation sits on the workload's own metadata",
    rationale="""The injector reads pod annotations from the pod template only. A pod-level mesh
    annotation on the Deployment's (StatefulSet's, Job's, ...) own metadata, or on a CronJob's
    Job template (spec.jobTemplate.metadata, where istioctl kube-inject reads them but the pods
    never carry them), has no effect.""",
    fix="Move the annotation to the pod template's metadata.annotations.",
    autofix="""moves the annotation to the pod template's annotations (removes it when the pod template
    already sets the same value; leaves it when the pod template sets another one)""",
)
def annotation_on_workload_metadata(view: WorkloadView) -> Iterator[Hit]:
    if view.kind == "Pod":
        return
    target = ".".join(map(str, (*view.workload.meta_path[len(view.workload.path):], "annotations")))
    template = view.workload.template_path
    # The object's own metadata, and the metadata of every object template between it and
    # the pod template (a CronJob's spec.jobTemplate.metadata).
    places: list[tuple[tuple, str]] = [((), f"the {view.kind}'s own metadata")]
    places += [(template[:i], f"{'.'.join(map(str, template[:i]))}.metadata")
               for i in range(1, len(template)) if template[i] == "spec"]
    for at, where in places:
        holder = view.workload.doc
        for key in at:
            holder = holder.get(key) if isinstance(holder, dict) else None
        meta = holder.get("metadata") if isinstance(holder, dict) else None
        own = meta.get("annotations") if isinstance(meta, dict) else None
        if not isinstance(own, dict):
            continue
        for key in sorted(own):
            entry = known().get(key)
            if entry is None or entry["scope"] != "pod":
                continue
            here = (*view.workload.path, *at, "metadata", "annotations", key)
            fix = None
            if view.annotations.get(key) == own[key]:
                advice = f"remove it here: {target} already sets it"
                fix = Fix(f"remove {key} from {where}", view.doc, (("delete", here, 1),))
            elif key in view.annotations:
                advice = f"remove it here: {target} sets it to {view.annotations[key]!r}, which is what applies"
            else:
                advice = f"move it to {target}"
                fix = Fix(f"move {key} to {target}", view.doc,
                          (("move", here, (*view.workload.meta_path, "annotations"), 1),))
            yield Hit(f"{key} on {where} has no effect, the injector reads the pod template; {advice}",
                      view.at(*at, "metadata", "annotations", key), fix=fix)



# -- deprecated-mesh-annotation ----------------------------------------------------------

def _deprecation(view: WorkloadView, key: str, value: Any, on_template: bool) -> tuple[str, Fix | None] | None:
    """What to say about a deprecated annotation for this cluster's mesh version, and the
    fix when one is mechanical; None when the mesh version predates the deprecation."""
    entry = known().get(key)
    if entry is None or not entry.get("deprecated"):
        return None
    cluster = view.model.cluster
    mesh = cluster.mesh_version if cluster is not None else None
    since, removed = parse_version(entry["deprecated"]), parse_version(entry.get("removed"))
    if mesh is not None and since is not None and mesh < since:
        return None
    if removed is not None and (mesh is None or mesh >= removed):
        return f"{key} was removed in Istio {show(removed)}: the mesh ignores it; remove it", None
    text = f"{key} is deprecated since Istio {entry['deprecated']} and may not work in future Istio versions (IST0135)"
    fix = None
    path = (*view.workload.meta_path, "annotations", key)
    if entry.get("replacement"):
        text += f"; use {entry['replacement']} instead"
        if on_template and entry["replacement"] not in view.annotations and mesh is not None:
            fix = Fix(f"rename {key} to {entry['replacement']}", view.doc, (("rename", path, entry["replacement"]),))
    elif entry.get("replacement_label"):
        label = entry["replacement_label"]
        text += f"; use the pod label {label} instead"
        if on_template and str(value) in ("true", "false"):
            fix = Fix(f"move {key} to the pod template's labels", view.doc,
                      (("move", path, (*view.workload.meta_path, "labels"), 1),))
    return text, fix


@workload_rule(
    "deprecated-mesh-annotation", "info",
    title="A mesh annotation is deprecated or removed",
    rationale="""Istio marks annotations deprecated in its annotation registry (istio/api
    annotation/annotations.yaml) before removing them; `istioctl analyze` reports their use as IST0135
    (DeprecatedAnnotation, istio/istio pkg/config/analysis/analyzers/annotations/annotations.go), at
    the same info level. Which annotations, since which release, and their replacements are in
    policies/mesh-annotations.yaml. Checked against the ClusterProfile's meshVersion (all of them when
    it is unknown); as in Istio, the sidecar.istio.io/inject annotation is not reported on a pod that
    also has the label.""",
    fix="""Use the replacement the message names (the sidecar.istio.io/inject label instead of the
    annotation, istio.io/reroute-virtual-interfaces instead of kubevirtInterfaces), or remove the
    annotation.""",
    autofix="""renames an annotation whose replacement takes the same value (when the ClusterProfile's
    meshVersion has it), and moves a sidecar.istio.io/inject annotation of "true" or "false" to the pod
    template's labels""",
)
def deprecated_mesh_annotation(view: WorkloadView) -> Iterator[Hit]:
    sources = [(view.annotations, True)]
    if view.kind != "Pod":
        sources.append((view.own_meta.get("annotations") or {}, False))
    for anns, on_template in sources:
        if not isinstance(anns, dict):
            continue
        for key in sorted(anns):
            if key == INJECT and on_template and INJECT in view.workload.labels:
                continue  # both, on purpose (Istio's analyzer skips it too)
            found = _deprecation(view, key, anns[key], on_template)
            if found is None:
                continue
            text, fix = found
            at = view.at_annotation(key) if on_template else view.at("metadata", "annotations", key)
            yield Hit(text, at, fix=fix)
