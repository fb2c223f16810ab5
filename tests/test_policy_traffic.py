"""Traffic capture settings that contradict each other (policies/traffic.py)."""

from __future__ import annotations

from tests.lintkit import deployment, settings

# -- conflicting-traffic-settings -------------------------------------------------------

def test_port_both_included_and_excluded_by_annotations(lint):
    anns = ('        traffic.sidecar.istio.io/includeInboundPorts: "8080,9090"\n'
            '        traffic.sidecar.istio.io/excludeInboundPorts: "9090"')
    r = lint({"app.yaml": deployment(annotations=anns)})
    assert r.where("conflicting-traffic-settings") == [r.at("app.yaml", "traffic.sidecar.istio.io/excludeInboundPorts")]
    assert "9090" in r.of("conflicting-traffic-settings")[0]["message"]


def test_included_range_inside_an_excluded_one_across_settings_levels(lint):
    r = lint({"global.yaml": settings("  traffic:\n    includeOutboundIPRanges: 10.1.0.0/16\n"),
              "shop.yaml": settings("  traffic:\n    excludeOutboundIPRanges: 10.0.0.0/8\n", "shop", "shop"),
              "app.yaml": deployment()})
    assert r.where("conflicting-traffic-settings") == [r.at("shop.yaml", "excludeOutboundIPRanges")]


def test_excluding_everything_and_app_ports_on_proxy_ports(lint):
    anns = '        traffic.sidecar.istio.io/excludeOutboundIPRanges: "0.0.0.0/0"'
    body = """      containers:
        - name: app
          image: registry.example.com/app:1.0
          ports:
            - containerPort: 8080
            - containerPort: 15021"""
    r = lint({"app.yaml": deployment(annotations=anns, spec=body)})
    assert r.where("conflicting-traffic-settings") == sorted([
        r.at("app.yaml", "traffic.sidecar.istio.io/excludeOutboundIPRanges"), r.at("app.yaml", "containerPort: 15021")])


def test_excluding_every_inbound_port_the_app_serves(lint):
    r = lint({"app.yaml": deployment(annotations='        traffic.sidecar.istio.io/excludeInboundPorts: "8080"')})
    assert r.where("conflicting-traffic-settings") == [r.at("app.yaml", "traffic.sidecar.istio.io/excludeInboundPorts")]


def test_consistent_traffic_settings_are_fine(lint):
    anns = ('        traffic.sidecar.istio.io/includeInboundPorts: "*"\n'
            '        traffic.sidecar.istio.io/excludeInboundPorts: "9090"\n'
            '        traffic.sidecar.istio.io/includeOutboundIPRanges: "10.0.0.0/8"\n'
            '        traffic.sidecar.istio.io/excludeOutboundIPRanges: "192.168.0.0/16"')
    r = lint({"app.yaml": deployment(annotations=anns)})
    assert r.of("conflicting-traffic-settings") == []
