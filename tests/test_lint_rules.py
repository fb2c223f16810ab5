"""Every lint rule fires where it should, stays silent where it should, and points at the exact
file, line and column to change (computed here from the fixture text, not hard-coded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ACK_130 = """
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: prod}
spec: {kubernetesVersion: "1.30", provider: ack, meshVersion: "1.22", flavor: asm}
"""


def profile(kube: str = "1.30", provider: str = "ack", mesh: str = "1.22") -> str:
    return ACK_130.replace('"1.30"', f'"{kube}"').replace("provider: ack", f"provider: {provider}") \
        .replace('"1.22"', f'"{mesh}"')


def deployment(name: str = "web", ns: str = "shop", annotations: str = "", spec: str = "",
               kind: str = "Deployment", labels: str = "") -> str:
    """A workload whose pod template carries `annotations` / `labels` (YAML lines, 8-space indented)."""
    anns = f"\n      annotations:\n{annotations}" if annotations else ""
    extra = f"\n{labels}" if labels else ""
    body = spec or """      containers:
        - name: app
          image: registry.example.com/app:1.0
          ports:
            - containerPort: 8080"""
    return f"""apiVersion: apps/v1
kind: {kind}
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels:
        app: {name}{extra}{anns}
    spec:
{body}
"""


def job(name: str = "migrate", ns: str = "shop", annotations: str = "", command: str = "") -> str:
    anns = f"\n      annotations:\n{annotations}" if annotations else ""
    cmd = f"\n          command: {command}" if command else ""
    return f"""apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  namespace: {ns}
spec:
  template:
    metadata:
      labels:
        app: {name}{anns}
    spec:
      restartPolicy: Never
      containers:
        - name: {name}
          image: registry.example.com/{name}:1.0{cmd}
