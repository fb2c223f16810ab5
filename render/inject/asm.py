"""What Alibaba Cloud Service Mesh injects differently from upstream Istio.

Taken from ASM's documentation (the seeds): istio-init has resources of its own and a
`DNS_AGENT` env; the proxy carries `DNS_AGENT` and `TERMINATION_DRAIN_DURATION_SECONDS`;
ASM's own ports (15081, 9191) are always excluded from inbound capture.
"""

from __future__ import annotations

from typing import Any

from meshrender.inject.context import InjectConfig
from meshrender.inject.gotext import lookup, truthy
from meshrender.inject.template import TemplateData
from meshrender.kube import durations
from meshrender.kube.quantity import canonical_resources

ASM_EXCLUDED_INBOUND = "15090,15021,15081,9191"
INIT_NAMES = ("istio-init", "istio-validation")


def _find(containers: list, name: str) -> dict | None:
    return next((c for c in containers if c.get("name") == name), None)


def _drain_seconds(proxy: dict[str, Any]) -> str:
    value = proxy.get("terminationDrainDuration") or "5s"
    try:
        seconds = durations.parse(value)
    except durations.DurationError:
        return "5"
    return str(int(seconds)) if seconds == int(seconds) else str(float(seconds))


def init_resources(d: TemplateData, cfg: InjectConfig) -> dict | None:
    res = cfg.extras.get("initResources")
    if res is None:
        res = lookup(cfg.values, "global.proxy_init.resources")
    return canonical_resources(res) if truthy(res) else None  # type: ignore[return-value]


def adjust(pod: dict, d: TemplateData, cfg: InjectConfig) -> None:
    spec = pod["spec"]
    for c in spec.get("initContainers") or []:
        if c.get("name") in INIT_NAMES:
            _adjust_init(c, d, cfg)
    proxy = _find(spec.get("initContainers") or [], "istio-proxy") or _find(
        spec.get("containers") or [], "istio-proxy")
    if proxy is not None:
        env = proxy.setdefault("env", [])
        # (In a static render, pod-dependent env items are slots, never TRUST_DOMAIN.)
        at = next((i + 1 for i, e in enumerate(env) if isinstance(e, dict) and e.get("name") == "TRUST_DOMAIN"),
                  len(env))
        env[at:at] = [
            {"name": "DNS_AGENT"},
            {"name": "TERMINATION_DRAIN_DURATION_SECONDS", "value": _drain_seconds(d.proxy)},
        ]


def _adjust_init(c: dict, d: TemplateData, cfg: InjectConfig) -> None:
    args = c.get("args") or []
    for i, a in enumerate(args[:-1]):
        if a == "-d":
            configured = d.anno(
                "traffic.sidecar.istio.io/excludeInboundPorts", d.value("global.proxy.excludeInboundPorts"))
            configured = ",".join(p.strip() for p in configured.split(",") if p.strip())
            args[i + 1] = ASM_EXCLUDED_INBOUND + ("," + configured if configured else "")
            break
    c["env"] = [{"name": "DNS_AGENT"}, *(c.get("env") or [])]
    res = init_resources(d, cfg)
    if res is not None:
        c["resources"] = res
    else:
        c.pop("resources", None)
