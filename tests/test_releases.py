"""Rendering for the mesh release the cluster runs (render/data/istio-releases.yaml).

Each entry of the release table that changes what the injector writes has a scenario
here, rendered with the last release before the change and the first one with it (and,
for cherry-picks, the patches either side of the backport), through the CLI. Each test
names the Istio change it comes from; `test_every_release_table_entry_has_a_scenario`
keeps the table and these scenarios in step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from meshrender import bundled
from meshrender.inject import release
from tests.conftest import container, env_of, pod_spec, run_cli

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata:
      labels: {labels}
      annotations: {annotations}
    spec:
{spec}
"""
APP = """\
      containers:
      - name: web
        image: nginx
        ports: [{containerPort: 8080}]
"""


def deployment(labels: dict | None = None, annotations: dict | None = None, spec: str = APP) -> str:
    return DEPLOY.format(labels=json.dumps({"app": "web", **(labels or {})}),
                         annotations=json.dumps(annotations or {}), spec=spec.rstrip("\n"))


def render(tmp_path, version: str, text: str, values: dict | None = None, mesh: dict | None = None,
           *args: str, flavor: str = "istio", native: str = "false"):
    argv = ["render", "-", "--flavor", flavor, "--mesh-version", version, "--native-sidecars", native]
    for flag, data in (("--values", values), ("--mesh-config", mesh)):
        if data:
            path = tmp_path / f"{flag[2:]}-{len(list(tmp_path.iterdir()))}.yaml"
            path.write_text(yaml.safe_dump(data))
            argv += [flag, str(path)]
    return run_cli(*argv, *args, stdin=text)


def web(r) -> dict:
    assert r.code == 0, r.err
    return next(d for d in r.docs() if d["metadata"]["name"] == "web")


def init_args(doc: dict) -> list[str]:
    return container(doc, "istio-init", init=True)["args"]


def volume(doc: dict, name: str) -> dict | None:
    return next((v for v in pod_spec(doc).get("volumes") or [] if v["name"] == name), None)


@dataclass
class Scenario:
    """A release-table entry made visible: `check(result)` is True where the change is in."""

    change: str
    pr: int
    without: list[str]  # releases that lack the change
    with_: list[str]  # releases that have it
    text: str = field(default_factory=deployment)
    values: dict | None = None
    mesh: dict | None = None
    args: tuple[str, ...] = ()
    native: str = "false"
    check: Callable[[Any], bool] = lambda r: False


GATEWAY = """\
      containers:
      - {name: istio-proxy, image: auto}
"""
GATEWAY_TWO_APPS = GATEWAY + """\
      - {name: helper, image: busybox}
      - {name: other, image: busybox}
"""
GATEWAY_ANNOTATION = {"inject.istio.io/templates": "gateway"}

REINJECTED = """\
      containers:
      - name: web
        image: nginx
        readinessProbe: {httpGet: {path: /ready, port: 8080}}
      - {name: istio-proxy, image: docker.io/istio/proxyv2:1.26.8}
"""


def _k_count(r) -> int:
    return init_args(web(r)).count("-k")


def _scrape(r) -> dict:
    return json.loads(env_of(container(web(r), "istio-proxy")).get("ISTIO_PROMETHEUS_ANNOTATIONS", "{}"))


