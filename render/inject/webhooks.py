"""Whether the API server calls the sidecar injector for a pod at all.

Before Istio's injector decides anything (injectRequired), the API server decides
whether to call it: a MutatingWebhookConfiguration's webhook is called for a pod when
its namespaceSelector matches the namespace's labels and its objectSelector the pod's.
Istio installs four such webhooks per control plane (render/data/injector-webhooks.yaml):
a namespace labelled `istio-injection=enabled` or `istio.io/rev=REVISION`, or a pod
labelled `sidecar.istio.io/inject: "true"` or `istio.io/rev=REVISION` in a namespace
that says nothing.

`select` answers for every pod (lint warns when the cluster would inject a rendered
pod a second time); meshrender's own decision follows it only where the inputs say how
the cluster decides (`Selection.decides`): for a
workload whose Namespace object is among the inputs and carries a mesh label
(`istio-injection`, `istio.io/rev`, `istio.io/dataplane-mode`), with the injector's own
MutatingWebhookConfigurations when they are among the inputs too (revision tags
included), else with the selectors Istio's chart installs for the configured revision.
A namespace with none of these labels is the rendered-manifests pattern: the cluster
leaves its pods alone because meshrender injected them already (labelled for injection,
the webhook would inject them a second time). There, and without the Namespace, meshrender
injects as `istioctl kube-inject` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from meshrender import bundled
from meshrender.istio import INJECT, INJECTION_LABEL, REVISION_LABEL
from meshrender.kube import selectors
from meshrender.yamlio import Document

INJECTOR_SUFFIX = "sidecar-injector.istio.io"
AMBIENT_LABEL = "istio.io/dataplane-mode"


@dataclass(frozen=True)
class Selection:
    """The API server's answer for one pod: which injector webhook it calls (None: none),
    why, and the label that decided it: the namespace's (`label`), else the pod's
    (`pod_label`); neither: no label, a webhook that takes every pod (or none that does)."""

    webhook: str | None
    reason: str
    label: str | None = None
    pod_label: str | None = None

    @property
    def called(self) -> bool:
        return self.webhook is not None

    @property
    def decides(self) -> bool:
        """Whether this answer decides meshrender's injection: the namespace is among the
        inputs and carries a mesh label (else the rendered-manifests pattern: meshrender
        injects as `istioctl kube-inject` does, whatever the cluster's webhook would do)."""
        return self.label is not None


@cache
def _chart_webhooks(revision: str, by_default: bool) -> tuple[tuple[str, Any, Any], ...]:
    table = bundled.load("injector-webhooks.yaml")
    hooks = list(table["revision"])
    if not revision or revision == "default":
        hooks += table["default"]
        if by_default:
            hooks += table["namespacesByDefault"]
    rev = revision or "default"

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        return rev if node == "REVISION" else node

    return tuple((h["name"], fill(h["namespaceSelector"]), fill(h["objectSelector"])) for h in hooks)


def injector_webhooks(configurations: list[Document]) -> list[tuple[str, Any, Any]]:
    """(name, namespaceSelector, objectSelector) of the sidecar injector webhooks among the
    inputs' MutatingWebhookConfigurations (every revision's, and revision tags')."""
    out = []
    for doc in configurations:
        hooks = doc.data.get("webhooks") if isinstance(doc.data, dict) else None
        for hook in hooks if isinstance(hooks, list) else ():
            if isinstance(hook, dict) and str(hook.get("name") or "").endswith(INJECTOR_SUFFIX):
                out.append((str(hook["name"]), hook.get("namespaceSelector"), hook.get("objectSelector")))
    return out


def namespace_labels(name: str, doc: Document | None) -> dict[str, str]:
    """A namespace's labels as the API server matches them (it adds kubernetes.io/metadata.name)."""
    labels = {"kubernetes.io/metadata.name": name}
    meta = doc.data.get("metadata") if doc is not None and isinstance(doc.data, dict) else None
    if isinstance(meta, dict) and isinstance(meta.get("labels"), dict):
        labels.update({str(k): str(v) for k, v in meta["labels"].items()})
    return labels


def select(namespace: str, ns_doc: Document | None, pod_labels: dict[str, Any], configurations: list[Document],
           values: dict[str, Any]) -> Selection:
    """Which injector webhook the API server calls for a pod of `namespace` with
    `pod_labels`, as far as the inputs say (`ns_doc` None: a namespace with no labels)."""
    ns_labels = namespace_labels(namespace, ns_doc)
    deciding = _deciding_label(ns_labels) if ns_doc is not None else None
    labels = {str(k): str(v) for k, v in pod_labels.items()}
    hooks = injector_webhooks(configurations)
    if not hooks:
        hook_values = values.get("sidecarInjectorWebhook") if isinstance(values, dict) else None
        by_default = bool(isinstance(hook_values, dict) and hook_values.get("enableNamespacesByDefault"))
        # Without the configurations, the cluster has the configured control plane's webhooks,
        # and those of any control plane a label names: istio-injection the default one, a
        # revision label that revision (or revision tag). The cluster has them, or it would
        # not say so.
        configured = str(values.get("revision") or "") if isinstance(values, dict) else ""
        revisions = [configured or "default"]
        if INJECTION_LABEL in ns_labels:
            revisions.append("default")
        revisions += [r for r in (ns_labels.get(REVISION_LABEL), labels.get(REVISION_LABEL)) if r]
        hooks = []
        for revision in dict.fromkeys(revisions):
            hooks += _chart_webhooks(revision, by_default)
    pod_label = None if deciding else next((k for k in (INJECT, REVISION_LABEL) if k in labels), None)
    for name, ns_selector, object_selector in hooks:
        if selectors.matches(ns_selector, ns_labels) and selectors.matches(object_selector, labels):
            return Selection(name, _why_called(name, namespace, ns_labels, labels), deciding, pod_label)
    return Selection(None, _why_not(namespace, ns_labels, labels), deciding, pod_label)


def _deciding_label(ns_labels: dict[str, str]) -> str | None:
    for key in (INJECTION_LABEL, REVISION_LABEL, AMBIENT_LABEL):
        if key in ns_labels:
            return key
    return None


def _why_called(webhook: str, namespace: str, ns_labels: dict[str, str], labels: dict[str, str]) -> str:
    for key in (INJECTION_LABEL, REVISION_LABEL):
        if key in ns_labels:
            return f"namespace {namespace} is labelled {key}={ns_labels[key]} (webhook {webhook})"
    for key in (INJECT, REVISION_LABEL):
        if key in labels:
            return f"the pod is labelled {key}={labels[key]} (webhook {webhook})"
    return f"webhook {webhook} selects the pod"


def _why_not(namespace: str, ns_labels: dict[str, str], labels: dict[str, str]) -> str:
    if ns_labels.get(INJECTION_LABEL) == "disabled":
        return f"namespace {namespace} is labelled {INJECTION_LABEL}=disabled"
    if ns_labels.get(AMBIENT_LABEL) == "ambient" and INJECTION_LABEL not in ns_labels and \
            REVISION_LABEL not in ns_labels:
        return (f"namespace {namespace} runs in ambient mode ({AMBIENT_LABEL}=ambient), not labelled for sidecar "
                "injection")
    if labels.get(INJECT) == "false":
        return f"the pod is labelled {INJECT}=false"
    key = INJECTION_LABEL if INJECTION_LABEL in ns_labels else REVISION_LABEL
    return (f"namespace {namespace} is labelled {key}={ns_labels.get(key)}, which selects no injector webhook of "
            "this control plane (a namespace for another revision?)")
