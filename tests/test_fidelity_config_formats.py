"""Istio's own configuration formats as render inputs, through the CLI: IstioOperator,
the `istio` and `istio-sidecar-injector` ConfigMaps as `kubectl get cm -o yaml` prints
them, and ProxyConfig resources at root-namespace, namespace and selector scope; with
Istio's precedence among them and the contract's precedence against --values,
--mesh-config and SidecarProxySettings."""

from __future__ import annotations

import json
import textwrap

from tests.conftest import container, env_of, pod_spec


def deployment(name: str = "web", ns: str = "shop", labels: str = "", annotations: str = "") -> str:
    labels = labels or f"app: {name}"
    return textwrap.dedent(f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}, namespace: {ns}}}
        spec:
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata:
              labels: {{{labels}}}
              annotations: {{{annotations}}}
            spec:
              containers:
              - name: {name}
                image: nginx
        """)


def render(cli, repo, files: dict[str, str], *args: str):
    root = repo(files)
    return cli("render", "--flavor", "istio", "--native-sidecars", "false", *args, str(root))


def by_name(r) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in r.docs() if d.get("kind") == "Deployment"}


def proxy_env(doc: dict) -> dict:
    return env_of(container(doc, "istio-proxy"))


def proxy_config(doc: dict) -> dict:
    return json.loads(proxy_env(doc)["PROXY_CONFIG"])


ISTIO_OPERATOR = """\
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: control-plane, namespace: istio-system}
spec:
  hub: registry.example.com/istio
  tag: 1.24.1
  revision: canary
  values:
    global:
      hub: ignored.example.com
      proxy:
        resources:
          requests: {cpu: 50m, memory: 64Mi}
  meshConfig:
    trustDomain: corp.example
    defaultConfig:
      concurrency: 4
"""

# What `kubectl get cm istio -n istio-system -o yaml` prints.
MESH_CONFIGMAP = """\
apiVersion: v1
data:
  mesh: |-
    defaultConfig:
      discoveryAddress: istiod.istio-system.svc:15012
      holdApplicationUntilProxyStarts: true
      tracing:
        zipkin:
          address: zipkin.istio-system:9411
    enablePrometheusMerge: true
    rootNamespace: istio-system
    trustDomain: cluster.local
  meshNetworks: 'networks: {}'
kind: ConfigMap
metadata:
  creationTimestamp: "2024-05-01T10:00:00Z"
  labels:
    install.operator.istio.io/owning-resource: unknown
    istio.io/rev: default
    operator.istio.io/component: Pilot
    release: istio
  name: istio
  namespace: istio-system
  resourceVersion: "1234"
  uid: 5f0c7c40-5d0a-4a7c-9c59-0c8e2f1b3a11
"""

# What `kubectl get cm istio-sidecar-injector -n istio-system -o yaml` prints: values as
# JSON, config as YAML holding Istio's own Go templates plus a plain-YAML custom one.
INJECTOR_CONFIGMAP = """\
apiVersion: v1
data:
  config: |-
    # defaultTemplates defines the default template to use for pods that do not explicitly specify a template
    defaultTemplates: [sidecar]
    policy: enabled
    alwaysInjectSelector:
      []
    neverInjectSelector:
      - matchExpressions:
        - {key: job-type, operator: In, values: [migration]}
    injectedAnnotations:
      cluster-autoscaler.kubernetes.io/safe-to-evict: "true"
    template: "{{ Template_Version_And_Istio_Version_Mismatched_Check_Installation }}"
    templates:
      sidecar: |
        {{- $containers := list }}
        metadata:
          labels: {}
      gateway: |
        {{- $containers := list }}
      extra-env: |
        spec:
          containers:
          - name: istio-proxy
            env:
            - name: EXTRA
              value: "yes"
  values: |-
    {
      "global": {
        "hub": "docker.io/istio",
        "tag": "1.23.2",
        "istioNamespace": "istio-system",
        "proxy": {
          "logLevel": "debug",
          "autoInject": "enabled"
        }
      },
      "revision": "",
      "sidecarInjectorWebhook": {
        "rewriteAppHTTPProbe": true,
        "templates": {}
      }
    }
