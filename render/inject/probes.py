"""Rewriting application probes and lifecycle hooks to go through the Istio agent.

With mTLS, the kubelet cannot reach the app's HTTP, TCP or gRPC probe ports directly, so
Istio points each probe at the agent's status port (`/app-health/<container>/readyz`) and
hands the original probe to the agent in `ISTIO_KUBE_APP_PROBERS`. Mirrors Istio's
pkg/kube/inject/app_probe.go.
"""

from __future__ import annotations

import json
from typing import Any

from meshrender.yamlio import plain

PROXY = "istio-proxy"
PROBERS_ENV = "ISTIO_KUBE_APP_PROBERS"


def should_rewrite(annotations: dict[str, str], default: bool) -> bool:
    value = annotations.get("sidecar.istio.io/rewriteAppHTTPProbers")
    if value is not None:
        parsed = parse_go_bool(value)
        if parsed is not None:
            return parsed
    return default


def parse_go_bool(value: str) -> bool | None:
    """strconv.ParseBool."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    return None


def _urls(name: str) -> dict[str, str]:
    return {
        "readinessProbe": f"/app-health/{name}/readyz",
        "livenessProbe": f"/app-health/{name}/livez",
        "startupProbe": f"/app-health/{name}/startupz",
        "preStop": f"/app-lifecycle/{name}/prestopz",
        "postStart": f"/app-lifecycle/{name}/poststartz",
    }


def _split_ports(s: str) -> list[str]:
    return s.split(",")


def _port_as_int(s: str) -> int:
    try:
        return int(s.strip())
    except ValueError:
        return 0


def port_filter(annotations: dict[str, str]) -> dict[int, bool]:
    """Istio's getPortInclusionOrExclusionList: which app ports the agent may probe."""
    include = annotations.get("traffic.sidecar.istio.io/includeInboundPorts", "")
    exclude = annotations.get("traffic.sidecar.istio.io/excludeInboundPorts", "")
    if include and include != "*":
        return {p: True for p in map(_port_as_int, _split_ports(include)) if p}
    out: dict[int, bool] = {}
    if exclude:
        for p in map(_port_as_int, _split_ports(exclude)):
            if p:
                out[p] = False
    return out


def _included(port: Any, ports: dict[int, bool]) -> bool:
    if not isinstance(port, int):
        port = 0
    if port in ports:
        return ports[port]
    return not any(ports.values())


def _all_containers(spec: dict) -> list[dict]:
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def _named_port(spec: dict, name: str, container: str) -> int:
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if c.get("name") == container:
                for p in c.get("ports") or []:
                    if p.get("name") == name:
                        return int(p.get("containerPort") or 0)
                break
    return 0


def _resolve(prober: dict | None, spec: dict, ports: dict[int, bool], container: str,
             status_port: int | None = None) -> dict | None:
    """The prober as the agent needs it, named ports resolved; None if not ours to take
    (Istio's DumpAppProbers: an httpGet or tcpSocket action whose port is a number equal
    to the agent's status port is already rewritten, and not handed over)."""
    if prober is None:
        return None
    if "grpc" in prober:
        return prober if _included(prober["grpc"].get("port"), ports) else None
    action = prober.get("httpGet") or prober.get("tcpSocket")
    if action is None:
        return None
    port = action.get("port")
    if isinstance(port, str):
        value = _named_port(spec, port, container)
        if not value:
            try:
                value = int(port)
            except ValueError:
                return None
        if not _included(value, ports):
            return None
        action["port"] = value
    elif isinstance(port, int) and (port == status_port or not _included(port, ports)):
        return None
    return prober


def _probe_to_prober(probe: Any) -> dict | None:
    if not isinstance(probe, dict):
        return None
    for kind in ("httpGet", "tcpSocket", "grpc"):
        if isinstance(probe.get(kind), dict):
            # Shared, not copied: resolving a named port here resolves it in the pod too,
            # as Istio's pointer-sharing does.
            out: dict[str, Any] = {kind: probe[kind]}
            if probe.get("timeoutSeconds"):
                out["timeoutSeconds"] = probe["timeoutSeconds"]
            return out
    return None


