"""`meshrender explain`: the mode decision and each setting's winning source, file and line."""

import json

import pytest

from tests.conftest import ROOT, container

DEMO = ROOT / "fixtures" / "demo"

MESH = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio
  namespace: istio-system
data:
  mesh: |
    defaultConfig:
      concurrency: 4
      proxyMetadata:
        FROM_MESH: "yes"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: istio-sidecar-injector
  namespace: istio-system
data:
  values: |
    global:
      proxy:
        logLevel: info
        includeInboundPorts: "8080"
"""
IOP = """
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata:
  name: installed
spec:
  tag: 1.22.9
  values:
    global:
      proxy:
        componentLogLevel: misc:warn
"""
PROXYCONFIGS = """
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata:
  name: mesh-wide
  namespace: istio-system
spec:
  environmentVariables:
    FROM_PC: mesh
---
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata:
  name: shop
  namespace: shop
spec:
  concurrency: 3
---
apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata:
  name: api-only
  namespace: shop
spec:
  selector:
    matchLabels: {app: api}
  environmentVariables:
    FROM_PC: workload
"""
SIDECAR_SETTINGS = """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata:
  name: global
spec:
  proxy:
    terminationDrainDuration: 20s
    holdApplicationUntilProxyStarts: true
---
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata:
  name: shop
  namespace: shop
spec:
  nativeSidecar: false
  proxy:
    resources:
      requests: {cpu: 150m}
  traffic:
    excludeOutboundPorts: [3306]
---
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata:
  name: api
  namespace: shop
spec:
  selector:
    matchLabels: {app: api}
  proxy:
    logLevel: debug
    readinessProbe: {periodSeconds: 7}
"""
API = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: shop
  annotations:
    sidecar.istio.io/proxyMemory: 1Gi
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
      annotations:
        traffic.sidecar.istio.io/excludeOutboundPorts: "5432"
        status.sidecar.istio.io/port: "15030"
        readiness.status.sidecar.istio.io/failureThreshold: "9"
        sidecar.istio.io/userVolume: '{"x": {"emptyDir": {}}}'
        proxy.istio.io/config: |
          terminationDrainDuration: 30s
          proxyMetadata:
            FROM_ANNOTATION: "1"
    spec:
      containers:
        - name: api
          image: api:1
        - name: istio-proxy
          image: auto
          resources:
            limits: {memory: 2Gi}
"""
VALUES = "global:\n  hub: registry.example.com/istio\n"
MESH_FILE = "defaultConfig:\n  proxyMetadata:\n    FROM_MESHFILE: \"y\"\n"


def data_line(flavor: str, needle: str) -> int:
    """The line of `needle` in a flavor's built-in defaults (so tests follow edits there)."""
    lines = (ROOT / "render" / "data" / f"{flavor}.yaml").read_text().splitlines()
    hits = [i + 1 for i, ln in enumerate(lines) if ln.strip() == needle]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def explain_json(cli, *args):
    r = cli("explain", *args, "--format", "json")
    assert r.code == 0, r.err
    return json.loads(r.out)


def by_setting(data):
    return {s["setting"]: s for s in data["settings"]}


def where(entry):
    src = entry["source"]
    return src["kind"], src["name"], src.get("file"), src.get("line")


@pytest.fixture
def layered(repo, cli):
    root = repo({"mesh/istio.yaml": MESH, "mesh/iop.yaml": IOP, "mesh/pc.yaml": PROXYCONFIGS,
                 "mesh/sidecars.yaml": SIDECAR_SETTINGS, "apps/api.yaml": API})
    (root.parent / "values.yaml").write_text(VALUES)
    (root.parent / "mesh.yaml").write_text(MESH_FILE)
    data = explain_json(cli, str(root), "--workload", "shop/api", "--flavor", "istio",
                        "--values", str(root.parent / "values.yaml"),
                        "--mesh-config", str(root.parent / "mesh.yaml"))
    return root, data


