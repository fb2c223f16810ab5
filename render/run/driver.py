"""The one driver: read the inputs, gather the settings, evaluate every file's workloads in
worker processes in input order, and hand each file's result to the command.

Every command that looks at workloads (render, lint, explain, diff, render-check) runs
through `drive`, so they read the same inputs the same way, resolve settings the same
way and evaluate each workload once (render/evaluate/evaluation.py). What differs is a
`Handler`:

- `start(run)`, in this process once the settings are known and before the workers
  fork (what it sets up, the workers inherit);
- `file(run, evaluated)`, in the worker that read the file: turn the file's evaluations
  into a small result that crosses back (texts to print, located findings, ...);
- `collect(run, i, file, result)`, in this process, in input order.

Memory stays flat: a file's documents live only in the worker that evaluates it.

Two passes over the inputs: first every file is read and only the documents that may be
settings are parsed (settings apply across files), then each file is read again where
it is evaluated. Errors are the ones a run that read everything first would meet first,
in input order: reading and parsing errors before settings errors before evaluation
errors, whichever worker met them first. A tolerant run (lint) records settings and
workload problems instead of stopping; only unreadable input and bad usage stop it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from meshrender.config import Config
from meshrender.errors import InputError, Location, MeshrenderError, UsageError
from meshrender.evaluate.evaluation import Context, Evaluation, evaluate
from meshrender.inputs import identity, kinds, overlays, sources
from meshrender.inputs.sources import SourceFile
from meshrender.limits import (
    MAX_FILE_WORKLOADS,
    MAX_SETTINGS_DOCUMENTS,
    MAX_SETTINGS_NODES,
    MAX_TOTAL_BYTES,
    PROCESS_MEMORY,
)
from meshrender.run import parallel
from meshrender.settings import schema
from meshrender.settings.collect import Collector, Settings, SidecarSettings, is_consumed, may_be_settings
from meshrender.settings.options import Options
from meshrender.settings.provenance import Place
from meshrender.settings.resolve import Resolver
from meshrender.settings.schema import SchemaError
from meshrender.yamlio import Document, expect, locate, parse_some

# Workers pay off from about this much work: reading settings is light (files), rendering
# is not (bytes of YAML); below, one process does it all, as forking costs more.
PARALLEL_MIN_FILES = 256
PARALLEL_MIN_BYTES = 256 * 1024

Warn = Callable[[str], None]


@dataclass
class Problem:
    """Something render would refuse, kept by a tolerant run: `kind` says which lint rule
    reports it ("invalid-setting": a settings document that does not validate; "render":
    anything else render stops on), `doc` the settings document it concerns, if any."""

    kind: str
    message: str
    place: Place
    doc: Document | None = None

    def located(self) -> Problem:
        """This problem with its place located and no document: it can cross from a worker
        (the subject of a finding is worked out from `doc` first, when there is one)."""
        return Problem(self.kind, self.message, self.place.located(), self.doc)


@dataclass
class Evaluated:
    """One file, read and evaluated in a worker: what the handler's `file` gets."""

    file: SourceFile
    evaluations: list[Evaluation]
    problems: list[Problem]  # documents that hold no readable workload (tolerant runs)
    documents: int
    consumed: int
    notes: list[Problem] = field(default_factory=list)  # pod templates left alone ("not-injected")
    skipped: bool = False  # not a Kubernetes manifest file (a kustomization, a values file, ...)
    objects: list[tuple[identity.Key, int, tuple]] = field(default_factory=list)  # what the file creates
    selectors: tuple[str, ...] = ()  # the scopes of the selector settings its workloads match

    @property
    def scopes(self) -> tuple[str, ...]:
        """The settings scopes this file's evaluation read (run/digests.py): the namespace
        of every workload and of every namespaced object in it, and the selector settings
        that match its workloads."""
        return tuple(sorted({f"ns:{key[2]}" for key, _, _ in self.objects if key[2]}
                            | {f"ns:{e.workload.namespace}" for e in self.evaluations} | set(self.selectors)))


