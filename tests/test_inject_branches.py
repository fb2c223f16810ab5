"""Branches of Istio's post-processing that the conformance corpora do not reach: the
Multus networks annotation (appendMultusNetwork) and the Prometheus merge
(applyPrometheusMerge, applySecurePrometheusAnnotation), each as the release it names
does it."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import container, env_of, run_cli
from tests.test_releases import deployment, web

MULTUS = {"pilot": {"cni": {"enabled": True, "provider": "multus"}}}


def render(tmp_path, version: str, annotations: dict, values: dict | None = None, mesh: dict | None = None):
    argv = ["render", "-", "--flavor", "istio", "--mesh-version", version]
    if values:
        (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
        argv += ["--values", str(tmp_path / "values.yaml")]
    if mesh:
        (tmp_path / "mesh.yaml").write_text(yaml.safe_dump(mesh))
        argv += ["--mesh-config", str(tmp_path / "mesh.yaml")]
    return run_cli(*argv, stdin=deployment(annotations=annotations))


def pod_annotations(r) -> dict:
    return web(r)["spec"]["template"]["metadata"]["annotations"]


# -- k8s.v1.cni.cncf.io/networks ---------------------------------------------------------

@pytest.mark.parametrize(("version", "existing", "want"), [
    # none yet: the network alone
    ("1.26", None, "default/istio-cni"),
    # a comma-separated list: appended once, kept when there
    ("1.26", "sriov", "sriov, default/istio-cni"),
    ("1.26", "sriov, default/istio-cni", "sriov, default/istio-cni"),
    # JSON, 1.26+ (istio/istio#55000): split into name and namespace, matched on both
    ("1.26", '[{"name": "sriov"}]', '[{"name": "sriov"}, {"name": "istio-cni", "namespace": "default"}]'),
    ("1.26", '[{"name": "istio-cni", "namespace": "default"}]', '[{"name": "istio-cni", "namespace": "default"}]'),
    ("1.26", '[{"name": "istio-cni", "namespace": "kube-system"}]',
     '[{"name": "istio-cni", "namespace": "kube-system"}, {"name": "istio-cni", "namespace": "default"}]'),
    # JSON before the fix: "namespace/name" as the name
    ("1.25.0", '[{"name": "sriov"}]', '[{"name": "sriov"}, {"name": "default/istio-cni"}]'),
    ("1.25.0", '[{"name": "default/istio-cni"}]', '[{"name": "default/istio-cni"}]'),
    # JSON Go cannot read as a list of objects: left as it is
    ("1.26", '["sriov"]', '["sriov"]'),
    ("1.26", "null]", "null]"),
    # no "]": read as a comma-separated list, whatever it looks like
    ("1.26", '[{"name": "sriov"', '[{"name": "sriov", default/istio-cni'),
])
def test_multus_networks_annotation(tmp_path, version, existing, want):
    annotations = {} if existing is None else {"k8s.v1.cni.cncf.io/networks": existing}
    r = render(tmp_path, version, annotations, MULTUS)
    assert pod_annotations(r)["k8s.v1.cni.cncf.io/networks"] == want


def test_multus_annotation_only_with_the_multus_provider(tmp_path):
    r = render(tmp_path, "1.28", {}, {"pilot": {"cni": {"enabled": True}}})
    assert "k8s.v1.cni.cncf.io/networks" not in pod_annotations(r)


def test_istio_cni_values_before_1_24_choose_multus_when_not_chained(tmp_path):
    # istio/istio#52645 removed istio_cni; until then `chained: false` meant Multus
    values = {"istio_cni": {"enabled": True, "chained": False}}
    assert pod_annotations(render(tmp_path, "1.23", {}, values))["k8s.v1.cni.cncf.io/networks"] == "default/istio-cni"
    assert "k8s.v1.cni.cncf.io/networks" not in pod_annotations(render(tmp_path, "1.24", {}, values))


# -- Prometheus merge ----------------------------------------------------------------------

def scrape_env(r) -> dict | None:
    raw = env_of(container(web(r), "istio-proxy")).get("ISTIO_PROMETHEUS_ANNOTATIONS")
    return None if raw is None else json.loads(raw)


def test_merge_records_the_apps_scrape_in_go_field_order(tmp_path):
    r = render(tmp_path, "1.30", {"prometheus.io/scrape": "true", "prometheus.io/port": "9102",
                                  "prometheus.io/path": "/m"})
    raw = env_of(container(web(r), "istio-proxy"))["ISTIO_PROMETHEUS_ANNOTATIONS"]
    assert raw == '{"scrape":"true","path":"/m","port":"9102"}'  # Go's struct order
    anns = pod_annotations(r)
    assert (anns["prometheus.io/port"], anns["prometheus.io/path"], anns["prometheus.io/scrape"]) == (
        "15020", "/stats/prometheus", "true")


@pytest.mark.parametrize(("annotations", "mesh"), [
    ({"prometheus.io/scrape": "false", "prometheus.io/port": "9102"}, None),  # the app says no scraping
    ({"prometheus.istio.io/merge-metrics": "false", "prometheus.io/port": "9102"}, None),  # the pod opts out
    ({"prometheus.io/port": "9102"}, {"enablePrometheusMerge": False}),  # the mesh opts out
])
def test_no_merge(tmp_path, annotations, mesh):
    r = render(tmp_path, "1.31", annotations, mesh=mesh)
    assert scrape_env(r) is None
    assert pod_annotations(r)["prometheus.io/port"] == "9102"


def test_merge_metrics_annotation_wins_over_the_mesh(tmp_path):
    r = render(tmp_path, "1.31", {"prometheus.istio.io/merge-metrics": "true", "prometheus.io/port": "9102"},
               mesh={"enablePrometheusMerge": False})
    assert scrape_env(r) == {"scrape": "", "path": "", "port": "9102"}


def test_already_pointing_at_the_agent_is_left_alone(tmp_path):
    r = render(tmp_path, "1.31", {"prometheus.io/port": "15020", "prometheus.io/path": "/custom"})
    assert scrape_env(r) is None
    assert pod_annotations(r)["prometheus.io/path"] == "/custom"


@pytest.mark.parametrize(("annotations", "message"), [
    ({"prometheus.io/port": "http"}, "invalid prometheus scrape configuration: invalid port 'http'"),
    ({"prometheus.io/port": "15021"},
     "invalid prometheus scrape configuration: port 15021 is reserved for Istio (Envoy health)"),
    ({"prometheus.istio.io/scrape-targets": "8080,15020:/x"},
     "invalid prometheus scrape targets: target port 15020 conflicts with agent port"),
    ({"prometheus.istio.io/scrape-targets": "70000"}, "invalid prometheus scrape targets: invalid target port '70000'"),
])
def test_scrape_ports_istio_refuses_from_1_31(tmp_path, annotations, message):
    # istio/istio#59924: checked from 1.31; before, the value was passed to the agent as it was
    r = render(tmp_path, "1.31", annotations)
    assert r.code == 2 and message in r.err, r.err
    assert render(tmp_path, "1.30", annotations).code == 0


def test_scrape_targets_with_an_empty_port_are_ignored(tmp_path):
    r = render(tmp_path, "1.31", {"prometheus.istio.io/scrape-targets": "8080, :/x", "prometheus.io/port": "9102"})
    assert scrape_env(r) == {"scrape": "", "path": "", "port": "9102"}
    assert "prometheus.istio.io/scrape-targets" not in pod_annotations(r)  # cleared with the others


def test_secure_port_annotation_is_the_users_when_set(tmp_path):
    mesh = {"defaultConfig": {"proxyMetadata": {"ENVOY_SECURE_MERGED_METRICS_PORT": "15091"}}}
    r = render(tmp_path, "1.31", {"prometheus.istio.io/secure-port": "16000"}, mesh=mesh)
    assert pod_annotations(r)["prometheus.istio.io/secure-port"] == "16000"
    mesh["defaultConfig"]["proxyMetadata"]["ENVOY_SECURE_MERGED_METRICS_PORT"] = "0"
    assert "prometheus.istio.io/secure-port" not in pod_annotations(render(tmp_path, "1.31", {}, mesh=mesh))


def test_merge_and_probes_use_the_mesh_status_port_not_the_pods_proxy_config(tmp_path):
    # applyPrometheusMerge and the probe rewrite read meshConfig.defaultConfig.statusPort;
    # a statusPort in proxy.istio.io/config only moves the proxy's own listener.
    spec = ("      containers:\n      - name: web\n        image: nginx\n"
            "        readinessProbe: {httpGet: {path: /ready, port: 8080}}\n")
    text = deployment(annotations={"proxy.istio.io/config": "statusPort: 15030", "prometheus.io/port": "9102"},
                      spec=spec)
    r = run_cli("render", "-", "--flavor", "istio", stdin=text)
    doc = web(r)
    assert doc["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "15020"
    assert container(doc, "web")["readinessProbe"]["httpGet"]["port"] == 15020