def _multus(r) -> str:
    return web(r)["spec"]["template"]["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]


SCENARIOS = [
    Scenario("outlier-log-path", 50781, ["1.22"], ["1.23"],
             values={"global": {"proxy": {"outlierLogPath": "/dev/stdout"}}},
             check=lambda r: "--outlierLogPath=/dev/stdout" in container(web(r), "istio-proxy")["args"]),
    Scenario("istio-cni-legacy-values", 52645, ["1.24"], ["1.23"], values={"istio_cni": {"enabled": True}},
             check=lambda r: [c["name"] for c in pod_spec(web(r))["initContainers"]] == ["istio-validation"]),
    Scenario("core-dump-annotation", 53437, ["1.24"], ["1.23"],
             text=deployment(annotations={"sidecar.istio.io/enableCoreDump": "true"}),
             check=lambda r: any(c["name"] == "enable-core-dump" for c in pod_spec(web(r))["initContainers"])
             and container(web(r), "istio-proxy")["securityContext"]["readOnlyRootFilesystem"] is False),
    Scenario("kube-ca-cert", 52116, ["1.24"], ["1.23"], values={"global": {"pilotCertProvider": "kubernetes"}},
             check=lambda r: volume(web(r), "kube-ca-cert") == {"name": "kube-ca-cert",
                                                                 "configMap": {"name": "kube-root-ca.crt"}}),
    Scenario("force-apply-iptables", 52899, ["1.23"], ["1.24"],
             values={"global": {"proxy_init": {"forceApplyIptables": True}}},
             check=lambda r: "--force-apply" in init_args(web(r))),
    Scenario("include-inbound-ports-always", 54289, ["1.24"], ["1.25"],
             values={"pilot": {"cni": {"enabled": True}}, "global": {"proxy": {"includeInboundPorts": ""}}},
             check=lambda r: "traffic.sidecar.istio.io/includeInboundPorts"
             in web(r)["spec"]["template"]["metadata"]["annotations"]),
    Scenario("reroute-virtual-interfaces", 53933, ["1.24"], ["1.25"],
             text=deployment(annotations={"istio.io/reroute-virtual-interfaces": "eth1"}),
             check=lambda r: _k_count(r) == 1),
    Scenario("reroute-virtual-interfaces-precedence", 57686, ["1.26.4", "1.27.1"], ["1.26.5", "1.27.2", "1.28"],
             text=deployment(annotations={"istio.io/reroute-virtual-interfaces": "eth1",
                                          "traffic.sidecar.istio.io/kubevirtInterfaces": "eth2"}),
             check=lambda r: _k_count(r) == 1),
    Scenario("workload-name-label", 54340, ["1.24"], ["1.25"],
             text=deployment(labels={"service.istio.io/workload-name": "storefront"}),
             check=lambda r: env_of(container(web(r), "istio-proxy"))["ISTIO_META_WORKLOAD_NAME"] == "storefront"),
    Scenario("empty-init-containers", 55075, ["1.25"], ["1.26"],
             text=deployment(annotations={"sidecar.istio.io/interceptionMode": "NONE"},
                             spec=APP + "      initContainers: [{name: setup, image: busybox}]\n"),
             check=lambda r: [c["name"] for c in pod_spec(web(r)).get("initContainers") or []] == ["setup"]),
    Scenario("cluster-trust-bundle", 55592, ["1.25"], ["1.26.3"],
             values={"pilot": {"env": {"ENABLE_CLUSTER_TRUST_BUNDLE_API": True}}},
             check=lambda r: "projected" in volume(web(r), "istiod-ca-cert")),
    Scenario("cluster-trust-bundle-indent-fix", 56676, ["1.26.2"], ["1.26.3", "1.27"],
             values={"pilot": {"env": {"ENABLE_CLUSTER_TRUST_BUNDLE_API": True}}},
             check=lambda r: volume(web(r), "istiod-ca-cert")["projected"]["sources"] == [
                 {"clusterTrustBundle": {"name": "istio.io:istiod-ca:root-cert", "path": "root-cert.pem"}}]),
    Scenario("trust-bundle-name", 54971, ["1.26"], ["1.27"], values={"global": {"trustBundleName": "corp-root"}},
             check=lambda r: volume(web(r), "istiod-ca-cert")["configMap"]["name"] == "corp-root"),
    Scenario("native-nftables", 56487, ["1.26"], ["1.27"], values={"global": {"nativeNftables": True}},
             check=lambda r: "--native-nftables" in init_args(web(r))),
    Scenario("istio-ca-crl", 56308, ["1.26"], ["1.27"], check=lambda r: volume(web(r), "istio-ca-crl") is not None),
    Scenario("seccomp-profile", 57330, ["1.27"], ["1.28"],
             values={"global": {"proxy": {"seccompProfile": {"type": "RuntimeDefault"}}}},
             check=lambda r: container(web(r), "istio-proxy")["securityContext"].get("seccompProfile")
             == {"type": "RuntimeDefault"}),
    Scenario("resource-field-divisor", 58077, ["1.28"], ["1.29"],
             check=lambda r: next(e for e in container(web(r), "istio-proxy")["env"] if e["name"] == "GOMEMLIMIT")
             ["valueFrom"]["resourceFieldRef"]["divisor"] == "1"),
    Scenario("crl-configmap-name", 57874, ["1.28"], ["1.29"], values={"pilot": {"crlConfigMapName": "corp-crl"}},
             check=lambda r: volume(web(r), "istio-ca-crl")["configMap"]["name"] == "corp-crl"),
    Scenario("otel-resource-attributes", 59207, ["1.29"], ["1.30"],
             mesh={"extensionProviders": [{"name": "otel", "opentelemetry": {
                 "service": "otel.observability.svc", "port": 4317,
                 "serviceAttributeEnrichment": "OTEL_SEMANTIC_CONVENTIONS"}}]},
             check=lambda r: "OTEL_RESOURCE_ATTRIBUTES" in env_of(container(web(r), "istio-proxy"))),
    Scenario("canonical-name-trim-all", 60859, ["1.30"], ["1.31"],
             text=deployment(labels={"service.istio.io/canonical-name": "web."}),
             check=lambda r: web(r)["spec"]["template"]["metadata"]["labels"]["service.istio.io/canonical-name"]
             == "web"),
    Scenario("proxy-init-image", 59292, ["1.30"], ["1.31"], values={"global": {"proxy_init": {"image": "proxy_init"}}},
             check=lambda r: container(web(r), "istio-init", init=True)["image"].split(":")[0].endswith("/proxy_init")),
    Scenario("fips-140-3-godebug", 59847, ["1.30"], ["1.31"], args=("--compliance-policy", "fips-140-3"),
             check=lambda r: env_of(container(web(r), "istio-proxy")).get("GODEBUG") == "fips140=only"),
    Scenario("gomaxprocs-env", 60755, ["1.32"], ["1.31"],
             check=lambda r: "GOMAXPROCS" in env_of(container(web(r), "istio-proxy"))),
    Scenario("gateway-proxy-image-annotation", 51900, ["1.22"], ["1.23"],
             text=deployment(annotations={**GATEWAY_ANNOTATION, "sidecar.istio.io/proxyImage": "reg.example/px:1"},
                             spec=GATEWAY),
             check=lambda r: container(web(r), "istio-proxy")["image"] == "reg.example/px:1"),
    Scenario("gateway-security-context-values", 51234, ["1.22.1"], ["1.22.2", "1.23"],
             text=deployment(annotations=GATEWAY_ANNOTATION, spec=GATEWAY),
             values={"gateways": {"securityContext": {"runAsNonRoot": True}}},
             check=lambda r: pod_spec(web(r))["securityContext"] == {"runAsNonRoot": True}),
    Scenario("gateway-default-container-unless-set", 55152, ["1.23.5", "1.24.3"], ["1.23.6", "1.24.4", "1.25"],
             text=deployment(annotations=GATEWAY_ANNOTATION, spec=GATEWAY_TWO_APPS),
             check=lambda r: web(r)["spec"]["template"]["metadata"]["annotations"].get(
                 "kubectl.kubernetes.io/default-container") == "helper"),
    Scenario("gateway-bootstrap-override", 56149, ["1.26"], ["1.27"],
             text=deployment(annotations={**GATEWAY_ANNOTATION, "sidecar.istio.io/bootstrapOverride": "boot"},
                             spec=GATEWAY),
             check=lambda r: volume(web(r), "custom-bootstrap-volume") == {
                 "name": "custom-bootstrap-volume", "configMap": {"name": "boot"}}),
    Scenario("gateway-workload-socket-no-empty-dir", 56217, ["1.26"], ["1.27"],
             text=deployment(annotations=GATEWAY_ANNOTATION, spec=GATEWAY),
             check=lambda r: volume(web(r), "workload-socket") == {"name": "workload-socket"}),
    Scenario("custom-proxy-run-as-user", 51012, ["1.22.0"], ["1.22.1", "1.23"],
             text=deployment(spec=APP + "      - {name: istio-proxy, image: auto, "
                                        "securityContext: {runAsUser: 1234}}\n"),
             check=lambda r: init_args(web(r))[init_args(web(r)).index("-u") + 1] == "1234"),
    Scenario("lifecycle-hook-rewrite", 53654, ["1.24"], ["1.25"],
             text=deployment(spec=APP + "        lifecycle: {preStop: {httpGet: {path: /stop, port: 8080}}}\n"),
             check=lambda r: container(web(r), "web")["lifecycle"]["preStop"]["httpGet"]["path"]
             == "/app-lifecycle/web/prestopz"),
    Scenario("multus-namespaced-network", 55000, ["1.23.5", "1.25.0"], ["1.23.6", "1.25.1", "1.26"],
             text=deployment(annotations={"k8s.v1.cni.cncf.io/networks": '[{"name": "sriov"}]'}),
             values={"pilot": {"cni": {"enabled": True, "provider": "multus"}}},
             check=lambda r: json.loads(_multus(r))[-1] == {"name": "istio-cni", "namespace": "default"}),
    Scenario("inject-label-strict", 56737, ["1.26"], ["1.27"],
             text=deployment(labels={"sidecar.istio.io/inject": "False"}),
             check=lambda r: any(c["name"] == "istio-proxy" for c in pod_spec(web(r))["containers"])),
    Scenario("prometheus-scrape-targets", 59924, ["1.30"], ["1.31"],
             text=deployment(annotations={"prometheus.istio.io/scrape-targets": "8080:/m,9000"}),
             check=lambda r: _scrape(r).get("targets") == [{"port": "8080", "path": "/m"},
                                                          {"port": "9000", "path": "/metrics"}]),
    Scenario("prometheus-secure-port", 60430, ["1.30"], ["1.31"],
             mesh={"defaultConfig": {"proxyMetadata": {"ENVOY_SECURE_MERGED_METRICS_PORT": "15091"}}},
             check=lambda r: web(r)["spec"]["template"]["metadata"]["annotations"].get(
                 "prometheus.istio.io/secure-port") == "15091"),
    Scenario("core-dump-annotation-validation", 53830, ["1.25"], ["1.24"],
             text=deployment(annotations={"sidecar.istio.io/enableCoreDump": "maybe"}),
             check=lambda r: r.code == 2 and "sidecar.istio.io/enableCoreDump" in r.err),
    Scenario("exclude-interfaces-validation", 58785, ["1.29"], ["1.30"],
             text=deployment(annotations={"traffic.sidecar.istio.io/excludeInterfaces": "eth0,bad iface"}),
             check=lambda r: r.code == 2 and "contains invalid characters" in r.err),
]

# Entries with no scenario: what they change is not visible in meshrender's output, or is
# measured elsewhere (each entry's `applies` in the table says why).
NOT_VISIBLE = {
    "native-sidecar-annotation", "native-sidecar-annotation-unless-false",  # the contract's mode table
    "tproxy-proxy-user",  # only with OpenShift's per-namespace UIDs
    "openshift-proxy-user-reset", "quoted-annotation-values", "quoted-resource-annotations",
    "proxy-resource-annotation-validation", "resources-omit-nil",
    "native-sidecars-by-default",  # tests/test_props_mode.py
    "release-registry",  # test_default_image_follows_the_release
    "proxy-enable-core-dump-value", "proxy-init-force-apply-value", "native-nftables-value",  # values only
    "app-probers-env-on-reinjection",  # a re-render is a fresh render: tests/test_reinject.py
}


@pytest.mark.parametrize("s", SCENARIOS, ids=[s.change for s in SCENARIOS])
def test_release_table_entry(s: Scenario, tmp_path):
    """Istio's change (istio/istio PR `s.pr`) is in the releases that have it, only."""
    entry = release.table().changes[s.change]
    assert entry.data["source"]["pr"] == s.pr
    for version, want in [(v, False) for v in s.without] + [(v, True) for v in s.with_]:
        r = render(tmp_path, version, s.text, s.values, s.mesh, *s.args, native=s.native)
        assert s.check(r) is want, f"{s.change} (istio/istio#{s.pr}) at {version}: expected " \
                                   f"{'present' if want else 'absent'}\n{r.err}"


def test_every_release_table_entry_has_a_scenario():
    names = set(release.table().changes)
    covered = {s.change for s in SCENARIOS}
    assert names - covered - NOT_VISIBLE == set(), "add a scenario for each new entry"
    assert (covered | NOT_VISIBLE) - names == set(), "scenarios for entries the table no longer has"
    for name in NOT_VISIBLE:
        data = release.table().changes[name].data
        assert data.get("applies") or data["kind"] == "default", f"{name}: say in `applies` why it is not visible"


# -- the flag, the profile, the summary ------------------------------------------------

PROFILE = """\
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {{name: prod}}
spec: {{kubernetesVersion: "1.30", provider: ack, flavor: {flavor}{extra}}}
"""


def test_older_than_supported_is_refused_with_the_supported_list():
    r = run_cli("render", "-", "--flavor", "istio", "--mesh-version", "1.21", stdin=deployment())
    assert r.code == 2 and r.out == ""
    assert "--mesh-version: Istio 1.21 is not supported" in r.err
    assert "1.22, 1.23, 1.24, 1.25, 1.26, 1.27, 1.28, 1.29, 1.30, 1.31, 1.32 (master)" in r.err


def test_profile_version_error_points_at_the_profile(repo, cli):
    root = repo({"profile.yaml": PROFILE.format(flavor="istio", extra=', meshVersion: "1.20"'),
                 "app.yaml": deployment()})
    r = cli("render", str(root))
    assert r.code == 2
    assert "profile.yaml:4:" in r.err and "spec.meshVersion: Istio 1.20 is not supported" in r.err


def test_newer_than_known_renders_as_the_newest_with_a_warning():
    newest = run_cli("render", "-", "--flavor", "istio", stdin=deployment())
    r = run_cli("render", "-", "--flavor", "istio", "--mesh-version", "1.40.2", stdin=deployment())
    assert r.code == 0
    assert "Istio 1.40.2 is newer than the newest release meshrender knows (1.32); rendering as 1.32" in r.err
    assert r.out == newest.out


def test_flag_wins_over_the_profile_and_the_summary_names_the_release(repo, cli, tmp_path):
    root = repo({"profile.yaml": PROFILE.format(flavor="istio", extra=', meshVersion: "1.24"'),
                 "app.yaml": deployment()})
    r = cli("render", str(root), "-o", str(tmp_path / "a"))
    assert "  mesh: Istio 1.24.6\n" in r.err
    r = cli("render", str(root), "--mesh-version", "1.27.2", "-o", str(tmp_path / "b"))
    assert "  mesh: Istio 1.27.2\n" in r.err
    doc = yaml.safe_load((tmp_path / "b" / "app.yaml").read_text())
    assert container(doc, "istio-proxy")["image"] == "docker.io/istio/proxyv2:1.27.2"
    # render-check reruns the render with the version it was made with
    assert "mesh-version: 1.27.2" in (tmp_path / "b" / ".meshrender-output").read_text()
    assert cli("render-check", "--against", str(tmp_path / "b")).code == 0  # replays --mesh-version


def test_summary_says_which_version_it_assumed(repo, cli, tmp_path):
    root = repo({"app.yaml": deployment()})
    r = cli("render", str(root), "--flavor", "istio", "-o", str(tmp_path / "o"))
    assert "  mesh: Istio 1.32-dev (master) (assumed: no --mesh-version or ClusterProfile meshVersion)" in r.err
    r = cli("render", str(root), "-o", str(tmp_path / "p"))
    assert "  mesh: ASM 1.22.2.35 (assumed" in r.err


# -- images ------------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "image"), [
    ("1.22", "docker.io/istio/proxyv2:1.22.8"),  # the newest patch of the line
    ("1.24.3", "docker.io/istio/proxyv2:1.24.3"),  # the patch asked for
    ("1.29", "docker.io/istio/proxyv2:1.29.6"),
    ("1.30", "registry.istio.io/release/proxyv2:1.30.3"),  # istio/istio#59364
    ("1.31", "registry.istio.io/release/proxyv2:1.31.0-rc.0"),
    ("1.32", "registry.istio.io/testing/proxyv2:latest"),  # master: its own dev build
])
def test_default_image_follows_the_release(version, image):
    r = run_cli("render", "-", "--flavor", "istio", "--mesh-version", version, stdin=deployment())
    assert container(web(r), "istio-proxy")["image"] == image
    assert container(web(r), "istio-init", init=True)["image"] == image


