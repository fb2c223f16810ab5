"""One evaluation per workload: every fact a command needs about it, computed once.

`render` writes the injected pod, `lint` rules read the evaluation, `explain` prints it
and `diff` compares what render writes; none of them works out on its own whether a
workload is injected and why, native or traditional and why, which settings apply, or
what `proxy.istio.io/config` asks for. An evaluation holds:

- the workload (its document, paths, where it starts in its file);
- its resolved settings (a tree whose every leaf has an origin) and injector config;
- the injection decision (Istio's injectRequired, always with the injector config and
  the namespace), and native or traditional, each an `Effective` with its origin;
- the injected pod, or the error that keeps render from writing one, and the
  annotations the injector refused (a tolerant run drops them to see the rest);
- on demand, each effective proxy setting with its winning source and what it overrode
  (render/evaluate/attribution.py), read back from the injected pod.

A strict context (render, diff, render-check) raises the first error as render reports
it; a tolerant one (lint) keeps going and records what render would refuse.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from meshrender.errors import InputError, Location, unexpected
from meshrender.evaluate import shared_settings
from meshrender.inject import sidecar_cache, webhooks
from meshrender.inject.context import PINNED_PROXY
from meshrender.inject.injector import InjectionError, Required, inject_required
from meshrender.inject.templates import ANNOTATION as TEMPLATES_ANNOTATION
from meshrender.inject.templates import TemplateError
from meshrender.inputs.kinds import Workload
from meshrender.istio import INJECT, MESH_CONTAINERS, PROXY_CONFIG, ProxyConfigError, read_proxy_config, without_pinned
from meshrender.settings.collect import Settings
from meshrender.settings.mode import Cluster
from meshrender.settings.options import Options
from meshrender.settings.provenance import Effective, Origin, Place, Step
from meshrender.settings.resolve import Resolved, Resolver
from meshrender.yamlio import Document, locate


@dataclass
class Context:
    """What every workload of a run is evaluated against; built once, before the workers
    fork, and shared by them read-only (the resolver's caches aside)."""

    options: Options
    settings: Settings
    resolver: Resolver | None  # None when the settings do not resolve (a tolerant run reports why)
    strict: bool = True  # the first problem ends the run (render); else it is recorded (lint)
    keep_original: bool = False  # inject a copy, so the workload keeps the pod as written (lint, explain)
    # settings shared by workloads of one configuration (render/evaluate/shared_settings.py)
    settings_memo: dict[tuple, Any] = field(default_factory=dict, repr=False)

    @property
    def cluster(self) -> Cluster | None:
        return self.resolver.cluster if self.resolver is not None else None

    @property
    def namespaces(self) -> dict[str, Document]:
        return self.settings.namespaces


@dataclass(frozen=True)
class WorkloadSummary:
    """What the render summary (and lint's JSON report) says about a workload: injected or
    why not, native or traditional and why (small enough to pass between processes)."""

    display: str
    injected: bool
    skipped: str | None
    mode: str | None
    reason: str | None
    location: Location | None = None

    def to_dict(self) -> dict[str, Any]:
        loc = self.location
        return {"workload": self.display, "file": loc.path if loc else None, "line": loc.line if loc else None,
                "injected": self.injected, "skipped": self.skipped, "mode": self.mode, "reason": self.reason}


@dataclass
class Evaluation:
    """One workload, evaluated (see the module docstring)."""

    workload: Workload
    doc: Document
    context: Context
    resolved: Resolved | None = None
    decision: Effective | None = None  # value: injected or not
    pod: dict[str, Any] | None = None  # the injected pod {"metadata", "spec"}
    error: InputError | None = None  # what render refuses: settings that do not resolve, a refused pod
    dropped: dict[str, str] = field(default_factory=dict)  # annotation -> why the injector refused it
    webhook: webhooks.Selection | None = None  # the cluster's injector webhook for the pod, if any

    # -- identity ----------------------------------------------------------------------

    @property
    def display(self) -> str:
        return self.workload.display

    @property
    def location(self) -> Location:
        """Where the workload starts: its document, or its item in a List."""
        return locate(self.doc, self.workload.path) if self.workload.path else self.doc.location

    # -- decisions ---------------------------------------------------------------------

    @property
    def injected(self) -> bool:
        """The injector injects this workload: its settings resolve and nothing opts it out
        (the pod itself may still be refused: see `error`)."""
        return self.resolved is not None and self.decision is not None and bool(self.decision.value)

    @property
    def skipped(self) -> str | None:
        """Why the injector leaves this workload alone, when it does."""
        if self.resolved is None or self.decision is None or self.decision.value:
            return None
        return self.decision.reason

    @property
    def mode(self) -> Effective | None:
        return self.resolved.mode if self.resolved is not None else None

    @property
    def native(self) -> bool:
        return bool(self.resolved is not None and self.resolved.mode.value)

    @property
    def mode_name(self) -> str | None:
        return None if self.resolved is None else ("native" if self.native else "traditional")

    def summary(self) -> WorkloadSummary:
        mode = self.mode
        return WorkloadSummary(self.display, self.injected and self.error is None, self.skipped, self.mode_name,
                               mode.reason if mode is not None else None, self.location)

    # -- what the pod asks for -----------------------------------------------------------

    @property
    def original_meta(self) -> dict[str, Any]:
        """The pod template's metadata as written (the injector's input)."""
        self._need_original()
        return self.workload.pod.metadata

    @property
    def original_spec(self) -> dict[str, Any]:
        self._need_original()
        return self.workload.pod.spec

    @property
    def annotations(self) -> dict[str, Any]:
        """The pod template's annotations as written: what the injector reads."""
        return self.original_meta.get("annotations") or {}

    @cached_property
    def proxy_config(self) -> dict[str, Any]:
        """What the pod's `proxy.istio.io/config` asks for, as the injector applies it: the
        fields a workload-selected ProxyConfig pins are not the annotation's to set. {} when
        absent or unreadable (the injector refuses the pod then: see `error`/`dropped`)."""
        try:
            asked = read_proxy_config(self.annotations.get(PROXY_CONFIG)) or {}
        except ProxyConfigError:
            return {}
        pinned = self.resolved.tree.get("extras", PINNED_PROXY) if self.resolved is not None else None
        return without_pinned(asked, pinned)

    def _need_original(self) -> None:
        if not self.context.keep_original and self.pod is not None:
            raise RuntimeError("this evaluation injected the workload in place (keep_original=False): "
                               "the pod as written is gone")

    # -- settings ------------------------------------------------------------------------

    @cached_property
    def attribution(self) -> Any:
        """The settings of this workload, each worked out on first use (an Attributor)."""
        from meshrender.evaluate.attribution import Attributor

        return Attributor(self)

    def setting(self, name: str) -> Effective:
        """One effective proxy setting (a name of render/data/explain.yaml, such as
        `proxy.concurrency` or `traffic.excludeInboundPorts`): the value the injected pod
        gets, its winning source and what that overrode."""
        key = self.shared_settings_key
        if key is None:
            return self.attribution.setting(name)
        return shared_settings.get(self.context.settings_memo, key, name, lambda: self.attribution.setting(name),
                                   self._own_annotations)

    @cached_property
    def shared_settings_key(self) -> tuple | None:
        """What this workload's settings are a function of, when the pod itself adds only
        annotations to it: its injector configuration (the settings tree, native or
        traditional, the flavor) and its mesh annotations with their values. None for a
        pod that writes an istio-proxy / istio-init container of its own."""
        if not shared_settings.ENABLED or self.resolved is None or self.pod is None:
            return None
        spec = self.original_spec
        for key in ("containers", "initContainers"):
            for c in spec.get(key) or ():
                if isinstance(c, dict) and c.get("name") in MESH_CONTAINERS:
                    return None
        try:
            mesh = tuple(sorted((k, v) for k, v in self.annotations.items() if "istio.io/" in str(k)))
            hash(mesh)
        except TypeError:  # a value that is no string: the injector refuses the pod
            return None
        resolver = self.context.resolver
        return (id(self.resolved.config), resolver.generation if resolver is not None else 0, mesh)

    def _own_annotations(self, origin: Origin) -> Origin:
        """`origin` of an annotation of another pod with the same key, as this pod's."""
        place = origin.place
        if origin.kind != "annotation" or place is None or place.doc is None:
            return origin
        moved = Place(self.doc, (*self.workload.meta_path, *place.path[-2:]), None, place.needle, place.inner)
        return Origin(origin.kind, origin.name, moved, origin.scope)

    def settings(self) -> list[Effective]:
        """Every setting of render/data/explain.yaml, in its order (proxyMetadata entries expanded)."""
        return self.attribution.settings()

    def general_notes(self) -> list[str]:
        """Notes about the whole workload that computing its settings turned up."""
        return list(self.attribution.general_notes)

    def tree_value(self, *path: Any) -> Effective | None:
        """A leaf (or map) of the effective settings tree, with the layers that set it."""
        if self.resolved is None:
            return None
        value = self.resolved.tree.get(*path)
        if value is None:
            return None
        steps = self.resolved.tree.steps(tuple(path))
        if not steps:  # a map assembled from leaves of several layers: the first leaf's origin
            origin = self.resolved.tree.origin(*path)
            steps = [Step(value, origin or Origin("default", "built-in default"))]
        return Effective(".".join(map(str, path)), value, steps[0], overridden=steps[1:])


# -- evaluating -------------------------------------------------------------------------------

def evaluate(w: Workload, doc: Document, ctx: Context) -> Evaluation:
    """Evaluate one workload. In a strict context the first error is raised, as render
    reports it; else it is recorded on the evaluation."""
    e = Evaluation(w, doc, ctx)
    if ctx.resolver is None:
        return e
    try:
        e.resolved = ctx.resolver.resolve(w)
    except InputError as err:
        if ctx.strict:
            raise
        e.error = err
        return e
    ns_doc = ctx.settings.namespaces.get(w.namespace)
    e.webhook = webhooks.select(w.namespace, ns_doc, w.labels, ctx.settings.webhooks, e.resolved.config.values)
    if e.webhook.decides and not e.webhook.called:
        e.decision = _not_selected(w, ns_doc, e.webhook)
    else:
        e.decision = _decision(w, doc, e.resolved, inject_required(w.pod, e.resolved.config))
    if e.decision.value:
        _inject(e)
    return e


def _not_selected(w: Workload, ns_doc: Document | None, selection: webhooks.Selection) -> Effective:
    """Not injected: no injector webhook is called for the pod (the namespace's labels)."""
    path = ("metadata", "labels", selection.label) if selection.label else ("metadata",)
    origin = Origin("Namespace", f"Namespace {w.namespace}", Place(ns_doc, path))
    return Effective("inject", False, Step(False, origin), reason=selection.reason, rule="webhook-selector")


def _decision(w: Workload, doc: Document, resolved: Resolved, required: Required) -> Effective:
    """The injection decision, pointing at what made it."""
    origin: Origin | None = None
    if required.rule == "host-network":
        origin = Origin("pod-spec", "spec.hostNetwork", Place(doc, (*w.spec_path, "hostNetwork")))
    elif required.rule == "namespace":
        origin = Origin("namespace", f"namespace {w.namespace}", Place(doc, (*w.path, "metadata", "namespace")))
    elif required.rule == "pod-label" and INJECT in w.pod.labels:
        origin = Origin("label", f"label {INJECT}", Place(doc, (*w.meta_path, "labels", INJECT)))
    elif required.rule == "pod-annotation" and INJECT in w.pod.annotations:
        origin = Origin("annotation", f"annotation {INJECT}", Place(doc, (*w.meta_path, "annotations", INJECT)))
    else:
        path = {"never-selector": ("values", "sidecarInjectorWebhook", "neverInjectSelector"),
                "always-selector": ("values", "sidecarInjectorWebhook", "alwaysInjectSelector"),
                "policy": ("values", "global", "proxy", "autoInject")}.get(required.rule)
        steps = resolved.tree.steps(path) if path else []
        if steps:
            return Effective("inject", required.inject, Step(steps[0].value, steps[0].origin, steps[0].rank),
                             overridden=steps[1:], reason=required.reason, rule=required.rule)
        origin = Origin("istio-default", "Istio default")
    return Effective("inject", required.inject, Step(required.inject, origin), reason=required.reason,
                     rule=required.rule)


def _inject(e: Evaluation) -> None:
    """Inject the workload's pod: in place (render), or into a copy (lint, explain), then
    dropping each annotation the injector refuses until the rest renders (a tolerant
    run reports them one by one)."""
    w, ctx = e.workload, e.context
    assert e.resolved is not None
    pod = w.pod
    if ctx.keep_original:
        # The injector reads the pod without changing it and replaces the contents of its
        # two maps at the end: fresh top-level maps keep the original as written (and a
        # map of annotations of its own, which a tolerant run may drop entries from).
        meta = dict(pod.metadata)
        if isinstance(meta.get("annotations"), dict):
            meta["annotations"] = dict(meta["annotations"])
        pod = dataclasses.replace(pod, metadata=meta, spec=dict(pod.spec))
    for _ in range(len(pod.metadata.get("annotations") or {}) + 1):
        try:
            sidecar_cache.inject(pod, e.resolved.config)
        except InjectionError as err:
            anns = pod.metadata.get("annotations") or {}
            if not ctx.strict and err.annotation and err.annotation in anns:
                e.dropped[err.annotation] = str(err)
                del anns[err.annotation]
                continue
            e.error = _injection_error(err, w, e.doc)
        except TemplateError as err:
            e.error = _template_error(err, w, e.doc, e.resolved)
        except InputError as err:
            e.error = err
        except (TypeError, AttributeError, KeyError, ValueError, IndexError) as err:
            e.error = unexpected(f"{w.display}: cannot inject", e.doc.location, err)
        else:
            e.pod = {"metadata": pod.metadata, "spec": pod.spec}
            return
        if ctx.strict:
            raise e.error
        return


def _injection_error(err: InjectionError, w: Workload, doc: Document) -> InputError:
    """The injector's refusal, at the annotation that caused it when there is one."""
    if err.annotation:
        path = (*w.meta_path, "annotations", err.annotation)
        return InputError(f"{w.display}: {err}", locate(doc, path), field=".".join(map(str, path)))
    return InputError(f"{w.display}: {err}", doc.location)


def _template_error(err: TemplateError, w: Workload, doc: Document, resolved: Resolved) -> InputError:
    """Point at the pod's template annotation, and say where the template is defined."""
    path = (*w.meta_path, "annotations", TEMPLATES_ANNOTATION)
    has_annotation = TEMPLATES_ANNOTATION in w.pod.annotations
    where = locate(doc, path) if has_annotation else doc.location
    origin = resolved.tree.origin("values", "sidecarInjectorWebhook", "templates", err.template)
    defined = f" (defined in {origin.describe()})" if origin is not None and origin.user_set else ""
    return InputError(f"{w.display}: {err}{defined}", where, field=".".join(map(str, path)) if has_annotation else None)
