"""Annotation validation as Istio's injector does it (pkg/kube/inject/validate.go): a pod
with an invalid mesh annotation is refused, so the render fails with exit 2 and a
message naming the annotation, the workload, and the file, line and column."""

from __future__ import annotations

import json
import textwrap

import pytest

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
      annotations:
        unrelated.example.com/note: "first"
        {name}: {value}
    spec:
      containers:
      - name: web
        image: nginx
"""
LINE = 14  # the line of {name} above
COLUMN = 9

# annotation, a value Istio refuses, what the message must say, a value it accepts
CASES = [
    ("sidecar.istio.io/interceptionMode", "DROP", "use REDIRECT,TPROXY,NONE", "TPROXY"),
    ("status.sidecar.istio.io/port", "70000", "failed parsing port", "15021"),
    ("readiness.status.sidecar.istio.io/initialDelaySeconds", "-1", "unsigned 32-bit", "5"),
    ("readiness.status.sidecar.istio.io/periodSeconds", "1.5", "unsigned 32-bit", "10"),
    ("readiness.status.sidecar.istio.io/failureThreshold", "4294967296", "unsigned 32-bit", "3"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.0/33", "includeIPRanges invalid", "10.0.0.0/8"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", "10.0.0.1", "failed parsing cidr", "*"),
    ("traffic.sidecar.istio.io/excludeOutboundIPRanges", "10.0.0.0/8,300.1.1.1/32", "excludeIPRanges invalid",
     "10.0.0.0/8,fd00::/8"),
    ("traffic.sidecar.istio.io/includeInboundPorts", "80,http", "includeInboundPorts invalid", "*"),
    ("traffic.sidecar.istio.io/excludeInboundPorts", "8080,65536", "excludeInboundPorts invalid", "8080, 9090"),
    ("traffic.sidecar.istio.io/excludeOutboundPorts", "-1", "excludeOutboundPorts invalid", "3306"),
    ("traffic.sidecar.istio.io/includeOutboundPorts", "443,", "includeOutboundPorts invalid", "443"),
    ("prometheus.istio.io/merge-metrics", "maybe", "not a boolean", "F"),
    ("sidecar.istio.io/proxyCPU", "1 core", "sidecar.istio.io/proxyCPU", "200m"),
    ("sidecar.istio.io/proxyMemory", "lots", "sidecar.istio.io/proxyMemory", "256Mi"),
    ("sidecar.istio.io/proxyCPULimit", "2cores", "sidecar.istio.io/proxyCPULimit", "2"),
    ("sidecar.istio.io/proxyMemoryLimit", "1GiB", "sidecar.istio.io/proxyMemoryLimit", "1Gi"),
    ("proxy.istio.io/config", "drainDuration: 1.5s", "seconds precision", "concurrency: 3"),
    ("proxy.istio.io/config", "discoveryAddress: istiod", "invalid discovery address", "terminationDrainDuration: 30s"),
    ("proxy.istio.io/config", "{concurrency: many}", "concurrency", "{holdApplicationUntilProxyStarts: true}"),
    ("proxy.istio.io/config", "statusPort: 0", "invalid status port", "statusPort: 15021"),
    ("proxy.istio.io/config", "controlPlaneAuthPolicy: TLS", "controlPlaneAuthPolicy", "controlPlaneAuthPolicy: NONE"),
    ("proxy.istio.io/config", "tracing: {zipkin: {address: \"zipkin\"}}", "invalid zipkin config",
     "tracing: {zipkin: {address: \"zipkin.obs:9411\"}}"),
    ("proxy.istio.io/config", "[a, b]", "not a ProxyConfig map", ""),
    ("sidecar.istio.io/userVolume", "{\"certs\": ", "not valid JSON", "{\"certs\": {\"emptyDir\": {}}}"),
    ("sidecar.istio.io/userVolumeMount", "[\"certs\"]", "JSON object", "{\"certs\": {\"mountPath\": \"/c\"}}"),
    ("sidecar.istio.io/userVolumeMount", "{\"certs\": \"/c\"}", "'certs' must be a JSON object",
     "{\"certs\": {\"mountPath\": \"/c\", \"readOnly\": true}}"),
]


def _write(repo, name: str, value: str):
    return repo({"app.yaml": DEPLOYMENT.format(name=name, value=json.dumps(value))}) / "app.yaml"


@pytest.mark.parametrize(("name", "bad", "says", "good"), CASES, ids=[f"{c[0]}={c[1]}" for c in CASES])
def test_invalid_annotation_fails_naming_annotation_workload_file_and_line(cli, repo, tmp_path, name, bad, says, good):
    path = _write(repo, name, bad)
    out_dir = tmp_path / "out"
    r = cli("render", "--flavor", "istio", str(path), "-o", str(out_dir))
    assert r.code == 2, r.err
    assert f"{path}:{LINE}:{COLUMN}:" in r.err
    assert f"annotation '{name}'" in r.err
    assert "Deployment shop/web" in r.err
    assert says in r.err
    assert "Traceback" not in r.err
    assert not out_dir.exists()


@pytest.mark.parametrize(("name", "bad", "says", "good"), CASES, ids=[f"{c[0]}={c[2]}" for c in CASES])
def test_valid_value_of_the_same_annotation_renders(cli, repo, name, bad, says, good):
    r = cli("render", "--flavor", "istio", str(_write(repo, name, good)))
    assert r.code == 0, r.err
    assert "istio-proxy" in [c["name"] for c in r.docs()[0]["spec"]["template"]["spec"]["containers"]]


def test_line_points_into_a_list_item_and_a_cronjob(cli, repo):
    """A CronJob's pod annotations are on its pod template, where the webhook reads them."""
    text = textwrap.dedent("""\
        apiVersion: v1
        kind: List
        items:
        - apiVersion: batch/v1
          kind: CronJob
          metadata: {name: nightly}
          spec:
            schedule: "0 0 * * *"
            jobTemplate:
              spec:
                template:
                  metadata:
                    annotations:
                      traffic.sidecar.istio.io/includeInboundPorts: "eighty"
                  spec:
                    restartPolicy: Never
                    containers: [{name: job, image: busybox}]
        """)
    path = repo({"list.yaml": text}) / "list.yaml"
    r = cli("render", "--flavor", "istio", str(path))
    assert r.code == 2
    assert f"{path}:14:15:" in r.err
    assert "CronJob default/nightly" in r.err
    assert "includeInboundPorts" in r.err