def _handler_to_prober(handler: Any) -> dict | None:
    if not isinstance(handler, dict):
        return None
    for kind in ("httpGet", "tcpSocket"):
        if isinstance(handler.get(kind), dict):
            return {kind: handler[kind]}
    return None


def dump_app_probers(spec: dict, ports: dict[int, bool], status_port: int | None = None,
                     lifecycle: bool = True) -> str:
    """The ISTIO_KUBE_APP_PROBERS value, or "" when there is nothing to hand over.
    `lifecycle`: preStop / postStart hooks too (Istio 1.25, lifecycle-hook-rewrite)."""
    out: dict[str, Any] = {}
    for c in _all_containers(spec):
        name = c.get("name")
        if name == PROXY:
            continue
        urls = _urls(name)
        for key in ("readinessProbe", "livenessProbe", "startupProbe"):
            p = _resolve(_probe_to_prober(c.get(key)), spec, ports, name, status_port)
            if p is not None:
                out[urls[key]] = p
        hooks = c.get("lifecycle") if lifecycle else None
        if isinstance(hooks, dict):
            for key in ("preStop", "postStart"):
                p = _resolve(_handler_to_prober(hooks.get(key)), spec, ports, name, status_port)
                if p is not None:
                    out[urls[key]] = p
    if not out:
        return ""
    return _go_json(out)


# Field order of the Go structs, so the JSON reads as Istio writes it.
_FIELD_ORDER = {
    "prober": ("httpGet", "tcpSocket", "grpc", "timeoutSeconds"),
    "httpGet": ("path", "port", "host", "scheme", "httpHeaders"),
    "tcpSocket": ("port", "host"),
    "grpc": ("port", "service"),
}


def _ordered(d: dict, kind: str) -> dict:
    order = _FIELD_ORDER[kind]
    out = {k: d[k] for k in order if k in d}
    out.update((k, v) for k, v in d.items() if k not in out)
    for k in ("httpGet", "tcpSocket", "grpc"):
        if kind == "prober" and isinstance(out.get(k), dict):
            out[k] = _ordered(out[k], k)
    return out


def _go_json(probers: dict) -> str:
    """JSON like Go's encoding/json: map keys sorted, struct fields in declaration order."""
    obj = {k: _ordered(v, "prober") if isinstance(v, dict) else v for k, v in sorted(probers.items())}
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _port_of(action_holder: dict) -> int:
    for kind in ("httpGet", "tcpSocket"):
        if isinstance(action_holder.get(kind), dict):
            p = action_holder[kind].get("port")
            return p if isinstance(p, int) else 0
    if isinstance(action_holder.get("grpc"), dict):
        p = action_holder["grpc"].get("port")
        return p if isinstance(p, int) else 0
    return 0


def _rewrite_action(holder: dict, url: str, status_port: int, allow_grpc: bool) -> dict | None:
    if isinstance(holder.get("httpGet"), dict):
        out = plain.deepcopy(holder)
        action = out["httpGet"]
        action["port"] = status_port
        action["path"] = url
        if action.get("scheme") == "HTTPS":
            action["scheme"] = "HTTP"
        return out
    kinds = ("tcpSocket", "grpc") if allow_grpc else ("tcpSocket",)
    for kind in kinds:
        if isinstance(holder.get(kind), dict):
            out = plain.deepcopy(holder)
            del out[kind]
            out["httpGet"] = {"path": url, "port": status_port}
            return out
    return None


def rewrite_container(c: dict, status_port: int, ports: dict[int, bool], lifecycle: bool = True) -> None:
    urls = _urls(c.get("name"))
    for key in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = c.get(key)
        if isinstance(probe, dict) and (not ports or _included(_port_of(probe), ports)):
            new = _rewrite_action(probe, urls[key], status_port, allow_grpc=True)
            if new is not None:
                c[key] = new
    hooks = c.get("lifecycle") if lifecycle else None
    if isinstance(hooks, dict):
        for key in ("preStop", "postStart"):
            handler = hooks.get(key)
            if isinstance(handler, dict) and (not ports or _included(_port_of(handler), ports)):
                new = _rewrite_action(handler, urls[key], status_port, allow_grpc=False)
                if new is not None:
                    hooks[key] = new