def test_asm_image_comes_from_the_profiles_region(repo, cli):
    root = repo({"profile.yaml": PROFILE.format(flavor="asm", extra=', meshVersion: "1.22", region: cn-beijing'),
                 "app.yaml": deployment()})
    doc = web(cli("render", str(root)))
    proxy = container(doc, "istio-proxy")
    assert proxy["image"] == "registry-cn-beijing-vpc.ack.aliyuncs.com/acs/proxyv2:v1.22.2.35-ge64ec8af-aliyun"
    assert container(doc, "istio-init", init=True)["image"] == proxy["image"]


def test_asm_version_without_a_known_image_is_refused_until_the_image_is_named(repo, cli):
    root = repo({"profile.yaml": PROFILE.format(flavor="asm", extra=', meshVersion: "1.25"'),
                 "app.yaml": deployment()})
    r = cli("render", str(root))
    assert r.code == 2 and r.out == ""
    assert "meshrender does not know the proxy image of ASM 1.25" in r.err
    assert "spec.proxy.image of a global SidecarProxySettings" in r.err
    image = "registry-cn-hangzhou-vpc.ack.aliyuncs.com/acs/proxyv2:v1.25.3.11-gabcdef0-aliyun"
    (root / "image.yaml").write_text(f"""\
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {{name: image}}
spec: {{proxy: {{image: {image}}}}}
""")
    doc = web(cli("render", str(root)))
    assert container(doc, "istio-proxy")["image"] == image
    assert volume(doc, "istio-ca-crl") is None  # ASM 1.25 is built on Istio 1.25
    # Traditional: istio-init runs the same image (Istio builds it from hub and tag, which
    # a cluster installed with this image has).
    doc = web(cli("render", str(root), "--native-sidecars", "false"))
    assert container(doc, "istio-init")["image"] == image == container(doc, "istio-proxy")["image"]


