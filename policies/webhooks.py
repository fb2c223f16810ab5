"""Other admission webhooks in the cluster that undo what meshrender rendered."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from meshrender.kube.selectors import matches as selector_matches
from meshrender.lint.finding import Hit, Subject
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import catalog, workload_rule
from meshrender.lint.suppress import ignores_of
from meshrender.policies.annotations import in_mesh_domain
from meshrender.settings.provenance import Place
from meshrender.yamlio import Document


@dataclass(frozen=True)
class Offender:
    id: str
    product: str
    webhooks: tuple[str, ...]
    configurations: tuple[str, ...]
    services: tuple[str, ...]
    paths: tuple[str, ...]
    namespace_labels: tuple[tuple[str, tuple[str, ...]], ...]
    fixed_in: str | None

    def matches(self, config: str, hook: dict[str, Any]) -> bool:
        """This entry of configuration `config` is this product's webhook."""
        if self.webhooks and hook.get("name") not in self.webhooks:
            return False
        if self.configurations and not any(fnmatch.fnmatchcase(config, g) for g in self.configurations):
            return False
        service = ((hook.get("clientConfig") or {}).get("service") or {}) if isinstance(
            hook.get("clientConfig"), dict) else {}
        service = service if isinstance(service, dict) else {}
        if self.services and not any(fnmatch.fnmatchcase(str(service.get("name") or ""), g) for g in self.services):
            return False
        return not self.paths or any(fnmatch.fnmatchcase(str(service.get("path") or ""), g) for g in self.paths)


@dataclass(frozen=True)
class Match:
    offender: Offender
    anchor: Place
    how: str
    by_namespace_label: bool
    config: Document | None = None  # the MutatingWebhookConfiguration, when one among the inputs matched


