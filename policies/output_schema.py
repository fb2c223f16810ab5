"""Rendered workloads that the target cluster's API server would refuse."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshrender.kube import apischema as kube_schema
from meshrender.lint.finding import Hit
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import workload_rule
from meshrender.settings.provenance import Place


@workload_rule(
    "output-schema-invalid", "error",
    title="The rendered workload breaks the target cluster's Kubernetes API schema",
    rationale="""The rendered workload breaks the Kubernetes API schema of the target version: an
    unknown or misspelt field, a wrong type, an API version the cluster no longer serves. Argo CD's
    sync then fails half-way, or an older API server drops an unknown field without a word: a native
    sidecar's restartPolicy on Kubernetes 1.27 is dropped, the proxy becomes an init container that
    never exits, and the pod never starts. Checked with the strict schemas of kubernetes-validate
    (meshrender[validate]) when the Kubernetes version is known; `render --validate` does the same.""",
    fix="""Fix the field the message names. For native sidecars on clusters before 1.28, render
    traditional ones: --native-sidecars false, nativeSidecar: false in SidecarProxySettings, or the
    pod annotation sidecar.istio.io/nativeSidecar: "false".""",
)
def output_schema_invalid(view: WorkloadView) -> Iterator[Hit]:
    cluster = view.model.cluster
    if cluster is None or cluster.kube_version is None:
        return
    obj = _rendered_object(view)
    if obj is None:
        return
    try:
        schema = kube_schema.schema_for(cluster.kube_version)
    except kube_schema.SchemaUnavailable:
        return
    for p in kube_schema.object_problems(obj, view.doc, tuple(view.workload.path), view.display, schema):
        where = p.workload[len(view.display):].lstrip(", ")
        message = f"{p.field}{f' ({where})' if where else ''}: {p.message}"
        yield Hit(message + (f"; {p.hint}" if p.hint else ""), Place(location=p.location))


def _rendered_object(view: WorkloadView) -> dict[str, Any] | None:
    """The workload as `render` writes it; None where other rules report why there is none.

    Only the maps on the way to the pod template are copied (the schema check reads, it
    does not change): a deep copy of every workload cost as much as checking it.
    """
    if view.skipped is not None:
        return view.workload.doc  # written unchanged
    if not view.injected or view.rendered is None:
        return None
    w = view.workload
    obj = w.doc
    for path, value in ((w.meta_path, view.rendered["metadata"]), (w.spec_path, view.rendered["spec"])):
        obj = _replaced(obj, path[len(w.path):], value)
    return obj


def _replaced(node: Any, path: tuple, value: Any) -> Any:
    """A copy of `node` with the value at `path` replaced, sharing everything off that path."""
    if not path:
        return value
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = _replaced(node[path[0]], path[1:], value)
    return copy
