"""`meshrender report`: what the mesh costs, priced as Kubernetes prices a pod.

Every expected figure below is worked out by hand in the test's comments from the
manifest, so a change in the formula (KEP-753's init-container rule, API defaulting,
overhead, replicas) shows up as a wrong number, not a changed golden file.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

# Proxy and istio-init with resources of their own, so every figure below is known.
SETTINGS = """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: mesh}
spec:
  proxy:
    resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: "1", memory: 256Mi}}
  init:
    resources: {requests: {cpu: 20m, memory: 16Mi}, limits: {cpu: 200m, memory: 64Mi}}
"""


def report(cli, path, *args: str) -> dict:
    r = cli("report", str(path), "--format", "json", *args)
    assert r.code == 0, r.err
    return json.loads(r.out)


def workload(doc: dict, name: str, kind: str | None = None) -> dict:
    found = [w for w in doc["workloads"] if w["name"] == name and (kind is None or w["kind"] == kind)]
    assert len(found) == 1, [w["name"] for w in doc["workloads"]]
    return found[0]


def deployment(name: str, namespace: str = "shop", replicas: str = "replicas: 3", init: str = "",
               app: str = "{requests: {cpu: 200m, memory: 256Mi}}", annotations: str = "{}") -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}, annotations: {annotations}}}
    spec:
      {init}
      containers:
      - {{name: app, image: app, resources: {app}}}
"""


# -- the KEP-753 formula ---------------------------------------------------------------------

def test_kep753_init_containers_before_and_after_native_sidecars(cli, repo):
    """The pod as written, not injected: user sidecars (restartPolicy: Always) between
    ordinary init containers. Each init container runs beside the sidecars declared
    before it, so

        i1  300m 100Mi                    -> use 300m 100Mi
        s1  100m  50Mi (sidecar)          -> use 100m  50Mi (sidecars so far)
        i2  250m 400Mi                    -> use 350m 450Mi (+ s1)
        s2  200m  10Mi (sidecar)          -> use 300m  60Mi (s1 + s2)
        i3  400m  20Mi                    -> use 700m  80Mi (+ s1 + s2)
        app 900m 200Mi (cpu from its limit: the API server defaults a request to the limit)

    containers + sidecars = 1200m 260Mi; largest use 700m 450Mi; pod = 1200m 450Mi, plus
    the overhead 50m 32Mi = 1250m 482Mi. (The largest init container against containers +
    sidecars would give 1250m 432Mi; the largest ordinary init container + all sidecars
    1250m 492Mi; without the API server's defaulting, 750m.)

    Limits: only app (cpu 900m) and s1 (memory 100Mi) set any. CPU: containers + sidecars
    900m; init uses with a CPU limit: none (s1 has no CPU limit) -> 900m, + overhead = 950m.
    Memory: 100Mi (s1) and every use after s1 carries s1's 100Mi -> 100Mi + 32Mi = 132Mi.
    The kubelet limits neither: i1 limits nothing, app no memory."""
    path = repo({"pod.yaml": """
        apiVersion: v1
        kind: Pod
        metadata:
          name: kep
          namespace: lab
          annotations: {sidecar.istio.io/inject: "false"}
        spec:
          overhead: {cpu: 50m, memory: 32Mi}
          initContainers:
          - {name: i1, image: x, resources: {requests: {cpu: 300m, memory: 100Mi}}}
          - name: s1
            image: x
            restartPolicy: Always
            resources: {requests: {cpu: 100m, memory: 50Mi}, limits: {memory: 100Mi}}
          - {name: i2, image: x, resources: {requests: {cpu: 250m, memory: 400Mi}}}
          - {name: s2, image: x, restartPolicy: Always, resources: {requests: {cpu: 200m, memory: 10Mi}}}
          - {name: i3, image: x, resources: {requests: {cpu: 400m, memory: 20Mi}}}
          containers:
          - {name: app, image: x, resources: {requests: {memory: 200Mi}, limits: {cpu: 900m}}}
        """})
    w = workload(report(cli, path), "kep")
    assert not w["injected"] and w["mode"] is None
    pod = w["perPod"]["withoutMesh"]
    assert pod["requests"] == {"cpu": "1250m", "memory": "482Mi"}
    assert pod["limits"] == {"cpu": "950m", "memory": "132Mi"}
    assert pod["unboundedLimits"] == ["cpu", "memory"]
    assert w["perPod"]["meshCost"] == {"cpu": "0", "memory": "0"}


