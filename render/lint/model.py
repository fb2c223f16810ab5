"""What lint rules look at: each workload's evaluation, and what the whole run shares.

Rules do not work anything out about a workload themselves: whether it is injected and
why, native or traditional, which settings apply and where they were set, the injected
pod and what the injector refused all come from its evaluation
(render/evaluate/evaluation.py), the same one render writes and explain prints. A
`WorkloadView` adds what only lint needs: places to point findings at, the workload's
opt-outs (`meshrender.dev/ignore`), and a shared model of the run (settings, namespaces,
webhooks, the cluster, problems render would stop on).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from meshrender.errors import InputError
from meshrender.evaluate.evaluation import Evaluation
from meshrender.inject import webhooks
from meshrender.inputs.identity import Duplicate
from meshrender.inputs.kinds import Workload
from meshrender.lint.finding import Subject
from meshrender.lint.suppress import ignores_of
from meshrender.run.driver import Problem, Run
from meshrender.settings.collect import Settings, SidecarSettings
from meshrender.settings.mode import Cluster
from meshrender.settings.options import Options
from meshrender.settings.provenance import Effective, Place
from meshrender.settings.resolve import Resolver
from meshrender.yamlio import Document


def doc_subject(doc: Document, namespaces: dict[str, Document]) -> Subject:
    """A non-workload document as the subject of a finding (settings, webhooks)."""
    meta = doc.data.get("metadata") if isinstance(doc.data.get("metadata"), dict) else {}
    name = f"{doc.data.get('kind')} {(meta.get('namespace') + '/') if meta.get('namespace') else ''}" \
           f"{meta.get('name') or '(unnamed)'}"
    sources = [(meta, f"{name} metadata")]
    ns = meta.get("namespace")
    if ns and ns in namespaces:
        sources.append((namespaces[ns].data.get("metadata") or {}, f"Namespace {ns}"))
    return Subject(None, ignores_of(sources))


class WorkloadView:
    """One workload as rules see it: its evaluation, and where to point."""

    def __init__(self, model: LintModel, evaluation: Evaluation):
        self.model = model
        self.e = evaluation
        self.workload: Workload = evaluation.workload
        self.doc: Document = evaluation.doc
        self._containers: dict[str, list[tuple[int, dict[str, Any]]]] = {}

    # -- identity ----------------------------------------------------------------------

    @property
    def display(self) -> str:
        return self.workload.display

    @property
    def kind(self) -> str:
        return self.workload.kind

    @property
    def namespace(self) -> str:
        return self.workload.namespace

    @property
    def pod_meta(self) -> dict[str, Any]:
        """The pod template's metadata as written."""
        return self.e.original_meta

    @property
    def pod_spec(self) -> dict[str, Any]:
        return self.e.original_spec

    @property
    def annotations(self) -> dict[str, Any]:
        """The pod template's annotations: what the injector reads."""
        return self.e.annotations

    @property
    def own_meta(self) -> dict[str, Any]:
        """The workload object's own metadata (for a Pod, the same as the pod's)."""
        meta = self.workload.doc.get("metadata")
        return meta if isinstance(meta, dict) else {}

    # -- what the evaluation decided -----------------------------------------------------

    @property
    def injected(self) -> bool:
        """meshrender injects this workload (not opted out, settings resolved)."""
        return self.e.injected

    @property
    def skipped(self) -> str | None:
        return self.e.skipped

    @property
    def native(self) -> bool:
        return self.e.native

    @property
    def mode(self) -> Effective | None:
        return self.e.mode

    @property
    def error(self) -> InputError | None:
        """What render refuses for this workload (settings that do not resolve, a pod the
        injector refuses), if anything."""
        return self.e.error

    @property
    def dropped(self) -> dict[str, str]:
        """Annotations the injector refused, left out so that the rest could be rendered."""
        return self.e.dropped

    @property
    def rendered(self) -> dict[str, Any] | None:
        """The pod as the injector produces it ({"metadata", "spec"}); None if not injected."""
        return self.e.pod

    @property
    def tree(self) -> Any:
        return self.e.resolved.tree if self.e.resolved is not None else None

    def setting(self, name: str) -> Effective | None:
        """An effective proxy setting (render/data/explain.yaml) with its winning source
        and what that overrode; None when the workload is not injected."""
        if not self.injected:
            return None
        return self.e.setting(name)

    def per_configuration(self, name: str, compute: Callable[[], Any]) -> Any:
        """`compute()`, once for every workload of this one's configuration when nothing of
        the pod goes into its settings (it sets no mesh annotation and writes no mesh
        container: render/evaluate/shared_settings.py); for a check that reads only the
        settings, so that what it points at lies in settings files, never in this pod."""
        key = self.e.shared_settings_key
        if key is None or key[1]:
            return compute()
        return self.model.memo((name, key), compute)

    def tree_value(self, *path: Any) -> Effective | None:
        """A leaf (or map) of the effective settings, with the layers that set it."""
        return self.e.tree_value(*path)

    # -- places ------------------------------------------------------------------------

    def at(self, *path: Any) -> Place:
        """A field of the workload, by its path inside the workload object."""
        return Place(self.doc, (*self.workload.path, *path))

    def at_meta(self, *path: Any) -> Place:
        """A field of the pod template's metadata (where pod annotations belong)."""
        return Place(self.doc, (*self.workload.meta_path, *path))

    def at_spec(self, *path: Any) -> Place:
        return Place(self.doc, (*self.workload.spec_path, *path))

    def at_annotation(self, name: str, needle: str | None = None) -> Place:
        return Place(self.doc, (*self.workload.meta_path, "annotations", name), needle=needle)

    @property
    def mode_anchor(self) -> Place | None:
        """Where the native/traditional decision was made, if a file made it."""
        mode = self.mode
        return mode.origin.place if mode is not None and mode.origin.user_set else None

    def mode_or_template(self) -> Place:
        """The file that decided the mode, else the pod template (where an annotation would go)."""
        return self.mode_anchor or self.at_meta()

    # -- containers --------------------------------------------------------------------

    def containers(self, key: str = "containers") -> list[tuple[int, dict[str, Any]]]:
        """(index, container) of the original pod, as the user wrote them."""
        found = self._containers.get(key)
        if found is None:
            found = [(i, c) for i, c in enumerate(self.pod_spec.get(key) or []) if isinstance(c, dict)]
            self._containers[key] = found
        return found

    def run_as_user(self, key: str, index: int) -> tuple[Any, Place | None]:
        """The UID a container of the original pod runs as (its own, else the pod's) and where it is set."""
        c = self.pod_spec[key][index]
        sc = c.get("securityContext") if isinstance(c.get("securityContext"), dict) else {}
        if "runAsUser" in sc:
            return sc["runAsUser"], self.at_spec(key, index, "securityContext", "runAsUser")
        pod_sc = self.pod_spec.get("securityContext")
        if isinstance(pod_sc, dict) and "runAsUser" in pod_sc:
            return pod_sc["runAsUser"], self.at_spec("securityContext", "runAsUser")
        return None, None

    # -- suppression -------------------------------------------------------------------

    @cached_property
    def subject(self) -> Subject:
        w = self.workload
        sources = []
        if w.kind != "Pod":
            sources.append((self.own_meta, f"{w.kind} metadata"))
        sources.append((self.pod_meta, "pod template metadata"))
        if w.kind == "CronJob":
            template = (((w.doc.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template")
            if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
                sources.append((template["metadata"], "pod template metadata"))
        ns_doc = self.model.namespaces.get(self.namespace)
        if ns_doc is not None:
            sources.append((ns_doc.data.get("metadata") or {}, f"Namespace {self.namespace}"))
        return Subject(self.display, ignores_of(sources))


@dataclass
class LintModel:
    """What the whole run shares: options, settings, the cluster, problems render would
    stop on, and what run rules total over the workloads."""

    options: Options
    settings: Settings
    resolver: Resolver | None = None
    problems: list[Problem] = field(default_factory=list)
    # rule id -> key -> [detail, number of workloads]: what run rules' `count` saw, totalled
    tallies: dict[str, dict[Any, list]] = field(default_factory=dict)
    # settings documents that applied to no workload (known once every file is evaluated)
    unused_settings: list[SidecarSettings] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)  # objects the inputs define twice
    _memo: dict[tuple, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, run: Run) -> LintModel:
        return cls(run.context.options, run.settings, run.resolver, problems=list(run.problems))

    @property
    def cluster(self) -> Cluster | None:
        return self.resolver.cluster if self.resolver else None

    @property
    def namespaces(self) -> dict[str, Document]:
        return self.settings.namespaces

    def subject_of(self, problem: Problem) -> Subject | None:
        return doc_subject(problem.doc, self.namespaces) if problem.doc is not None else None

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """A result that depends only on `key` (typically an effective tree), computed once."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def namespace_labels(self, ns: str) -> dict[str, str]:
        """The labels a namespace has, as far as the inputs say (the API server adds the name label)."""
        return webhooks.namespace_labels(ns, self.namespaces.get(ns))

    @property
    def kube_version_anchor(self) -> Place | None:
        """The file that set the Kubernetes version (a ClusterProfile; not a flag)."""
        origin = self.cluster.origins.get("kubernetesVersion") if self.cluster is not None else None
        return origin.place if origin is not None and origin.user_set else None
