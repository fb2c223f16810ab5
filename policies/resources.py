"""Proxy and istio-init resources, as the injector will compute them."""

from __future__ import annotations

from collections.abc import Iterator

from meshrender.inject.template import RES_ANNOTATIONS
from meshrender.kube.quantity import QuantityError, compare
from meshrender.lint.finding import Hit
from meshrender.lint.model import Setting, WorkloadView
from meshrender.lint.rules import workload_rule

ANNOTATION_OF = {
    ("requests", "cpu"): "sidecar.istio.io/proxyCPU",
    ("requests", "memory"): "sidecar.istio.io/proxyMemory",
    ("limits", "cpu"): "sidecar.istio.io/proxyCPULimit",
    ("limits", "memory"): "sidecar.istio.io/proxyMemoryLimit",
}


def _block(view: WorkloadView, *path: str) -> dict[str, dict[str, Setting]]:
    """requests/limits -> resource -> Setting, for the resources block at `path` of the settings."""
    out: dict[str, dict[str, Setting]] = {"requests": {}, "limits": {}}
    value = view.tree.get(*path) if view.tree is not None else None
    if not isinstance(value, dict):
        return out
    for section in out:
        for name in value.get(section) or {}:
            s = view.setting(*path, section, name)
            if s is not None:
                out[section][name] = s
    return out


def _proxy_block(view: WorkloadView) -> dict[str, dict[str, Setting]]:
    """The template's rule: any resource annotation replaces the whole block from the settings."""
    if not any(a in view.annotations for a in RES_ANNOTATIONS):
        return _block(view, "values", "global", "proxy", "resources")
    out: dict[str, dict[str, Setting]] = {"requests": {}, "limits": {}}
    for (section, name), annotation in ANNOTATION_OF.items():
        s = view.annotation_setting(annotation)
        if s is not None:
            out[section][name] = s
    return out


def _exceeding(container: str, block: dict[str, dict[str, Setting]]) -> Iterator[Hit]:
    for name in sorted(set(block["requests"]) & set(block["limits"])):
        req, lim = block["requests"][name], block["limits"][name]
        try:
            over = compare(req.value, lim.value) > 0
        except QuantityError:
            continue  # invalid-mesh-annotation reports it
        if over:
            anchor = req.anchor if req.user_set else lim.anchor
            if anchor is None:
                continue
            yield Hit(f"{container} requests {name} {req.value} ({req.source}) above its limit {lim.value} "
                      f"({lim.source}): the API server rejects the pod; lower the request or raise the limit",
                      anchor)


@workload_rule(
    "proxy-resources-request-exceeds-limit", "error",
    title="A proxy resource request is above its limit",
    rationale="""After precedence (pod annotations over workload, namespace and global settings) a
    request of the proxy or istio-init is above its limit: the API server rejects every pod of the
    workload. Settings layers merge per field, so the two values often come from different files.""",
    fix="Lower the request or raise the limit, in the file the message names.",
)
def request_exceeds_limit(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected or view.tree is None:
        return
    if any(a in view.annotations for a in RES_ANNOTATIONS):
        yield from _exceeding("istio-proxy", _proxy_block(view))
    else:  # settings only: the same for every workload with this configuration
        yield from view.model.memo(("proxy-resources", id(view.tree)),
                                   lambda: list(_exceeding("istio-proxy", _proxy_block(view))))
    yield from view.model.memo(("init-resources", id(view.tree)),
                               lambda: list(_exceeding("istio-init", _init_block(view))))


def _init_block(view: WorkloadView) -> dict[str, dict[str, Setting]]:
    if view.tree is not None and view.tree.get("extras", "initResources") is not None:
        return _block(view, "extras", "initResources")
    return _block(view, "values", "global", "proxy_init", "resources")
