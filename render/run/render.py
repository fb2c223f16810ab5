"""Rendering: each evaluated file as the YAML documents `render` writes.

The handler the driver runs for `render`, `diff` and `render-check`: in the worker that
evaluated a file, its documents become text (injected workloads re-emitted, every other
document passed through as written, settings of meshrender's own kinds consumed), and
only that text and a summary per workload come back, in input order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from meshrender.evaluate.evaluation import WorkloadSummary
from meshrender.inputs.sources import SourceFile
from meshrender.kube import gozero
from meshrender.run.driver import Evaluated, Partial, Run, drive
from meshrender.settings.collect import is_consumed
from meshrender.settings.options import Options
from meshrender.yamlio import dump, dump_stream, locate

Warn = Callable[[str], None]


@dataclass
class FileOutput:
    """One file rendered, as it crosses back from the worker."""

    texts: list[str] | None  # None when `write` wrote them in the worker
    has_output: bool
    workloads: list[WorkloadSummary]
    warnings: list[str]
    extra: Any = None  # what the per-file hook returned
    # When the run tracks (render -o, incremental checks): the namespaces its workloads
    # used, and the digest (what `render -o` keeps a previous file by), fingerprint (what
    # the marker records) and document count of the file render -o writes from it.
    deps: tuple[str, ...] = ()
    out_digest: str | None = None
    out_documents: int = 0
    out_print: str | None = None


@dataclass
class Rendered:
    """The totals of a render, for the summary and for callers that compare trees."""

    run: Run | None = None
    workloads: list[WorkloadSummary] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    outputs: list[tuple[SourceFile, list[str]]] = field(default_factory=list)  # with keep_texts
    tracked: dict[int, FileOutput] = field(default_factory=dict)  # with track: what the marker records

    @property
    def documents(self) -> int:
        return self.run.documents if self.run else 0

    @property
    def consumed(self) -> int:
        return self.run.consumed if self.run else 0


def render_texts(evaluated: Evaluated) -> list[str]:
    """The output documents of one evaluated file: injected workloads written anew (with
    kube-inject's Go round trip of the objects around the pod), the rest as written."""
    injected_docs = set()
    for e in evaluated.evaluations:
        if e.pod is not None:
            gozero.apply(e.workload.doc)
            injected_docs.add(id(e.doc))
    return [dump(doc.data) if id(doc) in injected_docs else doc.passthrough_text()
            for doc in evaluated.file.docs if not is_consumed(doc.data)]


class Renderer:
    """The render handler: text per file, summaries per workload, warnings.

    `write(file, texts)`, when given, is called in the worker with each file's documents
    instead of sending them back; `per_file(run)` is called once before the workers fork
    and returns a function run in the worker on each evaluated file, whose result arrives
    as `FileOutput.extra`; `on_file(file, output)` sees each file in input order.
    """

    def __init__(self, on_file: Callable[[SourceFile, FileOutput], Any] | None = None, *,
                 write: Callable[[SourceFile, list[str]], None] | None = None,
                 per_file: Callable[[Run], Callable[[Evaluated], Any] | None] | None = None,
                 keep_texts: bool = False, reuse: Callable[[SourceFile, str], bool] | None = None):
        self.on_file = on_file
        self.write = write
        # With `write`: `reuse(file, digest)` puts the previous output's file with that
        # digest where `write` would have written, if there is one (render -o over its
        # last output); the cache then keeps no documents, only their digest.
        self.reuse = reuse
        self.per_file = per_file
        self.keep_texts = keep_texts
        self.hook: Callable[[Evaluated], Any] | None = None
        self.result = Rendered()
        self._texts: list[str] | None = None  # the last file's documents, for the cache
        # Results may come from the local cache (run/cache.py), unless a per-file hook
        # (--validate) must see each file's evaluations.
        self.cache_kind = None if per_file is not None else "render-o" if reuse is not None else "render"

    def payload(self, result: FileOutput) -> FileOutput:
        """What the cache keeps of a file's result: its documents (even when they were
        written in the worker), or only their digest when the previous output holds them."""
        return replace(result, texts=None if self.reuse is not None else self._texts)

    def revive(self, run: Run, file: SourceFile, payload: FileOutput) -> FileOutput | None:
        """A cached result, written where this render writes; None when its documents
        are not at hand (the previous output no longer holds them): evaluate the file."""
        if self.write is None:
            return payload
        if self.reuse is not None:
            if payload.has_output and not (payload.out_digest and self.reuse(file, payload.out_digest)):
                return None
            return payload
        if payload.texts:
            self.write(file, payload.texts)
        return replace(payload, texts=None)

    def start(self, run: Run) -> None:
        self.result.run = run
        self.hook = self.per_file(run) if self.per_file else None

    def file(self, run: Run, evaluated: Evaluated) -> FileOutput:
        texts: list[str] | None = render_texts(evaluated)
        extra = self.hook(evaluated) if self.hook else None
        has_output = bool(texts)
        deps: tuple[str, ...] = ()
        out_digest = out_print = None
        if run.track:
            from meshrender.run import digests

            deps = tuple(sorted({*digests.namespaces_used(evaluated.evaluations), *evaluated.selectors}))
            if texts:
                stream = dump_stream(texts).encode("utf-8", "surrogatepass")
                out_digest, out_print = digests.digest(stream), digests.fingerprint(stream)
        count = len(texts) if texts else 0
        self._texts = texts
        if self.write is not None:
            if texts:
                self.write(evaluated.file, texts)
            texts = None
        warnings = [f"{n.place.resolve()}: warning: {n.message}" for n in evaluated.notes]
        warnings += [f"{e.doc.location}: skipping injection of {e.display}: {e.skipped}"
                     for e in evaluated.evaluations if e.skipped]
        return FileOutput(texts, has_output, [e.summary() for e in evaluated.evaluations], warnings, extra,
                          deps, out_digest, count, out_print)

    def collect(self, run: Run, index: int, file: SourceFile, out: FileOutput) -> None:
        self.result.workloads += out.workloads
        self.result.warnings += out.warnings
        if self.keep_texts:
            self.result.outputs.append((file, out.texts or []))
        if run.track:
            self.result.tracked[index] = FileOutput(None, out.has_output, [], [], None, out.deps, out.out_digest,
                                                    out.out_documents, out.out_print)
        if self.on_file is not None:
            self.on_file(file, out)

    def finish(self, run: Run) -> Rendered:
        resolver_warnings = run.resolver.warnings if run.resolver is not None else []
        # (a partial run evaluated only some files: it cannot tell which selectors match none)
        unused = unused_selector_warnings(run) if not run.partial else []
        self.result.warnings = [*resolver_warnings, *self.result.warnings, *unused]
        return self.result


def unused_selector_warnings(run: Run) -> list[str]:
    return [f"{locate(s.doc, ('spec', 'selector'))}: warning: SidecarProxySettings {s.name}: "
            "selector matches no workload" for s in run.unused_selectors()]


def render(paths: list[str], options: Options, renderer: Renderer | None = None, *, progress: Any = None,
           workers: int | None = None, warn: Warn | None = None, allow_empty: bool = False, track: bool = False,
           partial: Partial | None = None) -> Rendered:
    """Render the files of `paths` through the driver (strict: the first error raises);
    `allow_empty`: inputs without any document are no error (render --allow-empty);
    `track`, `partial`: see driver.drive (incremental work, run/incremental.py)."""
    renderer = renderer or Renderer(keep_texts=True)
    run = drive(paths, options, renderer, progress=progress, workers=workers, warn=warn, allow_empty=allow_empty,
                track=track, partial=partial)
    return renderer.finish(run)
