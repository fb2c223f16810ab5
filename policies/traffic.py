"""Traffic capture settings that contradict each other or take the proxy out of the path."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from functools import cache
from typing import Any

from meshrender.lint.finding import Hit
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import catalog, workload_rule
from meshrender.settings.provenance import Step


def _setting(view: WorkloadView, name: str) -> Step | None:
    """What set a traffic setting for this pod (the annotation, else the settings), as
    written: the injector's own additions (ASM's excluded ports) are not the user's."""
    s = view.setting(f"traffic.{name}")
    return s.winner if s is not None and s.winner.value is not None else None


def _items(setting: Step | None) -> tuple[str, ...]:
    if setting is None:
        return ()
    value: Any = setting.value
    return _split(",".join(map(str, value)) if isinstance(value, list) else str(value))


@cache
def _split(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _ports(setting: Step | None) -> list[int]:
    return [int(p) for p in _items(setting) if p.isdigit()]


def _networks(setting: Step | None) -> list[Any]:
    return [n for n in map(_network, _items(setting)) if n is not None]


@cache
def _network(text: str) -> Any:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


@cache
def _all_traffic() -> frozenset[Any]:
    return frozenset(ipaddress.ip_network(n) for n in catalog("proxy-ports.yaml")["all_traffic"])


@cache
def _reserved(flavor: str) -> dict[int, str]:
    return {p["port"]: p["use"] for p in catalog("proxy-ports.yaml")["ports"] if p.get("flavor") in (None, flavor)}


def _where(s: Step) -> str:
    return s.origin.name


def _blame(a: Step, b: Step) -> Any:
    """Point at the setting the user wrote (the later, more specific one when both are)."""
    if b.origin.user_set or not a.origin.user_set:
        return b.origin.place or a.origin.place
    return a.origin.place


def _port_overlaps(view: WorkloadView) -> Iterator[Hit]:
    for direction, inc_key, exc_key, outcome in (
        ("inbound", ("includeInboundPorts",), ("excludeInboundPorts",),
         "with an explicit include list the exclusion is ignored and the port is still captured"),
        ("outbound", ("includeOutboundPorts",), ("excludeOutboundPorts",),
         "the exclusion wins and the inclusion does nothing"),
    ):
        inc, exc = _setting(view, *inc_key), _setting(view, *exc_key)
        if inc is None or exc is None or str(inc.value).strip() == "*":
            continue
        both = sorted(set(_ports(inc)) & set(_ports(exc)))
        if both:
            ports = ", ".join(map(str, both))
            yield Hit(f"{direction} port{'s' if len(both) > 1 else ''} {ports} both included ({inc_key[0]}, "
                      f"{_where(inc)}) and excluded ({exc_key[0]}, {_where(exc)}): {outcome}; keep "
                      f"{'them' if len(both) > 1 else 'it'} in one list", _blame(inc, exc))


def _range_overlaps(view: WorkloadView) -> Iterator[Hit]:
    inc = _setting(view, "includeOutboundIPRanges")
    exc = _setting(view, "excludeOutboundIPRanges")
    if inc is None or exc is None or str(inc.value).strip() == "*":
        return
    excluded = _networks(exc)
    for net in _networks(inc):
        cover = next((e for e in excluded if e.version == net.version and net.subnet_of(e)), None)
        if cover is not None:
            yield Hit(f"{net} is both included (includeOutboundIPRanges, {_where(inc)}) and excluded "
                      f"(excludeOutboundIPRanges {cover}, {_where(exc)}): the exclusion wins and the inclusion "
                      "does nothing; keep the range in one list", _blame(inc, exc))


def _capture_off(view: WorkloadView) -> Iterator[Hit]:
    exc = _setting(view, "excludeOutboundIPRanges")
    inc = _setting(view, "includeOutboundIPRanges")
    everything = _all_traffic()
    if exc is not None and exc.origin.user_set and (inc is None or str(inc.value).strip() != ""):
        wide = [n for n in _networks(exc) if n in everything]
        if wide:
            yield Hit(f"excludeOutboundIPRanges {wide[0]} ({_where(exc)}) takes all outbound traffic away from the "
                      "proxy, so mTLS, routing and telemetry do not apply to it; exclude only the ranges that "
                      "must bypass the mesh (or set includeOutboundIPRanges: \"\" if that is the intent)",
                      exc.origin.place)
    inc_in = _setting(view, "includeInboundPorts")
    exc_in = _setting(view, "excludeInboundPorts")
    if exc_in is None or not exc_in.origin.user_set or (inc_in is not None and str(inc_in.value).strip() != "*"):
        return
    declared = {p.get("containerPort") for _, c in view.containers() if c.get("name") != "istio-proxy"
                for p in c.get("ports") or [] if isinstance(p, dict)}
    declared.discard(None)
    if declared and declared <= set(_ports(exc_in)):
        ports = ", ".join(str(p) for p in sorted(declared))
        yield Hit(f"excludeInboundPorts ({_where(exc_in)}) excludes every port the app serves ({ports}), so no "
                  "inbound traffic reaches the proxy and mTLS and authorization do not apply; exclude only the "
                  "ports that must bypass the mesh", exc_in.origin.place)


def _proxy_port_clashes(view: WorkloadView) -> Iterator[Hit]:
    flavor = view.model.cluster.flavor if view.model.cluster else "asm"
    reserved = _reserved(flavor)
    for i, c in view.containers():
        if c.get("name") == "istio-proxy":
            continue
        for j, port in enumerate(c.get("ports") or []):
            number = port.get("containerPort") if isinstance(port, dict) else None
            if number in reserved:
                yield Hit(f"container {c.get('name')} serves port {number}, which the proxy uses itself "
                          f"({reserved[number]}): one of them cannot bind it and the mesh skips the port; "
                          "move the app to another port", view.at_spec("containers", i, "ports", j, "containerPort"))


@workload_rule(
    "conflicting-traffic-settings", "warning",
    title="Traffic capture settings contradict each other or take the proxy out of the path",
    rationale="""Capture settings that contradict each other do something other than what either says:
    a port or range that is both included and excluded, exclusions that take all traffic away from
    the proxy, or app ports that collide with the proxy's own ports (15000-15090).""",
    fix="""Keep each port or range in one list, exclude only what must bypass the mesh, and keep app
    ports off the proxy's ports.""",
)
def conflicting_traffic(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected:
        return
    yield from view.per_configuration("traffic-overlaps", lambda: [*_port_overlaps(view), *_range_overlaps(view)])
    yield from _capture_off(view)
    yield from _proxy_port_clashes(view)