def test_kep753_native_and_traditional_injection_priced_by_hand(cli, repo):
    """The proxy (100m 128Mi) and istio-init (20m 16Mi) injected into a pod with one
    ordinary init container (migrate 500m 64Mi) and an app (200m 256Mi), 3 replicas.

    Native: istio-init, istio-proxy (sidecar), migrate. Uses: 20m 16Mi; 100m 128Mi;
    migrate + proxy = 600m 192Mi. Containers + proxy = 300m 384Mi. Pod: 600m 384Mi.
    Traditional: migrate, istio-init; the proxy is an ordinary container. Containers:
    300m 384Mi; largest init 500m 64Mi. Pod: 500m 384Mi.
    Without the mesh: max(500m 64Mi, 200m 256Mi) = 500m 256Mi.
    So native costs 100m 128Mi a pod (the proxy runs beside migrate), traditional 0 128Mi."""
    init = "initContainers: [{name: migrate, image: m, resources: {requests: {cpu: 500m, memory: 64Mi}}}]"
    path = repo({"app.yaml": deployment("web", init=init), "mesh.yaml": SETTINGS})
    for flag, mode, cost in (("true", "native", {"cpu": "100m", "memory": "128Mi"}),
                             ("false", "traditional", {"cpu": "0", "memory": "128Mi"})):
        w = workload(report(cli, path, "--native-sidecars", flag), "web")
        assert w["mode"] == mode and w["otherMode"] == ("traditional" if mode == "native" else "native")
        per_pod = w["perPod"]
        assert per_pod["withoutMesh"]["requests"] == {"cpu": "500m", "memory": "256Mi"}
        assert per_pod["native"]["requests"] == {"cpu": "600m", "memory": "384Mi"}
        assert per_pod["traditional"]["requests"] == {"cpu": "500m", "memory": "384Mi"}
        assert per_pod["meshCost"] == cost
        assert per_pod["proxy"] == {"container": "istio-proxy", "requests": {"cpu": "100m", "memory": "128Mi"},
                                    "limits": {"cpu": "1", "memory": "256Mi"}}
        assert per_pod["init"] == {"container": "istio-init", "requests": {"cpu": "20m", "memory": "16Mi"},
                                   "limits": {"cpu": "200m", "memory": "64Mi"}}
        total = w["total"]
        assert total["proxy"]["requests"] == {"cpu": "300m", "memory": "384Mi"}
        assert total["proxy"]["limits"] == {"cpu": "3", "memory": "768Mi"}
        assert total["native"]["requests"] == {"cpu": "1800m", "memory": "1152Mi"}
        assert total["meshCost"] == {k: ("0" if v == "0" else v.replace("100m", "300m").replace("128Mi", "384Mi"))
                                     for k, v in cost.items()}
        # Limits, native: containers + proxy: cpu 1 (app has none), memory 256Mi; the
        # init uses (istio-init 200m 64Mi, proxy 1 256Mi, migrate + proxy 1 256Mi) are no more.
        assert per_pod["native"]["limits"] == {"cpu": "1", "memory": "256Mi"}
        assert per_pod["native"]["unboundedLimits"] == ["cpu", "memory"]  # app and migrate limit nothing