def test_every_layer_kind_is_named_with_its_file_and_line(layered):
    root, data = layered
    s = by_setting(data)
    values, mesh = str(root.parent / "values.yaml"), str(root.parent / "mesh.yaml")
    sidecars, pcs = str(root / "mesh/sidecars.yaml"), str(root / "mesh/pc.yaml")
    istio, iop = str(root / "mesh/istio.yaml"), str(root / "mesh/iop.yaml")
    # flavor default
    assert where(s["proxy.agentLogLevel"]) == (
        "flavor-default", "istio flavor default", "render/data/istio.yaml", data_line("istio", "level: default:info"))
    # Istio's own ProxyConfig default (no file)
    assert s["traffic.interceptionMode"]["source"]["kind"] == "istio-default"
    # --values file, IstioOperator spec.tag, flavor default: the parts of the proxy image
    parts = {p["part"]: (p["value"], p["source"]["kind"], p["source"].get("file"), p["source"].get("line"))
             for p in s["proxy.image"]["parts"]}
    assert parts["hub"] == ("registry.example.com/istio", "values-file", values, 2)
    assert parts["tag"] == ("1.22.9", "IstioOperator", iop, 6)
    assert parts["image"][1] == "flavor-default"
    assert s["proxy.image"]["value"] == "registry.example.com/istio/proxyv2:1.22.9"
    assert where(s["proxy.image"])[:3] == ("values-file", "--values file", values)
    # --mesh-config file
    assert where(s["proxy.proxyMetadata.FROM_MESHFILE"]) == ("mesh-config-file", "--mesh-config file", mesh, 3)
    # IstioOperator spec.values
    assert where(s["proxy.componentLogLevel"]) == ("IstioOperator", "IstioOperator installed", iop, 10)
    # ConfigMap istio: the line inside the embedded mesh config
    assert where(s["proxy.proxyMetadata.FROM_MESH"]) == ("ConfigMap", "ConfigMap istio (data.mesh)", istio, 11)
    # ConfigMap istio-sidecar-injector: line inside data.values
    assert where(s["traffic.includeInboundPorts"]) == (
        "ConfigMap", "ConfigMap istio-sidecar-injector (data.values)", istio, 23)
    # ProxyConfig: mesh-wide overridden by the workload-selecting one; namespace one over ConfigMap
    assert where(s["proxy.proxyMetadata.FROM_PC"]) == ("ProxyConfig", "ProxyConfig shop/api-only", pcs, 27)
    assert s["proxy.proxyMetadata.FROM_PC"]["source"]["scope"] == "workload"
    assert [(o["value"], o["source"]["line"]) for o in s["proxy.proxyMetadata.FROM_PC"]["overridden"]] == [
        ("mesh", 8)]
    assert where(s["proxy.concurrency"]) == ("ProxyConfig", "ProxyConfig shop/shop", pcs, 16)
    assert [(o["value"], o["source"]["name"], o["source"].get("line")) for o in s["proxy.concurrency"]["overridden"]] \
        == [(4, "ConfigMap istio (data.mesh)", 9), (2, "Istio default (ProxyConfig)", None)]
    # SidecarProxySettings: global, namespace, workload
    assert where(s["proxy.holdApplicationUntilProxyStarts"]) == (
        "SidecarProxySettings", "SidecarProxySettings global (global)", sidecars, 8)
    assert where(s["proxy.resources.requests.cpu"]) == (
        "SidecarProxySettings", "SidecarProxySettings shop/shop (namespace)", sidecars, 19)
    assert where(s["proxy.logLevel"]) == ("SidecarProxySettings", "SidecarProxySettings shop/api (workload)",
                                          sidecars, 32)
    assert [(o["value"], o["source"]["kind"], o["source"]["line"]) for o in s["proxy.logLevel"]["overridden"]] == [
        ("info", "ConfigMap", 22), ("warning", "flavor-default", data_line("istio", "logLevel: warning"))]
    assert where(s["proxy.readinessProbe.periodSeconds"])[3] == 33
    assert s["proxy.readinessProbe.periodSeconds"]["value"] == 7


