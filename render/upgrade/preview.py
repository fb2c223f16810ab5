"""What moving the mesh to another release would change, workload by workload.

`meshrender upgrade PATHS --to X.Y` renders every workload twice: with the release the
inputs run now (`--mesh-version`, else the ClusterProfile's, else .meshrender.yaml's,
else the default) and with `--to`, everything else unchanged. Both sides go through the
driver's own steps (a Resolver for Options with that mesh version, `evaluate_file`), so
the target side is what `render --mesh-version X.Y` writes.

One driver run does both: the driver evaluates each file at the current release, and
the handler evaluates the same parsed file again at the target in the same worker,
compares the two per workload there, and sends back only the differences, so neither
side's pods outlive their file. Evaluations are tolerant (as lint's): a workload that
renders at one release and not the other is reported as such, and lint runs at both
releases on the same evaluations. What render refuses at both releases (bad settings, a
workload refused either way) is bad input and ends the run with exit status 2, as
render would end it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from meshrender.diff.drift import FieldChange, compare_data
from meshrender.errors import InputError, Location, UsageError
from meshrender.evaluate.evaluation import Context, Evaluation
from meshrender.inject import release as releases
from meshrender.inject.release import Change, Release
from meshrender.inputs.sources import SourceFile
from meshrender.kube.fieldpath import format_path
from meshrender.lint.engine import FileLint, Report
from meshrender.lint.finding import Finding
from meshrender.lint.rules import all_rules
from meshrender.lint.run import Linter, configured
from meshrender.run.driver import Evaluated, Run, drive, evaluate_file
from meshrender.settings.options import Options
from meshrender.settings.resolve import Resolver
from meshrender.yamlio import locate

# A workload's status in the report (unchanged ones are only counted).
CHANGED = "changed"
FAILS_AT_TARGET = "fails-at-target"  # renders now, refused at the target
FIXED_AT_TARGET = "fixed-at-target"  # refused now, renders at the target
# A lint finding's.
APPEARS, DISAPPEARS, MESSAGE_CHANGES = "appears", "disappears", "changes"
# A field change's op besides drift's (changed, added, removed, type, order): a container
# that moved between initContainers and containers (`old` and `new` are its two paths).
MOVED = "moved"


@dataclass(frozen=True)
class Side:
    """A workload at one release: injected or not and why, native or traditional and why,
    or the error render stops on."""

    injected: bool
    inject_reason: str | None  # why it is injected or not (Istio's injectRequired, the webhooks)
    mode: str | None = None  # native | traditional, when injected
    mode_reason: str | None = None
    error: str | None = None  # FILE:LINE:COL: error: ... as render reports it

    def to_dict(self) -> dict[str, Any]:
        return {"injected": self.injected, "injectReason": self.inject_reason, "mode": self.mode,
                "modeReason": self.mode_reason, "error": self.error}


@dataclass
class WorkloadChange:
    """One workload whose rendering differs between the two releases."""

    display: str  # Deployment shop/web
    kind: str
    namespace: str
    name: str
    location: Location
    status: str  # CHANGED | FAILS_AT_TARGET | FIXED_AT_TARGET
    before: Side
    after: Side
    fields: list[FieldChange] = field(default_factory=list)
    # where the pod template's metadata and spec are in the workload object: field paths
    # that start with `metadata.` are under the first, the others under the second
    pod_metadata_path: str = ""
    pod_spec_path: str = ""

    @property
    def mode_changed(self) -> bool:
        return self.before.injected and self.after.injected and self.before.mode != self.after.mode


@dataclass(frozen=True)
class FindingChange:
    """A lint finding that appears or disappears at the target (or whose message changes:
    the same rule at the same place for the same workload)."""

    status: str  # APPEARS | DISAPPEARS | MESSAGE_CHANGES
    finding: Finding  # the target's (the current one's when it disappears)
    previous: str | None = None  # the current message, when it changes


@dataclass(frozen=True)
class DefaultChange:
    """A default that differs between the releases: from the release table's entries of
    kind `default`, and the default proxy image of each release."""

    setting: str
    before: str
    after: str
    why: str  # what the release table says (the Istio commit's title)
    source: str  # istio/istio#PR (commit), or the data file
    name: str = ""  # the release table entry (empty for the proxy image)


@dataclass
class Preview:
    """The whole preview: both releases, what differs per workload, in lint, in defaults."""

    current: Release
    target: Release
    warnings: list[str] = field(default_factory=list)
    same: bool = False  # --to is the release the inputs already run
    workloads: int = 0
    files: int = 0
    changes: list[WorkloadChange] = field(default_factory=list)  # in input order
    findings: list[FindingChange] = field(default_factory=list)
    defaults: list[DefaultChange] = field(default_factory=list)
    gained: list[Change] = field(default_factory=list)  # release table entries the target has, the current lacks
    lost: list[Change] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Anything about these inputs differs (exit status 1)."""
        return bool(self.changes or self.findings)

    @property
    def direction(self) -> str:
        """upgrade, or downgrade when the target is an older release."""
        older = (self.target.point, not self.target.dev) < (self.current.point, not self.current.dev)
        return "downgrade" if older else "upgrade"

    def counts(self) -> dict[str, int]:
        by = defaultdict(int)
        for c in self.changes:
            by[c.status] += 1
        f = defaultdict(int)
        for c in self.findings:
            f[c.status] += 1
        return {
            "files": self.files,
            "workloads": self.workloads,
            "changed": by[CHANGED],
            "failsAtTarget": by[FAILS_AT_TARGET],
            "fixedAtTarget": by[FIXED_AT_TARGET],
            "unchanged": self.workloads - len(self.changes),
            "fields": sum(len(c.fields) for c in self.changes),
            "modeChanges": sum(1 for c in self.changes if c.mode_changed),
            "findingsAppear": f[APPEARS],
            "findingsDisappear": f[DISAPPEARS],
            "findingsChange": f[MESSAGE_CHANGES],
            "defaults": len(self.defaults),
            "releaseChanges": len(self.gained) + len(self.lost),
        }