def test_the_annotation_decides_what_runs_and_the_other_mode_is_still_priced(cli, repo):
    """`sidecar.istio.io/nativeSidecar: "false"` wins over --native-sidecars true in the
    cluster: the report says traditional runs, and prices native as the other mode."""
    path = repo({"app.yaml": deployment("web", annotations='{sidecar.istio.io/nativeSidecar: "false"}'),
                 "mesh.yaml": SETTINGS})
    w = workload(report(cli, path, "--native-sidecars", "true"), "web")
    assert w["mode"] == "traditional" and "sidecar.istio.io/nativeSidecar" in w["modeReason"]
    # Both modes: app + proxy = 300m 384Mi (istio-init's 20m 16Mi never more).
    assert w["perPod"]["native"]["requests"] == w["perPod"]["traditional"]["requests"] == \
        {"cpu": "300m", "memory": "384Mi"}
    text = cli("report", str(path), "--native-sidecars", "true")
    assert re.search(r"shop/Deployment/web\s+3\s+traditional\s+cpu\s+100m/1\s+20m/200m\s+200m\s+300m\s+300m\s+\+300m",
                     text.out), text.out


def test_rendered_output_reports_as_its_source(cli, repo, tmp_path):
    """Already-injected input is re-injected cleanly: the mesh containers it carries are
    not counted as the app's, so the report of `render`'s output is the report of its source."""
    init = "initContainers: [{name: migrate, image: m, resources: {requests: {cpu: 500m, memory: 64Mi}}}]"
    path = repo({"app.yaml": deployment("web", init=init), "mesh.yaml": SETTINGS})
    rendered = cli("render", str(path), "--native-sidecars", "true")
    assert rendered.code == 0
    out = tmp_path / "rendered.yaml"
    out.write_text(rendered.out)
    again = workload(report(cli, out, str(path / "mesh.yaml"), "--native-sidecars", "true"), "web")
    first = workload(report(cli, path, "--native-sidecars", "true"), "web")
    assert again["perPod"] == first["perPod"] and again["total"] == first["total"]
    assert again["perPod"]["withoutMesh"]["requests"] == {"cpu": "500m", "memory": "256Mi"}


# -- pods a workload runs -----------------------------------------------------------------------

