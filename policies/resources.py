"""Proxy and istio-init resources, as the injector computes them."""

from __future__ import annotations

from collections.abc import Iterator

from meshrender.kube.quantity import QuantityError, compare
from meshrender.lint.finding import Hit
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import workload_rule

RESOURCES = ("cpu", "memory")


def _exceeding(view: WorkloadView, container: str, prefix: str) -> Iterator[Hit]:
    """A request above its limit in the pod the injector produces, pointing at what set it
    (the request when the user wrote it, else the limit)."""
    for name in RESOURCES:
        req = view.setting(f"{prefix}.resources.requests.{name}")
        lim = view.setting(f"{prefix}.resources.limits.{name}")
        if req is None or lim is None or req.value is None or lim.value is None:
            continue
        try:
            over = compare(req.value, lim.value) > 0
        except QuantityError:
            continue  # invalid-mesh-annotation reports it
        if not over:
            continue
        blamed = req if req.user_set else lim
        if not blamed.user_set or blamed.origin.place is None:
            continue
        yield Hit(f"{container} requests {name} {req.value} ({req.origin.name}) above its limit {lim.value} "
                  f"({lim.origin.name}): the API server rejects the pod; lower the request or raise the limit",
                  blamed.origin.place)


@workload_rule(
    "proxy-resources-request-exceeds-limit", "error",
    title="A proxy resource request is above its limit",
    rationale="""After precedence (pod annotations over workload, namespace and global settings) a
    request of the proxy or istio-init is above its limit: the API server rejects every pod of the
    workload. Settings layers merge per field, so the two values often come from different files.""",
    fix="Lower the request or raise the limit, in the file the message names.",
)
def request_exceeds_limit(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected:
        return
    yield from view.per_configuration("resources", lambda: [*_exceeding(view, "istio-proxy", "proxy"),
                                                           *_exceeding(view, "istio-init", "init")])
