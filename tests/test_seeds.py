"""Every feature of the ASM documentation the project started from (../shared/seeds),
through the CLI: placement in both modes, the ASMMeshConfig switch, proxy and istio-init
resources, interception by address and port, lifecycle, drain duration, DNS proxy, and
precedence pod annotation > namespace > global."""

import pytest

from tests.conftest import arg_after, container, env_of, pod_spec

PROFILE = """
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: prod}
spec: {kubernetesVersion: "1.30", provider: ack, meshVersion: "1.22", flavor: asm}
"""

NAMESPACE_SETTINGS = """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: ns, namespace: shop}
spec:
  proxy:
    resources:
      requests: {cpu: 0.1, memory: 128Mi}
      limits: {cpu: 2, memory: 1025Mi}
    lifecycle:
      postStart: {exec: {command: [pilot-agent, wait]}}
      preStop: {exec: {command: [/bin/sh, -c, sleep 13]}}
    terminationDrainDuration: 10s
  init:
    resources:
      requests: {cpu: 0.016, memory: 18Mi}
      limits: {cpu: 0.916, memory: 512Mi}
  traffic:
    includeOutboundIPRanges: 192.168.1.2/32
    excludeOutboundIPRanges: 192.168.0.1/32,192.168.1.1/32
    includeInboundPorts: "*"
    excludeInboundPorts: 7013,7014
    includeOutboundPorts: 7015,7016
    excludeOutboundPorts: 7011,7012
  dnsProxy: true
"""

GLOBAL_SETTINGS = """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: global}
spec:
  proxy:
    resources:
      requests: {cpu: 50m, memory: 64Mi}
      limits: {cpu: "1", memory: 256Mi}
"""


def deployment(name="sleep", ns="shop", annotations=""):
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {ns}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations: {{{annotations}}}
    spec:
      containers:
      - name: {name}
        image: registry.cn-hangzhou.aliyuncs.com/acs/curl:8.1.2
"""


def render(cli, repo, files, *args):
    root = repo(files)
    result = cli("render", str(root), *args)
    assert result.code == 0, result.err
    return {d["metadata"]["name"]: d for d in result.docs()}


def test_native_mode_places_proxy_in_init_containers_with_restart_policy_always(cli, repo):
    doc = render(cli, repo, {"profile.yaml": PROFILE, "app.yaml": deployment()})["sleep"]
    spec = pod_spec(doc)
    assert [c["name"] for c in spec["initContainers"]] == ["istio-init", "istio-proxy"]
    assert container(doc, "istio-proxy", init=True)["restartPolicy"] == "Always"
    assert [c["name"] for c in spec["containers"]] == ["sleep"]


def test_asm_mesh_config_switches_to_traditional_mode(cli, repo):
    asm = """