KINDS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: unset, namespace: k}
spec:
  template:
    spec:
      containers: [{name: a, image: a, resources: {requests: {cpu: 100m}}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: zero, namespace: k}
spec:
  replicas: 0
  template:
    spec:
      containers: [{name: a, image: a, resources: {requests: {cpu: 100m}}}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: k}
spec:
  template:
    spec:
      containers: [{name: a, image: a, resources: {requests: {cpu: 100m}}}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: job, namespace: k}
spec:
  parallelism: 4
  completions: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: a, image: a, resources: {requests: {cpu: 100m}}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cron, namespace: k}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      parallelism: 3
      template:
        spec:
          restartPolicy: Never
          containers: [{name: a, image: a, resources: {requests: {cpu: 100m}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: single, namespace: k}
spec:
  containers: [{name: a, image: a, resources: {requests: {cpu: 100m}}}]
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: k}
spec:
  replicas: 5
  template:
    spec:
      containers: [{name: a, image: a, resources: {requests: {cpu: 100m}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: unset-hpa, namespace: k}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: unset}
  minReplicas: 2
  maxReplicas: 9
"""


def test_replicas_by_kind_and_autoscalers(cli, repo):
    path = repo({"kinds.yaml": KINDS, "mesh.yaml": SETTINGS})
    doc = report(cli, path, "--native-sidecars", "false")
    pods = {w["name"]: (w["replicas"]["count"], w["replicas"]["perNode"]) for w in doc["workloads"]}
    assert pods == {"unset": (1, False), "zero": (0, False), "agent": (None, True), "job": (2, False),
                    "cron": (3, False), "single": (1, False), "rs": (5, False)}
    unset = workload(doc, "unset")
    assert "not set" in unset["replicas"]["source"]
    assert any("HorizontalPodAutoscaler k/unset-hpa scales it (2-9 replicas)" in n for n in unset["notes"])
    assert any("spec.completions (2)" in n for n in workload(doc, "job")["notes"])
    # Each pod: a 100m + proxy 100m = 200m (traditional), the mesh 100m of it.
    assert workload(doc, "rs")["total"]["traditional"]["requests"]["cpu"] == "1"
    assert workload(doc, "zero")["total"]["meshCost"]["cpu"] == "0"
    assert workload(doc, "agent")["total"] is None  # per node: never multiplied by a guess
    # Totals: 1 + 0 + 2 + 3 + 1 + 5 = 12 pods of 200m; the DaemonSet apart, per node.
    assert doc["total"]["asRendered"]["cpu"] == "2400m"
    assert doc["total"]["withoutMesh"]["cpu"] == "1200m"
    assert doc["total"]["meshCost"]["cpu"] == "1200m"
    assert doc["total"]["proxy"]["requests"]["cpu"] == "1200m"
    assert doc["perNode"]["asRendered"]["cpu"] == "200m" and doc["perNode"]["workloads"] == 1
    text = cli("report", str(path), "--native-sidecars", "false").out
    assert re.search(r"k/DaemonSet/agent\s+per node\s+traditional", text)


@pytest.mark.parametrize("value, shown", [('"3"', '"3"'), ("-1", "-1"), ("1.5", "1.5"), ("true", "true")])
def test_a_replica_count_kubernetes_refuses_is_bad_input(cli, repo, value, shown):
    path = repo({"app.yaml": deployment("web", replicas=f"replicas: {value}")})
    r = cli("report", str(path))
    assert r.code == 2 and r.out == ""
    assert re.search(rf"app\.yaml:5:3: error: spec\.replicas: Deployment shop/web: must be a whole number of "
                     rf"pods \(0 or more\), not {re.escape(shown)}", r.err), r.err


@pytest.mark.parametrize("quantity, message", [
    ("lots", "'lots' is not a quantity"),
    ("-100m", "-100m is negative"),
])
def test_a_quantity_kubernetes_refuses_is_bad_input(cli, repo, quantity, message):
    path = repo({"app.yaml": deployment("web", app=f"{{requests: {{cpu: {quantity}}}}}")})
    r = cli("report", str(path))
    assert r.code == 2 and r.out == ""
    assert "app.yaml:12:" in r.err and "spec.template.spec.containers[0].resources.requests.cpu" in r.err
    assert message in r.err, r.err


# -- namespaces and totals ---------------------------------------------------------------------

def test_totals_per_namespace_and_overall(cli, repo):
    """shop: web 3 × (200m 256Mi app), api 2 × (400m 512Mi); tools: job 1 × 1 cpu, not injected.
    Traditional: each injected pod gains the proxy, 100m 128Mi."""
    path = repo({
        "shop.yaml": deployment("web") + "---" + deployment("api", replicas="replicas: 2",
                                                            app="{requests: {cpu: 400m, memory: 512Mi}}"),
        "tools.yaml": deployment("job", namespace="tools", replicas="replicas: 1", app="{requests: {cpu: 1}}",
                                 annotations='{sidecar.istio.io/inject: "false"}'),
        "mesh.yaml": SETTINGS,
    })
    doc = report(cli, path, "--native-sidecars", "false")
    by_ns = {n["namespace"]: n["total"] for n in doc["namespaces"]}
    assert list(by_ns) == ["shop", "tools"]
    shop = by_ns["shop"]
    assert shop["workloads"] == 2
    assert shop["withoutMesh"] == {"cpu": "1400m", "memory": "1792Mi"}        # 600m+800m, 768Mi+1024Mi
    assert shop["asRendered"] == {"cpu": "1900m", "memory": "2432Mi"}         # + 5 × (100m 128Mi)
    assert shop["meshCost"] == {"cpu": "500m", "memory": "640Mi"}
    assert shop["proxy"]["requests"] == {"cpu": "500m", "memory": "640Mi"}
    assert shop["init"]["requests"] == {"cpu": "100m", "memory": "80Mi"}
    assert by_ns["tools"]["meshCost"] == {"cpu": "0"} and by_ns["tools"]["proxy"]["requests"] == {}
    assert doc["total"]["withoutMesh"] == {"cpu": "2400m", "memory": "1792Mi"}
    assert doc["total"]["asRendered"] == {"cpu": "2900m", "memory": "2432Mi"}
    assert doc["total"]["workloads"] == 3
    text = cli("report", str(path), "--native-sidecars", "false").out
    assert re.search(r"^shop\s+cpu\s+500m/5\s+100m/1\s+1400m\s+1900m\s+1900m\s+1900m\s+\+500m$", text, re.M), text
    assert re.search(r"^all namespaces\s+cpu\s+500m/5\s+100m/1\s+2400m\s+2900m", text, re.M), text


def test_a_proxy_without_a_limit_leaves_the_namespace_limit_total_unbounded(cli, repo):
    """`sidecar.istio.io/proxyCPU` alone gives the proxy a CPU request and no limits (as
    Istio does): the proxy's CPU limits of the namespace add up to no bound."""
    path = repo({"app.yaml": deployment("web") + "---" + deployment(
        "api", replicas="replicas: 2", annotations="{sidecar.istio.io/proxyCPU: 150m}"), "mesh.yaml": SETTINGS})
    doc = report(cli, path, "--native-sidecars", "true")
    api = workload(doc, "api")
    assert api["perPod"]["proxy"]["requests"] == {"cpu": "150m"}  # the annotation replaces them all
    assert api["perPod"]["proxy"]["limits"] == {}
    shop = doc["namespaces"][0]["total"]["proxy"]
    assert shop["requests"] == {"cpu": "600m", "memory": "384Mi"}  # 3 × 100m + 2 × 150m; 3 × 128Mi
    assert shop["limits"] == {"cpu": "3", "memory": "768Mi"}  # web's, which alone has limits
    assert shop["unboundedLimits"] == ["cpu", "memory"]
    text = cli("report", str(path), "--native-sidecars", "true").out
    assert re.search(r"^shop\s+cpu\s+600m/-\s", text, re.M), text


# -- formats -------------------------------------------------------------------------------------

def test_csv_is_one_row_per_workload_and_parses_back(cli, repo):
    init = "initContainers: [{name: migrate, image: m, resources: {requests: {cpu: 500m, memory: 64Mi}}}]"
    path = repo({"app.yaml": deployment("web", init=init) + "---" + deployment("=HYPERLINK(1)", replicas=""),
                 "mesh.yaml": SETTINGS})
    r = cli("report", str(path), "--native-sidecars", "true", "--format", "csv")
    assert r.code == 0
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert [row["name"] for row in rows] == ["web", "'=HYPERLINK(1)"]  # no formula for a spreadsheet
    web = rows[0]
    assert web["mode"] == "native" and web["pods"] == "3" and web["per_node"] == "false"
    assert (web["pod_request_no_mesh_cpu"], web["pod_request_native_cpu"], web["pod_request_traditional_cpu"]) == \
        ("500m", "600m", "500m")
    assert web["proxy_request_memory"] == "128Mi" and web["init_limit_cpu"] == "200m"
    assert web["mesh_cost_total_cpu"] == "300m" and web["mesh_cost_total_memory"] == "384Mi"
    assert web["pod_limit_native_memory"] == "256Mi"
    assert rows[1]["pods"] == "1"


def test_markdown_escapes_hostile_names(cli, repo):
    hostile = 'x|y`z <img src=x onerror=alert(1)> @admin #1 **b** [l](http://e.vil)\n| a | b |'
    doc = f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {json.dumps(hostile)}
  namespace: "ns|x"
spec:
  template:
    spec:
      containers: [{{name: app, image: app, resources: {{requests: {{cpu: 1}}}}}}]
"""
    path = repo({"app.yaml": doc, "mesh.yaml": SETTINGS})
    r = cli("report", str(path), "--native-sidecars", "false", "--format", "markdown")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    rows = [line for line in lines if line.startswith("| ")]
    # Every table row has as many cells as its header: no name adds or ends a cell.
    widths = {len(re.split(r"(?<!\\)\|", row)) for row in rows if row.startswith("| Namespace")}
    for row in rows:  # totals have 9 columns, workloads 10 (+ the empty strings outside the bars)
        assert len(re.split(r"(?<!\\)\|", row)) in (9 + 2, 10 + 2), row
    assert widths == {11}
    name_row = next(line for line in rows if "onerror" in line)
    assert len(re.split(r"(?<!\\)\|", name_row)) == 12
    # The name is one code span (longer fence than the backtick inside); nothing outside it is markup.
    outside = re.sub(r"(`+)(?:(?!\1).)+?\1", "", name_row)
    for markup in ("<img", "@admin", "#1", "**b**", "](http", "\\n|"):
        assert markup not in outside, outside
    spelt = "ns\\|x/Deployment/x\\|y`z <img src=x onerror=alert(1)> @admin #1 **b** [l](http://e.vil)\\n\\| a \\| b \\|"
    assert f"``{spelt}``" in name_row, name_row
    assert "\n| a | b |" not in r.out  # the newline in the name did not start a row


def test_text_escapes_control_characters(cli, repo):
    path = repo({"app.yaml": deployment('"web\\e[2J\\u202e"'), "mesh.yaml": SETTINGS})
    out = cli("report", str(path), "--native-sidecars", "false").out
    assert "\x1b" not in out and "\u202e" not in out
    assert "shop/Deployment/web\\x1b[2J\\u202e" in out


def test_text_is_an_aligned_table(cli, repo):
    path = repo({"app.yaml": deployment("web") + "---" + deployment("a-much-longer-name", namespace="payments"),
                 "mesh.yaml": SETTINGS})
    out = cli("report", str(path), "--native-sidecars", "true").out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("WORKLOAD"))
    column = lines[header].index("MODE")
    rows = [line for line in lines[header + 1:header + 5]]
    assert all(line[column:].startswith(("native", " ")) for line in rows), rows
    assert lines[header].index("MESH COST") == rows[0].index("+")


def test_json_carries_everything(cli, repo):
    path = repo({"app.yaml": deployment("web"), "mesh.yaml": SETTINGS})
    doc = report(cli, path, "--native-sidecars", "true", "--kube-version", "1.30")
    assert doc["cluster"] == {"flavor": "asm", "kubernetesVersion": "1.30", "meshVersion": None, "provider": None}
    w = workload(doc, "web")
    assert (w["file"].endswith("app.yaml"), w["line"], w["kind"], w["namespace"]) == (True, 1, "Deployment", "shop")
    assert set(w["perPod"]) == {"proxy", "init", "withoutMesh", "native", "traditional", "meshCost"}
    assert w["total"]["withoutMesh"]["requests"] == {"cpu": "600m", "memory": "768Mi"}


# -- flavors -------------------------------------------------------------------------------------

def test_asm_istio_init_has_resources_of_its_own(cli, repo):
    """Only the proxy's resources are set. Istio's istio-init takes the proxy's; ASM's has
    its own (10m 10Mi, limits 2 1Gi: render/data/asm.yaml)."""
    proxy_only = """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: mesh}
spec:
  proxy:
    resources: {requests: {cpu: 300m, memory: 200Mi}, limits: {cpu: "1", memory: 400Mi}}
"""
    path = repo({"app.yaml": deployment("web", replicas="replicas: 2"), "mesh.yaml": proxy_only})
    asm = workload(report(cli, path, "--flavor", "asm", "--native-sidecars", "false"), "web")
    istio = workload(report(cli, path, "--flavor", "istio", "--native-sidecars", "false"), "web")
    assert asm["perPod"]["init"]["requests"] == {"cpu": "10m", "memory": "10Mi"}
    assert asm["perPod"]["init"]["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert istio["perPod"]["init"]["requests"] == {"cpu": "300m", "memory": "200Mi"}
    assert istio["perPod"]["init"]["limits"] == {"cpu": "1", "memory": "400Mi"}
    assert asm["total"]["init"]["requests"] == {"cpu": "20m", "memory": "20Mi"}
    assert istio["total"]["init"]["requests"] == {"cpu": "600m", "memory": "400Mi"}
    for w in (asm, istio):  # app + proxy either way; istio-init never more
        assert w["perPod"]["traditional"]["requests"] == {"cpu": "500m", "memory": "456Mi"}


# -- pod-level resources -------------------------------------------------------------------------

def test_pod_level_resources_replace_the_sum_from_kubernetes_1_34(cli, repo):
    """spec.resources (KEP-2837) sets the pod's CPU request: the proxy fits inside it.
    Memory is not set at pod level, so the containers' sum counts (256Mi + 128Mi)."""
    doc = deployment("web").replace("    spec:\n", "    spec:\n      resources: {requests: {cpu: 2}}\n", 1)
    path = repo({"app.yaml": doc, "mesh.yaml": SETTINGS})
    new = workload(report(cli, path, "--native-sidecars", "true", "--kube-version", "1.34"), "web")
    assert new["perPod"]["native"]["requests"] == {"cpu": "2", "memory": "384Mi"}
    assert new["perPod"]["meshCost"] == {"cpu": "0", "memory": "128Mi"}
    old = workload(report(cli, path, "--native-sidecars", "true", "--kube-version", "1.33"), "web")
    assert old["perPod"]["native"]["requests"] == {"cpu": "300m", "memory": "384Mi"}


def test_pod_level_limits_default_the_requests_and_a_runtime_class_adds_its_overhead(cli, repo):
    """Pod-level limits only (4 CPU, 2Gi): the API server defaults the pod-level request of
    each resource to the containers' effective request, or, where no container asks for
    it, to the pod-level limit. The RuntimeClass adds its overhead (100m 64Mi) to the
    requests and to the limits that are set.

    No mesh: cpu 200m (app), memory 2Gi (the limit: nothing asks for memory) -> + overhead
    300m 2112Mi; limits 4 2Gi -> 4100m 2112Mi.
    Native: app + proxy = 300m 128Mi (istio-init 20m 16Mi no more) -> 400m 192Mi.
    So the mesh adds 100m and, by asking for memory at all, takes 1920Mi off the request."""
    runtime = """
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: {name: kata}
handler: kata
overhead: {podFixed: {cpu: 100m, memory: 64Mi}}
"""
    doc = deployment("web", replicas="replicas: 1", app="{requests: {cpu: 200m}}").replace(
        "    spec:\n", "    spec:\n      runtimeClassName: kata\n      resources: {limits: {cpu: 4, memory: 2Gi}}\n", 1)
    path = repo({"app.yaml": doc, "runtime.yaml": runtime, "mesh.yaml": SETTINGS})
    w = workload(report(cli, path, "--native-sidecars", "true", "--kube-version", "1.34"), "web")
    assert w["perPod"]["withoutMesh"] == {"requests": {"cpu": "300m", "memory": "2112Mi"},
                                          "limits": {"cpu": "4100m", "memory": "2112Mi"}, "unboundedLimits": []}
    assert w["perPod"]["native"]["requests"] == {"cpu": "400m", "memory": "192Mi"}
    assert w["perPod"]["native"]["limits"] == {"cpu": "4100m", "memory": "2112Mi"}
    assert w["perPod"]["meshCost"] == {"cpu": "100m", "memory": "-1920Mi"}
    assert any("RuntimeClass kata" in n for n in w["notes"])
    # Before 1.34 the API server drops spec.resources: only the containers and the overhead.
    old = workload(report(cli, path, "--native-sidecars", "true", "--kube-version", "1.33"), "web")
    assert old["perPod"]["withoutMesh"]["requests"] == {"cpu": "300m", "memory": "64Mi"}
    assert old["perPod"]["withoutMesh"]["limits"] == {}


def test_report_is_listed_in_help_with_its_exit_status(cli):
    assert re.search(r"^\s+report\s+What the mesh costs", cli("--help").out, re.M)
    out = cli("report", "--help").out
    assert "--format [text|json|markdown|csv]" in out and "Exit status" in out