def test_annotations_are_checked_before_anything_is_injected(cli, repo):
    """Even a pod that selects a template that does not exist reports the bad annotation
    first, as Istio validates before running templates."""
    text = DEPLOYMENT.format(name="sidecar.istio.io/interceptionMode", value="DROP").replace(
        "unrelated.example.com/note", "inject.istio.io/templates").replace('"first"', "nosuch")
    r = cli("render", "--flavor", "istio", str(repo({"a.yaml": text}) / "a.yaml"))
    assert r.code == 2
    assert "interceptionMode" in r.err and "nosuch" not in r.err


def test_unknown_proxy_config_fields_are_accepted_and_left_out_of_proxy_config(cli, repo):
    """Istio reads the annotation leniently: a field it does not know is ignored."""
    text = DEPLOYMENT.format(name="proxy.istio.io/config", value=json.dumps("{concurrency: 3, notAField: 1}"))
    r = cli("render", "--flavor", "istio", str(repo({"a.yaml": text}) / "a.yaml"))
    assert r.code == 0, r.err
    proxy = r.docs()[0]["spec"]["template"]["spec"]["containers"][-1]
    env = {e["name"]: e.get("value") for e in proxy["env"]}
    assert json.loads(env["PROXY_CONFIG"]) == {"concurrency": 3}