@dataclass
class Run:
    """A run as handlers see it: the inputs, the settings and what workloads are evaluated
    against, and (in this process) the totals so far."""

    paths: list[str]
    inputs: Inputs
    context: Context
    problems: list[Problem] = field(default_factory=list)  # settings problems (tolerant runs)
    files: int = 0
    documents: int = 0
    consumed: int = 0
    used_settings: set[int] = field(default_factory=set)  # indices into settings.sidecar
    skipped: list[str] = field(default_factory=list)  # files that are no Kubernetes manifests
    duplicates: list[identity.Duplicate] = field(default_factory=list)  # objects given twice (tolerant runs)
    # With `track` (render -o, incremental checks): each file's text digest (the result
    # cache's key) and fingerprint (the marker's record), the objects it creates, and the
    # digest of every settings scope (run/digests.py).
    track: bool = False
    shas: dict[int, str] = field(default_factory=dict)
    prints: dict[int, str] = field(default_factory=dict)
    keys: dict[int, list[identity.Key]] = field(default_factory=dict)
    scopes: Any = None  # digests.Scopes
    evaluated: list[int] = field(default_factory=list)  # the files evaluated, in order
    partial: bool = False  # an incremental run: only some files are evaluated

    @property
    def settings(self) -> Settings:
        return self.context.settings

    @property
    def resolver(self) -> Resolver | None:
        return self.context.resolver

    def unused_selectors(self) -> list[SidecarSettings]:
        """Workload SidecarProxySettings whose selector matched no workload of the run."""
        return [s for k, s in enumerate(self.settings.sidecar)
                if s.scope == "workload" and k not in self.used_settings]

    def unused_settings(self) -> list[SidecarSettings]:
        """SidecarProxySettings that applied to no workload of the run: a selector that
        matched nothing, a namespace without workloads (global ones apply to all)."""
        return [s for k, s in enumerate(self.settings.sidecar)
                if s.scope != "global" and k not in self.used_settings]


class Handler(Protocol):
    def start(self, run: Run) -> None: ...

    def file(self, run: Run, evaluated: Evaluated) -> Any: ...

    def collect(self, run: Run, index: int, file: SourceFile, result: Any) -> None: ...


class Cacheable(Handler, Protocol):
    """A handler whose per-file results the local cache may keep (run/cache.py): named by
    `cache_kind` (the command and whatever of its own options changes a result), stored
    as `payload(result)` in the worker that made it, given back as `revive(...)`."""

    cache_kind: str | None

    def payload(self, result: Any) -> Any: ...

    def revive(self, run: Run, file: SourceFile, payload: Any) -> Any: ...


