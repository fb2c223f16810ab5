"""`meshrender explain`: why one workload gets the sidecar it gets.

The answer is the workload's evaluation (render/evaluate/evaluation.py), the one render
writes and lint checks, printed: the injection decision and native or traditional, each
with the rule that made it and where (file:line), then each effective proxy setting
with its winning source and what it overrode. The inputs go through the same driver as
every other command; only the workloads the selector names are explained, in the worker
that evaluated them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from meshrender.errors import InputError, Location, UsageError
from meshrender.evaluate.attribution import catalog
from meshrender.evaluate.evaluation import Evaluation
from meshrender.inputs.sources import SourceFile
from meshrender.istio import NATIVE, OVERRIDES, STATUS
from meshrender.run.driver import Evaluated, Run, drive
from meshrender.settings.mode import RULES, Cluster, show
from meshrender.settings.options import Options
from meshrender.settings.provenance import Effective, Step
from meshrender.yamlio import locate

# Annotations explained elsewhere, or written by the injector itself.
_NOT_OTHER = {NATIVE, STATUS, OVERRIDES}
MAX_CANDIDATES = 12

__all__ = ["RULES", "Explanation", "explain"]


@dataclass(frozen=True)
class Candidate:
    """A workload of the inputs, as a did-you-mean list shows it."""

    kind: str
    namespace: str
    name: str
    display: str
    where: str


@dataclass
class Explanation:
    """What explain prints about one workload (every location already resolved: it is
    made in the worker that evaluated the workload and crosses back)."""

    workload: Candidate
    location: Location | None
    cluster: Cluster
    decision: Effective | None
    mode: Effective
    settings: list[Effective] = field(default_factory=list)
    other_annotations: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def injected(self) -> bool:
        return bool(self.decision is not None and self.decision.value)

    @property
    def skipped(self) -> str | None:
        return None if self.injected or self.decision is None else self.decision.reason


# -- choosing the workload ----------------------------------------------------------------

def parse_selector(selector: str) -> tuple[str, str]:
    ns, _, name = selector.rpartition("/")
    if not name or selector.count("/") > 1:
        raise UsageError(f"--workload {selector!r}: expected NAME or NAMESPACE/NAME")
    return ns, name


def _matches(kind_name_ns: tuple[str, str, str], ns: str, name: str, kind: str | None) -> bool:
    k, n, namespace = kind_name_ns
    return n == name and (not ns or namespace == ns) and (not kind or k.lower() == kind.lower())


def _listing(ws: list[Candidate]) -> str:
    lines = [f"  {c.display}  ({c.where})" if c.where else f"  {c.display}" for c in ws[:MAX_CANDIDATES]]
    if len(ws) > MAX_CANDIDATES:
        lines.append(f"  ... and {len(ws) - MAX_CANDIDATES} more")
    return "\n".join(lines)


def choose(candidates: list[Candidate], selector: str, kind: str | None = None) -> int:
    """The index of the one workload `[NAMESPACE/]NAME` (and KIND) names; UsageError listing
    the candidates otherwise."""
    ns, name = parse_selector(selector)
    matches = [i for i, c in enumerate(candidates) if _matches((c.kind, c.name, c.namespace), ns, name, kind)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        found = [candidates[i] for i in matches]
        same_ns = len({c.namespace for c in found}) == 1
        how = "add --kind KIND" if same_ns else "name one with --workload NAMESPACE/NAME"
        raise UsageError(f"--workload {selector} matches {len(found)} workloads; {how}:",
                         details=tuple(_listing(found).split("\n")))
    if not candidates:
        raise UsageError(f"no workload {selector} among the inputs: they hold no workloads")
    names = [f"{c.namespace}/{c.name}" for c in candidates]
    wanted = selector if ns else name
    pool = names if ns else [c.name for c in candidates]
    close = set(difflib.get_close_matches(wanted, pool, n=MAX_CANDIDATES, cutoff=0.6))
    near = [c for c, p in zip(candidates, pool, strict=True) if p in close]
    same_name = [c for c in candidates if c.name == name]
    shown = same_name or near or candidates
    what = ("workloads of that name" if same_name else "did you mean" if near else "workloads in the inputs")
    raise UsageError(f"no workload {selector}{f' of kind {kind}' if kind else ''} among the inputs; "
                     f"{what}:\n{_listing(shown)}")


# -- the answer ---------------------------------------------------------------------------

def _misplaced(e: Evaluation) -> list[str]:
    """Mesh annotations on the workload's own metadata, which the injector never reads."""
    w = e.workload
    if w.kind == "Pod":
        return []
    meta = w.doc.get("metadata") if isinstance(w.doc.get("metadata"), dict) else {}
    anns = meta.get("annotations") if isinstance(meta.get("annotations"), dict) else {}
    out = []
    for key in sorted(anns):
        if ("sidecar.istio.io/" in key or key.startswith("proxy.istio.io/")) and key not in e.annotations:
            where = locate(e.doc, (*w.path, "metadata", "annotations", key))
            out.append(f"{key} is on the {w.kind}'s own metadata{f' ({where})' if where else ''}, "
                       "where the injector never reads it; move it to the pod template")
    return out


