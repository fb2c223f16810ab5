"""Template selection through the CLI: the built-in templates, lists of templates, user
templates from the injector values (plain YAML applies; Go-template logic is refused
with a clear message), and unknown template names."""

from __future__ import annotations

import json
import textwrap

from tests.conftest import container, env_of, pod_spec


def workload(templates: str, containers: str = "- {name: app, image: nginx}") -> str:
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: svc, namespace: shop}}
        spec:
          selector: {{matchLabels: {{app: svc}}}}
          template:
            metadata:
              labels: {{app: svc}}
              annotations:
                inject.istio.io/templates: "{templates}"
            spec:
              containers:
        """) + textwrap.indent(containers + "\n", " " * 6)


VALUES_WITH_TEMPLATES = """\
sidecarInjectorWebhook:
  templates:
    extra-env: |
      spec:
        containers:
        - name: istio-proxy
          env:
          - {name: EXTRA, value: "1"}
        volumes:
        - name: extra
          emptyDir: {}
    per-container: |
      spec:
        containers:
        {{- range .Spec.Containers }}
        - name: {{ .Name }}
        {{- end }}
"""


def status(doc: dict) -> dict:
    return json.loads(doc["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/status"])


def test_gateway_template_runs_the_router_and_stays_a_container_in_native_mode(cli):
    text = workload("gateway", "- {name: istio-proxy, image: auto}")
    r = cli("render", "--flavor", "istio", "--native-sidecars", "true", "-", stdin=text)
    assert r.code == 0, r.err
    doc = r.docs()[0]
    spec = pod_spec(doc)
    assert [c["name"] for c in spec["containers"]] == ["istio-proxy"]
    assert "initContainers" not in spec  # no iptables: a gateway is not a sidecar
    proxy = spec["containers"][0]
    assert proxy["args"][:2] == ["proxy", "router"]
    assert proxy["image"] == "registry.istio.io/testing/proxyv2:latest"  # image: auto replaced (master's)
    assert spec["securityContext"]["sysctls"] == [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]


def test_grpc_agent_forces_dns_capture_off_after_proxy_metadata(cli, tmp_path):
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("defaultConfig: {proxyMetadata: {ISTIO_META_DNS_CAPTURE: 'true'}}\n")
    r = cli("render", "--flavor", "istio", "--mesh-config", str(mesh), "-", stdin=workload("grpc-agent"))
    assert r.code == 0, r.err
    doc = r.docs()[0]
    env = [(e["name"], e.get("value")) for e in container(doc, "istio-proxy")["env"]]
    dns = [v for n, v in env if n == "ISTIO_META_DNS_CAPTURE"]
    assert dns == ["true", "false"]  # as the template writes them: the later one wins
    app = container(doc, "app")
    assert env_of(app)["GRPC_XDS_BOOTSTRAP"] == "/etc/istio/proxy/grpc-bootstrap.json"
    assert status(doc)["containers"] == ["istio-proxy", "app"]


def test_grpc_simple_injects_only_the_bootstrap(cli):
    r = cli("render", "--flavor", "istio", "-", stdin=workload("grpc-simple"))
    assert r.code == 0, r.err
    spec = pod_spec(r.docs()[0])
    assert [c["name"] for c in spec["containers"]] == ["app"]
    assert [c["name"] for c in spec["initContainers"]] == ["grpc-bootstrap-init"]
    assert env_of(spec["initContainers"][0])["ISTIO_NAMESPACE"] == "istio-system\n"


def test_a_list_of_templates_applies_in_order_with_a_plain_yaml_user_template(cli, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(VALUES_WITH_TEMPLATES)
    r = cli("render", "--flavor", "istio", "--values", str(values), "-", stdin=workload("sidecar, extra-env"))
    assert r.code == 0, r.err
    doc = r.docs()[0]
    # each template is strategic-merged over the previous ones: items new to a list come
    # first, as apimachinery orders them
    assert container(doc, "istio-proxy")["env"][0] == {"name": "EXTRA", "value": "1"}
    assert status(doc)["volumes"][:2] == ["extra", "workload-socket"]


def test_go_template_user_template_is_refused_naming_template_workload_and_lines(cli, repo):
    root = repo({
        "mesh/iop.yaml": "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: cp}\n"
                         "spec:\n  values:\n" + textwrap.indent(VALUES_WITH_TEMPLATES, "    "),
        "apps/svc.yaml": workload("sidecar,per-container"),
    })
    out = root.parent / "out"
    r = cli("render", "--flavor", "istio", str(root), "-o", str(out))
    assert r.code == 2
    assert f"{root / 'apps' / 'svc.yaml'}:10:9:" in r.err  # the inject.istio.io/templates annotation
    assert "unsupported injection template 'per-container'" in r.err
    assert "Deployment shop/svc" in r.err
    assert f"{root / 'mesh' / 'iop.yaml'}:" in r.err  # where the template is defined
    assert "Traceback" not in r.err
    assert not out.exists()


def test_unknown_template_is_refused_listing_the_known_ones(cli):
    r = cli("render", "--flavor", "istio", "-", stdin=workload("sidecar,nope"))
    assert r.code == 2
    assert "'nope' not found" in r.err
    assert "gateway, grpc-agent, grpc-simple, sidecar" in r.err


def test_default_templates_from_the_values_apply_to_pods_without_the_annotation(cli, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(VALUES_WITH_TEMPLATES + "  defaultTemplates: [sidecar, extra-env]\n")
    text = workload("x").replace('      annotations:\n        inject.istio.io/templates: "x"\n', "")
    r = cli("render", "--flavor", "istio", "--values", str(values), "-", stdin=text)
    assert r.code == 0, r.err
    assert env_of(container(r.docs()[0], "istio-proxy"))["EXTRA"] == "1"