def test_asm_defaults_hold_the_app_and_exit_on_zero_connections():
    # "Default parameter settings in ASM": holdApplicationUntilProxyStarts and
    # EXIT_ON_ZERO_ACTIVE_CONNECTIONS on, unlike Istio.
    r = run_cli("render", "-", "--native-sidecars", "false", stdin=deployment())
    doc = web(r)
    assert [c["name"] for c in pod_spec(doc)["containers"]] == ["istio-proxy", "web"]
    proxy = container(doc, "istio-proxy")
    assert proxy["lifecycle"] == {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
    assert env_of(proxy)["EXIT_ON_ZERO_ACTIVE_CONNECTIONS"] == "true"
    istio = web(run_cli("render", "-", "--flavor", "istio", "--native-sidecars", "false", stdin=deployment()))
    assert [c["name"] for c in pod_spec(istio)["containers"]] == ["web", "istio-proxy"]
    assert "EXIT_ON_ZERO_ACTIVE_CONNECTIONS" not in env_of(container(istio, "istio-proxy"))


# -- lint ----------------------------------------------------------------------------------

def test_lint_flags_a_proxy_image_of_another_release(repo, cli):
    root = repo({"profile.yaml": PROFILE.format(flavor="istio", extra=', meshVersion: "1.24"'),
                 "image.yaml": """\
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: g}
spec:
  proxy: {image: docker.io/istio/proxyv2:1.26.1}
""", "app.yaml": deployment()})
    r = cli("lint", str(root), "--fail-on", "warning")
    assert r.code == 1
    assert "image.yaml:5:11: warning proxy-image-version-mismatch" in r.out
    assert "is release 1.26.1, but the mesh runs Istio 1.24.6" in r.out
    (root / "image.yaml").write_text((root / "image.yaml").read_text().replace("1.26.1", "1.24.2"))
    assert cli("lint", str(root), "--fail-on", "warning").code == 0  # same release line, no patch asked
    r = cli("lint", str(root), "--fail-on", "warning", "--mesh-version", "1.24.6")
    assert r.code == 1 and "is release 1.24.2, but the mesh runs Istio 1.24.6" in r.out
    (root / "app.yaml").write_text(deployment(annotations={"sidecar.istio.io/proxyImage": "reg.example/px:1.24.6"}))
    assert cli("lint", str(root), "--fail-on", "warning", "--mesh-version", "1.24.6").code == 0  # the pod wins


# -- the table as data -----------------------------------------------------------------------

def test_changes_between_two_releases_is_a_query_on_the_table():
    old, _ = release.resolve("istio", "1.26", "test")
    new, _ = release.resolve("istio", "1.28", "test")
    diff = old.changes_between(new)
    gained = {c.name for c in diff["gained"]}
    assert {"istio-ca-crl", "trust-bundle-name", "native-nftables", "seccomp-profile"} <= gained
    assert {c.name for c in diff["defaults"]} == {"native-sidecars-by-default", "native-nftables-value"}
    assert not diff["lost"]
    assert {c.name for c in new.changes_between(old)["lost"]} == gained


def test_every_supported_line_has_an_image_and_every_entry_a_source():
    raw = bundled.load("istio-releases.yaml")
    assert [e["line"] for e in raw["lines"]] == [f"1.{m}" for m in range(22, 33)]
    for entry in raw["changes"]:
        assert entry["source"]["commit"] and entry["source"]["pr"], entry["name"]
        assert entry.get("added") or entry.get("removed"), entry["name"]