def _covered_annotations() -> set[str]:
    return {a.partition("#")[0] for s in catalog() for a in s.annotations} | _NOT_OTHER


def answer(e: Evaluation, cluster: Cluster) -> Explanation:
    """The explanation of one evaluated workload."""
    if e.error is not None:
        raise e.error
    assert e.mode is not None
    w, loc = e.workload, e.location
    who = Candidate(w.kind, w.namespace, w.name, w.display, f"{loc.path}:{loc.line}")
    out = Explanation(who, loc, cluster, e.decision.located() if e.decision else None, e.mode.located(),
                      notes=_misplaced(e))
    if not e.injected:
        return out
    out.settings = [s.located() for s in e.settings()]
    out.notes += e.general_notes()
    covered = _covered_annotations()
    attribution = e.attribution
    for key in sorted(e.annotations):
        if "istio.io/" in key and key not in covered:
            step = attribution.annotation_step(key)
            if step is not None:
                out.other_annotations.append(Step(step.value, step.origin.located(), step.rank))
    spec = e.pod["spec"] if e.pod is not None else {}
    proxy_in_inits = any(c.get("name") == "istio-proxy" for c in spec.get("initContainers") or [])
    has_proxy = attribution.container("proxy") is not None
    if not has_proxy:
        out.notes.append("the injected pod has no istio-proxy container (custom injection templates?); "
                         "values below are the configuration, not read back from the pod")
    elif proxy_in_inits != e.native:
        out.mode.notes.append(f"the injected pod runs the proxy as a {'native' if proxy_in_inits else 'regular'} "
                              "container: an injection template or container override changed it")
    return out


def cluster_summary(c: Cluster) -> str:
    mesh = "Istio" if c.flavor == "istio" else "ASM"
    where = f" ({c.provider})" if c.provider else ""
    return f"flavor {c.flavor}, Kubernetes {show(c.kube_version)}{where}, {mesh} {show(c.mesh_version)}"


# -- through the driver ---------------------------------------------------------------------

class Explainer:
    """The explain handler: every workload as a candidate, the named ones explained."""

    def __init__(self, selector: str, kind: str | None):
        self.ns, self.name = parse_selector(selector)
        self.kind = kind
        self.candidates: list[Candidate] = []
        self.answers: dict[int, Explanation | InputError] = {}

    def start(self, run: Run) -> None:
        if run.problems:  # a settings document render would refuse: explain cannot say what applies
            p = run.problems[0]
            raise InputError(p.message, p.place.resolve())

    def file(self, run: Run, evaluated: Evaluated) -> list[tuple[Candidate, Explanation | InputError | None]]:
        out = []
        cluster = run.context.cluster
        for e in evaluated.evaluations:
            w = e.workload
            loc = e.location
            c = Candidate(w.kind, w.namespace, w.name, w.display, f"{loc.path}:{loc.line}")
            explained: Explanation | InputError | None = None
            if _matches((w.kind, w.name, w.namespace), self.ns, self.name, self.kind):
                assert cluster is not None
                try:
                    explained = answer(e, cluster)
                except InputError as err:
                    explained = err
            out.append((c, explained))
        return out

    def collect(self, run: Run, index: int, file: SourceFile, result: Any) -> None:
        for c, explained in result:
            if explained is not None:
                self.answers[len(self.candidates)] = explained
            self.candidates.append(c)


def explain(paths: list[str], options: Options, selector: str, kind: str | None = None) -> Explanation:
    """Explain the workload `selector` names among the inputs of `paths`."""
    explainer = Explainer(selector, kind)
    drive(paths, options, explainer, strict=False, keep_original=True)
    chosen = explainer.answers.get(choose(explainer.candidates, selector, kind))
    if isinstance(chosen, InputError):
        raise chosen
    assert chosen is not None
    return chosen