def test_annotations_win_with_the_value_the_pod_gets(layered):
    root, data = layered
    s = by_setting(data)
    api = str(root / "apps/api.yaml")
    sidecars = str(root / "mesh/sidecars.yaml")
    # the proxy.istio.io/config block: the line of the field inside it
    drain = s["proxy.terminationDrainDuration"]
    assert where(drain) == ("annotation", "annotation proxy.istio.io/config (terminationDrainDuration)", api, 20)
    assert drain["value"] == "30s"
    assert [(o["value"], o["source"].get("file"), o["source"].get("line")) for o in drain["overridden"]] == [
        ("20s", sidecars, 7), ("5s", None, None)]
    assert where(s["proxy.proxyMetadata.FROM_ANNOTATION"]) == (
        "annotation", "annotation proxy.istio.io/config (proxyMetadata.FROM_ANNOTATION)", api, 22)
    # a traffic annotation over a namespace setting
    ports = s["traffic.excludeOutboundPorts"]
    assert where(ports) == ("annotation", "annotation traffic.sidecar.istio.io/excludeOutboundPorts", api, 15)
    assert ports["value"] == "5432"
    assert ports["overridden"][0]["value"] == "3306"
    assert ports["overridden"][0]["source"]["line"] == 21
    # status port and readiness annotations
    assert (s["statusPort"]["value"], where(s["statusPort"])[3]) == ("15030", 16)
    assert s["proxy.readinessProbe.failureThreshold"]["value"] == 9
    assert where(s["proxy.readinessProbe.failureThreshold"])[3] == 17
    # the status port is also what the injector excludes from capture
    assert s["traffic.excludeInboundPorts"]["value"] == "15090,15021,15030"
    # a user-written istio-proxy container overrides a field of the injected one
    mem = s["proxy.resources.limits.memory"]
    assert where(mem) == ("container", "istio-proxy container in the pod spec", api, 30)
    assert mem["value"] == "2Gi"
    # annotations the table does not cover are still listed, with their line
    others = {a["annotation"]: a["source"]["line"] for a in data["otherAnnotations"]}
    assert others == {"sidecar.istio.io/userVolume": 18}
    # a pod annotation on the Deployment's own metadata does nothing: say so
    assert any("sidecar.istio.io/proxyMemory is on the Deployment's own metadata" in n for n in data["notes"])
    assert s["proxy.resources.requests.memory"]["value"] == "128Mi"


def test_resource_annotations_replace_the_whole_block(cli):
    data = explain_json(cli, str(DEMO), "--workload", "payments/ledger")
    s = by_setting(data)
    ledger = str(DEMO / "apps/payments/ledger.yaml")
    ns_settings = str(DEMO / "mesh/sidecar-payments.yaml")
    cpu = s["proxy.resources.requests.cpu"]
    assert (cpu["value"], *where(cpu)[2:]) == ("200m", ledger, 18)
    assert (cpu["overridden"][0]["value"], cpu["overridden"][0]["source"]["file"],
            cpu["overridden"][0]["source"]["line"]) == ("100m", ns_settings, 11)
    # limits come from no one: the annotations replaced the block, the namespace's limit is dropped
    limit = s["proxy.resources.limits.cpu"]
    assert limit["value"] is None
    assert limit["source"]["kind"] == "annotation"
    assert limit["overridden"][0]["value"] == "2"
    assert any("replace the whole resources block" in n for n in limit["notes"])


def test_values_match_the_rendered_pod(cli, tmp_path):
    """What explain reports is what `render` writes, setting by setting."""
    out = tmp_path / "out"
    assert cli("render", str(DEMO), "-o", str(out)).code == 0
    import yaml

    rendered = yaml.safe_load((out / "apps/payments/ledger.yaml").read_text())
    proxy = container(rendered, "istio-proxy")
    init = container(rendered, "istio-init")
    s = by_setting(explain_json(cli, str(DEMO), "--workload", "payments/ledger"))
    assert s["proxy.image"]["value"] == proxy["image"]
    assert s["init.image"]["value"] == init["image"]
    assert {k: s[f"proxy.resources.requests.{k}"]["value"] for k in ("cpu", "memory")} == \
        proxy["resources"]["requests"]
    assert "limits" not in proxy["resources"]
    assert {k: s[f"init.resources.limits.{k}"]["value"] for k in ("cpu", "memory")} == init["resources"]["limits"]
    assert s["proxy.lifecycle.preStop"]["value"] == proxy["lifecycle"]["preStop"]
    args = init["args"]
    assert s["traffic.excludeInboundPorts"]["value"] == args[args.index("-d") + 1]
    assert s["traffic.includeOutboundPorts"]["value"] == args[args.index("-q") + 1]
    assert s["proxy.readinessProbe.periodSeconds"]["value"] == proxy["readinessProbe"]["periodSeconds"]