"""


def settings(spec: str, name: str = "global", ns: str | None = None) -> str:
    meta = f"  name: {name}\n" + (f"  namespace: {ns}\n" if ns else "")
    return f"""apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata:
{meta}spec:
{spec}"""


class Lint:
    """Write a repo, lint it as JSON, and look findings up by rule."""

    def __init__(self, cli, root: Path):
        self.cli, self.root = cli, root

    def __call__(self, files: dict[str, str], *flags: str) -> Lint:
        for rel, text in files.items():
            p = self.root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text.lstrip("\n"), encoding="utf-8")
        r = self.cli("lint", str(self.root), "--format", "json", *flags)
        assert r.code in (0, 1), r.err
        self.code, self.doc = r.code, json.loads(r.out)
        return self

    def of(self, rule: str) -> list[dict]:
        return [f for f in self.doc["findings"] if f["rule"] == rule]

    def where(self, rule: str) -> list[tuple[str, int, int]]:
        return sorted((Path(f["file"]).relative_to(self.root).as_posix(), f["line"], f["column"])
                      for f in self.of(rule))

    def at(self, rel: str, needle: str, nth: int = 1) -> tuple[str, int, int]:
        """Where `needle` starts in a written file (the nth occurrence)."""
        text = (self.root / rel).read_text(encoding="utf-8")
        pos = -1
        for _ in range(nth):
            pos = text.index(needle, pos + 1)
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return rel, line, col


@pytest.fixture
def lint(cli, tmp_path):
    return Lint(cli, tmp_path / "repo")


# -- native-sidecar-unsupported-kubernetes ----------------------------------------------

def test_native_on_old_community_kubernetes_points_at_the_annotation(lint):
    r = lint({"profile.yaml": profile("1.28", "community"),
              "app.yaml": deployment(annotations='        sidecar.istio.io/nativeSidecar: "true"')})
    assert r.where("native-sidecar-unsupported-kubernetes") == [r.at("app.yaml", "sidecar.istio.io/nativeSidecar")]
    message = r.of("native-sidecar-unsupported-kubernetes")[0]["message"]
    assert "SidecarContainers feature gate" in message and "out of order" in message
    assert r.of("native-sidecar-unsupported-kubernetes")[0]["severity"] == "error"
    assert r.code == 1


def test_native_on_ack_129_points_at_the_settings_field(lint):
    r = lint({"profile.yaml": profile("1.29", "ack"),
              "mesh.yaml": settings("  nativeSidecar: true\n"),
              "app.yaml": deployment()})
    assert r.where("native-sidecar-unsupported-kubernetes") == [r.at("mesh.yaml", "nativeSidecar")]
    assert "needs 1.30+" in r.of("native-sidecar-unsupported-kubernetes")[0]["message"]
    assert "SidecarContainers" not in r.of("native-sidecar-unsupported-kubernetes")[0]["message"]


def test_native_by_flag_points_at_the_profile_version(lint):
    r = lint({"profile.yaml": profile("1.27", "community"), "app.yaml": deployment()}, "--native-sidecars", "true")
    assert r.where("native-sidecar-unsupported-kubernetes") == [r.at("profile.yaml", "kubernetesVersion")]


def test_native_unsupported_is_silent_where_native_is_supported(lint):
    r = lint({"profile.yaml": profile("1.29", "community"),
              "app.yaml": deployment(annotations='        sidecar.istio.io/nativeSidecar: "true"')})
    assert r.of("native-sidecar-unsupported-kubernetes") == []
    r = lint({"profile.yaml": profile("1.30", "acs"), "mesh.yaml": settings("  nativeSidecar: true\n"),
              "app.yaml": deployment()})
    assert r.of("native-sidecar-unsupported-kubernetes") == []


# -- native-sidecar-available -----------------------------------------------------------

def test_traditional_by_annotation_on_a_native_cluster_is_reported_as_info(lint):
    r = lint({"profile.yaml": profile(),
              "app.yaml": deployment(annotations='        sidecar.istio.io/nativeSidecar: "false"')})
    assert r.where("native-sidecar-available") == [r.at("app.yaml", "sidecar.istio.io/nativeSidecar")]
    assert r.of("native-sidecar-available")[0]["severity"] == "info"
    assert r.code == 0  # info does not fail the default --fail-on error
    assert lint({}, "--fail-on", "info").code == 1


def test_native_available_is_silent_when_auto_says_traditional_or_a_webhook_needs_it(lint):
    r = lint({"profile.yaml": profile("1.28"), "app.yaml": deployment()})
    assert r.of("native-sidecar-available") == []
    r = lint({"profile.yaml": profile(),
              "ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n"
                         "    logging.kubesphere.io/logsidecar-injection: enabled\n",
              "app.yaml": deployment(annotations='        sidecar.istio.io/nativeSidecar: "false"')})
    assert r.of("native-sidecar-available") == []


# -- hold-application-ignored-in-native -------------------------------------------------

def test_hold_application_in_global_settings_for_a_native_workload(lint):
    r = lint({"profile.yaml": profile(),
              "mesh.yaml": settings("  proxy:\n    holdApplicationUntilProxyStarts: true\n"),
              "app.yaml": deployment()})
    assert r.where("hold-application-ignored-in-native") == [r.at("mesh.yaml", "holdApplicationUntilProxyStarts")]
    assert r.of("hold-application-ignored-in-native")[0]["workload"] == "Deployment shop/web"


def test_hold_application_in_proxy_config_annotation_points_inside_the_block(lint):
    anns = "        proxy.istio.io/config: |\n          concurrency: 2\n          holdApplicationUntilProxyStarts: true"
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(annotations=anns)})
    assert r.where("hold-application-ignored-in-native") == [r.at("app.yaml", "holdApplicationUntilProxyStarts")]


def test_hold_application_is_silent_for_traditional_workloads_and_when_false(lint):
    r = lint({"profile.yaml": profile("1.28"),
              "mesh.yaml": settings("  proxy:\n    holdApplicationUntilProxyStarts: true\n"),
              "app.yaml": deployment()})
    assert r.of("hold-application-ignored-in-native") == []
    r = lint({"profile.yaml": profile(),
              "mesh.yaml": settings("  proxy:\n    holdApplicationUntilProxyStarts: false\n")})
    assert r.of("hold-application-ignored-in-native") == []


# -- drain-settings-ignored-in-native ---------------------------------------------------

def test_drain_settings_for_a_native_workload(lint):
    spec = ("  proxy:\n    terminationDrainDuration: 30s\n"
            "    proxyMetadata:\n      EXIT_ON_ZERO_ACTIVE_CONNECTIONS: \"true\"\n")
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings(spec, "shop", "shop"), "app.yaml": deployment()})
    assert r.where("drain-settings-ignored-in-native") == sorted([
        r.at("mesh.yaml", "terminationDrainDuration"), r.at("mesh.yaml", "EXIT_ON_ZERO_ACTIVE_CONNECTIONS")])


def test_exit_on_zero_set_to_false_is_not_reported(lint):
    spec = "  proxy:\n    proxyMetadata:\n      EXIT_ON_ZERO_ACTIVE_CONNECTIONS: \"false\"\n"
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings(spec), "app.yaml": deployment()})
    assert r.of("drain-settings-ignored-in-native") == []


def test_drain_settings_are_silent_for_traditional_and_custom_lifecycles(lint):
    r = lint({"profile.yaml": profile("1.28"), "mesh.yaml": settings("  proxy:\n    terminationDrainDuration: 30s\n"),
              "app.yaml": deployment()})
    assert r.of("drain-settings-ignored-in-native") == []
    spec = ("  proxy:\n    terminationDrainDuration: 30s\n"
            "    lifecycle: {preStop: {exec: {command: [sleep, '5']}}}\n")
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings(spec)})
    assert r.of("drain-settings-ignored-in-native") == []
    assert r.of("lifecycle-overrides-native-drain") != []


# -- lifecycle-overrides-native-drain ---------------------------------------------------

def test_custom_lifecycle_in_settings_replaces_the_native_drain(lint):
    spec = "  proxy:\n    lifecycle:\n      postStart:\n        exec: {command: [pilot-agent, wait]}\n"
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings(spec), "app.yaml": deployment()})
    assert r.where("lifecycle-overrides-native-drain") == [r.at("mesh.yaml", "lifecycle")]


def test_custom_lifecycle_on_the_pods_own_proxy_container(lint):
    body = """      containers:
        - name: app
          image: registry.example.com/app:1.0
        - name: istio-proxy
          image: auto
          lifecycle:
            preStop:
              exec: {command: [sleep, "10"]}"""
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(spec=body)})
    assert r.where("lifecycle-overrides-native-drain") == [r.at("app.yaml", "preStop")]


def test_lifecycle_that_still_drains_or_traditional_mode_is_fine(lint):
    spec = ("  proxy:\n    lifecycle:\n      preStop:\n        exec:\n"
            "          command: [pilot-agent, request, --debug-port=15020, POST, drain]\n")
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings(spec), "app.yaml": deployment()})
    assert r.of("lifecycle-overrides-native-drain") == []
    spec = "  proxy:\n    lifecycle: {preStop: {exec: {command: [sleep, '5']}}}\n"
    r = lint({"profile.yaml": profile("1.28"), "mesh.yaml": settings(spec)})
    assert r.of("lifecycle-overrides-native-drain") == []


# -- job-sidecar-never-exits ------------------------------------------------------------

def test_traditional_job_points_at_the_pod_template(lint):
    r = lint({"profile.yaml": profile("1.28"), "job.yaml": job()})
    assert r.where("job-sidecar-never-exits") == [r.at("job.yaml", "metadata:", 2)]
    assert "quitquitquit" in r.of("job-sidecar-never-exits")[0]["message"]


def test_job_made_traditional_by_annotation_is_told_to_go_native(lint):
    r = lint({"profile.yaml": profile(),
              "job.yaml": job(annotations='        sidecar.istio.io/nativeSidecar: "false"')})
    assert r.where("job-sidecar-never-exits") == [r.at("job.yaml", "sidecar.istio.io/nativeSidecar")]
    assert "change pod annotation sidecar.istio.io/nativeSidecar: \\\"false\\\"" in \
        json.dumps(r.of("job-sidecar-never-exits")[0]["message"])


def test_native_jobs_and_jobs_that_stop_their_proxy_are_fine(lint):
    r = lint({"profile.yaml": profile(), "job.yaml": job()})
    assert r.of("job-sidecar-never-exits") == []
    r = lint({"profile.yaml": profile("1.28"),
              "job.yaml": job(command='[sh, -c, "run && curl -XPOST localhost:15020/quitquitquit"]')})
    assert r.of("job-sidecar-never-exits") == []


# -- init-container-without-mesh --------------------------------------------------------

INIT_BODY = """      initContainers:
        - name: fetch-config
          image: registry.example.com/fetch:1.0{sc}
      containers:
        - name: app
          image: registry.example.com/app:1.0"""


def test_init_container_under_a_traditional_sidecar(lint):
    r = lint({"profile.yaml": profile("1.28"), "app.yaml": deployment(spec=INIT_BODY.format(sc=""))})
    assert r.where("init-container-without-mesh") == [r.at("app.yaml", "name: fetch-config")]


def test_init_container_is_fine_as_uid_1337_in_native_mode_or_without_capture(lint):
    body = INIT_BODY.format(sc="\n          securityContext: {runAsUser: 1337}")
    r = lint({"profile.yaml": profile("1.28"), "app.yaml": deployment(spec=body)})
    assert r.of("init-container-without-mesh") == []
    assert r.of("proxy-uid-conflict") == []  # init containers may use the proxy's UID on purpose
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(spec=INIT_BODY.format(sc=""))})
    assert r.of("init-container-without-mesh") == []
    r = lint({"profile.yaml": profile("1.28"),
              "app.yaml": deployment(annotations='        sidecar.istio.io/interceptionMode: NONE',
                                     spec=INIT_BODY.format(sc=""))})
    assert r.of("init-container-without-mesh") == []


# -- invalid-mesh-annotation ------------------------------------------------------------

@pytest.mark.parametrize("name,value,says", [
    ("traffic.sidecar.istio.io/excludeOutboundPorts", '"5432,99999"', "99999"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", '"10.0.0.0/33"', "10.0.0.0/33"),
    ("sidecar.istio.io/proxyCPU", "lots", "not a quantity"),
    ("sidecar.istio.io/nativeSidecar", '"yes"', 'counts as \\"true\\"'),
    ("sidecar.istio.io/rewriteAppHTTPProbers", "maybe", "not a boolean"),
    ("sidecar.istio.io/inject", "enabled", "not injected"),
    ("sidecar.istio.io/statsFlushInterval", "5 seconds", "not a duration"),
    ("sidecar.istio.io/userVolume", "'[{\"name\": x}]'", "not valid JSON"),
    ("sidecar.istio.io/logLevel", "verbose", "not one of"),
    ("proxy.istio.io/config", "'terminationDrainDuration: soon'", "not a duration"),
    ("readiness.status.sidecar.istio.io/periodSeconds", '"-5"', "unsigned"),
])
def test_invalid_annotation_values(lint, name, value, says):
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(annotations=f"        {name}: {value}")})
    assert r.where("invalid-mesh-annotation") == [r.at("app.yaml", name)]
    assert says in json.dumps(r.of("invalid-mesh-annotation")[0]["message"])
    assert r.code == 1


def test_valid_annotations_are_not_reported(lint):
    anns = "\n".join([
        '        traffic.sidecar.istio.io/excludeOutboundPorts: "5432,6379"',
        '        traffic.sidecar.istio.io/includeOutboundIPRanges: "10.0.0.0/8"',
        '        sidecar.istio.io/proxyCPU: 200m',
        '        sidecar.istio.io/nativeSidecar: "true"',
        '        sidecar.istio.io/rewriteAppHTTPProbers: "false"',
        '        sidecar.istio.io/statsFlushInterval: 10s',
        # Istio's template ranges over a JSON object: volume name -> volume source.
        "        sidecar.istio.io/userVolume: '{\"certs\": {\"secret\": {\"secretName\": \"c\"}}}'",
        "        proxy.istio.io/config: '{concurrency: 4}'",
    ])
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(annotations=anns)})
    assert r.of("invalid-mesh-annotation") == []
    assert r.code == 0


def test_invalid_setting_value_points_at_the_settings_field_once(lint):
    spec = "  traffic:\n    excludeInboundPorts: 7013,70000\n"
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings(spec, "shop", "shop"),
              "a.yaml": deployment("a"), "b.yaml": deployment("b")})
    assert r.where("invalid-mesh-annotation") == [r.at("mesh.yaml", "excludeInboundPorts")]
    assert r.of("invalid-mesh-annotation")[0]["workload"] is None
    assert "70000" in r.of("invalid-mesh-annotation")[0]["message"]


def test_settings_document_that_fails_its_schema_is_a_finding_not_exit_2(lint):
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings('  nativeSidecar: "yes"\n'), "app.yaml": deployment()})
    assert r.where("invalid-mesh-annotation") == [r.at("mesh.yaml", "nativeSidecar")]
    assert r.code == 1
    assert r.of("hold-application-ignored-in-native") == []  # the rest was still checked


# -- unknown-mesh-annotation ------------------------------------------------------------

def test_unknown_annotation_with_a_did_you_mean(lint):
    r = lint({"app.yaml": deployment(annotations="        sidecar.istio.io/proxyCpu: 500m")})
    assert r.where("unknown-mesh-annotation") == [r.at("app.yaml", "sidecar.istio.io/proxyCpu")]
    assert "did you mean sidecar.istio.io/proxyCPU?" in r.of("unknown-mesh-annotation")[0]["message"]
    r = lint({"app.yaml": deployment(annotations='        traffic.sidecar.istio.io/excludeOutboundPort: "53"')})
    assert "did you mean traffic.sidecar.istio.io/excludeOutboundPorts?" in \
        r.of("unknown-mesh-annotation")[0]["message"]


def test_unknown_rule_in_ignore_annotation_points_at_the_rule_name(lint):
    r = lint({"app.yaml": deployment(
        annotations="        meshrender.dev/ignore: proxy-uid-conflict,proxy-uid-conflcit")})
    assert r.where("unknown-mesh-annotation") == [r.at("app.yaml", "proxy-uid-conflcit")]
    assert "did you mean proxy-uid-conflict?" in r.of("unknown-mesh-annotation")[0]["message"]


def test_known_and_foreign_annotations_are_not_reported(lint):
    anns = "\n".join(["        sidecar.istio.io/proxyCPU: 500m", "        example.com/owner: team-a",
                      "        prometheus.io/scrape: \"true\"", "        meshrender.dev/ignore: '*'"])
    r = lint({"app.yaml": deployment(annotations=anns)})
    assert r.of("unknown-mesh-annotation") == []


# -- mesh-annotation-on-workload-metadata -----------------------------------------------

def test_pod_annotation_on_the_deployments_metadata(lint):
    text = deployment().replace("  namespace: shop\n", "  namespace: shop\n  annotations:\n"
                                "    sidecar.istio.io/inject: \"false\"\n    networking.istio.io/exportTo: \".\"\n", 1)
    r = lint({"app.yaml": text})
    assert r.where("mesh-annotation-on-workload-metadata") == [r.at("app.yaml", "sidecar.istio.io/inject")]
    assert "spec.template.metadata.annotations" in r.of("mesh-annotation-on-workload-metadata")[0]["message"]


def test_pod_annotations_in_the_template_are_fine(lint):
    r = lint({"app.yaml": deployment(annotations='        sidecar.istio.io/inject: "true"')})
    assert r.of("mesh-annotation-on-workload-metadata") == []


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


# -- proxy-resources-request-exceeds-limit ----------------------------------------------

def test_request_from_namespace_settings_above_global_limit(lint):
    r = lint({"global.yaml": settings("  proxy:\n    resources:\n      limits: {cpu: \"1\", memory: 1Gi}\n"),
              "shop.yaml": settings("  proxy:\n    resources:\n      requests: {cpu: 1500m}\n", "shop", "shop"),
              "app.yaml": deployment()})
    assert r.where("proxy-resources-request-exceeds-limit") == [r.at("shop.yaml", "cpu")]
    message = r.of("proxy-resources-request-exceeds-limit")[0]["message"]
    assert "1500m" in message and "SidecarProxySettings global" in message


def test_request_above_limit_in_annotations(lint):
    anns = "        sidecar.istio.io/proxyCPU: \"3\"\n        sidecar.istio.io/proxyCPULimit: \"2\""
    r = lint({"app.yaml": deployment(annotations=anns)})
    assert r.where("proxy-resources-request-exceeds-limit") == [r.at("app.yaml", "sidecar.istio.io/proxyCPU:")]


def test_init_request_above_limit(lint):
    r = lint({"global.yaml": settings("  init:\n    resources:\n      requests: {memory: 1Gi}\n"
                                      "      limits: {memory: 512Mi}\n"), "app.yaml": deployment()})
    assert r.where("proxy-resources-request-exceeds-limit") == [r.at("global.yaml", "memory: 1Gi")]
    assert r.of("proxy-resources-request-exceeds-limit")[0]["message"].startswith("istio-init")


def test_annotations_replace_the_settings_block_so_no_conflict(lint):
    # The template takes requests and limits from annotations only once any is set.
    r = lint({"global.yaml": settings("  proxy:\n    resources:\n      limits: {cpu: \"1\"}\n"),
              "app.yaml": deployment(annotations='        sidecar.istio.io/proxyCPU: "2"')})
    assert r.of("proxy-resources-request-exceeds-limit") == []


# -- reinjected-by-cluster-webhook ------------------------------------------------------

def namespace(labels: str = "", annotations: str = "", name: str = "shop") -> str:
    text = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    if labels:
        text += f"  labels:\n{labels}\n"
    if annotations:
        text += f"  annotations:\n{annotations}\n"
    return text


def test_namespace_labelled_for_injection(lint):
    r = lint({"ns.yaml": namespace("    istio-injection: enabled"), "app.yaml": deployment()})
    assert r.where("reinjected-by-cluster-webhook") == [r.at("ns.yaml", "istio-injection")]
    r = lint({"ns.yaml": namespace("    istio.io/rev: canary")})
    assert r.where("reinjected-by-cluster-webhook") == [r.at("ns.yaml", "istio.io/rev")]


def test_pod_label_that_asks_the_cluster_for_injection(lint):
    r = lint({"app.yaml": deployment(labels='        sidecar.istio.io/inject: "true"')})
    assert r.where("reinjected-by-cluster-webhook") == [r.at("app.yaml", "sidecar.istio.io/inject")]


def test_no_reinjection_without_labels_or_when_disabled(lint):
    r = lint({"ns.yaml": namespace("    istio-injection: disabled"),
              "app.yaml": deployment(labels='        sidecar.istio.io/inject: "true"')})
    assert r.of("reinjected-by-cluster-webhook") == []
    r = lint({"ns.yaml": namespace("    istio-injection: enabled"),
              "app.yaml": deployment(annotations='        sidecar.istio.io/inject: "false"')})
    assert r.of("reinjected-by-cluster-webhook") == []


# -- proxy-uid-conflict -----------------------------------------------------------------

def test_app_container_running_as_the_proxy_uid(lint):
    body = """      containers:
        - name: app
          image: registry.example.com/app:1.0
          securityContext:
            runAsUser: 1337"""
    r = lint({"app.yaml": deployment(spec=body)})
    assert r.where("proxy-uid-conflict") == [r.at("app.yaml", "runAsUser")]


def test_pod_level_uid_inherited_by_containers(lint):
    body = """      securityContext:
        runAsUser: 1337
      containers:
        - name: app
          image: registry.example.com/app:1.0
        - name: worker
          image: registry.example.com/worker:1.0
          securityContext: {runAsUser: 1000}"""
    r = lint({"app.yaml": deployment(spec=body)})
    assert r.where("proxy-uid-conflict") == [r.at("app.yaml", "runAsUser")]
    assert "container app" in r.of("proxy-uid-conflict")[0]["message"]


def test_other_uids_and_uninjected_pods_are_fine(lint):
    body = "      containers:\n        - name: app\n          image: a:1\n          securityContext: {runAsUser: 1000}"
    assert lint({"app.yaml": deployment(spec=body)}).of("proxy-uid-conflict") == []
    body = "      containers:\n        - name: app\n          image: a:1\n          securityContext: {runAsUser: 1337}"
    r = lint({"app.yaml": deployment(annotations='        sidecar.istio.io/inject: "false"', spec=body)})
    assert r.of("proxy-uid-conflict") == []


# -- webhook-strips-native-sidecar ------------------------------------------------------

SWAPPER = """apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: image-swapper
  labels: {{app.kubernetes.io/version: "{version}"}}