kind: ConfigMap
metadata:
  creationTimestamp: "2024-05-01T10:00:00Z"
  labels:
    istio.io/rev: default
    release: istio
  name: istio-sidecar-injector
  namespace: istio-system
  resourceVersion: "1235"
  uid: 2b7d1a3e-0c4f-4f55-8a3b-4e3d2f9c7a01
"""


def test_istio_operator_values_mesh_config_and_shortcuts(cli, repo):
    r = render(cli, repo, {"iop.yaml": ISTIO_OPERATOR, "app.yaml": deployment()})
    assert r.code == 0, r.err
    doc = by_name(r)["web"]
    proxy = container(doc, "istio-proxy")
    assert proxy["image"] == "registry.example.com/istio/proxyv2:1.24.1"  # spec.hub beats values
    # values merge with the chart's defaults as Helm merges them: limits stay
    assert proxy["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                  "limits": {"cpu": "2", "memory": "1Gi"}}
    env = proxy_env(doc)
    assert env["CA_ADDR"] == "istiod-canary.istio-system.svc:15012"
    assert env["TRUST_DOMAIN"] == "corp.example"
    assert proxy_config(doc) == {"concurrency": 4}
    annotations = doc["spec"]["template"]["metadata"]["annotations"]
    assert annotations["istio.io/rev"] == "canary"
    assert json.loads(annotations["sidecar.istio.io/status"])["revision"] == "canary"
    assert any(d.get("kind") == "IstioOperator" for d in r.docs())  # a cluster object: passed through


def test_mesh_configmap_as_kubectl_prints_it(cli, repo):
    r = render(cli, repo, {"cm.yaml": MESH_CONFIGMAP, "app.yaml": deployment()})
    assert r.code == 0, r.err
    doc = by_name(r)["web"]
    names = [c["name"] for c in pod_spec(doc)["containers"]]
    assert names == ["istio-proxy", "web"]  # holdApplicationUntilProxyStarts from data.mesh
    assert proxy_config(doc) == {"holdApplicationUntilProxyStarts": True}
    assert container(doc, "istio-proxy")["lifecycle"]["postStart"]["exec"]["command"] == ["pilot-agent", "wait"]


def test_injector_configmap_values_json_and_config(cli, repo):
    files = {
        "cm.yaml": INJECTOR_CONFIGMAP,
        "app.yaml": deployment(),
        "migrate.yaml": deployment("migrate", labels="app: migrate, job-type: migration"),
        "extra.yaml": deployment("extra", annotations="inject.istio.io/templates: 'sidecar,extra-env'"),
    }
    r = render(cli, repo, files)
    assert r.code == 0, r.err
    docs = by_name(r)
    web = docs["web"]
    proxy = container(web, "istio-proxy")
    assert proxy["image"] == "docker.io/istio/proxyv2:1.23.2"
    assert "--proxyLogLevel=debug" in proxy["args"]
    anns = web["spec"]["template"]["metadata"]["annotations"]
    assert anns["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "true"  # injectedAnnotations
    # neverInjectSelector: the webhook leaves the migration pod alone
    assert "istio-proxy" not in [c["name"] for c in pod_spec(docs["migrate"])["containers"]]
    assert "neverInjectSelector" in r.err
    # a plain-YAML template from data.config.templates applies; Istio's own Go copies of
    # the built-in templates are not used (meshrender has them built in)
    assert env_of(container(docs["extra"], "istio-proxy"))["EXTRA"] == "yes"


def test_injector_configmap_values_as_yaml_and_revisioned_names(cli, repo):
    cm = textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: istio-sidecar-injector-canary, namespace: istio-system}
        data:
          values: |
            revision: canary
            global:
              proxy: {logLevel: error}
        """)
    mesh = MESH_CONFIGMAP.replace("name: istio\n", "name: istio-canary\n")
    r = render(cli, repo, {"cm.yaml": cm, "mesh.yaml": mesh, "app.yaml": deployment()})
    assert r.code == 0, r.err
    doc = by_name(r)["web"]
    assert proxy_env(doc)["CA_ADDR"] == "istiod-canary.istio-system.svc:15012"
    assert "--proxyLogLevel=error" in container(doc, "istio-proxy")["args"]
    assert proxy_config(doc) == {"holdApplicationUntilProxyStarts": True}


