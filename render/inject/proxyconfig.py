"""Istio's ProxyConfig: defaults, merging of overrides, and the `PROXY_CONFIG` env value.

The proxy reads its settings from the `PROXY_CONFIG` env var, which holds only what
differs from Istio's built-in defaults (`cleanProxyConfig` in Istio). Fields that users
set, by mesh config, ProxyConfig resources, our settings or the `proxy.istio.io/config`
annotation, are merged here the way Istio merges them.
"""

from __future__ import annotations

import json
from typing import Any

from meshrender.errors import InputError
from meshrender.kube import durations

# mesh.DefaultProxyConfig(): the fields Istio drops from PROXY_CONFIG when unchanged.
DEFAULTS: dict[str, Any] = {
    "configPath": "./etc/istio/proxy",
    "binaryPath": "/usr/local/bin/envoy",
    "serviceCluster": "istio-proxy",
    "drainDuration": "45s",
    "terminationDrainDuration": "5s",
    "parentShutdownDuration": "60s",
    "discoveryAddress": "istiod.istio-system.svc:15012",
    "controlPlaneAuthPolicy": "MUTUAL_TLS",
    "tracing": {"zipkin": {"address": "zipkin.istio-system:9411"}},
    "proxyAdminPort": 15000,
    "statNameLength": 189,
    "statusPort": 15020,
    "concurrency": 2,
}
_DURATIONS = {"drainDuration", "terminationDrainDuration", "parentShutdownDuration",
              "discoveryRefreshDelay"}
# Proto field order, so PROXY_CONFIG reads like Istio's.
_ORDER = [
    "configPath", "binaryPath", "serviceCluster", "drainDuration", "parentShutdownDuration",
    "discoveryAddress", "discoveryRefreshDelay", "zipkinAddress", "statsdUdpAddress",
    "envoyMetricsServiceAddress", "proxyAdminPort", "availabilityZone",
    "controlPlaneAuthPolicy", "customConfigFile", "statNameLength", "concurrency",
    "proxyBootstrapTemplatePath", "interceptionMode", "tracing", "sds",
    "envoyAccessLogService", "envoyMetricsService", "proxyMetadata", "runtimeValues",
    "statusPort", "extraStatTags", "gatewayTopology", "terminationDrainDuration", "meshId",
    "readinessProbe", "proxyStatsMatcher", "holdApplicationUntilProxyStarts",
    "caCertificatesPem", "image", "privateKeyProvider", "proxyHeaders", "fileFlushInterval",
    "fileFlushMinSizeKb", "tracingServiceName",
]
_RANK = {k: i for i, k in enumerate(_ORDER)}
_MAP_FIELDS = ("proxyMetadata", "runtimeValues")


def _unwrap(value: Any) -> Any:
    """Protobuf wrapper types may be written as `{value: x}`; Istio reads them as `x`."""
    if isinstance(value, dict) and set(value) == {"value"}:
        return value["value"]
    return value


def normalize(pc: dict[str, Any], where: str = "proxy config") -> dict[str, Any]:
    """Canonical spellings: proto durations, unwrapped booleans and numbers."""
    out: dict[str, Any] = {}
    for key, value in pc.items():
        if value is None:
            continue
        if key in _DURATIONS:
            try:
                value = durations.normalize(value)
            except durations.DurationError as e:
                raise InputError(f"{where}: {key}: {e}") from None
        elif key in ("holdApplicationUntilProxyStarts", "concurrency"):
            value = _unwrap(value)
        elif key == "proxyMetadata" and isinstance(value, dict):
            value = {str(k): "" if v is None else _go_string(v) for k, v in value.items()}
        out[key] = value
    return out


def _go_string(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` over `base` as Istio's MergeProxyConfig does: fields replace, except
    `proxyMetadata` and `proxyHeaders`, whose entries are kept unless overridden."""
    out = dict(base)
    for key, value in override.items():
        if key in ("proxyMetadata", "proxyHeaders") and isinstance(value, dict):
            merged = dict(base.get(key) or {})
            merged.update(value)
            out[key] = merged
        else:
            out[key] = value
    return out


def effective(overrides: dict[str, Any]) -> dict[str, Any]:
    """The full ProxyConfig: Istio's defaults with `overrides` on top."""
    return merge(DEFAULTS, overrides)


def to_json(pc: dict[str, Any]) -> str:
    """The `PROXY_CONFIG` value: fields that differ from the defaults, as proto JSON."""
    cleaned = {}
    for key, value in pc.items():
        if key not in _RANK:
            continue  # not a ProxyConfig field: Istio reads it leniently and drops it
        if key in DEFAULTS and value == DEFAULTS[key]:
            continue
        if key == "proxyMetadata" and not value:
            continue
        if key in _MAP_FIELDS and isinstance(value, dict):
            value = dict(sorted(value.items()))  # proto JSON prints map entries by key
        cleaned[key] = value
    ordered = dict(sorted(cleaned.items(), key=lambda kv: _RANK[kv[0]]))
    return json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)


def interception_mode(pc: dict[str, Any]) -> str:
    mode = pc.get("interceptionMode") or "REDIRECT"
    return str(mode)


def hold_application(pc: dict[str, Any]) -> bool:
    return bool(_unwrap(pc.get("holdApplicationUntilProxyStarts")))


def status_port(pc: dict[str, Any]) -> int:
    try:
        return int(pc.get("statusPort") or DEFAULTS["statusPort"])
    except (TypeError, ValueError):
        return int(DEFAULTS["statusPort"])
