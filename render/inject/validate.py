"""Validation of the mesh annotations Istio checks before it injects (inject/validate.go).

A pod with an invalid value here is rejected by the injector in the cluster; rendering
must fail the same way, naming the annotation, so the problem shows up at commit time.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from typing import Any

from meshrender.inject import proxyconfig, proxyconfig_check
from meshrender.inject.probes import parse_go_bool
from meshrender.inject.release import Release, newest
from meshrender.istio import ProxyConfigError, read_proxy_config
from meshrender.kube.quantity import QuantityError
from meshrender.kube.quantity import parse as parse_quantity

_DIGITS = re.compile(r"[0-9]+")


class AnnotationError(ValueError):
    """An annotation value Istio would refuse."""

    def __init__(self, name: str, value: str, reason: str):
        super().__init__(f"invalid value {value!r} for annotation {name!r}: {reason}")
        self.name = name
        self.value = value
        self.reason = reason


def _port(s: str) -> int:
    t = s.strip()
    if not _DIGITS.fullmatch(t) or int(t) > 65535:
        raise ValueError(f"failed parsing port {s!r}")
    return int(t)


def _cidrs(s: str) -> None:
    if not s:
        return
    for cidr in s.split(","):
        addr, slash, bits = cidr.partition("/")
        ok = "%" not in addr and bool(slash) and bool(_DIGITS.fullmatch(bits))
        ok = ok and (bits == "0" or not bits.startswith("0"))
        if ok:
            try:
                ip = ipaddress.ip_address(addr)
                ok = int(bits) <= ip.max_prefixlen
            except ValueError:
                ok = False
        if not ok:
            raise ValueError(f"failed parsing cidr {cidr!r}")


def _named(what: str, check: Callable[[str], Any], unless: str | None = None) -> Callable[[str], None]:
    """`check`, its complaint prefixed as Istio words it (`includeIPRanges invalid: ...`);
    `unless` is a value Istio accepts before checking (`*`: everything)."""

    def run(v: str) -> None:
        if v == unless:
            return
        try:
            check(v)
        except ValueError as e:
            raise ValueError(f"{what} invalid: {e}") from None

    return run


def _ports(v: str) -> None:
    for p in v.strip().split(",") if v.strip() else ():
        _port(p)


def _interception_mode(v: str) -> None:
    if v not in ("REDIRECT", "TPROXY", "NONE"):
        raise ValueError(f"interceptionMode invalid, use REDIRECT,TPROXY,NONE: {v}")


def _uint32(v: str) -> None:
    if not _DIGITS.fullmatch(v) or int(v) > 2**32 - 1:
        raise ValueError(f"{v!r} is not an unsigned 32-bit integer")


def _bool(v: str) -> None:
    if parse_go_bool(v) is None:
        raise ValueError(f"{v!r} is not a boolean (true or false)")


def _quantity(v: str) -> None:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in v):
        raise ValueError("value contains control characters")
    try:
        parse_quantity(v)
    except QuantityError as e:
        raise ValueError(str(e)) from None


def _proxy_config(v: str) -> None:
    """Istio's validateProxyConfig: the annotation over the built-in proxy defaults."""
    try:
        override = read_proxy_config(v)
    except ProxyConfigError as e:
        raise ValueError(f"failed to convert to apply proxy config: {e}") from None
    if override is None:
        return
    problems = proxyconfig_check.errors(proxyconfig.merge(proxyconfig.DEFAULTS, override))
    if problems:
        raise ValueError("; ".join(problems))


_INTERFACE = re.compile(r"[a-zA-Z][a-zA-Z0-9_.\-]*")


def _interfaces(v: str) -> None:
    """Istio's ValidateInterfaceNames (1.30): comma-separated Linux interface names."""
    if not v:
        return
    for iface in v.split(","):
        iface = iface.strip()
        if not iface:
            raise ValueError("empty interface name")
        if len(iface) > 15:
            raise ValueError(f"interface name {iface!r} too long (max 15 chars)")
        if not _INTERFACE.fullmatch(iface):
            raise ValueError(f"interface name {iface!r} contains invalid characters")