def test_unrelated_istio_configmaps_are_plain_documents(cli, repo):
    cm = textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: istio-ca-root-cert, namespace: shop}
        data:
          root-cert.pem: "-----BEGIN CERTIFICATE-----"
        """)
    r = render(cli, repo, {"a.yaml": cm, "app.yaml": deployment()})
    assert r.code == 0, r.err
    assert any(d.get("kind") == "ConfigMap" for d in r.docs())


def test_two_injector_configmaps_are_refused(cli, repo):
    second = INJECTOR_CONFIGMAP.replace("name: istio-sidecar-injector\n", "name: istio-sidecar-injector-canary\n")
    root = repo({"a.yaml": INJECTOR_CONFIGMAP, "b.yaml": second, "app.yaml": deployment()})
    r = cli("render", "--flavor", "istio", str(root))
    assert r.code == 2
    assert f"{root / 'b.yaml'}:" in r.err
    assert "istio-sidecar-injector-canary" in r.err and "a.yaml" in r.err


def test_broken_embedded_values_point_at_data_values(cli, repo):
    cm = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-sidecar-injector}\ndata:\n"
          "  values: '{\"global\": ['\n")
    root = repo({"cm.yaml": cm, "app.yaml": deployment()})
    r = cli("render", "--flavor", "istio", str(root))
    assert r.code == 2
    assert f"{root / 'cm.yaml'}:5:3:" in r.err and "data.values" in r.err


def test_configmap_wins_over_istio_operator_whatever_the_input_order(cli, repo):
    """The ConfigMaps are what istiod reads; an IstioOperator is what generates them."""
    iop = "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n  values:\n    global:\n" \
          "      proxy: {logLevel: trace}\n"
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-sidecar-injector}\ndata:\n" \
         "  values: '{\"global\": {\"proxy\": {\"logLevel\": \"critical\"}}}'\n"
    for first, second in (("a.yaml", "b.yaml"), ("b.yaml", "a.yaml")):
        r = render(cli, repo, {first: iop, second: cm, "app.yaml": deployment()})
        assert r.code == 0, r.err
        assert "--proxyLogLevel=critical" in container(by_name(r)["web"], "istio-proxy")["args"]


def test_values_flag_wins_over_in_repo_config_and_accepts_istio_formats(cli, repo, tmp_path):
    iop_file = tmp_path / "iop.yaml"
    iop_file.write_text("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nspec:\n"
                        "  tag: 9.9.9\n  values: {global: {proxy: {logLevel: info}}}\n"
                        "  meshConfig: {defaultConfig: {concurrency: 7}}\n")
    mesh_cm = tmp_path / "mesh.yaml"
    mesh_cm.write_text(MESH_CONFIGMAP.replace("holdApplicationUntilProxyStarts: true", "concurrency: 1"))
    r = render(cli, repo, {"cm.yaml": INJECTOR_CONFIGMAP, "app.yaml": deployment()},
               "--values", str(iop_file), "--mesh-config", str(mesh_cm))
    assert r.code == 0, r.err
    doc = by_name(r)["web"]
    proxy = container(doc, "istio-proxy")
    assert proxy["image"] == "docker.io/istio/proxyv2:9.9.9"  # --values' IstioOperator tag
    assert "--proxyLogLevel=info" in proxy["args"]  # --values beats the in-repo ConfigMap
    # --values takes an IstioOperator's values only; its meshConfig is --mesh-config's job
    assert proxy_config(doc) == {"concurrency": 1}


PROXY_CONFIGS = """\
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata: {name: mesh-wide, namespace: istio-system}
spec:
  concurrency: 3
  environmentVariables: {MESH_WIDE: "1", OVERRIDDEN: mesh}
