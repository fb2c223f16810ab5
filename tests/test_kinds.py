"""Every pod-bearing kind, and the pod as the webhook sees it (issue 13, steps 2 and 4).

- CronJobs: the pod template's annotations and labels decide, and the injected status,
  labels and Prometheus annotations go on the pod template;
- Argo Rollouts, OpenKruise CloneSet / Advanced StatefulSet / Advanced DaemonSet, matched
  by API group; a Rollout's workloadRef is reported, not guessed;
- List, PodList, DeploymentList and any *List, items taking the list's kind as kubectl does;
- kinds declared in ClusterProfile.spec.workloadKinds; an unknown kind with a pod template
  is a warning naming it.
"""

from __future__ import annotations

import json

import yaml

from tests.conftest import container, pod_spec

PROFILE = """\
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: c}
spec:
  workloadKinds:
"""

CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: jobs}
spec:
  schedule: "0 0 * * *"
  jobTemplate:
    metadata:
      labels: {owner: team}
    spec:
      template:
        metadata:
          labels: {app: nightly}
          annotations:
            prometheus.io/scrape: "true"
            prometheus.io/port: "9090"
%s
        spec:
          restartPolicy: Never
          containers: [{name: job, image: busybox}]
"""


def _render(cli, repo, files: dict[str, str], *flags: str):
    root = repo(files)
    return cli("render", "--flavor", "istio", str(root), *flags)


def _env(c: dict, name: str) -> str | None:
    return next((e.get("value") for e in c.get("env") or [] if e["name"] == name), None)


def _names(doc: dict, key: str) -> list[str]:
    return [c["name"] for c in pod_spec(doc).get(key) or []]


# -- step 2: CronJob pods as the webhook sees them -----------------------------------------

def test_cronjob_injected_metadata_is_on_the_pod_template(cli, repo):
    r = _render(cli, repo, {"cj.yaml": CRONJOB % ""})
    assert r.code == 0, r.err
    doc = r.docs()[0]
    pod_meta = doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]
    assert "sidecar.istio.io/status" in pod_meta["annotations"]
    assert pod_meta["labels"]["security.istio.io/tlsMode"] == "istio"
    assert pod_meta["labels"]["service.istio.io/canonical-name"] == "nightly"
    assert pod_meta["annotations"]["prometheus.io/port"] == "15020"
    assert json.loads(_env(container(doc, "istio-proxy"), "ISTIO_PROMETHEUS_ANNOTATIONS")) == {
        "scrape": "true", "port": "9090", "path": ""}
    # The Job's own metadata is the user's, untouched.
    assert doc["spec"]["jobTemplate"]["metadata"] == {"labels": {"owner": "team"}}


def test_cronjob_pod_template_annotation_selects_a_native_sidecar(cli, repo):
    r = _render(cli, repo, {"cj.yaml": CRONJOB % '            sidecar.istio.io/nativeSidecar: "true"'})
    assert r.code == 0, r.err
    doc = r.docs()[0]
    proxy = container(doc, "istio-proxy", init=True)
    assert proxy["restartPolicy"] == "Always"
    assert "istio-proxy" not in _names(doc, "containers")


def test_cronjob_pod_template_opt_out_is_honoured(cli, repo):
    text = CRONJOB % '            sidecar.istio.io/inject: "false"'
    r = _render(cli, repo, {"cj.yaml": text})
    assert r.code == 0, r.err
    assert "istio-proxy" not in json.dumps(r.docs()[0])
    assert "skipping injection of CronJob jobs/nightly" in r.err


def test_annotations_on_the_job_template_do_not_reach_the_pods(cli, repo):
    """The webhook never sees spec.jobTemplate.metadata: an opt-out there does nothing."""
    opt_out = '      annotations: {sidecar.istio.io/inject: "false"}'
    text = CRONJOB.replace("      labels: {owner: team}", opt_out) % ""
    r = _render(cli, repo, {"cj.yaml": text})
    assert r.code == 0, r.err
    assert "istio-proxy" in _names(r.docs()[0], "containers")


def test_cronjob_settings_selector_matches_the_pods_labels(cli, repo):
    settings = """\
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: batch}
spec:
  selector: {matchLabels: {app: nightly}}
  proxy: {concurrency: 3}
