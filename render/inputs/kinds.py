"""Which documents are workloads, and where their pod template lives.

Mirrors what `istioctl kube-inject` accepts: Pods, the apps/v1 controllers, Jobs,
CronJobs (whose injected metadata goes on `spec.jobTemplate.metadata`, as kube-inject
does), OpenShift DeploymentConfigs, ReplicationControllers and `List`s of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from meshrender.errors import show_value, type_name
from meshrender.inject.context import PodRef
from meshrender.inject.injector import deploy_meta_from_pod
from meshrender.inputs import podshape
from meshrender.yamlio import Document

WORKLOAD_KINDS = frozenset({
    "Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController",
    "Job", "CronJob", "DeploymentConfig",
})


class ShapeError(ValueError):
    """A workload whose structure cannot hold a pod (`path` says where it breaks).

    `quote` is "value" or "key" when the fix is to quote the scalar at `path` (a number or
    boolean where Kubernetes wants a string); the message then shows the text as written.
    """

    def __init__(self, message: str, path: tuple, quote: str | None = None):
        super().__init__(message)
        self.path = path
        self.quote = quote


def _scalar(value: object) -> bool:
    return isinstance(value, (bool, int, float))


def is_workload(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") in WORKLOAD_KINDS


def is_list(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list)


@dataclass
class Workload:
    """A workload document and the pod inside it."""

    doc: dict
    pod: PodRef
    path: tuple  # path of the workload inside its document (non-empty for List items)
    meta_path: tuple  # path to the metadata that injection reads and writes
    spec_path: tuple
    source_doc: Document | None = None
    pod_labels: dict | None = None  # labels the running pods get, when they differ from pod.labels

    @property
    def labels(self) -> dict[str, str]:
        """Labels of the pods this workload creates (what selectors match)."""
        return self.pod_labels if self.pod_labels is not None else self.pod.labels

    @property
    def kind(self) -> str:
        return self.doc.get("kind", "")

    @property
    def name(self) -> str:
        return (self.doc.get("metadata") or {}).get("name") or ""

    @property
    def namespace(self) -> str:
        return self.pod.namespace

    @property
    def display(self) -> str:
        """`Deployment payments/checkout`, as messages name a workload."""
        return f"{self.kind} {self.namespace}/{self.name}"


def _child(parent: dict, key: str, path: tuple, what: str) -> dict:
    value = parent.get(key)
    if value is None:
        value = {}
        parent[key] = value
    if not isinstance(value, dict):
        raise ShapeError(f"{what} must be a map, not {type_name(value)}", (*path, key))
    return value


_NULLABLE_LISTS = ("containers", "initContainers", "volumes", "imagePullSecrets")


def _check_containers(spec: dict, path: tuple) -> None:
    """Containers are named maps, and the fields injection reads have Kubernetes' types.

    A list written as `null` is absent to Kubernetes (and kube-inject prints nothing for
    it); it is dropped here so that the injector can extend the list.
    """
    for key in _NULLABLE_LISTS:
        if key in spec and spec[key] is None:
            del spec[key]
    for key in ("containers", "initContainers"):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise ShapeError(f"{key} must be a list of containers, not {type_name(value)}", (*path, key))
        for i, c in enumerate(value):
            if not isinstance(c, dict):
                raise ShapeError(f"{key}[{i}] must be a container (a map), not {type_name(c)}", (*path, key, i))
            if not isinstance(c.get("name"), str) or not c.get("name"):
                raise ShapeError(f"{key}[{i}] has no name; every container needs a unique name",
                                 (*path, key, i))
    try:
        podshape.check_pod_spec(spec, path)
    except podshape.PodShapeError as e:
        raise ShapeError(str(e), e.path, e.quote) from None


def check_string_map(value: object, path: tuple) -> None:
    """Labels and annotations: a map of strings to strings, as Kubernetes requires."""
    if not isinstance(value, dict):
        raise ShapeError(f"{path[-1]} must be a map of strings, not {type_name(value)}", path)
    for k, v in value.items():
        if not isinstance(k, str):
            raise ShapeError(f"the key {show_value(k)} is not a string", (*path, k), "key" if _scalar(k) else None)
        if not isinstance(v, str):
            raise ShapeError(f"must be a string, not {type_name(v)}", (*path, k), "value" if _scalar(v) else None)


def check_meta(meta: dict, path: tuple) -> None:
    """Object metadata: names are strings; labels and annotations map strings to strings."""
    for key in ("name", "generateName", "namespace"):
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise ShapeError(f"must be a string, not {type_name(value)}", (*path, key),
                             "value" if _scalar(value) else None)
    for key in ("annotations", "labels"):
        value = meta.get(key)
        if value is not None:
            check_string_map(value, (*path, key))



def workload_of(doc: dict, default_namespace: str, path: tuple = ()) -> Workload:
    """The pod inside a workload document; raises ShapeError when it has none."""
    kind = doc.get("kind")
    meta = doc.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ShapeError(f"metadata must be a map, not {type_name(meta)}", (*path, "metadata"))
    namespace = meta.get("namespace") or default_namespace
    api = doc.get("apiVersion") or ""
    if kind == "Pod":
        doc.setdefault("metadata", meta)
        spec = _child(doc, "spec", path, "spec")
        check_meta(meta, (*path, "metadata"))
        _check_containers(spec, (*path, "spec"))
        name, okind, oapi = deploy_meta_from_pod(meta)
        if okind == "Pod":
            oapi = api or "v1"
        pod = PodRef(meta, spec, oapi, okind, name, namespace, namespace)
        return Workload(doc, pod, path, (*path, "metadata"), (*path, "spec"))
    spec = _child(doc, "spec", path, "spec")
    if kind == "CronJob":
        job = _child(spec, "jobTemplate", (*path, "spec"), "spec.jobTemplate")
        pod_meta = _child(job, "metadata", (*path, "spec", "jobTemplate"), "spec.jobTemplate.metadata")
        job_spec = _child(job, "spec", (*path, "spec", "jobTemplate"), "spec.jobTemplate.spec")
        template = _child(job_spec, "template", (*path, "spec", "jobTemplate", "spec"), "pod template")
        tpath = (*path, "spec", "jobTemplate", "spec", "template")
        meta_path = (*path, "spec", "jobTemplate", "metadata")
    else:
        template = _child(spec, "template", (*path, "spec"), "spec.template")
        tpath = (*path, "spec", "template")
        pod_meta = _child(template, "metadata", tpath, "spec.template.metadata")
        meta_path = (*path, "spec", "template", "metadata")
    pod_spec = _child(template, "spec", tpath, "pod spec")
    check_meta(pod_meta, meta_path)
    _check_containers(pod_spec, (*tpath, "spec"))
    pod = PodRef(pod_meta, pod_spec, api, kind or "", meta.get("name") or "", namespace, namespace)
    w = Workload(doc, pod, path, meta_path, (*tpath, "spec"))
    if kind == "CronJob":
        # kube-inject reads and writes the Job template's metadata; the pods themselves
        # carry the pod template's labels, which is what settings selectors must match.
        tmeta = template.get("metadata") if isinstance(template.get("metadata"), dict) else {}
        check_meta(tmeta, (*tpath, "metadata"))
        w.pod_labels = {**(tmeta.get("labels") or {}), **(pod_meta.get("labels") or {})}
    return w