---
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata: {name: shop, namespace: shop}
spec:
  concurrency: 4
  environmentVariables: {OVERRIDDEN: namespace}
---
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  concurrency: 5
  image: {imageType: distroless}
---
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata: {name: elsewhere, namespace: other}
spec:
  selector: {matchLabels: {app: web}}
  concurrency: 9
---
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata: {name: root-selector, namespace: istio-system}
spec:
  selector: {matchLabels: {app: web}}
  concurrency: 8
"""


def test_proxy_config_scopes_and_istio_precedence(cli, repo):
    files = {
        "pc.yaml": PROXY_CONFIGS,
        "web.yaml": deployment("web"),
        "api.yaml": deployment("api"),
        "far.yaml": deployment("far", ns="far"),
        "sys.yaml": deployment("web", ns="istio-system").replace("name: web, namespace: istio-system",
                                                                  "name: sysweb, namespace: istio-system"),
    }
    r = render(cli, repo, files)
    assert r.code == 0, r.err
    docs = by_name(r)
    assert proxy_config(docs["far"])["concurrency"] == 3  # root namespace: mesh-wide
    assert proxy_config(docs["api"])["concurrency"] == 4  # namespace beats mesh-wide
    assert proxy_config(docs["web"])["concurrency"] == 5  # selector beats namespace
    # a selector in another namespace, or in the root namespace, selects only there
    assert proxy_config(docs["sysweb"])["concurrency"] == 8
    assert proxy_env(docs["far"])["MESH_WIDE"] == "1"
    assert proxy_env(docs["api"])["OVERRIDDEN"] == "namespace"  # env vars merge per key
    assert proxy_env(docs["api"])["MESH_WIDE"] == "1"
    assert container(docs["web"], "istio-proxy")["image"].endswith("proxyv2:latest-distroless")  # master's dev build
    assert container(docs["api"], "istio-proxy")["image"].endswith("proxyv2:latest")


def test_proxy_config_without_namespace_lands_in_the_render_namespace(cli, repo):
    pc = "apiVersion: networking.istio.io/v1beta1\nkind: ProxyConfig\nmetadata: {name: here}\nspec: {concurrency: 6}\n"
    root = repo({"pc.yaml": pc, "app.yaml": deployment().replace("namespace: shop", "namespace: team")})
    r = cli("render", "--flavor", "istio", "--namespace", "team", str(root))
    assert r.code == 0, r.err
    assert proxy_config(by_name(r)["web"])["concurrency"] == 6


def test_proxy_config_beats_mesh_config_and_loses_to_sidecar_proxy_settings(cli, repo, tmp_path):
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text("defaultConfig: {concurrency: 1, terminationDrainDuration: 20s}\n")
    sps = textwrap.dedent("""\
        apiVersion: meshrender.dev/v1alpha1
        kind: SidecarProxySettings
        metadata: {name: api, namespace: shop}
        spec:
          selector: {matchLabels: {app: api}}
          proxy: {concurrency: 6}
        """)
    r = render(cli, repo, {"pc.yaml": PROXY_CONFIGS, "sps.yaml": sps, "web.yaml": deployment("web"),
                           "api.yaml": deployment("api")}, "--mesh-config", str(mesh))
    assert r.code == 0, r.err
    docs = by_name(r)
    assert proxy_config(docs["web"]) == {"concurrency": 5, "terminationDrainDuration": "20s",
                                         "image": {"imageType": "distroless"},
                                         "proxyMetadata": {"MESH_WIDE": "1", "OVERRIDDEN": "namespace"}}
    assert proxy_config(docs["api"])["concurrency"] == 6  # SidecarProxySettings beat ProxyConfig


def test_workload_proxy_config_beats_the_annotation_for_the_fields_it_sets(cli, repo):
    """Istio's EffectiveProxyConfig merges proxy.istio.io/config under workload ProxyConfigs."""
    pc = textwrap.dedent("""\
        apiVersion: networking.istio.io/v1beta1
        kind: ProxyConfig
        metadata: {name: web, namespace: shop}
        spec:
          selector: {matchLabels: {app: web}}
          concurrency: 5
          environmentVariables: {PINNED: from-resource}
        """)
    note = "proxy.istio.io/config: '{concurrency: 1, drainDuration: 30s, proxyMetadata: {PINNED: x, FREE: z}}'"
    r = render(cli, repo, {"pc.yaml": pc, "web.yaml": deployment("web", annotations=note),
                           "api.yaml": deployment("api", annotations=note)})
    assert r.code == 0, r.err
    docs = by_name(r)
    web, api = proxy_config(docs["web"]), proxy_config(docs["api"])
    assert web["concurrency"] == 5 and web["drainDuration"] == "30s"
    assert web["proxyMetadata"] == {"PINNED": "from-resource", "FREE": "z"}
    assert api["concurrency"] == 1 and api["proxyMetadata"] == {"PINNED": "x", "FREE": "z"}