def _values(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


@cache
def offenders() -> tuple[Offender, ...]:
    return tuple(
        Offender(o["id"], o["product"], tuple(o.get("webhooks") or ()), tuple(o.get("configurations") or ()),
                 tuple(o.get("services") or ()), tuple(o.get("paths") or ()),
                 tuple((str(k), _values(v)) for k, v in (o.get("namespace_labels") or {}).items()),
                 str(o["fixed_in"]) if o.get("fixed_in") else None)
        for o in catalog("native-sidecar-webhooks.yaml")["offenders"])


def _version(text: object) -> tuple[int, ...] | None:
    m = re.match(r"^\s*v?(\d+(?:\.\d+)*)", str(text or ""))
    return tuple(int(p) for p in m.group(1).split(".")) if m else None


def _fixed(offender: Offender, doc: Document) -> bool:
    labels = (doc.data.get("metadata") or {}).get("labels") or {}
    have = _version(labels.get("app.kubernetes.io/version")) if isinstance(labels, dict) else None
    need = _version(offender.fixed_in)
    return bool(have and need and have >= need)


def _intercepts_pod_creation(hook: dict[str, Any]) -> bool:
    for rule in hook.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        groups = rule.get("apiGroups") or []
        resources = rule.get("resources") or []
        operations = rule.get("operations") or []
        if (("" in groups or "*" in groups) and any(r in ("pods", "*", "*/*") for r in resources)
                and ("CREATE" in operations or "*" in operations)):
            return True
    return False


def stripping_webhooks(view: WorkloadView) -> list[Match]:
    """Known offenders that will see this workload's pods, from the inputs' webhooks and namespaces."""
    model = view.model
    ns_labels = model.namespace_labels(view.namespace)
    found: list[Match] = []
    for doc in model.settings.webhooks:
        hooks = doc.data.get("webhooks")
        config = str((doc.data.get("metadata") or {}).get("name") or "(unnamed)")
        for i, hook in enumerate(hooks if isinstance(hooks, list) else []):
            if not isinstance(hook, dict) or not _intercepts_pod_creation(hook):
                continue
            offender = next((o for o in offenders() if o.matches(config, hook)), None)
            if offender is None or _fixed(offender, doc) or any(m.offender.id == offender.id for m in found):
                continue
            if not (selector_matches(hook.get("namespaceSelector"), ns_labels)
                    and selector_matches(hook.get("objectSelector"), view.workload.labels)):
                continue
            found.append(Match(offender, Place(doc, ("webhooks", i, "name")),
                               f"webhook {hook.get('name')} of MutatingWebhookConfiguration {config}", False, doc))
    ns_doc = model.namespaces.get(view.namespace)
    if ns_doc is not None:
        seen = {m.offender.id for m in found}
        for offender in offenders():
            wanted = offender.namespace_labels
            if offender.id in seen or not wanted or any(ns_labels.get(k) not in v for k, v in wanted):
                continue
            key = wanted[0][0]
            found.append(Match(offender, Place(ns_doc, ("metadata", "labels", key)),
                               f"selected by the namespace label {key}: {ns_labels[key]}", True))
    return found


@workload_rule(
    "webhook-strips-native-sidecar", "error",
    title="A webhook strips the native sidecar's restartPolicy",
    rationale="""Some mutating webhooks decode pods with Kubernetes API types older than 1.28 and write
    them back without the init containers' restartPolicy: Always (KubeSphere's logsidecar-injector,
    kube-secrets-init, the AWS App Mesh controller, older OpenTelemetry operator, Datadog admission
    controller, kube-image-keeper, k8s-image-swapper and EKS pod identity webhooks, ...). A native
    istio-proxy then becomes a plain init container: the pod is rejected or hangs in
    PodInitializing. The products, their webhooks and the first fixed releases, with the sources, are
    in policies/native-sidecar-webhooks.yaml.""",
    fix="""Run the affected workloads traditional (sidecar.istio.io/nativeSidecar: "false", or
    ASMMeshConfig enableNativeSidecar: false), upgrade the webhook to a fixed release, or keep the
    namespace out of the webhook's selector.""",
)
def webhook_strips_native(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected or not view.native:
        return
    for m in stripping_webhooks(view):
        o = m.offender
        remedies = []
        if o.fixed_in:
            remedies.append(f"upgrade {o.product} to {o.fixed_in} or later")
        if m.by_namespace_label:
            remedies.append("remove this label from the namespace")
        remedies.append("run the workload traditional (sidecar.istio.io/nativeSidecar: \"false\")")
        subject = view.subject
        if m.config is not None:  # a configuration known to run a fixed release can say so
            own = ignores_of([((m.config.data.get("metadata") or {}),
                               f"MutatingWebhookConfiguration {(m.config.data.get('metadata') or {}).get('name')}")])
            subject = Subject(subject.name, {**own, **subject.ignores})
        yield Hit(
            f"runs istio-proxy as a native sidecar, but {o.product} ({m.how}) drops restartPolicy: Always "
            f"from init containers, so the pod is rejected or hangs in PodInitializing; {', or '.join(remedies)}",
            m.anchor, subject)


def _label_anchor(view: WorkloadView, key: str) -> Place:
    if key in view.workload.pod.labels:
        return view.at_meta("labels", key)
    return view.at("spec", "jobTemplate", "spec", "template", "metadata", "labels", key)


def _deciding_place(view: WorkloadView, selection: Any) -> Place | None:
    """The label that made the API server's choice: the namespace's, else the pod's."""
    ns_doc = view.model.namespaces.get(view.namespace)
    if selection.label is not None and ns_doc is not None:
        return Place(ns_doc, ("metadata", "labels", selection.label))
    if selection.pod_label is not None:
        return _label_anchor(view, selection.pod_label)
    return None


@workload_rule(
    "reinjected-by-cluster-webhook", "warning",
    title="The cluster's injection webhook re-injects a rendered workload",
    rationale="""meshrender's output already carries the proxy. If the target namespace is labelled
    for automatic injection (istio-injection=enabled, istio.io/rev) or the pod asks for it
    (sidecar.istio.io/inject: "true" label), the cluster's injector strips that proxy and injects its
    own on every pod creation, with the cluster's settings instead of the ones kept in Git.""",
    fix="""Take rendered namespaces out of webhook injection (remove istio-injection / istio.io/rev from
    the Namespace, or set istio-injection: disabled) and drop sidecar.istio.io/inject pod labels.""",
)
def reinjected(view: WorkloadView) -> Iterator[Hit]:
    selection = view.e.webhook
    if not view.injected or selection is None or not selection.called:
        return
    anchor = _deciding_place(view, selection)
    if anchor is None:  # a webhook that takes every pod: the injector values' enableNamespacesByDefault
        anchor = view.at_meta()
    why = selection.reason
    yield Hit(f"is rendered with the proxy already injected, but {why}: the cluster's injector will strip "
              "it and inject its own, with the cluster's settings instead of this repository's; take rendered "
              "workloads out of webhook injection", anchor)


@workload_rule(
    "injection-blocked-by-namespace", "warning",
    title="A workload asks for the sidecar, but its namespace keeps the injector away",
    rationale="""The API server calls the sidecar injector only for pods its webhooks select, by the
    namespace's labels first: a namespace labelled istio-injection=disabled, ambient
    (istio.io/dataplane-mode=ambient), or for a revision no injector webhook serves gets no sidecar,
    whatever its pods say. meshrender renders such a workload as the cluster runs it, without the
    proxy; a pod that asks for the sidecar (sidecar.istio.io/inject "true") or configures it (mesh
    annotations, sidecar settings that select it) was meant to be in the mesh.""",
    fix="""Label the namespace for injection (or for the right revision), or, if the workload is meant to
    stay out of the mesh, drop what asks for the sidecar.""",
)
def injection_blocked(view: WorkloadView) -> Iterator[Hit]:
    selection = view.e.webhook
    if selection is None or not selection.decides or selection.called:
        return
    asks = _asks_for_sidecar(view)
    if asks is None:
        return
    anchor = _deciding_place(view, selection)
    if anchor is None:
        return
    what, where = asks
    yield Hit(f"{what} ({where}), but {selection.reason}: the cluster injects no sidecar and meshrender "
              "renders the workload without one; label the namespace for injection, or drop the request",
              anchor)


def _asks_for_sidecar(view: WorkloadView) -> tuple[str, Place] | None:
    """What in the workload asks for the sidecar (and where), if anything does."""
    pod = view.workload.pod
    for source, values in (("label", pod.labels), ("annotation", pod.annotations)):
        if str(values.get("sidecar.istio.io/inject", "")).lower() == "true":
            place = view.at_meta(source + "s", "sidecar.istio.io/inject")
            return f"its pod {source} sidecar.istio.io/inject is \"true\"", place
    mesh = sorted(k for k in pod.annotations if in_mesh_domain(k) and k != "sidecar.istio.io/inject")
    if mesh:
        return f"its pod template configures the sidecar ({mesh[0]})", view.at_annotation(mesh[0])
    resolver = view.model.resolver
    if resolver is not None:
        chosen, _ = resolver.matching(view.workload)
        if chosen:
            s = chosen[0]
            return (f"SidecarProxySettings {s.namespace or ''}/{s.name} selects it",
                    Place(s.doc, ("spec", "selector")))
    return None