NATIVE_REPO = {
    "app.yaml": """
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: team}
spec:
  template:
    metadata:
      labels: {app: app}
    spec:
      containers: [{name: app, image: app:1}]
""",
    "profile.yaml": """
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: prod}
spec:
  kubernetesVersion: "1.31"
  provider: ack
  meshVersion: "1.22"
""",
}
ANNOTATED = NATIVE_REPO["app.yaml"].replace(
    "      labels: {app: app}\n",
    "      labels: {app: app}\n      annotations:\n        sidecar.istio.io/nativeSidecar: \"false\"\n")
SETTINGS_NATIVE = """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: global}
spec:
  nativeSidecar: true
---
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: team, namespace: team}
spec:
  nativeSidecar: false
"""
ASM_MESH_CONFIG = """
apiVersion: istio.alibabacloud.com/v1beta1
kind: ASMMeshConfig
metadata: {name: default}
spec:
  enableNativeSidecar: false
"""


@pytest.mark.parametrize("extra, flags, rule, native, kind, line", [
    ({"app.yaml": ANNOTATED}, [], 1, False, "annotation", 9),
    ({"settings.yaml": SETTINGS_NATIVE}, [], 2, False, "SidecarProxySettings", 11),
    ({"asm.yaml": ASM_MESH_CONFIG}, [], 3, False, "ASMMeshConfig", 5),
    ({}, ["--native-sidecars", "false"], 4, False, "command-line", None),
    ({}, [], 5, True, "ClusterProfile", 5),
])
def test_mode_names_the_rule_and_where_it_was_decided(cli, repo, extra, flags, rule, native, kind, line):
    root = repo({**NATIVE_REPO, **extra})
    data = explain_json(cli, str(root), "--workload", "app", *flags)
    m = data["mode"]
    assert (m["rule"], m["native"], m["mode"]) == (rule, native, "native" if native else "traditional")
    assert m["sources"][0]["kind"] == kind
    assert m["sources"][0].get("line") == line
    if rule == 2:  # the namespace setting overrode the global one
        assert [(o["value"], o["source"]["line"]) for o in m["overridden"]] == [(True, 5)]
    text = cli("explain", str(root), "--workload", "team/app", *flags).out
    assert f"rule {rule} of 5" in text.splitlines()[3]


def test_native_notes_and_derived_hooks(cli, repo):
    root = repo({**NATIVE_REPO, "s.yaml": """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: global}
spec:
  proxy: {holdApplicationUntilProxyStarts: true}
"""})
    native = by_setting(explain_json(cli, str(root), "--workload", "app"))
    hold = native["proxy.holdApplicationUntilProxyStarts"]
    assert hold["value"] is True
    assert any("ignored for native sidecars" in n for n in hold["notes"])
    assert native["proxy.lifecycle.preStop"]["source"]["name"] == "native sidecar drain hook"
    assert native["proxy.lifecycle.preStop"]["value"]["exec"]["command"][:2] == ["pilot-agent", "request"]
    assert native["proxy.lifecycle.postStart"]["value"] is None

    trad = by_setting(explain_json(cli, str(root), "--workload", "app", "--native-sidecars", "false"))
    post = trad["proxy.lifecycle.postStart"]
    assert post["value"] == {"exec": {"command": ["pilot-agent", "wait"]}}
    assert (post["source"]["kind"], post["source"]["line"]) == ("SidecarProxySettings", 5)
    assert "notes" not in trad["proxy.holdApplicationUntilProxyStarts"]


