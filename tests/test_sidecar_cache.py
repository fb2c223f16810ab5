"""The sidecar template rendered once per configuration (render/inject/sidecar_cache.py)
must give every pod exactly what rendering it alone gives, and never let one pod change
what another one shares."""

from __future__ import annotations

import pytest

from meshrender.inject import sidecar_cache
from meshrender.yamlio.frozen import FrozenList, SharedDataError
from tests.conftest import container, env_of

SETTINGS = """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: g}
spec: {proxy: {concurrency: 2}}
"""


def _deployment(name: str, annotations: str, labels: str, spec: str) -> str:
    return f"""---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      annotations: {{{annotations}}}
      labels: {{app: {name}, {labels}}}
    spec:
{spec}
"""


# Pods that share one configuration but differ in everything the template reads from the
# pod: ports, containers, labels, service account, annotations (one variant changes the
# proxy's resources, one the captured ports), probes, a user-defined istio-proxy.
PODS = "".join([
    _deployment("alpha", "prometheus.io/scrape: 'true', prometheus.io/port: '9100'", "version: v1", """\
      serviceAccountName: alpha-sa
      containers:
      - name: alpha
        image: alpha:1
        ports: [{containerPort: 8080, name: http}]
        readinessProbe: {httpGet: {path: /ready, port: 8080}}
"""),
    _deployment("beta", "sidecar.istio.io/proxyCPU: 250m", "security.istio.io/tlsMode: disabled", """\
      containers:
      - name: beta
        image: beta:1
        ports: [{containerPort: 9090, name: grpc}]
      - name: beta-sidecar
        image: helper:1
"""),
    _deployment("gamma", "prometheus.io/scrape: 'true', prometheus.io/port: '9100'", "version: v2", """\
      serviceAccountName: gamma-sa
      containers:
      - name: gamma
        image: gamma:1
        livenessProbe: {tcpSocket: {port: 7000}}
      - name: istio-proxy
        image: auto
        securityContext: {runAsUser: 1234, runAsGroup: 1234}
"""),
    _deployment("delta", "traffic.sidecar.istio.io/excludeInboundPorts: '7000'", "version: v1", """\
      containers:
      - name: delta
        image: delta:1
        ports: [{containerPort: 7000}, {containerPort: 7001, protocol: UDP}]
"""),
    _deployment("epsilon", "sidecar.istio.io/proxyCPU: 250m", "app.kubernetes.io/version: '3'", """\
      containers:
      - name: epsilon
        image: epsilon:1
"""),
])


@pytest.fixture
def render_both(cli, repo, monkeypatch):
    """Render PODS with the cache and without; returns (cached, plain, cache hits)."""
    root = repo({"apps/pods.yaml": PODS, "settings/s.yaml": SETTINGS})
    # The tests here change meshrender's code under it (monkeypatch), which the result
    # cache's key cannot see: each run must evaluate.
    monkeypatch.setenv("MESHRENDER_CACHE", "0")

    def run(*flags: str) -> tuple:
        monkeypatch.setattr(sidecar_cache, "VERIFY", False)
        monkeypatch.setattr(sidecar_cache, "ENABLED", True)
        sidecar_cache.CACHE.clear()
        before = sidecar_cache.CACHE.hits
        cached = cli("render", *flags, str(root))
        hits = sidecar_cache.CACHE.hits - before
        monkeypatch.setattr(sidecar_cache, "ENABLED", False)
        plain = cli("render", *flags, str(root))
        assert cached.code == 0 and plain.code == 0, cached.err + plain.err
        return cached, plain, hits

    return run


@pytest.mark.parametrize("flags", [("--flavor", "istio"), ("--flavor", "asm"),
                                   ("--flavor", "istio", "--native-sidecars", "true")])
