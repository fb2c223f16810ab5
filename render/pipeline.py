"""Load, resolve, inject, emit: the render pipeline, kept apart from the CLI.

Settings are gathered from every input first (they apply across files), then each
workload is injected with its own effective configuration. Nothing is written here;
the caller decides between stdout and an output folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from render import gozero, kinds, yamlio
from render.errors import InputError
from render.inject.injector import InjectionError, inject, skip_reason
from render.inject.templates import TemplateError
from render.settings.collect import Collector, Settings, is_consumed
from render.settings.resolve import Options, Resolved, Resolver
from render.sources import SourceFile
from render.yamlio import Document, locate


@dataclass
class WorkloadResult:
    """What happened to one workload, for summaries, explain and lint."""

    workload: kinds.Workload
    doc: Document
    resolved: Resolved | None
    injected: bool
    skipped: str | None = None


@dataclass
class RenderResult:
    outputs: list[tuple[SourceFile, list[str]]] = field(default_factory=list)
    workloads: list[WorkloadResult] = field(default_factory=list)
    documents: int = 0
    consumed: int = 0
    warnings: list[str] = field(default_factory=list)
    settings: Settings | None = None
    resolver: Resolver | None = None


def collect_settings(files: list[SourceFile]) -> Settings:
    collector = Collector()
    for f in files:
        for doc in f.docs:
            collector.add(doc)
    return collector.settings


def _shape_error(e: kinds.ShapeError, doc: Document, w_desc: str) -> InputError:
    field = ".".join(str(p) for p in e.path)
    return InputError(f"{w_desc}: {e}", locate(doc, e.path), field=field)


def _describe(data: dict, namespace: str) -> str:
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return f"{data.get('kind')} {meta.get('namespace') or namespace}/{meta.get('name') or '(unnamed)'}"


def iter_workloads(doc: Document, namespace: str) -> list[kinds.Workload]:
    """The workloads in a document (one, or each item of a List)."""
    data = doc.data
    out = []
    if kinds.is_workload(data):
        try:
            w = kinds.workload_of(data, namespace)
        except kinds.ShapeError as e:
            raise _shape_error(e, doc, _describe(data, namespace)) from None
        w.source_doc = doc
        out.append(w)
    elif kinds.is_list(data):
        for i, item in enumerate(data["items"]):
            if kinds.is_workload(item):
                try:
                    w = kinds.workload_of(item, namespace, ("items", i))
                except kinds.ShapeError as e:
                    raise _shape_error(e, doc, _describe(item, namespace)) from None
                w.source_doc = doc
                out.append(w)
    return out


def inject_workload(w: kinds.Workload, doc: Document, resolver: Resolver) -> WorkloadResult:
    """Resolve and inject one workload in place (render does every one; explain just one)."""
    reason = skip_reason(w.pod)
    resolved = resolver.resolve(w)
    if reason:
        return WorkloadResult(w, doc, resolved, False, reason)
    try:
        inject(w.pod, resolved.config)
    except InjectionError as e:
        where = doc.location
        field = None
        if e.annotation:
            where = locate(doc, (*w.meta_path, "annotations", e.annotation))
            field = ".".join(map(str, (*w.meta_path, "annotations", e.annotation)))
        raise InputError(f"{w.display}: {e}", where, field=field) from None
    except TemplateError as e:
        raise InputError(f"{w.display}: {e}", doc.location) from None
    return WorkloadResult(w, doc, resolved, True)


def render(files: list[SourceFile], options: Options,
           progress: Callable[[int], Any] | None = None) -> RenderResult:
    """Inject every workload of `files`; returns the text of each file's output documents."""
    result = RenderResult()
    settings = collect_settings(files)
    resolver = Resolver(settings, options)
    result.settings, result.resolver = settings, resolver
    for f in files:
        texts: list[str] = []
        for doc in f.docs:
            result.documents += 1
            if is_consumed(doc.data):
                result.consumed += 1
                continue
            workloads = iter_workloads(doc, options.namespace)
            changed = False
            for w in workloads:
                r = inject_workload(w, doc, resolver)
                result.workloads.append(r)
                if r.injected:
                    gozero.apply(w.doc)
                changed = changed or r.injected
                if r.skipped:
                    result.warnings.append(f"{doc.location}: skipping injection of {w.display}: {r.skipped}")
            texts.append(yamlio.dump(doc.data) if changed else doc.passthrough_text())
            if progress:
                progress(1)
        result.outputs.append((f, texts))
    for s in resolver.unused_selectors():
        result.warnings.append(
            f"{locate(s.doc, ('spec', 'selector'))}: warning: SidecarProxySettings {s.name}: "
            "selector matches no workload")
    return result