def _json_volumes(v: str) -> None:
    """userVolume / userVolumeMount: a JSON object of name -> volume (mount) spec.

    Istio does not check these up front, but its template fails on anything else, so the
    pod is refused either way; saying so here names the annotation."""
    try:
        parsed = json.loads(v)
    except ValueError as e:
        raise ValueError(f"not valid JSON: {e}") from None
    if not isinstance(parsed, dict):
        raise ValueError('must be a JSON object of name to spec, e.g. {"certs": {"secret": {"secretName": "x"}}}')
    for name, spec in parsed.items():
        if not isinstance(spec, dict):
            raise ValueError(f"the entry for {name!r} must be a JSON object")


VALIDATORS: dict[str, Callable[[str], None]] = {
    "sidecar.istio.io/interceptionMode": _interception_mode,
    "status.sidecar.istio.io/port": _named("statusPort", _port),
    "readiness.status.sidecar.istio.io/initialDelaySeconds": _uint32,
    "readiness.status.sidecar.istio.io/periodSeconds": _uint32,
    "readiness.status.sidecar.istio.io/failureThreshold": _uint32,
    "traffic.sidecar.istio.io/includeOutboundIPRanges": _named("includeIPRanges", _cidrs, unless="*"),
    "traffic.sidecar.istio.io/excludeOutboundIPRanges": _named("excludeIPRanges", _cidrs),
    "traffic.sidecar.istio.io/includeInboundPorts": _named("includeInboundPorts", _ports, unless="*"),
    "traffic.sidecar.istio.io/excludeInboundPorts": _named("excludeInboundPorts", _ports),
    "traffic.sidecar.istio.io/excludeOutboundPorts": _named("excludeOutboundPorts", _ports),
    "traffic.sidecar.istio.io/includeOutboundPorts": _named("includeOutboundPorts", _ports),
    "prometheus.istio.io/merge-metrics": _bool,
    "sidecar.istio.io/proxyCPU": _quantity,
    "sidecar.istio.io/proxyMemory": _quantity,
    "sidecar.istio.io/proxyCPULimit": _quantity,
    "sidecar.istio.io/proxyMemoryLimit": _quantity,
    "proxy.istio.io/config": _proxy_config,
    "sidecar.istio.io/userVolume": _json_volumes,
    "sidecar.istio.io/userVolumeMount": _json_volumes,
    "traffic.sidecar.istio.io/excludeInterfaces": _interfaces,
    "traffic.sidecar.istio.io/kubevirtInterfaces": _interfaces,
    "istio.io/reroute-virtual-interfaces": _interfaces,
    "sidecar.istio.io/enableCoreDump": _bool,
}

# Validators that only some releases have: annotation -> the release-table change that
# adds (or, for core dumps, removes) the check (render/data/istio-releases.yaml).
# (The proxyCPU / proxyMemory checks of 1.27.6+ are not gated: before them the same
# values failed when the template's resources were read as quantities, so every release
# refuses the pod; meshrender names the annotation in each.)
RELEASE_GATED = {
    "traffic.sidecar.istio.io/excludeInterfaces": "exclude-interfaces-validation",
    "traffic.sidecar.istio.io/kubevirtInterfaces": "exclude-interfaces-validation",
    "istio.io/reroute-virtual-interfaces": "exclude-interfaces-validation",
    "sidecar.istio.io/enableCoreDump": "core-dump-annotation-validation",
}


# (name, value) pairs already found valid: the validators are pure functions, and the
# same annotations come back on pod after pod.
_VALID: set[tuple[str, str]] = set()
_VALID_MAX = 20_000


def check(annotations: dict[str, str], release: Release | None = None) -> list[AnnotationError]:
    """Every invalid mesh annotation, in name order (deterministic messages); with
    `release`, only the checks that release's injector makes (else the newest's)."""
    release = release or newest()
    errors = []
    for name, value in annotations.items():
        fn = VALIDATORS.get(name)
        if fn is None:
            continue
        gate = RELEASE_GATED.get(name)
        if gate is not None and not release.has(gate):
            continue
        if not isinstance(value, str):
            errors.append(AnnotationError(name, str(value), "annotation values must be strings"))
            continue
        if (name, value) in _VALID:
            continue
        try:
            fn(value)
        except ValueError as e:
            errors.append(AnnotationError(name, value, str(e)))
        else:
            if len(_VALID) >= _VALID_MAX:
                _VALID.clear()
            _VALID.add((name, value))
    errors.sort(key=lambda e: e.name)
    return errors