def test_image_annotations_and_config_annotation_precedence(cli, repo):
    app = NATIVE_REPO["app.yaml"].replace("      labels: {app: app}\n", """      labels: {app: app}
      annotations:
        sidecar.istio.io/proxyImage: my.registry/proxy:9
        sidecar.istio.io/interceptionMode: TPROXY
        proxy.istio.io/config: '{"interceptionMode": "REDIRECT", "concurrency": 6}'
""")
    root = repo({"app.yaml": app})
    s = by_setting(explain_json(cli, str(root), "--workload", "app"))
    image = s["proxy.image"]
    assert (image["value"], image["source"]["kind"], image["source"]["line"]) == (
        "my.registry/proxy:9", "annotation", 9)
    assert "/proxyv2:" in image["overridden"][0]["value"]  # the image it would have had
    assert s["init.image"]["value"] == "my.registry/proxy:9"
    mode = s["traffic.interceptionMode"]
    assert (mode["value"], mode["source"]["name"]) == ("TPROXY", "annotation sidecar.istio.io/interceptionMode")
    assert mode["overridden"][0]["source"]["name"] == "annotation proxy.istio.io/config (interceptionMode)"
    assert (s["proxy.concurrency"]["value"], s["proxy.concurrency"]["source"]["line"]) == (6, 11)


def test_image_annotation_without_registry_is_reported_ignored(cli, repo):
    app = NATIVE_REPO["app.yaml"].replace(
        "      labels: {app: app}\n",
        "      labels: {app: app}\n      annotations:\n        sidecar.istio.io/proxyImage: proxyv2-custom\n")
    s = by_setting(explain_json(cli, str(repo({"app.yaml": app})), "--workload", "app"))
    assert s["proxy.image"]["source"]["kind"] == "flavor-default"
    assert any("names no registry" in n for n in s["proxy.image"]["notes"])


def test_dns_proxy_and_its_metadata(cli, repo):
    root = repo({**NATIVE_REPO, "s.yaml": """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: global}
spec:
  dnsProxy: true
---
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: team, namespace: team}
spec:
  dnsProxy: false
"""})
    s = by_setting(explain_json(cli, str(root), "--workload", "app"))
    dns = s["dnsProxy"]
    assert (dns["value"], dns["source"]["line"], dns["overridden"][0]["value"]) == (False, 11, True)
    assert "proxy.proxyMetadata.ISTIO_META_DNS_CAPTURE" not in s


def test_list_items_and_cronjobs_point_at_their_own_lines(cli, repo):
    root = repo({"list.yaml": """
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: first, namespace: a}
  spec: {containers: [{name: c, image: c}]}
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: nightly, namespace: a}
  spec:
    schedule: "0 0 * * *"
    jobTemplate:
      spec:
        template:
          metadata:
            annotations:
              sidecar.istio.io/logLevel: debug
          spec: {containers: [{name: c, image: c}], restartPolicy: Never}
"""})
    data = explain_json(cli, str(root), "--workload", "a/nightly")
    assert (data["workload"]["kind"], data["workload"]["line"]) == ("CronJob", 8)
    log = by_setting(data)["proxy.logLevel"]
    assert (log["value"], log["source"]["line"]) == ("debug", 18)


def test_not_injected_workload_says_why_and_where(cli, repo):
    app = NATIVE_REPO["app.yaml"].replace(
        "      labels: {app: app}\n", "      labels: {app: app, sidecar.istio.io/inject: \"false\"}\n")
    root = repo({"app.yaml": app})
    data = explain_json(cli, str(root), "--workload", "app")
    assert data["injected"] is False
    assert data["settings"] == []
    assert (data["skipSource"]["kind"], data["skipSource"]["line"]) == ("label", 7)
    r = cli("explain", str(root), "--workload", "app")
    assert "not injected: sidecar injection is disabled" in r.out