# -- one workload ---------------------------------------------------------------------------

def failure(e: Evaluation) -> InputError | None:
    """What render stops on for this workload, if anything: the evaluation's error, or the
    first annotation the injector refused (a tolerant evaluation drops it and goes on;
    render refuses the pod at that annotation)."""
    if e.error is not None:
        return e.error
    if not e.dropped:
        return None
    annotation, why = next(iter(e.dropped.items()))
    path = (*e.workload.meta_path, "annotations", annotation)
    return InputError(f"{e.display}: {why}", locate(e.doc, path), field=".".join(map(str, path)))


def _side(e: Evaluation, error: InputError | None) -> Side:
    why = e.decision.reason if e.decision is not None else None
    if error is not None:
        return Side(False, why, error=str(error))
    if e.injected:
        return Side(True, why, e.mode_name, e.mode.reason if e.mode is not None else None)
    return Side(False, why)


def _pod(e: Evaluation) -> dict[str, Any]:
    """The pod template render writes for the workload: injected, or as written."""
    if e.pod is not None:
        return e.pod
    return {"metadata": e.original_meta, "spec": e.original_spec}


def pod_changes(before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """The fields that differ between two pod templates ({"metadata", "spec"}): metadata
    fields named from `metadata.`, pod spec fields from the spec (`containers[istio-proxy]
    .image`), list items by their name."""
    out = [c for c, _ in compare_data({"metadata": before.get("metadata") or {}},
                                      {"metadata": after.get("metadata") or {}})]
    spec_before, spec_after = before.get("spec") or {}, after.get("spec") or {}
    moved = _moved(spec_before, spec_after)
    rest_before = _without(spec_before, {(src, name) for name, src, _ in moved})
    rest_after = _without(spec_after, {(dst, name) for name, _, dst in moved})
    for name, src, dst in moved:
        # istio-proxy between containers and initContainers (traditional <-> native): one
        # move, then what changed inside it, instead of a whole container lost and gained
        out.append(FieldChange(f"{src}[{name}]", MOVED, f"{src}[{name}]", f"{dst}[{name}]"))
        inner = compare_data(_container(spec_before, src, name), _container(spec_after, dst, name))
        out += [FieldChange(f"{dst}[{name}]{'' if c.path.startswith('[') else '.'}{c.path}", c.op, c.old, c.new)
                for c, _ in inner]
    out += [c for c, _ in compare_data(rest_before, rest_after)]
    return [inner for c in out for inner in _inside_json(c)]


_CONTAINER_LISTS = ("initContainers", "containers")


def _names(spec: dict[str, Any], key: str) -> list[str]:
    return [c.get("name") for c in spec.get(key) or () if isinstance(c, dict) and isinstance(c.get("name"), str)]


def _moved(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(name, from, to) for each container that is in one list before and the other after."""
    out = []
    for src, dst in (_CONTAINER_LISTS, _CONTAINER_LISTS[::-1]):
        for name in _names(before, src):
            if name in _names(after, dst) and name not in _names(after, src) and name not in _names(before, dst):
                out.append((name, src, dst))
    return out


def _without(spec: dict[str, Any], drop: set[tuple[str, str]]) -> dict[str, Any]:
    """`spec` with the containers (list, name) in `drop` left out (a shallow copy)."""
    if not drop:
        return spec
    out = dict(spec)
    for key in _CONTAINER_LISTS:
        if any(k == key for k, _ in drop) and isinstance(spec.get(key), list):
            out[key] = [c for c in spec[key] if not (isinstance(c, dict) and (key, c.get("name")) in drop)]
    return out


def _container(spec: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    return next(c for c in spec.get(key) or () if isinstance(c, dict) and c.get("name") == name)


def _json(value: Any) -> Any:
    """A string that holds a JSON object or array (the injector writes several: the
    sidecar.istio.io/status annotation, ISTIO_KUBE_APP_PROBERS, PROXY_CONFIG), parsed."""
    if not isinstance(value, str) or value[:1] not in "{[":
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, (dict, list)) else None


def _inside_json(c: FieldChange) -> list[FieldChange]:
    """A changed JSON string as the fields inside it that changed (`PATH(json).volumes[8]`),
    so that a status annotation that gains a volume says which one."""
    before, after = _json(c.old), _json(c.new)
    if c.op != "changed" or before is None or after is None:
        return [c]
    out = []
    for inner, _ in compare_data(before, after):
        sep = "" if inner.path.startswith("[") else "."
        out.append(FieldChange(f"{c.path}(json){sep}{inner.path}", inner.op, inner.old, inner.new))
    return out or [c]


def compare_workload(before: Evaluation, after: Evaluation) -> WorkloadChange | None:
    """How one workload differs between the current release (`before`) and the target;
    None when it renders the same. Refused at both releases: the current error, raised
    (bad input, as render reports it)."""
    fb, fa = failure(before), failure(after)
    if fb is not None and fa is not None:
        raise fb
    b, a = _side(before, fb), _side(after, fa)
    w = before.workload
    change = WorkloadChange(w.display, w.kind, w.namespace, w.name, before.location, CHANGED, b, a,
                            pod_metadata_path=format_path(w.meta_path[len(w.path):]),
                            pod_spec_path=format_path(w.spec_path[len(w.path):]))
    if fb is not None or fa is not None:
        change.status = FIXED_AT_TARGET if fb is not None else FAILS_AT_TARGET
        return change
    if not b.injected and not a.injected:
        return None  # written as it is at both releases
    change.fields = pod_changes(_pod(before), _pod(after))
    if not change.fields and (b.injected, b.mode) == (a.injected, a.mode):
        return None  # the same pod (a reason that reads otherwise is no change to the cluster)
    return change


# -- the run --------------------------------------------------------------------------------

@dataclass
class FilePreview:
    """One file, compared in its worker: what crosses back."""

    workloads: int
    changes: list[WorkloadChange] = field(default_factory=list)
    lint_before: FileLint | None = None
    lint_after: FileLint | None = None


def _same(current: Release, target: Release) -> bool:
    """`--to` names the release the inputs already run: the same injector behaviour and
    default image, and the current one was named too, as precisely (an assumed version
    leaves the native sidecar decision to "version unknown", and a patch is compared with
    pinned proxy images: naming it can change the render or the findings)."""
    def key(r: Release) -> tuple:
        return (r.flavor, r.point, r.dev, r.image_hub, r.image_tag, r.patch_given)

    return current.given and key(current) == key(target)


def _raise_problem(problems: list[Any]) -> None:
    """A problem a tolerant run kept, raised as the error render stops on."""
    if problems:
        p = problems[0]
        raise InputError(p.message, p.place.resolve())


class Previewer:
    """The driver handler of `upgrade`: evaluates each file at the target too, compares,
    and lints both sides (see the module docstring)."""

    def __init__(self, to: str, rules: tuple | None = None):
        self.to = to
        self.rules = rules
        self.preview: Preview | None = None
        self.target_context: Context | None = None
        self.target_run: Run | None = None
        self.linters: tuple[Linter, Linter] | None = None

    def start(self, run: Run) -> None:
        _raise_problem(run.problems)  # settings render refuses: at both releases
        resolver = run.resolver
        assert resolver is not None  # a resolver that cannot be made is a problem above
        options = run.context.options
        spec = run.settings.profile_spec
        region = options.region or spec.get("region") or options.config.default("region")
        current = resolver.release
        target, warnings = releases.resolve(resolver.cluster.flavor, self.to, "--to", region)
        self.preview = Preview(current, target, [*resolver.warnings, *warnings], same=_same(current, target))
        if self.preview.same:
            return
        # Exactly what `render --mesh-version TO` resolves: the same options, that flag set.
        target_options = replace(options, mesh_version=self.to, given=options.given | {"mesh_version"})
        self.target_context = Context(target_options, run.settings, Resolver(run.settings, target_options),
                                      strict=False, keep_original=True)
        self.target_run = Run(run.paths, run.inputs, self.target_context, list(run.problems), files=run.files)
        rules = configured(all_rules() if self.rules is None else self.rules, options.config)
        self.linters = (Linter(rules), Linter(rules))
        self.linters[0].start(run)
        self.linters[1].start(self.target_run)

    def file(self, run: Run, evaluated: Evaluated) -> FilePreview:
        _raise_problem(evaluated.problems)  # a document render cannot read as a workload
        out = FilePreview(len(evaluated.evaluations))
        if self.preview is None or self.preview.same:
            for e in evaluated.evaluations:
                error = failure(e)
                if error is not None:
                    raise error
            return out
        assert self.target_context is not None and self.target_run is not None and self.linters is not None
        # The same parsed file: evaluations keep the documents as written (keep_original).
        target = evaluate_file(evaluated.file, self.target_context)
        for before, after in zip(evaluated.evaluations, target.evaluations, strict=True):
            change = compare_workload(before, after)
            if change is not None:
                out.changes.append(change)
        out.lint_before = self.linters[0].file(run, evaluated)
        out.lint_after = self.linters[1].file(self.target_run, target)
        return out

    def collect(self, run: Run, index: int, file: SourceFile, result: FilePreview) -> None:
        assert self.preview is not None
        self.preview.workloads += result.workloads
        self.preview.changes += result.changes
        if self.linters is not None and result.lint_before is not None and result.lint_after is not None:
            self.linters[0].collect(run, index, file, result.lint_before)
            self.linters[1].collect(run, index, file, result.lint_after)

    def finish(self, run: Run) -> Preview:
        preview = self.preview
        assert preview is not None
        preview.files = run.files - len(run.skipped)
        if preview.same:
            return preview
        assert self.linters is not None
        reports = []
        for linter in self.linters:
            assert linter.model is not None and linter.gatherer is not None
            linter.model.unused_settings = run.unused_settings()
            reports.append(linter.gatherer.finish())
        preview.findings = finding_changes(reports[0], reports[1])
        moved = preview.current.changes_between(preview.target)
        preview.gained, preview.lost = moved["gained"], moved["lost"]
        preview.defaults = default_changes(preview.current, preview.target, moved)
        return preview


def preview(paths: list[str], options: Options, to: str, warn: Callable[[str], None] | None = None,
            workers: int | None = None) -> Preview:
    """Compare rendering `paths` with the current release and with `to`."""
    handler = Previewer(to)
    run = drive(paths, options, handler, strict=False, keep_original=True, warn=warn, workers=workers)
    return handler.finish(run)


def check_version(text: str | None) -> str:
    """`--to` as given, once it reads as a version (whether it is supported depends on
    the flavor, which the inputs may set: checked when they are read)."""
    if not text:
        raise UsageError("upgrade needs the release to preview: --to X.Y[.Z] (e.g. --to 1.28); "
                         + "; ".join(releases.known_releases()), field="--to")
    releases.parse(text, "--to")
    return text


# -- lint and release table ---------------------------------------------------------------

def finding_changes(before: Report, after: Report) -> list[FindingChange]:
    """Findings that appear or disappear at the target. A finding is the same one at both
    releases when its rule, place and workload are (its message may name the release:
    when only the message differs, it `changes`). Suppressed findings are left out."""
    def key(f: Finding) -> tuple:
        return (f.rule, f.location, f.workload)

    old: dict[tuple, list[Finding]] = defaultdict(list)
    for f in before.findings:
        old[key(f)].append(f)
    out: list[FindingChange] = []
    for f in after.findings:
        same = old.get(key(f))
        if not same:
            out.append(FindingChange(APPEARS, f))
            continue
        exact = next((g for g in same if g.message == f.message), None)
        prior = exact or same[0]
        same.remove(prior)
        if exact is None:
            out.append(FindingChange(MESSAGE_CHANGES, f, prior.message))
    out += [FindingChange(DISAPPEARS, f) for rest in old.values() for f in rest]
    order = {APPEARS: 0, MESSAGE_CHANGES: 1, DISAPPEARS: 2}
    return sorted(out, key=lambda c: (order[c.status], c.finding.sort_key()))


def default_changes(current: Release, target: Release, moved: dict[str, list[Change]]) -> list[DefaultChange]:
    """The defaults that differ: the default proxy image first, then each entry of kind
    `default` of the release table, from its old value to its new one."""
    out: list[DefaultChange] = []
    before_image = _image(current)
    after_image = _image(target)
    if before_image != after_image:
        files = sorted({releases.data_file(current), releases.data_file(target)})
        out.append(DefaultChange("proxy image", before_image, after_image,
                                 "each release's own proxy image", " and ".join(files)))
    gained = {c.name for c in moved["gained"]}
    for c in moved["defaults"]:
        value, otherwise = str(c.data.get("value", "")), str(c.data.get("otherwise", ""))
        before, after = (otherwise, value) if c.name in gained else (value, otherwise)
        title = (c.data.get("source") or {}).get("title") or c.summary
        out.append(DefaultChange(str(c.data.get("setting") or c.name), before, after, str(title), c.source(), c.name))
    return out


def _image(r: Release) -> str:
    if not r.image_known:
        return "(not known: name it in the settings, spec.proxy.image)"
    return f"{r.image_hub}/proxyv2:{r.image_tag}"


def source_text(change: Change) -> str:
    """Where a release table entry comes from: `istio/istio#PR (commit): title`."""
    title = (change.data.get("source") or {}).get("title")
    return change.source() + (f": {title}" if title else "")