"""
    r = _render(cli, repo, {"cj.yaml": CRONJOB % "", "s.yaml": settings})
    assert r.code == 0, r.err
    assert json.loads(_env(container(r.docs()[0], "istio-proxy"), "PROXY_CONFIG")) == {"concurrency": 3}
    assert "selector matches no workload" not in r.err


# -- step 4: kinds ----------------------------------------------------------------------------

ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: shop}
spec:
  strategy: {canary: {steps: [{setWeight: 20}]}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"""


def test_rollout_with_an_inline_template_is_injected_as_the_webhook_names_it(cli, repo):
    r = _render(cli, repo, {"r.yaml": ROLLOUT})
    assert r.code == 0, r.err
    doc = r.docs()[0]
    proxy = container(doc, "istio-proxy")
    # Istio's webhook attributes Rollout pods to kind Rollout, apiVersion "v1alpha1".
    assert _env(proxy, "ISTIO_META_OWNER") == "kubernetes://apis/v1alpha1/namespaces/shop/rollouts/web"
    assert _env(proxy, "ISTIO_META_WORKLOAD_NAME") == "web"
    assert "sidecar.istio.io/status" in doc["spec"]["template"]["metadata"]["annotations"]


def test_rollout_with_a_workload_ref_is_reported_not_guessed(cli, repo):
    text = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web-base}
"""
    root = repo({"r.yaml": text})
    r = cli("render", "--flavor", "istio", str(root))
    assert r.code == 0, r.err
    assert r.out == text
    assert (f"{root / 'r.yaml'}:5:3: warning: Rollout default/web takes its pod template from spec.workloadRef "
            "(Deployment web-base)") in r.err
    lint = cli("lint", str(root), "--format", "json")
    findings = json.loads(lint.out)["findings"]
    assert [(f["rule"], f["line"]) for f in findings] == [("pod-template-not-injected", 5)]


def test_openkruise_workloads_are_injected_with_their_own_group(cli, repo):
    docs = []
    for api, kind in (("apps.kruise.io/v1alpha1", "CloneSet"), ("apps.kruise.io/v1beta1", "StatefulSet"),
                      ("apps.kruise.io/v1alpha1", "DaemonSet"), ("apps.kruise.io/v1alpha1", "BroadcastJob")):
        docs.append(f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {kind.lower()}}}\nspec:\n"
                    "  template:\n    metadata: {labels: {app: k}}\n"
                    "    spec: {containers: [{name: app, image: nginx}]}\n")
    r = _render(cli, repo, {"k.yaml": "---\n".join(docs)})
    assert r.code == 0, r.err
    owners = [_env(container(d, "istio-proxy"), "ISTIO_META_OWNER") for d in r.docs()]
    assert owners == ["kubernetes://apis/apps.kruise.io/v1alpha1/namespaces/default/clonesets/cloneset",
                      "kubernetes://apis/apps.kruise.io/v1beta1/namespaces/default/statefulsets/statefulset",
                      "kubernetes://apis/apps.kruise.io/v1alpha1/namespaces/default/daemonsets/daemonset",
                      "kubernetes://apis/apps.kruise.io/v1alpha1/namespaces/default/broadcastjobs/broadcastjob"]


def test_a_known_kind_name_in_another_group_is_not_taken_for_it(cli, repo):
    text = ("apiVersion: apps.example.com/v1\nkind: StatefulSet\nmetadata: {name: odd}\nspec:\n"
            "  template:\n    spec: {containers: [{name: app, image: nginx}]}\n")
    root = repo({"s.yaml": text})
    r = cli("render", "--flavor", "istio", str(root))
    assert r.code == 0, r.err
    assert r.out == text
    assert (f"{root / 's.yaml'}:5:3: warning: StatefulSet default/odd (apps.example.com/v1) carries a pod "
            "template at spec.template, but meshrender does not know the kind StatefulSet of apps.example.com"
            ) in r.err


def test_typed_lists_are_read_as_kubectl_reads_them(cli, repo):
    text = """\
apiVersion: v1
kind: PodList
items:
- metadata: {name: p}
  spec: {containers: [{name: app, image: nginx}]}