def test_ambiguous_or_unknown_workload_lists_candidates(cli, repo):
    other = NATIVE_REPO["app.yaml"].replace("namespace: team", "namespace: other")
    job = """
apiVersion: batch/v1
kind: Job
metadata: {name: app, namespace: team}
spec:
  template:
    spec: {containers: [{name: j, image: j}], restartPolicy: Never}
"""
    root = repo({"a.yaml": NATIVE_REPO["app.yaml"], "b.yaml": other, "c.yaml": job})
    r = cli("explain", str(root), "--workload", "app")
    assert r.code == 2
    assert "matches 3 workloads" in r.err
    for line in ("Deployment team/app", "Deployment other/app", "Job team/app"):
        assert line in r.err
    r = cli("explain", str(root), "--workload", "team/app")
    assert r.code == 2 and "add --kind KIND" in r.err
    r = cli("explain", str(root), "--workload", "team/app", "--kind", "job")
    assert r.code == 0 and r.out.startswith("Job team/app")
    r = cli("explain", str(root), "--workload", "team/ap")
    assert r.code == 2
    assert "no workload team/ap among the inputs; did you mean" in r.err
    assert "Deployment team/app" in r.err
    assert r.out == ""
    r = cli("explain", str(root))
    assert r.code == 2 and "--workload" in r.err


def test_text_is_an_aligned_table(cli):
    r = cli("explain", str(DEMO), "--workload", "payments/checkout")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == f"Deployment payments/checkout  {DEMO}/apps/payments/checkout.yaml:1"
    assert lines[2].startswith("mode     native — auto: Kubernetes 1.30 on ack")
    assert lines[3] == "         rule 5 of 5, first match wins: auto, from the Kubernetes and mesh versions"
    assert f"ClusterProfile prod-hangzhou kubernetesVersion  {DEMO}/cluster/profile.yaml:8" in lines[4]
    header = next(i for i, ln in enumerate(lines) if ln.startswith("SETTING"))
    value_col, source_col = lines[header].index("VALUE"), lines[header].index("SOURCE")
    rows = [ln for ln in lines[header + 1:] if ln and not ln[0].isspace()]
    names = {s["setting"] for s in explain_json(cli, str(DEMO), "--workload", "payments/checkout")["settings"]}
    assert {row.split()[0] for row in rows} == names
    for row in rows:  # every value and source starts in its column (long values wrap instead)
        assert row[value_col - 2:value_col] == "  " and row[value_col] != " ", row
        if len(row.split()[1]) <= source_col - value_col - 2:
            assert row[source_col - 2:source_col] == "  " and row[source_col] != " ", row
    drain = next(ln for ln in rows if ln.startswith("proxy.terminationDrainDuration"))
    assert drain[value_col:].startswith("10s ")
    assert drain[source_col:].startswith("SidecarProxySettings payments/payments (namespace)")
    assert drain.endswith(f"{DEMO}/mesh/sidecar-payments.yaml:20")
    below = lines[lines.index(drain) + 1]
    assert below.strip() == (
        f"↳ overrides 5s from SidecarProxySettings global (global)  {DEMO}/mesh/sidecar-global.yaml:11")


def test_rendered_output_is_explained_as_a_reinjection(cli, repo, tmp_path):
    """Containers a previous injection added are not user overrides (Istio injects afresh)."""
    app = NATIVE_REPO["app.yaml"].replace(
        "      containers: [{name: app, image: app:1}]\n",
        "      containers: [{name: app, image: app:1}, {name: istio-proxy, image: auto,\n"
        "                   resources: {limits: {memory: 3Gi}}}]\n")
    root = repo({**NATIVE_REPO, "app.yaml": app})
    out = tmp_path / "out"
    assert cli("render", str(root), "-o", str(out)).code == 0
    source = by_setting(explain_json(cli, str(root), "--workload", "app"))
    assert source["proxy.resources.limits.memory"]["source"]["kind"] == "container"
    again = by_setting(explain_json(cli, str(out / "app.yaml"), str(root / "profile.yaml"), "--workload", "app"))
    assert not any(s["source"]["kind"] == "container" for s in again.values())
    assert again["proxy.image"]["source"]["kind"] == "flavor-default"
    import yaml

    rerendered = cli("render", str(out / "app.yaml"), str(root / "profile.yaml"))
    proxy = container(yaml.safe_load(rerendered.out), "istio-proxy")
    assert again["proxy.resources.limits.memory"]["value"] == proxy["resources"]["limits"]["memory"]