def test_proxy_config_with_an_empty_selector_selects_nothing(cli, repo):
    pc = "apiVersion: networking.istio.io/v1beta1\nkind: ProxyConfig\nmetadata: {name: e, namespace: shop}\n" \
         "spec: {selector: {}, concurrency: 6}\n"
    r = render(cli, repo, {"pc.yaml": pc, "web.yaml": deployment()})
    assert r.code == 0, r.err
    assert "concurrency" not in proxy_config(by_name(r)["web"])


def test_injection_policy_and_selectors(cli, repo):
    cm = textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: istio-sidecar-injector, namespace: istio-system}
        data:
          config: |
            policy: disabled
            alwaysInjectSelector:
            - matchLabels: {mesh: always}
        """)
    files = {
        "cm.yaml": cm,
        "quiet.yaml": deployment("quiet"),
        "asks.yaml": deployment("asks", annotations="sidecar.istio.io/inject: 'true'"),
        "always.yaml": deployment("always", labels="app: always, mesh: always"),
    }
    r = render(cli, repo, files)
    assert r.code == 0, r.err
    injected = {n: "istio-proxy" in [c["name"] for c in pod_spec(d)["containers"]] for n, d in by_name(r).items()}
    assert injected == {"quiet": False, "asks": True, "always": True}
    assert "policy is disabled" in r.err


def test_template_aliases_from_the_injector_config(cli, repo):
    cm = textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: istio-sidecar-injector, namespace: istio-system}
        data:
          config: |
            aliases:
              ingress: [gateway]
        """)
    gw = deployment("gw", annotations="inject.istio.io/templates: ingress").replace(
        "- name: gw\n        image: nginx", "- name: istio-proxy\n        image: auto")
    r = render(cli, repo, {"cm.yaml": cm, "gw.yaml": gw})
    assert r.code == 0, r.err
    proxy = container(by_name(r)["gw"], "istio-proxy")
    assert proxy["args"][:2] == ["proxy", "router"]


def test_explain_names_the_workload_proxy_config_over_the_annotation(cli, repo):
    pc = textwrap.dedent("""\
        apiVersion: networking.istio.io/v1beta1
        kind: ProxyConfig
        metadata: {name: web, namespace: shop}
        spec:
          selector: {matchLabels: {app: web}}
          concurrency: 5
        """)
    root = repo({"pc.yaml": pc, "web.yaml": deployment("web", annotations="proxy.istio.io/config: '{concurrency: 1}'")})
    r = cli("explain", "--flavor", "istio", str(root), "--workload", "shop/web", "--format", "json")
    assert r.code == 0, r.err
    setting = {s["setting"]: s for s in json.loads(r.out)["settings"]}["proxy.concurrency"]
    assert setting["value"] == 5
    assert setting["source"]["kind"] == "ProxyConfig"