def test_pods_sharing_a_configuration_get_what_rendering_each_alone_gives(render_both, flags):
    cached, plain, hits = render_both(*flags)
    assert hits >= 2  # the later pods did come from the cache
    assert cached.out == plain.out
    docs = {d["metadata"]["name"]: d for d in cached.docs()}
    proxy = {name: container(doc, "istio-proxy") for name, doc in docs.items()}
    env = {name: env_of(c) for name, c in proxy.items()}
    assert '"containerPort":8080' in env["alpha"]["ISTIO_META_POD_PORTS"]
    assert "9090" not in env["alpha"]["ISTIO_META_POD_PORTS"]
    assert '"containerPort":9090' in env["beta"]["ISTIO_META_POD_PORTS"]
    assert env["beta"]["ISTIO_META_APP_CONTAINERS"] == "beta,beta-sidecar"
    assert env["alpha"]["ISTIO_META_WORKLOAD_NAME"] == "alpha"
    assert proxy["beta"]["resources"]["requests"]["cpu"] == "250m"
    assert proxy["epsilon"]["resources"]["requests"]["cpu"] == "250m"
    assert proxy["alpha"]["resources"]["requests"]["cpu"] != "250m"
    labels = {name: doc["spec"]["template"]["metadata"]["labels"] for name, doc in docs.items()}
    assert labels["beta"]["security.istio.io/tlsMode"] == "disabled"
    assert labels["alpha"]["security.istio.io/tlsMode"] == "istio"
    assert labels["alpha"]["service.istio.io/canonical-revision"] == "v1"
    assert labels["gamma"]["service.istio.io/canonical-revision"] == "v2"


def test_a_cache_key_that_ignores_annotations_is_caught(render_both, monkeypatch, cli, repo):
    """The comparison above can fail: a cache that reuses a template rendered for other
    annotation values gives another output, and verify mode refuses it."""
    monkeypatch.setattr(sidecar_cache, "_typed", lambda value: ("any",))
    cached, plain, _ = render_both("--flavor", "istio")
    assert cached.out != plain.out
    monkeypatch.setattr(sidecar_cache, "VERIFY", True)
    monkeypatch.setattr(sidecar_cache, "ENABLED", True)
    sidecar_cache.CACHE.clear()
    root = repo({"apps/pods.yaml": PODS, "settings/s.yaml": SETTINGS})
    r = cli("render", "--flavor", "istio", str(root))
    sidecar_cache.CACHE.clear()
    assert r.code == 2 and not r.out
    assert "internal error: CacheInconsistency: the sidecar cache changed the spec of beta" in r.err


def test_pods_share_frozen_parts_that_refuse_changes(cli, repo, monkeypatch):
    built: list[dict] = []
    real = sidecar_cache._build

    def spy(node, d):
        out = real(node, d)
        if type(node) is sidecar_cache._Map and len(built) < 10 and "spec" in out:
            built.append(out)
        return out

    monkeypatch.setattr(sidecar_cache, "_build", spy)
    monkeypatch.setattr(sidecar_cache, "VERIFY", False)
    sidecar_cache.CACHE.clear()
    root = repo({"apps/pods.yaml": PODS, "settings/s.yaml": SETTINGS})
    assert cli("render", "--flavor", "istio", str(root)).code == 0
    alpha, gamma = built[0], built[2]  # same annotation reads: one cache entry
    a_init, g_init = alpha["spec"]["initContainers"][0], gamma["spec"]["initContainers"][0]
    assert a_init is not g_init  # each pod's containers are its own (post-processing changes them)
    assert a_init["args"] is g_init["args"] and type(a_init["args"]) is FrozenList
    with pytest.raises(SharedDataError):
        a_init["args"].append("-x")
    with pytest.raises(SharedDataError):
        alpha["spec"]["volumes"][0]["name"] = "changed"


def test_a_step_that_changes_shared_data_is_an_error_not_a_silent_second_try(cli, repo, monkeypatch):
    from meshrender.inject import injector

    real = injector._post_process

    def careless(pod, *args):
        real(pod, *args)
        init = injector._find(pod["spec"].get("initContainers"), injector.INIT)
        if init is not None:
            init["args"].append("--careless")  # frozen with the cache, a plain list without

    monkeypatch.setattr(injector, "_post_process", careless)
    monkeypatch.setattr(sidecar_cache, "VERIFY", False)
    root = repo({"apps/pods.yaml": PODS, "settings/s.yaml": SETTINGS})
    r = cli("render", "--flavor", "istio", str(root))
    assert r.code == 2 and not r.out
    assert "internal error: CacheInconsistency" in r.err and "MESHRENDER_SIDECAR_CACHE=0" in r.err
    # with the cache off, the same step renders (nothing is shared between pods)
    monkeypatch.setattr(sidecar_cache, "ENABLED", False)
    r = cli("render", "--flavor", "istio", str(root))
    assert r.code == 0, r.err
    for doc in r.docs():
        assert container(doc, "istio-init", init=True)["args"][-1] == "--careless"
