"""Rendering rendered output again is a fresh render (issue 13 step 5, issue 12).

Each case of the issue: the output of one configuration rendered with another equals
the source rendered with that other configuration; what the previous injection changed
(app probes, Prometheus annotations, env, volumes, the proxy's readiness probe) comes
back as the source had it. test_props_reinject.py checks the same on generated input.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import container

SOURCE = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9090"
        prometheus.io/path: /metrics
    spec:
      containers:
      - name: web
        image: nginx
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readyz, port: http, scheme: HTTPS, httpHeaders: [{name: X-Probe, value: "1"}]}
          periodSeconds: 5
        livenessProbe:
          tcpSocket: {port: 8080}
          timeoutSeconds: 3
        startupProbe:
          grpc: {port: 9000, service: health}
        lifecycle:
          preStop: {httpGet: {path: /drain, port: 8080}}
          postStart: {tcpSocket: {port: 8080}}
      - name: worker
        image: busybox
        livenessProbe:
          exec: {command: [cat, /tmp/healthy]}
"""

CONFIGS = {
    "istio-native": ("--flavor", "istio", "--native-sidecars", "true"),
    "istio-traditional": ("--flavor", "istio", "--native-sidecars", "false"),
    "asm-native": ("--flavor", "asm", "--native-sidecars", "true"),
    "asm-traditional": ("--flavor", "asm", "--native-sidecars", "false"),
}


def _render(cli, text: str, *flags: str) -> str:
    r = cli("render", "-", *flags, stdin=text)
    assert r.code == 0, r.err
    return r.out


def _env(c: dict, name: str) -> str | None:
    return next((e.get("value") for e in c.get("env") or [] if e["name"] == name), None)


@pytest.mark.parametrize("after", sorted(CONFIGS))
@pytest.mark.parametrize("before", sorted(CONFIGS))
def test_rendering_output_again_equals_rendering_the_source(cli, before, after):
    once = _render(cli, SOURCE, *CONFIGS[before])
    again, fresh = _render(cli, once, *CONFIGS[after]), _render(cli, SOURCE, *CONFIGS[after])
    if keeps_old_proxy(CONFIGS[before], CONFIGS[after]):
        assert without_kept_proxy(again) == without_kept_proxy(fresh)
    else:
        assert again == fresh


def test_native_output_rendered_as_traditional_hands_the_app_probes_to_the_agent(cli):
    """The issue's case: the agent got probes pointing at itself, and lost tcpSocket and gRPC."""
    native = _render(cli, SOURCE, *CONFIGS["istio-native"])
    r = cli("render", "-", *CONFIGS["istio-traditional"], stdin=native)
    doc = r.docs()[0]
    probers = json.loads(_env(container(doc, "istio-proxy", init=False), "ISTIO_KUBE_APP_PROBERS"))
    assert probers == {
        "/app-health/web/readyz": {"httpGet": {"path": "/readyz", "port": 8080, "scheme": "HTTPS",
                                               "httpHeaders": [{"name": "X-Probe", "value": "1"}]}},
        "/app-health/web/livez": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 3},
        "/app-health/web/startupz": {"grpc": {"port": 9000, "service": "health"}},
        "/app-lifecycle/web/prestopz": {"httpGet": {"path": "/drain", "port": 8080}},
        "/app-lifecycle/web/poststartz": {"tcpSocket": {"port": 8080}},
    }
    web = container(doc, "web")
    assert web["readinessProbe"] == {"httpGet": {"path": "/app-health/web/readyz", "port": 15020, "scheme": "HTTP",
                                                 "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                                     "periodSeconds": 5}
    assert "istio-proxy" not in [c["name"] for c in doc["spec"]["template"]["spec"].get("initContainers") or []]


def test_asm_output_rendered_as_istio_has_nothing_of_asm(cli):
    for mode in ("native", "traditional"):
        asm = _render(cli, SOURCE, *CONFIGS[f"asm-{mode}"])
        assert "DNS_AGENT" in asm and "TERMINATION_DRAIN_DURATION_SECONDS" in asm
        istio = _render(cli, asm, *CONFIGS[f"istio-{mode}"])
        assert "DNS_AGENT" not in istio and "TERMINATION_DRAIN_DURATION_SECONDS" not in istio
        assert "aliyuncs.com" not in istio


def test_the_apps_prometheus_annotations_come_back(cli):
    once = _render(cli, SOURCE, *CONFIGS["asm-traditional"])
    doc = cli("render", "-", *CONFIGS["istio-native"], stdin=once).docs()[0]
    anns = doc["spec"]["template"]["metadata"]["annotations"]
    assert (anns["prometheus.io/port"], anns["prometheus.io/path"]) == ("15020", "/stats/prometheus")
    proxy = container(doc, "istio-proxy", init=True)
    assert json.loads(_env(proxy, "ISTIO_PROMETHEUS_ANNOTATIONS")) == {
        "scrape": "true", "port": "9090", "path": "/metrics"}


def test_volumes_of_the_previous_injection_go(cli, repo):
    """A re-render with settings that inject fewer volumes does not keep the old ones."""
    root = repo({"third.yaml": "global: {jwtPolicy: third-party-jwt}\n",
                 "first.yaml": "global: {jwtPolicy: first-party-jwt}\n"})
    once = _render(cli, SOURCE, "--flavor", "istio", "--values", str(root / "third.yaml"))
    assert "name: istio-token" in once
    flags = ("--flavor", "istio", "--values", str(root / "first.yaml"))
    again = _render(cli, once, *flags)
    assert "istio-token" not in again
    assert again == _render(cli, SOURCE, *flags)


REINJECTED = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello}
spec:
  selector: {matchLabels: {app: hello}}
  template:
    metadata:
      labels: {app: hello}
      annotations:
        sidecar.istio.io/status: '{"initContainers":["istio-init"],"containers":["istio-proxy"],
          "volumes":["istio-envoy"],"imagePullSecrets":null,"revision":"default"}'
    spec:
      containers:
      - name: hello
        image: hello
      - name: istio-proxy
        image: %s
        args: [proxy, sidecar]
        readinessProbe:
          failureThreshold: 30
          httpGet: {path: /healthz/ready, port: 15021}
          initialDelaySeconds: 1
          periodSeconds: 2
          timeoutSeconds: 3
      initContainers:
      - name: istio-init
        image: %s
      volumes:
      - name: istio-envoy
        emptyDir: {medium: Memory}