apiVersion: istio.alibabacloud.com/v1beta1
kind: ASMMeshConfig
metadata: {name: default}
spec: {enableNativeSidecar: false}
"""
    doc = render(cli, repo, {"profile.yaml": PROFILE, "asm.yaml": asm, "app.yaml": deployment()})["sleep"]
    spec = pod_spec(doc)
    # ASM holds the app until the proxy starts (its default), so the proxy comes first, as
    # the seed's traditional-mode pod shows
    assert [c["name"] for c in spec["containers"]] == ["istio-proxy", "sleep"]
    assert [c["name"] for c in spec["initContainers"]] == ["istio-init"]
    assert "restartPolicy" not in container(doc, "istio-proxy", init=False)


def test_proxy_resources_from_namespace_settings(cli, repo):
    doc = render(cli, repo, {"ns.yaml": NAMESPACE_SETTINGS, "app.yaml": deployment()})["sleep"]
    assert container(doc, "istio-proxy")["resources"] == {
        "limits": {"cpu": "2", "memory": "1025Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}


def test_istio_init_resources_are_separate_from_the_proxy(cli, repo):
    doc = render(cli, repo, {"ns.yaml": NAMESPACE_SETTINGS, "app.yaml": deployment()})["sleep"]
    init = container(doc, "istio-init", init=True)
    assert init["resources"] == {"limits": {"cpu": "916m", "memory": "512Mi"},
                                 "requests": {"cpu": "16m", "memory": "18Mi"}}
    assert {"name": "DNS_AGENT"} in init["env"]


def test_interception_by_address_range_and_port(cli, repo):
    doc = render(cli, repo, {"ns.yaml": NAMESPACE_SETTINGS, "app.yaml": deployment()})["sleep"]
    args = container(doc, "istio-init", init=True)["args"]
    assert args[:9] == ["istio-iptables", "-p", "15001", "-z", "15006", "-u", "1337", "-m", "REDIRECT"]
    assert arg_after(args, "-i") == "192.168.1.2/32"
    assert arg_after(args, "-x") == "192.168.0.1/32,192.168.1.1/32"
    assert arg_after(args, "-b") == "*"
    assert arg_after(args, "-d") == "15090,15021,15081,9191,7013,7014"
    assert arg_after(args, "-q") == "7015,7016"
    assert arg_after(args, "-o") == "7011,7012"


def test_traffic_settings_accept_yaml_lists(cli, repo):
    settings = NAMESPACE_SETTINGS.replace("excludeOutboundPorts: 7011,7012", "excludeOutboundPorts: [7011, 7012]")
    doc = render(cli, repo, {"ns.yaml": settings, "app.yaml": deployment()})["sleep"]
    assert arg_after(container(doc, "istio-init", init=True)["args"], "-o") == "7011,7012"


def test_proxy_lifecycle(cli, repo):
    doc = render(cli, repo, {"ns.yaml": NAMESPACE_SETTINGS, "app.yaml": deployment()})["sleep"]
    assert container(doc, "istio-proxy")["lifecycle"] == {
        "postStart": {"exec": {"command": ["pilot-agent", "wait"]}},
        "preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 13"]}},
    }


def test_termination_drain_duration(cli, repo):
    doc = render(cli, repo, {"ns.yaml": NAMESPACE_SETTINGS, "app.yaml": deployment()})["sleep"]
    env = env_of(container(doc, "istio-proxy"))
    assert env["TERMINATION_DRAIN_DURATION_SECONDS"] == "10"
    assert '"terminationDrainDuration":"10s"' in env["PROXY_CONFIG"]


def test_drain_duration_defaults_to_five_seconds_in_asm(cli, repo):
    doc = render(cli, repo, {"app.yaml": deployment()})["sleep"]
    assert env_of(container(doc, "istio-proxy"))["TERMINATION_DRAIN_DURATION_SECONDS"] == "5"


def test_dns_proxy(cli, repo):
    doc = render(cli, repo, {"ns.yaml": NAMESPACE_SETTINGS, "app.yaml": deployment()})["sleep"]
    proxy_env = env_of(container(doc, "istio-proxy"))
    init_env = env_of(container(doc, "istio-init", init=True))
    for env in (proxy_env, init_env):
        assert env["ISTIO_META_DNS_CAPTURE"] == "true"
        assert env["ISTIO_META_DNS_AUTO_ALLOCATE"] == "true"
    names = [e["name"] for e in container(doc, "istio-proxy")["env"]]
    trust = names.index("TRUST_DOMAIN")
    # then proxyMetadata, sorted: ASM's EXIT_ON_ZERO_ACTIVE_CONNECTIONS default and the DNS proxy's
    assert names[trust + 1: trust + 6] == ["DNS_AGENT", "TERMINATION_DRAIN_DURATION_SECONDS",
                                           "EXIT_ON_ZERO_ACTIVE_CONNECTIONS",
                                           "ISTIO_META_DNS_AUTO_ALLOCATE", "ISTIO_META_DNS_CAPTURE"]


def test_dns_proxy_off_leaves_dns_capture_out(cli, repo):
    doc = render(cli, repo, {"app.yaml": deployment()})["sleep"]
    assert "ISTIO_META_DNS_CAPTURE" not in env_of(container(doc, "istio-proxy"))


@pytest.mark.parametrize(("files", "annotations", "want"), [
    ({"g.yaml": GLOBAL_SETTINGS}, "", {"cpu": "50m", "memory": "64Mi"}),
    ({"g.yaml": GLOBAL_SETTINGS, "ns.yaml": NAMESPACE_SETTINGS}, "", {"cpu": "100m", "memory": "128Mi"}),
    ({"g.yaml": GLOBAL_SETTINGS, "ns.yaml": NAMESPACE_SETTINGS},
     "sidecar.istio.io/proxyCPU: 300m, sidecar.istio.io/proxyMemory: 300Mi", {"cpu": "300m", "memory": "300Mi"}),
])
def test_precedence_pod_annotation_over_namespace_over_global(cli, repo, files, annotations, want):
    docs = render(cli, repo, {**files, "app.yaml": deployment(annotations=annotations)})
    assert container(docs["sleep"], "istio-proxy")["resources"]["requests"] == want


def test_global_settings_apply_to_other_namespaces(cli, repo):
    docs = render(cli, repo, {"g.yaml": GLOBAL_SETTINGS, "ns.yaml": NAMESPACE_SETTINGS,
                              "a.yaml": deployment("other", ns="elsewhere")})
    assert container(docs["other"], "istio-proxy")["resources"]["limits"] == {"cpu": "1", "memory": "256Mi"}
