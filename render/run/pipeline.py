"""Load, resolve, inject, emit: the render pipeline, kept apart from the CLI.

Settings are gathered from every input first (they apply across files), then each
workload is injected with its own effective configuration. Nothing is written here;
the caller decides between stdout and an output folder.

Two ways to run it, with the same output: `render()` on files already loaded (explain,
diff, tests), and `render_stream()`, which reads and renders the files of PATHs in
worker processes (render/run/parallel.py) and hands each file's result to the caller in
input order, holding none of them: memory stays flat however many files there are.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError, MeshrenderError, UsageError, unexpected
from meshrender.inject.injector import InjectionError, inject, skip_reason
from meshrender.inject.templates import ANNOTATION, TemplateError
from meshrender.inputs import kinds, objects, sources
from meshrender.inputs.sources import SourceFile
from meshrender.kube import gozero
from meshrender.run import parallel
from meshrender.settings.collect import Collector, Settings, is_consumed, may_be_settings
from meshrender.settings.resolve import Options, Resolved, Resolver
from meshrender.yamlio import Document, locate


@dataclass
class WorkloadResult:
    """What happened to one workload, for summaries, explain and lint."""

    workload: kinds.Workload
    doc: Document
    resolved: Resolved | None
    injected: bool
    skipped: str | None = None

    @property
    def display(self) -> str:
        return self.workload.display

    @property
    def mode(self) -> str | None:
        return self.resolved.mode.mode if self.resolved else None

    @property
    def reason(self) -> str | None:
        return self.resolved.mode.reason if self.resolved else None

    def summary(self) -> WorkloadSummary:
        return WorkloadSummary(self.display, self.injected, self.skipped, self.mode, self.reason)


@dataclass(frozen=True)
class WorkloadSummary:
    """What the render summary says about a workload (small enough to pass between processes)."""

    display: str
    injected: bool
    skipped: str | None
    mode: str | None
    reason: str | None


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
    return objects.shape_error(e, doc, w_desc)


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


def _template_error(e: TemplateError, w: kinds.Workload, doc: Document, resolved: Resolved) -> InputError:
    """Point at the pod's template annotation, and say where the template is defined."""
    path = (*w.meta_path, "annotations", ANNOTATION)
    has_annotation = ANNOTATION in w.pod.annotations
    where = locate(doc, path) if has_annotation else doc.location
    origin = resolved.tree.origin("values", "sidecarInjectorWebhook", "templates", e.template)
    defined = f" (defined in {origin.describe()})" if origin is not None and origin.doc is not None else ""
    return InputError(f"{w.display}: {e}{defined}", where,
                      field=".".join(map(str, path)) if has_annotation else None)


def inject_workload(w: kinds.Workload, doc: Document, resolver: Resolver) -> WorkloadResult:
    """Resolve and inject one workload in place (render does every one; explain just one)."""
    resolved = resolver.resolve(w)
    reason = skip_reason(w.pod, resolved.config)
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
        raise _template_error(e, w, doc, resolved) from None
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as e:
        raise unexpected(f"{w.display}: cannot inject", doc.location, e) from None
    return WorkloadResult(w, doc, resolved, True)


@dataclass
class FileRender:
    """One input file rendered: its output documents and what happened on the way."""

    texts: list[str]
    workloads: list[WorkloadResult]
    documents: int
    consumed: int
    warnings: list[str]


def render_file(f: SourceFile, resolver: Resolver, progress: Callable[[int], Any] | None = None) -> FileRender:
    """Inject every workload of one loaded file (the docs' data is changed in place)."""
    out = FileRender([], [], 0, 0, [])
    namespace = resolver.options.namespace
    for doc in f.docs:
        out.documents += 1
        if is_consumed(doc.data):
            out.consumed += 1
            continue
        workloads = iter_workloads(doc, namespace)
        changed = False
        for w in workloads:
            r = inject_workload(w, doc, resolver)
            out.workloads.append(r)
            if r.injected:
                gozero.apply(w.doc)
            changed = changed or r.injected
            if r.skipped:
                out.warnings.append(f"{doc.location}: skipping injection of {w.display}: {r.skipped}")
        out.texts.append(yamlio.dump(doc.data) if changed else doc.passthrough_text())
        if progress:
            progress(1)
    return out


def unused_selector_warnings(resolver: Resolver) -> list[str]:
    return [f"{locate(s.doc, ('spec', 'selector'))}: warning: SidecarProxySettings {s.name}: "
            "selector matches no workload" for s in resolver.unused_selectors()]