"""


def _values(repo) -> str:
    root = repo({"v.yaml": "global: {hub: registry.istio.io/testing, tag: latest}\n"})
    return str(root / "v.yaml")


def test_traditional_reinjection_does_not_keep_the_old_readiness_delay(cli, repo):
    """Issue 12: Istio's template writes initialDelaySeconds: 0, which replaces the old 1."""
    old = "registry.istio.io/testing/proxyv2:latest"
    doc = cli("render", "-", "--flavor", "istio", "--native-sidecars", "false", "--values", _values(repo),
              stdin=REINJECTED % (old, old)).docs()[0]
    probe = container(doc, "istio-proxy", init=False)["readinessProbe"]
    assert probe == {"failureThreshold": 4, "httpGet": {"path": "/healthz/ready", "port": 15021},
                     "periodSeconds": 15, "timeoutSeconds": 3}


def test_istio_keeps_its_own_traditional_proxy_when_injecting_again_natively(cli, repo):
    """Istio re-applies the old proxy as if the user had written it (its corpus: merge-probers)
    when the proxy image is the same; another image is another injector: a fresh render."""
    same = "registry.istio.io/testing/proxyv2:latest"
    flags = ("--flavor", "istio", "--native-sidecars", "true", "--values", _values(repo))
    doc = cli("render", "-", *flags, stdin=REINJECTED % (same, same)).docs()[0]
    assert container(doc, "istio-proxy", init=True)["readinessProbe"]["periodSeconds"] == 2
    other = "registry.example.com/asm/proxyv2:1.22"
    doc = cli("render", "-", *flags, stdin=REINJECTED % (other, other)).docs()[0]
    proxy = container(doc, "istio-proxy", init=True)
    assert (proxy["image"], proxy["readinessProbe"]["periodSeconds"]) == (same, 15)


def test_a_probe_already_on_the_status_port_is_not_handed_to_the_agent(cli):
    """DumpAppProbers: an httpGet probe whose port is the agent's status port is already rewritten."""
    text = SOURCE.replace("tcpSocket: {port: 8080}\n          timeoutSeconds: 3",
                          "httpGet: {path: /own, port: 15020}")
    doc = cli("render", "-", *CONFIGS["istio-traditional"], stdin=text).docs()[0]
    probers = json.loads(_env(container(doc, "istio-proxy"), "ISTIO_KUBE_APP_PROBERS"))
    assert "/app-health/web/livez" not in probers and "/app-health/web/readyz" in probers


def without_kept_proxy(text: str) -> list:
    """The documents of a stream with the istio-proxy container taken out: what must be a
    fresh render even where Istio keeps the old proxy's fields (README, "Workloads")."""
    import yaml

    docs = []
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, dict):
            for spec in _pod_specs(doc):
                for key in ("containers", "initContainers"):
                    if spec.get(key):
                        spec[key] = [c for c in spec[key] if c.get("name") != "istio-proxy"]
        docs.append(doc)
    return docs


def _pod_specs(node):
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            yield node
        for v in node.values():
            yield from _pod_specs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _pod_specs(v)


def keeps_old_proxy(before: tuple, after: tuple) -> bool:
    """A traditional render injected again natively by the same injector (flavor): Istio
    re-applies the old proxy as if the user had written it (merge-probers in its corpus)."""
    return ("false" in before and "true" in after
            and before[before.index("--flavor") + 1] == after[after.index("--flavor") + 1])