---
apiVersion: apps/v1
kind: DeploymentList
items:
- metadata: {name: d}
  spec:
    template:
      metadata: {labels: {app: d}}
      spec: {containers: [{name: app, image: nginx}]}
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: s}
  spec:
    template:
      spec: {containers: [{name: app, image: nginx}]}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: List
  items:
  - apiVersion: batch/v1
    kind: Job
    metadata: {name: j}
    spec:
      template:
        spec: {restartPolicy: Never, containers: [{name: app, image: nginx}]}
"""
    r = _render(cli, repo, {"l.yaml": text})
    assert r.code == 0, r.err
    pods, deployments, nested = r.docs()
    assert "istio-proxy" in [c["name"] for c in pods["items"][0]["spec"]["containers"]]
    # The item kept its own (absent) apiVersion and kind: kubectl infers them again.
    assert "kind" not in deployments["items"][0]
    for item in deployments["items"]:
        assert "istio-proxy" in [c["name"] for c in item["spec"]["template"]["spec"]["containers"]]
    job = nested["items"][0]["items"][0]
    assert "istio-proxy" in [c["name"] for c in job["spec"]["template"]["spec"]["containers"]]


def test_a_list_item_without_a_name_is_refused_like_any_workload(cli, repo):
    text = "apiVersion: v1\nkind: PodList\nitems:\n- spec: {containers: [{name: a, image: a}]}\n"
    r = _render(cli, repo, {"l.yaml": text})
    assert r.code == 2
    assert "l.yaml:4:3: error: items[0]: Pod has no metadata.name" in r.err


def test_an_unknown_kind_with_a_pod_template_is_a_warning_naming_it(cli, repo):
    text = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: hello, namespace: fn}
spec:
  template:
    metadata: {annotations: {autoscaling.knative.dev/minScale: "1"}}
    spec:
      containers: [{image: ghcr.io/knative/helloworld-go}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: plain}
data: {a: b}
"""
    root = repo({"kn.yaml": text})
    r = cli("render", "--flavor", "istio", str(root))
    assert r.code == 0, r.err
    assert r.out == text
    warnings = [line for line in r.err.splitlines() if "warning" in line]
    assert warnings == [
        f"{root / 'kn.yaml'}:5:3: warning: Service fn/hello (serving.knative.dev/v1) carries a pod "
        "template at spec.template, but meshrender does not know the kind Service of serving.knative.dev: its "
        "pods are left without the proxy here, while the cluster's webhook may inject them. Declare the kind in "
        "ClusterProfile.spec.workloadKinds (template: spec.template) to render it, or with inject: false to "
        "leave it alone"]


def test_a_declared_kind_is_injected(cli, repo):
    profile = PROFILE + "  - {apiVersion: serving.knative.dev/v1, kind: Service, template: spec.template}\n"
    service = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: hello, namespace: fn}
spec:
  template:
    spec:
      containers: [{name: user-container, image: ghcr.io/knative/helloworld-go}]
---
apiVersion: v1
kind: Service
metadata: {name: hello, namespace: fn}
spec: {ports: [{port: 80}]}
"""
    root = repo({"profile.yaml": profile, "kn.yaml": service})
    r = cli("render", "--flavor", "istio", str(root))
    assert r.code == 0, r.err
    knative, core = r.docs()
    assert _env(container(knative, "istio-proxy"), "ISTIO_META_OWNER") == \
        "kubernetes://apis/serving.knative.dev/v1/namespaces/fn/services/hello"
    assert core == yaml.safe_load(service.split("---\n")[1])
    assert "warning" not in r.err
    explained = cli("explain", str(root), "--workload", "fn/hello", "--format", "json")
    assert explained.code == 0, explained.err
    assert json.loads(explained.out)["workload"]["kind"] == "Service"


def test_a_declared_wildcard_injects_every_template_it_matches(cli, repo):
    profile = PROFILE + ("  - apiVersion: kubeflow.org/*\n    kind: PyTorchJob\n"
                         "    template: spec.pytorchReplicaSpecs.*.template\n")
    job = """\
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: train}
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: 1
      template:
        spec: {containers: [{name: pytorch, image: trainer}]}
    Worker:
      replicas: 3
      template:
        spec: {containers: [{name: pytorch, image: trainer}]}