webhooks:
  - name: k8s-image-swapper.github.io
    namespaceSelector: {{matchLabels: {{team: {team}}}}}
    rules:
      - {{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}}
"""


def test_kubesphere_namespace_label_strips_native_sidecars(lint):
    r = lint({"profile.yaml": profile(),
              "ns.yaml": namespace("    logging.kubesphere.io/logsidecar-injection: enabled"),
              "app.yaml": deployment()})
    assert r.where("webhook-strips-native-sidecar") == [r.at("ns.yaml", "logging.kubesphere.io/logsidecar-injection")]
    assert "KubeSphere logsidecar-injector" in r.of("webhook-strips-native-sidecar")[0]["message"]


def test_known_webhook_configuration_among_the_inputs(lint):
    r = lint({"profile.yaml": profile(), "ns.yaml": namespace("    team: shop"),
              "hook.yaml": SWAPPER.format(version="1.5.2", team="shop"), "app.yaml": deployment()})
    assert r.where("webhook-strips-native-sidecar") == [r.at("hook.yaml", "name: k8s-image-swapper.github.io")]
    assert "1.5.10" in r.of("webhook-strips-native-sidecar")[0]["message"]


def test_fixed_unmatched_or_traditional_is_fine(lint):
    files = {"profile.yaml": profile(), "ns.yaml": namespace("    team: shop"), "app.yaml": deployment()}
    assert lint({**files, "hook.yaml": SWAPPER.format(version="1.5.10", team="shop")}).of(
        "webhook-strips-native-sidecar") == []
    assert lint({**files, "hook.yaml": SWAPPER.format(version="1.5.2", team="data")}).of(
        "webhook-strips-native-sidecar") == []
    r = lint({**files, "hook.yaml": SWAPPER.format(version="1.5.2", team="shop"),
              "app.yaml": deployment(annotations='        sidecar.istio.io/nativeSidecar: "false"')})
    assert r.of("webhook-strips-native-sidecar") == []


# -- render-error -----------------------------------------------------------------------

def test_unknown_injection_template_is_a_finding_at_the_annotation(lint):
    r = lint({"app.yaml": deployment(annotations="        inject.istio.io/templates: sidecar,tracing")})
    assert r.where("render-error") == [r.at("app.yaml", "inject.istio.io/templates")]
    assert r.code == 1


def test_same_scope_settings_conflict_and_broken_workload_are_findings(lint):
    r = lint({"a.yaml": settings("  proxy:\n    concurrency: 2\n", "a", "shop"),
              "b.yaml": settings("  proxy:\n    concurrency: 4\n", "b", "shop"),
              "app.yaml": deployment(),
              "broken.yaml": deployment("broken", spec="      containers: nope")})
    assert r.where("render-error") == sorted([r.at("b.yaml", "concurrency"), r.at("broken.yaml", "containers")])
    assert r.code == 1


def test_known_templates_render_fine(lint):
    r = lint({"app.yaml": deployment(annotations="        inject.istio.io/templates: sidecar")})
    assert r.of("render-error") == []
    assert r.code == 0


def test_global_settings_conflict_is_reported_and_annotations_are_still_checked(lint):
    r = lint({"a.yaml": settings("  proxy:\n    concurrency: 2\n", "a"),
              "b.yaml": settings("  proxy:\n    concurrency: 4\n", "b"),
              "app.yaml": deployment(annotations="        sidecar.istio.io/proxyCpu: \"1\"")})
    assert r.where("render-error") == [r.at("b.yaml", "concurrency")]
    assert r.where("unknown-mesh-annotation") == [r.at("app.yaml", "sidecar.istio.io/proxyCpu")]


def test_invalid_value_in_a_values_file_points_into_that_file(lint, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text('global:\n  proxy:\n    excludeIPRanges: "10.0.0.0/8,300.0.0.0/8"\n', encoding="utf-8")
    r = lint({"app.yaml": deployment()}, "--values", str(values))
    assert [(f["file"], f["line"], f["column"]) for f in r.of("invalid-mesh-annotation")] == [(str(values), 3, 5)]
    assert "300.0.0.0/8" in r.of("invalid-mesh-annotation")[0]["message"]