def render(files: list[SourceFile], options: Options,
           progress: Callable[[int], Any] | None = None) -> RenderResult:
    """Inject every workload of `files`; returns the text of each file's output documents."""
    result = RenderResult()
    settings = collect_settings(files)
    resolver = Resolver(settings, options)
    result.settings, result.resolver = settings, resolver
    for f in files:
        r = render_file(f, resolver, progress)
        result.documents += r.documents
        result.consumed += r.consumed
        result.workloads += r.workloads
        result.warnings += r.warnings
        result.outputs.append((f, r.texts))
    result.warnings += resolver.warnings + unused_selector_warnings(resolver)
    return result


# -- reading and rendering PATHs in worker processes ---------------------------------------

# Workers pay off from about this much work: reading settings is light (files), rendering
# is not (bytes of YAML); below, one process does it all, as forking costs more.
PARALLEL_MIN_FILES = 256
PARALLEL_MIN_BYTES = 256 * 1024


@dataclass
class FileDone:
    """One file's result as the caller of render_stream gets it, in input order."""

    file: SourceFile | None  # without its documents; set in this process, not sent by a worker
    texts: list[str] | None  # None when `write` wrote them in the worker
    has_output: bool
    workloads: list[WorkloadSummary]
    documents: int
    consumed: int
    warnings: list[str]
    extra: Any = None  # what the per_file hook returned
    used_selectors: frozenset[int] = frozenset()  # indices into settings.sidecar


@dataclass
class StreamResult(RenderResult):
    """Totals of a render_stream run: `workloads` are WorkloadSummary records, and
    `outputs` stays empty (each file's output went to the caller's on_file) unless
    render_paths collected it."""

    files: int = 0


def workers_for(count: int, total_bytes: int | None = None) -> int:
    """How many processes work on `count` files (of `total_bytes`, when known):
    MESHRENDER_JOBS, else every core when there is enough to do."""
    env = os.environ.get("MESHRENDER_JOBS", "").strip()
    if env:
        try:
            jobs = int(env)
        except ValueError:
            raise UsageError(f"MESHRENDER_JOBS={env!r} is not a number of processes") from None
        return max(1, min(jobs, count))
    if count < 2 or (count < PARALLEL_MIN_FILES if total_bytes is None else total_bytes < PARALLEL_MIN_BYTES):
        return 1
    return max(1, min(parallel.cpu_count(), count))


class Inputs:
    """The files of a run, read again by whichever process needs them (stdin once)."""

    def __init__(self, paths: list[str], warn: Callable[[str], None] | None = None):
        self.found = sources.discover(paths, warn)
        self.stdin = b""
        self.first_stdin = next((i for i, (_, _, p) in enumerate(self.found) if p is None), -1)
        if self.first_stdin >= 0:
            self.stdin = sources.read_bytes("-", None)  # bounded: stdin may be endless
        sources.check_total_size(self.found, len(self.stdin))

    def __len__(self) -> int:
        return len(self.found)

    def source(self, i: int) -> SourceFile:
        display, rel, path = self.found[i]
        return SourceFile(display, rel, path)

    def text(self, i: int) -> str:
        display, _, path = self.found[i]
        if path is None:  # a second `-` reads an empty stdin
            return yamlio.decode(self.stdin, display) if i == self.first_stdin else ""
        return sources.read_text(display, path)

    def load(self, i: int) -> SourceFile:
        f = self.source(i)
        f.docs = yamlio.parse(self.text(i), f.display)
        sources.check_objects(f.docs)
        return f


def _raise(failure: parallel.Failure) -> None:
    raise failure.error


def first_load_error(inputs: Inputs, indices: list[int], workers: int) -> parallel.Failure | None:
    """The first file, in input order, that cannot be read or parsed, if any."""
    for _, r in parallel.ordered_map(lambda k: inputs.load(indices[k]) and None, len(indices), workers):
        if isinstance(r, parallel.Failure):
            if isinstance(r.error, MeshrenderError):
                return parallel.Failure(indices[r.index], r.error)
            continue  # a bug in reading, not an input error: report the original error
    return None


def _prepare_rendering() -> None:
    """Import what a large run needs once the settings are read: the fast YAML reader
    (yamlio.expect decides later whether to use it) and jsonschema-rs, which validates
    the settings. Called while workers scan the files, when this process would only wait:
    about 50 ms that were otherwise spent between the two passes, with every core idle
    but one."""
    if os.environ.get("MESHRENDER_YAML", "") != "reference":
        with contextlib.suppress(ImportError):
            import meshrender.yamlio.fast  # noqa: F401
    from meshrender.settings import schema

    schema.prefetch()


