"""Loading for lint: what each workload runs with, and the pod the injector would produce.

The same pieces as `render` (sources, settings collection, the Resolver, the injector),
but tolerant: lint reports every problem it can find, so a settings document that does
not validate, a same-scope conflict or a workload the injector refuses becomes a
`Problem` (reported by a rule) instead of ending the run. Only input that cannot be read
at all (missing files, broken YAML) and bad flags still end it with exit status 2.
Nothing here writes anything or changes the input documents.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError, MeshrenderError
from meshrender.inject.injector import InjectionError, inject, skip_reason
from meshrender.inject.templates import TemplateError
from meshrender.inputs import kinds
from meshrender.inputs.sources import SourceFile
from meshrender.lint.finding import Anchor, Subject
from meshrender.lint.suppress import ignores_of
from meshrender.run.pipeline import iter_workloads
from meshrender.settings.collect import Collector, Settings, is_consumed
from meshrender.settings.layers import Origin, Tree
from meshrender.settings.mode import Cluster
from meshrender.settings.resolve import Options, Resolved, Resolver
from meshrender.settings.schema import SchemaError
from meshrender.yamlio import Document, plain

PROXY_CONFIG = "proxy.istio.io/config"


@dataclass
class Problem:
    """Something `render` would refuse, found while loading; `kind` says which rule reports it."""

    kind: str  # "invalid-setting", "render" or "not-injected"
    message: str
    anchor: Anchor
    subject: Subject | None = None


@dataclass(frozen=True)
class Setting:
    """One effective value and where it was set (anchor None: built-in default or a flag)."""

    value: Any
    anchor: Anchor | None
    source: str

    @property
    def user_set(self) -> bool:
        return self.anchor is not None


def origin_anchor(origin: Origin | None) -> Anchor | None:
    """The anchor of a settings leaf, when a file among the inputs (or --values) set it."""
    if origin is None or origin.doc is None:
        return None
    return Anchor(origin.doc, tuple(origin.field))


def origin_source(origin: Origin | None) -> str:
    return origin.layer if origin is not None else "built-in default"


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
    """One workload as rules see it: the original pod, its effective settings, the rendered pod."""

    def __init__(self, model: LintModel, workload: kinds.Workload, doc: Document):
        self.model = model
        self.workload = workload
        self.doc = doc
        self.resolved: Resolved | None = None
        self.skipped: str | None = None
        self.resolve_error: InputError | None = None
        self._rendered: dict[str, Any] | None = None
        self._render_tried = False
        self._dropped: dict[str, str] = {}
        self._render_error: str | None = None
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
        return self.workload.pod.metadata

    @property
    def pod_spec(self) -> dict[str, Any]:
        return self.workload.pod.spec

    @cached_property
    def annotations(self) -> dict[str, Any]:
        """The pod template's annotations: what the injector reads."""
        return self.workload.pod.annotations

    @property
    def own_meta(self) -> dict[str, Any]:
        """The workload object's own metadata (for a Pod, the same as the pod's)."""
        meta = self.workload.doc.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def injected(self) -> bool:
        """meshrender injects this workload (not opted out, settings resolved)."""
        return self.resolved is not None and self.skipped is None

    @property
    def native(self) -> bool:
        return bool(self.resolved and self.resolved.mode.native)

    # -- anchors -----------------------------------------------------------------------

    def at(self, *path: Any) -> Anchor:
        """A field of the workload, by its path inside the workload object."""
        return Anchor(self.doc, (*self.workload.path, *path))

    def at_meta(self, *path: Any) -> Anchor:
        """A field of the pod template's metadata (where pod annotations belong)."""
        return Anchor(self.doc, (*self.workload.meta_path, *path))

    def at_spec(self, *path: Any) -> Anchor:
        return Anchor(self.doc, (*self.workload.spec_path, *path))

    def at_annotation(self, name: str, needle: str | None = None) -> Anchor:
        return Anchor(self.doc, (*self.workload.meta_path, "annotations", name), needle=needle)

    @property
    def mode_anchor(self) -> Anchor | None:
        """Where the native/traditional decision was made, if a file made it."""
        return origin_anchor(self.resolved.mode.origin) if self.resolved else None

    def mode_or_template(self) -> Anchor:
        """The file that decided the mode, else the pod template (where an annotation would go)."""
        return self.mode_anchor or self.at_meta()

    # -- settings ----------------------------------------------------------------------

    @property
    def tree(self) -> Tree | None:
        return self.resolved.tree if self.resolved else None

    def setting(self, *path: Any) -> Setting | None:
        """The effective value of a settings-tree leaf (`"proxy", "concurrency"`) and its origin."""
        tree = self.tree
        if tree is None:
            return None
        return self.model.tree_setting(tree, tuple(path))

    def annotation_setting(self, name: str) -> Setting | None:
        value = self.annotations.get(name)
        if value is None:
            return None
        return Setting(value, self.at_annotation(name), f"pod annotation {name}")

    def pod_setting(self, annotation: str, *path: Any) -> Setting | None:
        """An annotation if the pod has it (it wins), else the settings-tree value."""
        return self.annotation_setting(annotation) or self.setting(*path)

    @cached_property
    def proxy_config_annotation(self) -> dict[str, Any]:
        """`proxy.istio.io/config` as a map ({} when absent or unreadable: another rule says so)."""
        raw = self.annotations.get(PROXY_CONFIG)
        if not isinstance(raw, str):
            return {}
        try:
            data = yamlio.load_plain(raw, PROXY_CONFIG)
        except InputError:
            return {}
        return data if isinstance(data, dict) else {}

    def proxy_setting(self, key: str, *sub: str) -> Setting | None:
        """A ProxyConfig field: the pod's proxy.istio.io/config, else the settings tree."""
        node: Any = self.proxy_config_annotation
        for k in (key, *sub):
            node = node.get(k) if isinstance(node, dict) else None
        if node is not None:
            return Setting(node, self.at_annotation(PROXY_CONFIG, needle=(sub or (key,))[-1]),
                           f"pod annotation {PROXY_CONFIG}")
        return self.setting("proxy", key, *sub)

    # -- containers --------------------------------------------------------------------

    def containers(self, key: str = "containers") -> list[tuple[int, dict[str, Any]]]:
        """(index, container) of the original pod, as the user wrote them."""
        found = self._containers.get(key)
        if found is None:
            found = [(i, c) for i, c in enumerate(self.pod_spec.get(key) or []) if isinstance(c, dict)]
            self._containers[key] = found
        return found

    def run_as_user(self, key: str, index: int) -> tuple[Any, Anchor | None]:
        """The UID a container of the original pod runs as (its own, else the pod's) and where it is set."""
        c = self.pod_spec[key][index]
        sc = c.get("securityContext") if isinstance(c.get("securityContext"), dict) else {}
        if "runAsUser" in sc:
            return sc["runAsUser"], self.at_spec(key, index, "securityContext", "runAsUser")
        pod_sc = self.pod_spec.get("securityContext")
        if isinstance(pod_sc, dict) and "runAsUser" in pod_sc:
            return pod_sc["runAsUser"], self.at_spec("securityContext", "runAsUser")
        return None, None

    # -- the injected pod (rendered on first use: injection is the costly part of lint) ---------

    @property
    def rendered(self) -> dict[str, Any] | None:
        """The pod as the injector would produce it ({"metadata", "spec"}); None if not injected."""
        if not self._render_tried and self.injected:
            self._render_tried = True
            _render(self)
        return self._rendered

    @property
    def render_error(self) -> str | None:
        """Why the injector refuses this pod, if it was rendered (risky pods always are)."""
        return self._render_error

    @property
    def dropped(self) -> dict[str, str]:
        """Annotations the injector refused, left out so that the rest could be rendered."""
        return self._dropped

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
    """Everything the rules look at: inputs, settings, the cluster, every workload."""

    files: list[SourceFile]
    options: Options
    settings: Settings
    resolver: Resolver | None = None
    workloads: list[WorkloadView] = field(default_factory=list)  # only when loaded in one process
    problems: list[Problem] = field(default_factory=list)
    # rule id -> key -> [detail, number of workloads]: what run rules' `count` saw, totalled
    tallies: dict[str, dict[Any, list]] = field(default_factory=dict)
    _settings: dict[tuple, Setting | None] = field(default_factory=dict, repr=False)
    _memo: dict[tuple, Any] = field(default_factory=dict, repr=False)

    @property
    def cluster(self) -> Cluster | None:
        return self.resolver.cluster if self.resolver else None

    @property
    def namespaces(self) -> dict[str, Document]:
        return self.settings.namespaces

    def tree_setting(self, tree: Tree, path: tuple) -> Setting | None:
        """A leaf of an effective tree with its origin, once per tree (workloads share trees)."""
        key = (id(tree), path)
        if key in self._settings:
            return self._settings[key]
        value = tree.get(*path)
        setting = None
        if value is not None:
            origin = tree.origin(*path)
            anchor = origin_anchor(origin)
            if anchor is not None and isinstance(value, dict) and path not in tree.origins:
                anchor = Anchor(anchor.doc, _node_field(path, tree, origin))
            setting = Setting(value, anchor, origin_source(origin))
        self._settings[key] = setting
        return setting

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """A result that depends only on `key` (typically an effective tree), computed once."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def namespace_labels(self, ns: str) -> dict[str, str]:
        """The labels a namespace has, as far as the inputs say (the API server adds the name label)."""
        labels = {"kubernetes.io/metadata.name": ns}
        doc = self.namespaces.get(ns)
        if doc is not None:
            meta = doc.data.get("metadata") or {}
            if isinstance(meta.get("labels"), dict):
                labels.update({str(k): str(v) for k, v in meta["labels"].items()})
        return labels

    @cached_property
    def kube_version_anchor(self) -> Anchor | None:
        """The ClusterProfile field that set the Kubernetes version (not when a flag did)."""
        if self.options.kube_version or os.environ.get("KUBE_VERSION"):
            return None
        profile = self.settings.profile
        if profile is not None and "kubernetesVersion" in self.settings.profile_spec:
            return Anchor(profile, ("spec", "kubernetesVersion"))
        return None


def _node_field(path: tuple, tree: Tree, origin: Origin) -> tuple:
    """The field that set a whole map (`spec.proxy.lifecycle`), from the field of a leaf below it.

    Settings map their fields key for key below the point where they attach to the tree,
    so the map's own field is where the leaf's field continues with the leaf's remaining keys.
    """
    leaf = next(p for p, o in tree.origins.items() if p[:len(path)] == path and o is origin)
    rest, field = leaf[len(path):], tuple(origin.field)
    for i in range(len(field) - 1, -1, -1):
        if field[i] == path[-1] and rest[:len(field) - i - 1] == field[i + 1:]:
            return field[:i + 1]
    return field


def _problem_from(e: MeshrenderError, kind: str, subject: Subject | None = None) -> Problem:
    return Problem(kind, e.message if not e.field else f"{e.field}: {e.message}",
                   Anchor(location=e.location), subject)


def _collect(docs: Iterable[Document], problems: list[Problem]) -> Settings:
    collector = Collector()
    for doc in docs:
        try:
            collector.add(doc)
        except SchemaError as e:
            problems.append(_problem_from(e, "invalid-setting", doc_subject(doc, collector.settings.namespaces)))
        except InputError as e:
            problems.append(_problem_from(e, "render", doc_subject(doc, collector.settings.namespaces)))
    return collector.settings


def _render(view: WorkloadView) -> None:
    """Inject a copy of the pod; annotations the injector refuses are left out (and recorded)."""
    assert view.resolved is not None
    pod = view.workload.pod
    meta, spec = plain.deepcopy(pod.metadata), plain.deepcopy(pod.spec)
    for _ in range(len(meta.get("annotations") or {}) + 1):
        attempt = dataclasses.replace(pod, metadata=meta, spec=spec)
        try:
            inject(attempt, view.resolved.config)
        except InjectionError as e:
            anns = meta.get("annotations") or {}
            if e.annotation and e.annotation in anns:
                view._dropped[e.annotation] = str(e)
                del anns[e.annotation]
                continue
            view._render_error = str(e)
            return
        except (TemplateError, InputError) as e:
            view._render_error = e.message if isinstance(e, InputError) else str(e)
            return
        view._rendered = {"metadata": attempt.metadata, "spec": attempt.spec}
        return


def prepare(settings_docs: Iterable[Document], options: Options, inputs: Collection[str]) -> LintModel:
    """The model every workload is checked against: settings from `settings_docs` (every
    input document that may be one, in input order) and the Resolver; no workloads yet.

    `inputs` are the display names of the input files: a Resolver error in one of them is
    a finding, anywhere else (a flag, a --values file) bad usage.
    """
    problems: list[Problem] = []
    settings = _collect(settings_docs, problems)
    model = LintModel([], options, settings, problems=problems)
    try:
        model.resolver = Resolver(settings, options)
    except InputError as e:
        if e.location is None or e.location.path not in inputs:
            raise  # a flag or a --values file: bad usage, not a finding
        problems.append(_problem_from(e, "render"))
    return model


def views_of(model: LintModel, f: SourceFile) -> tuple[list[WorkloadView], list[Problem]]:
    """The workloads of one loaded file, resolved (and rendered where rendering may fail),
    and the problems that keep documents of it from being read as workloads."""
    views: list[WorkloadView] = []
    problems: list[Problem] = []
    for doc in f.docs:
        if is_consumed(doc.data):
            continue
        notes: list[kinds.Note] = []
        try:
            workloads = iter_workloads(doc, model.options.namespace, model.settings.workload_kinds, notes)
        except InputError as e:
            problems.append(_problem_from(e, "render"))
            continue
        problems += [Problem("not-injected", n.message, Anchor(doc, n.path),
                             doc_subject(doc, model.settings.namespaces)) for n in notes]
        views.extend(_load_workload(model, w, doc) for w in workloads)
    return views, problems


def load(files: list[SourceFile], options: Options) -> LintModel:
    """Read settings and workloads of `files`, all in this process (the reference for the
    streamed run of render/lint/stream.py, which holds one file at a time)."""
    model = prepare((doc for f in files for doc in f.docs), options, {f.display for f in files})
    model.files = files
    for f in files:
        views, problems = views_of(model, f)
        model.workloads += views
        model.problems += problems
    return model


def _load_workload(model: LintModel, w: kinds.Workload, doc: Document) -> WorkloadView:
    view = WorkloadView(model, w, doc)
    view.skipped = skip_reason(w.pod)
    if model.resolver is None:
        return view
    try:
        view.resolved = model.resolver.resolve(w)
    except InputError as e:
        view.resolve_error = e
        return view
    if view.skipped is None and _may_fail_to_render(view):
        view.rendered  # noqa: B018 - render now, so that render-error sees the outcome
    return view


def _may_fail_to_render(view: WorkloadView) -> bool:
    """Pods whose injection can fail for reasons the annotation checks do not cover."""
    anns = view.annotations
    if "inject.istio.io/templates" in anns or "proxy.istio.io/overrides" in anns:
        return True
    assert view.resolved is not None
    if view.resolved.tree.get("values", "sidecarInjectorWebhook", "templates"):
        return True
    return any(c.get("name") in ("istio-proxy", "istio-init") for key in ("containers", "initContainers")
               for _, c in view.containers(key))