def merge_probers(existing: str, new: str) -> str:
    """Re-injection keeps what the previous injection recorded for each probe URL."""
    try:
        old = json.loads(existing)
        fresh = json.loads(new)
    except ValueError:
        return existing
    if not isinstance(old, dict) or not isinstance(fresh, dict):
        return existing
    fresh.update(old)
    return _go_json(fresh)


def _restored(current: Any, url: str, probers: dict[str, Any], kinds: tuple[str, ...]) -> dict | None:
    """`current` as it was before the agent took it over, if it is the rewrite of a
    prober recorded for `url`; else None."""
    if not isinstance(current, dict):
        return None
    action = current.get("httpGet")
    prober = probers.get(url)
    if not isinstance(action, dict) or action.get("path") != url or not isinstance(prober, dict):
        return None
    for kind in kinds:
        if isinstance(prober.get(kind), dict):
            out = {k: v for k, v in current.items() if k != "httpGet"}
            out[kind] = plain.deepcopy(prober[kind])
            return out
    return None


def restore(spec: dict, recorded: str | None) -> None:
    """Undo the rewrite of a previous injection: each probe and lifecycle hook pointed at
    the agent gets back the action recorded for its URL in ISTIO_KUBE_APP_PROBERS
    (`recorded`): httpGet with its own path, port, scheme, host and headers, tcpSocket,
    or gRPC. Named ports come back as the numbers they were resolved to. Probes the agent
    does not hold are left as they are."""
    if not recorded:
        return
    try:
        probers = json.loads(recorded)
    except ValueError:
        return
    if not isinstance(probers, dict):
        return
    for key in ("initContainers", "containers"):
        for c in spec.get(key) or []:
            if not isinstance(c, dict) or c.get("name") == PROXY:
                continue
            urls = _urls(c.get("name"))
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                got = _restored(c.get(probe), urls[probe], probers, ("httpGet", "tcpSocket", "grpc"))
                if got is not None:
                    c[probe] = got
            lifecycle = c.get("lifecycle")
            if isinstance(lifecycle, dict):
                for hook in ("preStop", "postStart"):
                    got = _restored(lifecycle.get(hook), urls[hook], probers, ("httpGet", "tcpSocket"))
                    if got is not None:
                        c["lifecycle"] = lifecycle = {**lifecycle, hook: got}


def apply(pod: dict, sidecar: dict, status_port: int, previously_injected: bool,
          lifecycle: bool = True, append_missing: bool = True) -> None:
    """Hand app probes to the agent: add ISTIO_KUBE_APP_PROBERS, repoint the probes.

    By release (render/data/istio-releases.yaml): `lifecycle` hands over preStop /
    postStart hooks too (lifecycle-hook-rewrite, 1.25); `append_missing` adds the env on
    re-injection when the proxy has none (app-probers-env-on-reinjection, 1.27)."""
    spec = pod["spec"]
    annotations = pod["metadata"].get("annotations") or {}
    ports = port_filter(annotations)
    probers = dump_app_probers(spec, ports, status_port, lifecycle)
    if probers:
        env = sidecar.setdefault("env", [])
        if previously_injected:
            for i, e in enumerate(env):
                if e.get("name") == PROBERS_ENV:
                    env[i] = {"name": PROBERS_ENV, "value": merge_probers(e.get("value", ""), probers)}
                    break
            else:
                if append_missing:
                    env.append({"name": PROBERS_ENV, "value": probers})
        else:
            env.append({"name": PROBERS_ENV, "value": probers})
    status = status_port
    if "status.sidecar.istio.io/port" in annotations:
        try:
            status = int(annotations["status.sidecar.istio.io/port"])
        except ValueError:
            status = 0
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if c.get("name") != PROXY:
                rewrite_container(c, status, ports, lifecycle)