"""
    root = repo({"profile.yaml": profile, "job.yaml": job})
    r = cli("render", "--flavor", "istio", str(root))
    assert r.code == 0, r.err
    specs = r.docs()[0]["spec"]["pytorchReplicaSpecs"]
    for role in ("Master", "Worker"):
        assert "istio-proxy" in [c["name"] for c in specs[role]["template"]["spec"]["containers"]]
    summary = cli("render", "--flavor", "istio", str(root), "-o", str(root.parent / "out")).err
    for role in ("Master", "Worker"):
        assert f"PyTorchJob default/train (spec.pytorchReplicaSpecs.{role}.template)" in summary


def test_inject_false_leaves_a_kind_alone_without_a_warning(cli, repo):
    profile = PROFILE + ("  - {apiVersion: serving.knative.dev/*, kind: Service, inject: false}\n"
                         "  - {apiVersion: apps.kruise.io/*, kind: CloneSet, inject: false}\n")
    docs = ("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: a}\nspec:\n"
            "  template: {spec: {containers: [{image: x}]}}\n---\n"
            "apiVersion: apps.kruise.io/v1alpha1\nkind: CloneSet\nmetadata: {name: b}\nspec:\n"
            "  template: {spec: {containers: [{name: b, image: x}]}}\n")
    r = _render(cli, repo, {"profile.yaml": profile, "d.yaml": docs})
    assert r.code == 0, r.err
    assert "istio-proxy" not in r.out
    assert "warning" not in r.err


def test_a_kind_declared_twice_is_bad_input(cli, repo):
    profile = PROFILE + ("  - {apiVersion: example.com/v1, kind: Thing, template: spec.template}\n"
                         "  - {apiVersion: example.com/v1, kind: Thing, template: spec.pod}\n")
    root = repo({"profile.yaml": profile})
    r = cli("render", str(root))
    assert r.code == 2
    assert (f"{root / 'profile.yaml'}:7:34: error: spec.workloadKinds[1].kind: ClusterProfile c: Thing of "
            "example.com/v1 is declared twice (also workloadKinds[0])") in r.err


def test_a_declaration_without_a_template_is_bad_input(cli, repo):
    root = repo({"profile.yaml": PROFILE + "  - {apiVersion: example.com/v1, kind: Thing}\n"})
    r = cli("render", str(root))
    assert r.code == 2
    assert f"{root / 'profile.yaml'}:6:34: error: spec.workloadKinds[0].kind: ClusterProfile c: needs a template " \
        "path (or inject: false)" in r.err


def test_a_declaration_is_checked_against_its_schema(cli, repo):
    root = repo({"profile.yaml": PROFILE + "  - {apiVersion: apps, kind: Thing, template: spec.template}\n"})
    r = cli("render", str(root))
    assert r.code == 2
    assert f"{root / 'profile.yaml'}:6:" in r.err and "error: spec.workloadKinds[0].apiVersion" in r.err


def test_a_declared_kind_without_its_template_is_a_warning(cli, repo):
    profile = PROFILE + "  - {apiVersion: example.com/v1, kind: Thing, template: spec.podTemplate}\n"
    thing = "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\nspec: {replicas: 1}\n"
    root = repo({"profile.yaml": profile, "thing.yaml": thing})
    r = cli("render", str(root))
    assert r.code == 0, r.err
    assert r.out == thing
    assert (f"{root / 'thing.yaml'}:1:1: warning: Thing default/t has no pod template at spec.podTemplate (as "
            "ClusterProfile.spec.workloadKinds declares); nothing to inject") in r.err


def test_lint_says_a_job_template_annotation_does_not_reach_the_pods(cli, repo):
    opt_out = '      annotations: {sidecar.istio.io/nativeSidecar: "true"}'
    root = repo({"cj.yaml": CRONJOB.replace("      labels: {owner: team}", opt_out) % ""})
    r = cli("lint", str(root), "--format", "json")
    hits = [f for f in json.loads(r.out)["findings"] if f["rule"] == "mesh-annotation-on-workload-metadata"]
    assert [(f["line"], f["message"]) for f in hits] == [(
        8, "sidecar.istio.io/nativeSidecar on spec.jobTemplate.metadata has no effect, the injector reads the pod "
           "template; move it to spec.jobTemplate.spec.template.metadata.annotations")]