def workers_for(count: int, total_bytes: int | None = None) -> int:
    """How many processes work on `count` files (of `total_bytes`, when known):
    MESHRENDER_JOBS, else every core when there is enough to do, but no more processes
    than the memory limit holds at PROCESS_MEMORY each (memory_limit: a container's
    cgroup, such as the Argo CD sidecar's 512Mi, which then renders in one process)."""
    env = os.environ.get("MESHRENDER_JOBS", "").strip()
    if env:
        try:
            jobs = int(env)
        except ValueError:
            raise UsageError(f"MESHRENDER_JOBS={env!r} is not a number of processes") from None
        return max(1, min(jobs, count))
    if count < 2 or (count < PARALLEL_MIN_FILES if total_bytes is None else total_bytes < PARALLEL_MIN_BYTES):
        return 1
    jobs = max(1, min(parallel.cpu_count(), count))
    memory = memory_limit()
    if memory is not None:
        jobs = min(jobs, max(1, memory // PROCESS_MEMORY))
    return jobs


# Where Linux says how much memory this process's container may use (cgroup v2, v1).
CGROUP_MEMORY_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def memory_limit() -> int | None:
    """Bytes of memory this run may use: MESHRENDER_MEMORY_LIMIT, else the cgroup's limit;
    None when there is none."""
    env = os.environ.get("MESHRENDER_MEMORY_LIMIT", "").strip()
    if env:
        try:
            return int(env)
        except ValueError:
            raise UsageError(f"MESHRENDER_MEMORY_LIMIT={env!r} is not a number of bytes") from None
    for path in CGROUP_MEMORY_FILES:
        try:
            with open(path, encoding="ascii") as f:
                text = f.read(64).strip()
        except (OSError, UnicodeDecodeError):
            continue
        if not text.isdigit():
            return None  # "max": no limit
        limit = int(text)
        return limit if limit < 2**60 else None  # v1 writes a huge number for no limit
    return None


class Inputs:
    """The files of a run, read again by whichever process needs them (stdin once)."""

    def __init__(self, paths: list[str], warn: Warn | None = None,
                 exclude: Callable[[Path], bool] | None = None, sized: bool = True):
        """`sized`: refuse inputs larger than MAX_TOTAL_BYTES together before reading any
        (False for an incremental check, which reads each once and counts as it goes)."""
        self.excluded: list[str] = []  # files the repository configuration leaves out
        self.found = sources.discover(paths, warn, exclude, self.excluded)
        self.stdin = b""
        self.first_stdin = next((i for i, (_, _, p) in enumerate(self.found) if p is None), -1)
        if self.first_stdin >= 0:
            self.stdin = sources.read_bytes("-", None)  # bounded: stdin may be endless
        if sized:
            sources.check_total_size(self.found, len(self.stdin))
        # Files a kustomization among the inputs reads as patches or tool configs: skipped.
        kustomizations = [(path, sources.read_text(display, path)) for display, _, path in self.found
                          if path is not None and overlays.is_kustomization(path)]
        named = overlays.instruction_files(kustomizations) if kustomizations else set()
        self.instructions = {i for i, (_, _, path) in enumerate(self.found)
                             if path is not None and Path(os.path.abspath(path)) in named} if named else set()
        self.kustomizations = [f"{path}\0{text}" for path, text in kustomizations]

    def __len__(self) -> int:
        return len(self.found)

    @property
    def displays(self) -> set[str]:
        return {display for display, _, _ in self.found}

    def source(self, i: int) -> SourceFile:
        display, rel, path = self.found[i]
        return SourceFile(display, rel, path)

    def raw(self, i: int, budget: int = MAX_TOTAL_BYTES) -> bytes:
        """The bytes of input `i` (what its digest is of: run/digests.py), refused beyond
        `budget` (what is left of the run's MAX_TOTAL_BYTES)."""
        display, _, path = self.found[i]
        if path is None:  # a second `-` reads an empty stdin
            return self.stdin if i == self.first_stdin else b""
        return sources.read_bytes(display, path, budget)

    def text(self, i: int, raw: bytes | None = None) -> str:
        from meshrender.yamlio import decode

        return decode(self.raw(i) if raw is None else raw, self.found[i][0])

    def load(self, i: int) -> SourceFile:
        """The file, parsed; with no documents when it holds no Kubernetes manifest (a
        kustomization, a Helm chart's values, a CI config: `skipped`). A file that holds
        one must hold nothing else: a document without kind is an error there."""
        from meshrender.yamlio import parse

        f = self.source(i)
        if i in self.instructions:
            f.docs, f.skipped = [], True
            return f
        f.docs = parse(self.text(i), f.display)
        if f.path is not None and f.docs and not any(sources.is_manifest(d.data) for d in f.docs):
            f.docs, f.skipped = [], True
            return f
        sources.check_objects(f.docs)
        return f


def first_load_error(inputs: Inputs, indices: list[int], workers: int) -> parallel.Failure | None:
    """The first file, in input order, that cannot be read or parsed, if any."""
    for _, r in parallel.ordered_map(lambda k: inputs.load(indices[k]) and None, len(indices), workers):
        if isinstance(r, parallel.Failure):
            if isinstance(r.error, MeshrenderError):
                return parallel.Failure(indices[r.index], r.error)
            continue  # a bug in reading, not an input error: report the original error
    return None


def _raise(failure: parallel.Failure) -> None:
    raise failure.error


def _prepare() -> None:
    """Import what a large run needs once the settings are read: the fast YAML reader
    (yamlio.expect decides later whether to use it) and jsonschema-rs, which validates
    the settings. Called while workers scan the files, when this process would only wait."""
    if os.environ.get("MESHRENDER_YAML", "") != "reference":
        with contextlib.suppress(ImportError):
            import meshrender.yamlio.fast  # noqa: F401
    schema.prefetch()


# -- settings -------------------------------------------------------------------------------

def _too_many_settings(doc: Document) -> InputError:
    return InputError(f"the inputs hold more settings than meshrender reads in one run ({MAX_SETTINGS_DOCUMENTS:,} "
                      f"documents, {MAX_SETTINGS_NODES:,} nodes: settings are held for the whole run; see "
                      "docs/bad-input.md, Limits); render fewer folders at a time", doc.location)


def _problem(e: MeshrenderError, kind: str, doc: Document | None = None) -> Problem:
    return Problem(kind, e.message if not e.field else f"{e.field}: {e.message}", Place(location=e.location), doc)


def collect_settings(docs: Iterable[Document], strict: bool, problems: list[Problem]) -> Settings:
    """The settings of `docs` (in input order). Strict: the first bad document raises;
    tolerant: it becomes a problem and the others still count."""
    collector = Collector()
    for doc in docs:
        try:
            collector.add(doc)
        except SchemaError as e:
            if strict:
                raise
            # every violation of the document, so that one lint run shows them all
            problems += [_problem(x, "invalid-setting", doc) for x in e.every()]
        except InputError as e:
            if strict:
                raise
            problems.append(_problem(e, "render", doc))
    return collector.settings


def _declare_config_kinds(settings: Settings, config: Config) -> None:
    """The repository configuration's workloadKinds, under the ClusterProfile's (which
    describes the cluster, and wins)."""
    if not config.workload_kinds:
        return
    try:
        table = kinds.builtin().with_declared(config.workload_kinds)
    except kinds.KindError as e:
        path = ("workloadKinds", e.index, *((e.key,) if e.key else ()))
        raise InputError(f"{config.path}: {e}", config.location(*path), field=".".join(map(str, path))) from None
    profile = settings.profile_spec.get("workloadKinds")
    settings.declared_kinds = table.with_declared(profile) if profile else table


def make_context(settings_docs: Iterable[Document], options: Options, *, strict: bool = True,
                 keep_original: bool = False, inputs: Collection[str] = ()) -> tuple[Context, list[Problem]]:
    """What workloads are evaluated against. In a tolerant run a Resolver error from a
    document among `inputs` (display names) is a problem; from anywhere else (a flag, a
    --values file) it is bad usage and raises."""
    problems: list[Problem] = []
    settings = collect_settings(settings_docs, strict, problems)
    _declare_config_kinds(settings, options.config)
    try:
        resolver: Resolver | None = Resolver(settings, options)
    except InputError as e:
        if strict or e.location is None or e.location.path not in inputs:
            raise
        problems.append(_problem(e, "render"))
        resolver = None
    return Context(options, settings, resolver, strict=strict, keep_original=keep_original), problems


# -- workloads ------------------------------------------------------------------------------

def _describe(data: Any, namespace: str) -> str:
    data = data if isinstance(data, dict) else {}
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return f"{data.get('kind')} {meta.get('namespace') or namespace}/{meta.get('name') or '(unnamed)'}"


def workloads_of(doc: Document, namespace: str, table: kinds.KindTable | None = None) -> kinds.Found:
    """The workloads in a document (one, or each item of a list, by the table of kinds:
    the built-in one and the ClusterProfile's workloadKinds), and the notes about pod
    templates left alone; InputError, located, for a workload whose structure holds no pod."""
    from meshrender.inputs import objects

    try:
        found = kinds.workloads_in(doc.data, namespace, table)
    except kinds.ShapeError as e:
        item = kinds.get_path(doc.data, e.obj_path)
        raise objects.shape_error(e, doc, _describe(item, namespace)) from None
    for w in found.workloads:
        w.source_doc = doc
    return found


def evaluate_file(f: SourceFile, context: Context) -> Evaluated:
    """Evaluate every workload of one loaded file (strict: the first error raises); at
    most MAX_FILE_WORKLOADS, each held with its injected pod until the file is done."""
    out = Evaluated(f, [], [], 0, 0, skipped=f.skipped)
    namespace = context.options.namespace
    table = context.settings.workload_kinds
    held: list[tuple[Document, list[kinds.Workload]]] = []
    count = 0
    for k, doc in enumerate(f.docs):  # counted before any is evaluated: a file over the limit fails fast
        out.documents += 1
        out.objects += [(key, k, path) for key, path in identity.objects_in(doc.data, namespace)]
        if is_consumed(doc.data):
            out.consumed += 1
            continue
        try:
            found = workloads_of(doc, namespace, table)
        except InputError as e:
            if context.strict:
                raise
            out.problems.append(_problem(e, "render"))
            continue
        out.notes += [Problem("not-injected", n.message, Place(doc, n.path), doc).located() for n in found.notes]
        count += len(found.workloads)
        if count > MAX_FILE_WORKLOADS:
            raise InputError(f"file holds more than {MAX_FILE_WORKLOADS:,} workloads; meshrender renders at most "
                             f"{MAX_FILE_WORKLOADS:,} from one file (each is held with its injected pod until "
                             "the file is done; see docs/bad-input.md, Limits); split it", doc.location)
        held.append((doc, found.workloads))
    for doc, workloads in held:
        out.evaluations += [evaluate(w, doc, context) for w in workloads]
    out.selectors = _selectors_matching(out.evaluations, context)
    return out


def _selectors_matching(evaluations: list[Evaluation], context: Context) -> tuple[str, ...]:
    """The scopes (digests.selector_scope) of the selector settings that match these
    workloads, whether or not another setting wins over them: what they set may reach them."""
    from meshrender.run.digests import selector_scope

    resolver = context.resolver
    if resolver is None or not evaluations:
        return ()
    found = set()
    for e in evaluations:
        # (as resolving it found them; looked up again only where it failed, in a lint)
        sps, pcs = e.resolved.matched if e.resolved is not None else resolver.matching(e.workload)
        found.update(selector_scope(s.namespace, s.doc) for s in sps if s.namespace)
        found.update(selector_scope(e.workload.namespace, layer.doc) for layer in pcs if layer.doc is not None)
    return tuple(sorted(found))


def _name_place(inputs: Inputs, i: int, k: int, path: tuple) -> Location:
    """Where document `k` of file `i` names the object at `path` (read again: only for an
    object given twice, which is rare, so the workers need not locate every name)."""
    doc = inputs.load(i).docs[k]
    return locate(doc, (*path, "metadata", "name"))


# -- the run --------------------------------------------------------------------------------

@dataclass
class _FileDone:
    result: Any
    documents: int
    consumed: int
    used: frozenset[int]
    skipped: bool
    objects: list[tuple[identity.Key, int, tuple]]


class NeedsFullRun(Exception):
    """An incremental run met what only a full run reports exactly (an object defined
    in a re-evaluated file and in one that was not): the caller runs everything."""


@dataclass
class Partial:
    """What an incremental run reads (run/incremental.py): settings only from the files
    `scan` names (those recorded as holding settings, and those whose text changed),
    and only the files `select(run)` names are evaluated, once the settings' scopes are
    known. `known` holds the objects of the files not evaluated, as recorded."""

    scan: Callable[[Inputs], Collection[int]]
    select: Callable[[Run], Collection[int]]
    known: Callable[[Inputs], Iterable[tuple[int, identity.Key]]] = lambda inputs: ()
    # Files scanned whose documents the recorded render validated (unchanged since).
    validated: Callable[[], Collection[int]] = lambda: ()


def drive(paths: list[str], options: Options, handler: Handler, *, strict: bool = True,
          keep_original: bool = False, progress: Any = None, workers: int | None = None,
          warn: Warn | None = None, allow_empty: bool = False, track: bool = False,
          partial: Partial | None = None) -> Run:
    """Run `handler` over every file of `paths` (see the module docstring); the Run,
    with its totals, once every file is collected. Inputs with no document at all are an
    error unless `allow_empty` (render --allow-empty). `track`: record what incremental
    runs need (Run.shas, keys, scopes); `partial`: an incremental run (see Partial)."""
    config = options.config
    inputs = Inputs(paths, warn, config.excluded if config.exclude else None, sized=partial is None)
    n = len(inputs)
    kind = getattr(handler, "cache_kind", None)
    if kind is not None:
        from meshrender.run import incremental

        kind = None if incremental.mode() == "off" else f"{kind}\0strict={strict}\0original={keep_original}"
    track = track or partial is not None or kind is not None
    jobs = workers or workers_for(n)  # for reading settings; evaluating decides below

    # 1. Settings documents, from every file, before any workload is evaluated.
    settings_docs: list[Document] = []
    total_bytes = documents = 0
    counts: list[int] = []
    skipped: list[str] = []

    from meshrender.run import digests

    scanned = sorted(partial.scan(inputs)) if partial is not None else range(n)

    def scan(k: int) -> tuple[int, list[Document], int, tuple[str, str] | None]:
        """(bytes, settings documents, documents, (digest, fingerprint) when tracking) of
        the k-th file scanned; documents is -1 for a file that holds no Kubernetes manifest."""
        i = scanned[k]
        raw = inputs.raw(i)
        sha = (digests.digest(raw), digests.fingerprint(raw)) if track else None
        if i in inputs.instructions:  # a kustomize patch: a partial object, not a manifest
            return 0, [], -1, sha
        text = inputs.text(i, raw)
        stdin = inputs.found[i][2] is None
        # (parsed all the same: a file that is no YAML is an error)
        if not stdin and text.strip() and not sources.may_hold_manifests(text) and inputs.load(i).skipped:
            return len(text), [], -1, sha
        kept = [0, 0]

        def budget(doc: Document) -> None:  # one file's share of the run's (checked below)
            kept[0] += 1
            kept[1] += doc.size
            if kept[0] > MAX_SETTINGS_DOCUMENTS or kept[1] > MAX_SETTINGS_NODES:
                raise _too_many_settings(doc)

        docs, count = parse_some(text, inputs.found[i][0], may_be_settings, budget)
        try:
            sources.check_objects(docs)
        except InputError:
            if not stdin and inputs.load(i).skipped:  # a values file that names a kind: all of it decides
                return len(text), [], -1, sha
            raise
        return len(text), docs, count, sha

    failure = None
    prepare = jobs > 1 and len(scanned) >= PARALLEL_MIN_FILES
    settings_nodes = 0
    shas: dict[int, str] = {}
    prints: dict[int, str] = {}
    for k, r in parallel.ordered_map(scan, len(scanned), jobs):
        i = scanned[k]
        if prepare:  # the workers are scanning: this process has time for what comes next
            _prepare()
            prepare = False
        if isinstance(r, parallel.Failure):
            failure = r
            break
        total_bytes += r[0]
        if r[3] is not None:
            shas[i], prints[i] = r[3]
        for doc in r[1]:  # held for the whole run: bounded (meshrender.limits)
            settings_nodes += doc.size
            if len(settings_docs) >= MAX_SETTINGS_DOCUMENTS or settings_nodes > MAX_SETTINGS_NODES:
                failure = parallel.Failure(i, _too_many_settings(doc))
                break
            settings_docs.append(doc)
        if failure:
            break
        if r[2] < 0:
            skipped.append(inputs.found[i][0])
        documents += max(r[2], 0)
        counts.append(r[2])
        if progress is not None:
            progress.update("reading", k + 1, len(scanned), "files")
    if failure:  # the first error of a run that read everything first: maybe a parse error before it
        if partial is not None:
            raise NeedsFullRun(failure.error)
        _raise(first_load_error(inputs, list(range(failure.index + 1)), jobs) or failure)
    # (a tolerant run of excluded files only has nothing to do)
    if partial is None and not allow_empty and (n or strict or not inputs.excluded):
        sources.check_counts(inputs.found, counts, paths, warn)  # empty stdin, nothing at all
    valid = [inputs.found[i][0] for i in partial.validated()] if partial is not None else []
    try:
        with schema.validated_before(valid):  # (settings/schema.py: known valid, not checked again)
            context, problems = make_context(settings_docs, options, strict=strict, keep_original=keep_original,
                                             inputs=inputs.displays)
        run = Run(paths, inputs, context, problems, files=n, skipped=skipped, track=track, shas=shas, prints=prints,
                  partial=partial is not None)
        if track:
            run.scopes = _scopes(settings_docs, inputs, context)
        only = sorted(partial.select(run)) if partial is not None else None
        handler.start(run)
    except MeshrenderError as e:
        if partial is not None:
            raise NeedsFullRun(e) from None
        _raise(first_load_error(inputs, list(range(n)), jobs) or parallel.Failure(-1, e))
    del settings_docs
    expect(total_bytes)  # load the fast YAML reader once, before the workers fork

    # 2. Every file, evaluated where it is read.
    chosen = only if only is not None else range(n)
    # (an incremental run read only some files so far: how many it evaluates decides)
    jobs = workers or (workers_for(n, total_bytes) if only is None else workers_for(len(chosen)))
    resolver = context.resolver
    sidecar_index = {id(s): k for k, s in enumerate(context.settings.sidecar)}

    results = None
    # (an incremental check that re-renders a few files keeps no results: opening the
    # cache costs more than rendering them again)
    if kind is not None and (only is None or len(chosen) >= PARALLEL_MIN_FILES):
        from meshrender.run.cache import ResultCache
        from meshrender.run.digests import RUN

        results = ResultCache.open(kind, run.scopes.digests[RUN])
    places = {(s.doc.source, s.doc.line): k for k, s in enumerate(context.settings.sidecar)}

    def one(k: int) -> _FileDone:
        i = chosen[k]
        key = hit = None
        sha = run.shas.get(i) if results is not None else None
        if sha is None and results is not None and partial is not None:
            # (an incremental run scanned only the files whose fingerprint changed, or that
            # define settings: this one's cache key is the digest of its text all the same)
            with contextlib.suppress(MeshrenderError):  # (evaluating it says what is wrong)
                sha = digests.digest(inputs.raw(i))
        if sha is not None:
            key = results.key(inputs.found[i][0], inputs.found[i][1], sha)
            hit = results.get(key, run.scopes.digests)
            if hit is not None and not results.verify:
                revived = _revive(handler, run, inputs.source(i), hit, places)
                if revived is not None:
                    return revived
                hit = None  # (its result cannot be given back: evaluated, and stored anew)
        evaluated = evaluate_file(inputs.load(i), context)
        result = handler.file(run, evaluated)
        used = frozenset(sidecar_index[u] for u in resolver.used_settings if u in sidecar_index) \
            if resolver is not None else frozenset()
        done = _FileDone(result, evaluated.documents, evaluated.consumed, used, evaluated.skipped,
                         evaluated.objects)
        if key is not None:
            mine = _used_by(evaluated, context)  # (`used` is the worker's so far, not this file's own)
            entry = (handler.payload(result), done.documents, done.consumed,
                     sorted((s.doc.source, s.doc.line) for s in mine), done.skipped, done.objects)
            if hit is not None:
                _check_same(hit, entry, inputs.found[i][0])
            else:
                results.put(key, {s: run.scopes.digests.get(s, "") for s in evaluated.scopes}, entry)
        return done

    stage = progress.stage("evaluating" if not strict else "rendering", documents, "documents") \
        if progress is not None else None
    done = 0
    registry = identity.Registry(scoped=not strict)
    recorded = object()
    recorded_keys: set[identity.Key] = set()  # (strict: one scope, so a set of them will do)
    if partial is not None:
        if strict:
            recorded_keys = {key for _, key in partial.known(inputs)}
        else:
            for j, key in partial.known(inputs):
                registry.add(key, (recorded, j), inputs.found[j][2] if j >= 0 else None)
    flushing = parallel.at_worker_exit(results.flush) if results is not None else contextlib.nullcontext()
    with flushing:
        for k, r in parallel.ordered_map(one, len(chosen), jobs):
            i = chosen[k]
            if isinstance(r, parallel.Failure):
                failure = r
                break
            if track:
                run.keys[i] = [key for key, _, _ in r.objects]
                run.evaluated.append(i)
            for key, d, path in r.objects:
                if key in recorded_keys:
                    raise NeedsFullRun(f"{key} is defined again")
                first = registry.add(key, (i, d, path), inputs.found[i][2])
                if first is None:
                    continue
                if first[0] is recorded:
                    raise NeedsFullRun(f"{key} is defined again")
                duplicate = identity.Duplicate(key, _name_place(inputs, *first), _name_place(inputs, i, d, path))
                if strict:
                    raise InputError(duplicate.message, duplicate.again, field="metadata.name")
                run.duplicates.append(duplicate)
            done = i + 1
            run.documents += r.documents
            run.consumed += r.consumed
            run.used_settings |= r.used
            if r.skipped and inputs.found[i][0] not in run.skipped:
                run.skipped.append(inputs.found[i][0])
            handler.collect(run, i, inputs.source(i), r.result)
            if stage:
                stage(r.documents)
    if failure:  # a parse error in any file not evaluated yet comes first
        if partial is not None:
            raise NeedsFullRun(failure.error)
        _raise(first_load_error(inputs, list(range(done, n)), jobs) or failure)
    if results is not None:
        results.flush()  # (what this process evaluated itself: one worker, or a few files)
        results.prune()
        results.close()
    return run


def _used_by(evaluated: Evaluated, context: Context) -> list[SidecarSettings]:
    """The SidecarProxySettings one file's workloads used: those of their namespaces and
    the selector ones that match them (what Resolver.used_settings gathers, for one file)."""
    resolver = context.resolver
    if resolver is None:
        return []
    namespaces = {e.workload.namespace for e in evaluated.evaluations}
    used = {id(s): s for s in context.settings.sidecar if s.scope == "namespace" and s.namespace in namespaces}
    for e in evaluated.evaluations:
        used.update((id(s), s) for s in resolver.matching(e.workload)[0])
    return list(used.values())


def _revive(handler: Handler, run: Run, file: SourceFile, entry: tuple, places: dict) -> _FileDone | None:
    """A cached file result as the worker would have returned it (None: the handler
    cannot give it back)."""
    payload, documents, consumed, used, skipped, objects = entry
    result = handler.revive(run, file, payload)
    if result is None:
        return None
    return _FileDone(result, documents, consumed,
                     frozenset(places[p] for p in map(tuple, used) if p in places), skipped, objects)


def _check_same(cached: tuple, fresh: tuple, display: str) -> None:
    """Verify mode: a cached result must be exactly what evaluating the file gives."""
    if cached != fresh:
        from meshrender.run.incremental import Disagreement

        raise Disagreement(f"the result cache holds another result for {display} than evaluating it gives:\n"
                           f"cached {cached!r}\nfresh  {fresh!r}")


def _scopes(settings_docs: list[Document], inputs: Inputs, context: Context) -> Any:
    """The digests of the run's settings scopes (run/digests.py)."""
    import json

    from meshrender.run import digests

    resolver = context.resolver
    root = (resolver.base.get("mesh", "rootNamespace") if resolver is not None else None) or "istio-system"
    settings = context.settings
    selectors = {(s.doc.source, s.doc.line): (s.namespace, json.dumps(s.selector, sort_keys=True, default=str))
                 for s in settings.sidecar if s.scope == "workload" and s.namespace}
    selectors.update({(pc.doc.source, pc.doc.line): (pc.namespace, json.dumps(pc.selector, sort_keys=True, default=str))
                      for pc in settings.proxy_configs if pc.selector and pc.namespace})
    return digests.scopes(settings_docs, digests.run_parts(context.options, inputs.kustomizations),
                          context.options.namespace, root, selectors)
