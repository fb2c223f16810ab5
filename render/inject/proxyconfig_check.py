"""Istio's check of a ProxyConfig (`ValidateMeshConfigProxyConfig`), for the
`proxy.istio.io/config` annotation.

Istio lays the annotation over its built-in proxy defaults and refuses the pod when the
result is not a usable proxy configuration: a drain duration that is not whole seconds,
an address that is not `host:port`, a port out of range, an unknown control-plane
authentication policy, or a field of the wrong type. Unknown fields are accepted (Istio
reads the annotation leniently) and dropped from PROXY_CONFIG.
"""

from __future__ import annotations

import ipaddress
import re
from fractions import Fraction
from typing import Any

from meshrender.kube import durations

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DURATIONS = ("drainDuration", "terminationDrainDuration", "parentShutdownDuration",
              "discoveryRefreshDelay", "fileFlushInterval")
_INTS = ("proxyAdminPort", "statusPort", "statNameLength", "fileFlushMinSizeKb")
_STRINGS = ("configPath", "binaryPath", "serviceCluster", "discoveryAddress", "statsdUdpAddress",
            "envoyMetricsServiceAddress", "availabilityZone", "customConfigFile",
            "proxyBootstrapTemplatePath", "zipkinAddress", "tracingServiceName")
_ENUMS = {
    "interceptionMode": ("REDIRECT", "TPROXY", "NONE"),
    "controlPlaneAuthPolicy": ("NONE", "MUTUAL_TLS"),
}


def _unwrap(value: Any) -> Any:
    return value["value"] if isinstance(value, dict) and set(value) == {"value"} else value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _port(value: int, what: str) -> str | None:
    if not 1 <= value <= 65535:
        return f"invalid {what}: port number {value} must be in the range 1..65535"
    return None


def _fqdn(host: str) -> bool:
    if not host or len(host) > 255:
        return False
    parts = host.split(".")
    if parts[-1].isdigit():
        return False
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":
            return True
        if len(label) > 63 or not _DNS1123_LABEL.match(label):
            return False
    return True


def address_error(addr: str) -> str | None:
    """Istio's ValidateProxyAddress: `host:port` with a DNS name or an IP."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        return f"unable to split {addr!r}: missing port in address"
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        return f"unable to split {addr!r}: too many colons in address"
    if not port.lstrip("-").isdigit():
        return f"port ({port}) is not a number"
    if not 1 <= int(port) <= 65535:
        return f"port number {int(port)} must be in the range 1..65535"
    if _fqdn(host):
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"{host!r} is not a valid hostname or an IP address"
    return None


def _type_errors(pc: dict[str, Any]) -> list[str]:
    errors = []
    for key in _STRINGS:
        if key in pc and pc[key] is not None and not isinstance(pc[key], str):
            errors.append(f"{key}: must be a string")
    for key in _INTS:
        if key in pc and pc[key] is not None and not _is_int(pc[key]):
            errors.append(f"{key}: must be an integer")
    concurrency = _unwrap(pc.get("concurrency"))
    if concurrency is not None and not (_is_int(concurrency) and concurrency >= 0):
        errors.append("concurrency: must be a non-negative integer")
    hold = _unwrap(pc.get("holdApplicationUntilProxyStarts"))
    if hold is not None and not isinstance(hold, bool):
        errors.append("holdApplicationUntilProxyStarts: must be true or false")
    for key, allowed in _ENUMS.items():
        if key in pc and pc[key] is not None and pc[key] not in allowed:
            errors.append(f"{key}: {pc[key]!r} is not one of {', '.join(allowed)}")
    for key in ("proxyMetadata", "proxyHeaders", "tracing", "readinessProbe", "image", "proxyStatsMatcher",
                "envoyMetricsService", "envoyAccessLogService", "runtimeValues", "extraStatTags"):
        expected = list if key == "extraStatTags" else dict
        if key in pc and pc[key] is not None and not isinstance(pc[key], expected):
            errors.append(f"{key}: must be a {'list' if expected is list else 'map'}")
    for key in _DURATIONS:
        if key in pc and pc[key] is not None:
            try:
                durations.parse(pc[key])
            except durations.DurationError as e:
                errors.append(f"{key}: {e}")
    return errors


def _tracing_errors(tracing: dict[str, Any]) -> list[str]:
    errors = []
    for name in ("zipkin", "datadog"):
        tracer = tracing.get(name)
        if isinstance(tracer, dict):
            addr = str(tracer.get("address") or "").replace("$(HOST_IP)", "127.0.0.1", 1)
            err = address_error(addr)
            if err:
                errors.append(f"invalid {name} config: {err}")
    lightstep = tracing.get("lightstep")
    if isinstance(lightstep, dict):
        if not lightstep.get("address"):
            errors.append("invalid lightstep config: address is required")
        else:
            err = address_error(str(lightstep["address"]))
            if err:
                errors.append(f"invalid lightstep config: invalid lightstep address: {err}")
        if not lightstep.get("accessToken"):
            errors.append("invalid lightstep config: access token is required")
    return errors


def errors(pc: dict[str, Any]) -> list[str]:
    """What Istio would object to in `pc`, a full ProxyConfig (defaults included)."""
    found = _type_errors(pc)
    if found:
        return found
    if not pc.get("configPath"):
        found.append("config path must be set")
    if not pc.get("binaryPath"):
        found.append("binary path must be set")
    if "tracingServiceName" not in pc and not pc.get("serviceCluster"):
        found.append("service cluster must be specified")
    drain = durations.parse(pc.get("drainDuration") or "0s")
    if drain < Fraction(1, 1000):
        found.append("invalid drain duration: duration must be greater than 1ms")
    elif drain % 1 != 0:
        found.append("drain time only supports durations to seconds precision")
    discovery = pc.get("discoveryAddress")
    if not discovery:
        found.append("discovery address must be set to the proxy discovery service")
    else:
        err = address_error(discovery)
        if err:
            found.append(f"invalid discovery address: {err}")
    if isinstance(pc.get("tracing"), dict):
        found += _tracing_errors(pc["tracing"])
    for key in ("statsdUdpAddress", "envoyMetricsServiceAddress"):
        if pc.get(key):
            err = address_error(pc[key])
            if err:
                found.append(f"invalid {key} {pc[key]!r}: {err}")
    for key in ("envoyMetricsService", "envoyAccessLogService"):
        addr = (pc.get(key) or {}).get("address")
        if addr:
            err = address_error(str(addr))
            if err:
                found.append(f"invalid {key} address {addr!r}: {err}")
    for key, what in (("proxyAdminPort", "proxy admin port"), ("statusPort", "status port")):
        err = _port(pc.get(key, 0), what)
        if err:
            found.append(err)
    return found