def render_stream(paths: list[str], options: Options, on_file: Callable[[FileDone], Any], *,
                  write: Callable[[SourceFile, list[str]], None] | None = None,
                  per_file: Callable[[Resolver], Callable[[SourceFile, FileRender], Any]] | None = None,
                  progress: Any = None, workers: int | None = None,
                  warn: Callable[[str], None] | None = None) -> StreamResult:
    """Read and render the files of `paths`, calling `on_file` with each file's result in
    input order; memory does not grow with the number of files.

    `write(file, texts)`, if given, is called in the worker with each file's output
    documents instead of sending them to `on_file`. `per_file(resolver)`, if given, is
    called once (before the workers start) and returns a function run in the worker on
    each rendered file, whose result arrives as `FileDone.extra`. `progress` is a
    meshrender.progress.Progress. Errors are the ones `render()` on the loaded files would
    raise, first in input order: reading and parsing errors before settings errors
    before rendering errors, whichever worker met them first.
    """
    inputs = Inputs(paths, warn)
    n = len(inputs)
    jobs = workers or workers_for(n)  # for reading settings; rendering decides below
    result = StreamResult(files=n)

    # 1. Settings documents, from every file, before any workload is rendered.
    settings_docs: list[Document] = []
    total_bytes = documents = 0
    counts: list[int] = []

    def scan(i: int) -> tuple[int, list[Document], int]:
        text = inputs.text(i)
        docs, count = yamlio.parse_some(text, inputs.found[i][0], may_be_settings)
        sources.check_objects(docs)
        return len(text), docs, count

    failure = None
    prepare = jobs > 1 and n >= PARALLEL_MIN_FILES
    for i, r in parallel.ordered_map(scan, n, jobs):
        if prepare:  # the workers are scanning: this process has time for what comes next
            _prepare_rendering()
            prepare = False
        if isinstance(r, parallel.Failure):
            failure = r
            break
        total_bytes += r[0]
        settings_docs += r[1]
        documents += r[2]
        counts.append(r[2])
        if progress is not None:
            progress.update("reading", i + 1, n, "files")
    if failure:  # the first error of render(): maybe a parse error before it in the same file
        _raise(first_load_error(inputs, list(range(failure.index + 1)), jobs) or failure)
    sources.check_counts(inputs.found, counts, paths, warn)  # empty stdin, nothing at all
    try:
        collector = Collector()
        for doc in settings_docs:
            collector.add(doc)
        resolver = Resolver(collector.settings, options)
        hook = per_file(resolver) if per_file else None
    except MeshrenderError as e:
        _raise(first_load_error(inputs, list(range(n)), jobs) or parallel.Failure(-1, e))
    result.settings, result.resolver = collector.settings, resolver
    del settings_docs
    yamlio.expect(total_bytes)  # load the fast YAML reader once, before the workers fork

    # 2. Every file, rendered where it is read.
    jobs = workers or workers_for(n, total_bytes)
    sidecar_index = {id(s): k for k, s in enumerate(resolver.settings.sidecar)}

    def render_one(i: int) -> FileDone:
        f = inputs.load(i)
        r = render_file(f, resolver)
        extra = hook(f, r) if hook else None
        texts: list[str] | None = r.texts
        if write is not None:
            if r.texts:
                write(f, r.texts)
            texts = None
        used = frozenset(sidecar_index[u] for u in resolver.used_settings if u in sidecar_index)
        # No SourceFile: the caller's process has it (a pickled Path is rebuilt from its parts,
        # a measurable share of what the parent does per file while the workers render).
        return FileDone(None, texts, bool(r.texts), [w.summary() for w in r.workloads], r.documents,
                        r.consumed, r.warnings, extra, used)

    stage = progress.stage("rendering", documents, "documents") if progress is not None else None
    done = 0
    for i, r in parallel.ordered_map(render_one, n, jobs):
        if isinstance(r, parallel.Failure):
            failure = r
            break
        done = i + 1
        r.file = inputs.source(i)
        result.documents += r.documents
        result.consumed += r.consumed
        result.workloads += r.workloads
        result.warnings += r.warnings
        for k in r.used_selectors:
            resolver.used_settings.add(id(resolver.settings.sidecar[k]))
        on_file(r)
        if stage:
            stage(r.documents)
    if failure:  # a parse error in any file not rendered yet comes first (render() loads all first)
        _raise(first_load_error(inputs, list(range(done, n)), jobs) or failure)
    result.warnings += resolver.warnings + unused_selector_warnings(resolver)
    return result


def render_paths(paths: list[str], options: Options, progress: Any = None) -> StreamResult:
    """render_stream, keeping every file's output documents in `outputs` (for callers that
    compare whole trees: render-check, diff)."""
    outputs: list[tuple[SourceFile, list[str]]] = []
    result = render_stream(paths, options, lambda d: outputs.append((d.file, d.texts or [])), progress=progress)
    result.outputs = outputs
    return result
