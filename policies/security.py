"""The proxy's identity on the node: UID 1337 belongs to it."""

from __future__ import annotations

from collections.abc import Iterator

from meshrender.lint.finding import Hit
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import workload_rule

PROXY_UID = 1337


@workload_rule(
    "proxy-uid-conflict", "error",
    title="An application container runs as the proxy's UID 1337",
    rationale="""istio-init exempts traffic of UID 1337, the proxy's own, from redirection. An
    application container running as 1337 therefore bypasses the proxy entirely: no mTLS, no
    authorization policy, no telemetry, and nothing says so.""",
    fix="""Run application containers as another UID (init containers may use 1337 on purpose, to reach
    the network before a traditional proxy starts).""",
)
def proxy_uid_conflict(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected:
        return
    for i, c in view.containers("containers"):
        if c.get("name") == "istio-proxy":
            continue
        uid, anchor = view.run_as_user("containers", i)
        if uid == PROXY_UID and anchor is not None:
            yield Hit(f"container {c.get('name')} runs as UID {PROXY_UID}, the proxy's UID: its traffic bypasses "
                      "the proxy, so mTLS, authorization and telemetry silently do not apply; run it as another "
                      "UID", anchor)
