"""Webhooks that re-inject rendered workloads or strip native sidecars (policies/webhooks.py)."""

from __future__ import annotations

from tests.lintkit import deployment, profile

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


def test_a_cluster_that_injects_every_namespace_reinjects_rendered_workloads(lint):
    values = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-sidecar-injector, namespace: istio-system}\n" \
        "data:\n  values: '{\"sidecarInjectorWebhook\": {\"enableNamespacesByDefault\": true}}'\n"
    r = lint({"values.yaml": values, "app.yaml": deployment()})
    (f,) = r.of("reinjected-by-cluster-webhook")
    assert "webhook auto.sidecar-injector.istio.io" in f["message"]


# -- injection-blocked-by-namespace -----------------------------------------------------

BLOCKED = "injection-blocked-by-namespace"


def test_a_pod_that_asks_for_the_sidecar_in_a_disabled_namespace(lint):
    r = lint({"ns.yaml": namespace("    istio-injection: disabled"),
              "app.yaml": deployment(labels='        sidecar.istio.io/inject: "true"')})
    assert r.where(BLOCKED) == [r.at("ns.yaml", "istio-injection")]
    (f,) = r.of(BLOCKED)
    assert "its pod label sidecar.istio.io/inject is \"true\"" in f["message"]
    assert "namespace shop is labelled istio-injection=disabled" in f["message"]
    # What the evaluation decided, not a second opinion: the workload is not injected.
    assert r.doc["workloads"][0]["injected"] is False


def test_mesh_annotations_and_selecting_settings_are_requests_too(lint):
    r = lint({"ns.yaml": namespace("    istio.io/dataplane-mode: ambient"),
              "app.yaml": deployment(annotations='        sidecar.istio.io/proxyCPU: 200m')})
    (f,) = r.of(BLOCKED)
    assert "sidecar.istio.io/proxyCPU" in f["message"] and "ambient" in f["message"]
    settings = """apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  proxy: {resources: {requests: {cpu: 100m}}}
"""
    # istio.io/rev=old names some control plane: without its webhooks among the inputs, it injects.
    r = lint({"ns.yaml": namespace("    istio.io/rev: old"), "s.yaml": settings, "app.yaml": deployment()})
    assert r.of(BLOCKED) == []
    r = lint({"ns.yaml": namespace("    istio-injection: disabled"), "s.yaml": settings, "app.yaml": deployment()})
    (f,) = r.of(BLOCKED)
    assert "SidecarProxySettings shop/web selects it" in f["message"]


def test_a_namespace_kept_out_of_the_mesh_with_nothing_asking_is_no_finding(lint):
    r = lint({"ns.yaml": namespace("    istio-injection: disabled"), "app.yaml": deployment()})
    assert r.of(BLOCKED) == []
    # Nor is a namespace without mesh labels (the rendered-manifests pattern: meshrender injects).
    r = lint({"ns.yaml": namespace("    team: a"),
              "app.yaml": deployment(labels='        sidecar.istio.io/inject: "true"')})
    assert r.of(BLOCKED) == []


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


def mpod_hook(config: str, service: str, path: str, version: str = "", name: str = "mpod.kb.io",
              annotations: str = "") -> str:
    labels = f"\n  labels: {{app.kubernetes.io/version: \"{version}\"}}" if version else ""
    anns = f"\n  annotations: {{{annotations}}}" if annotations else ""
    return f"""apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: {config}{labels}{anns}
webhooks:
  - name: {name}
    clientConfig:
      service: {{name: {service}, namespace: ops, path: {path}}}
    rules:
      - {{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods]}}
"""


STRIP = "webhook-strips-native-sidecar"


def test_generic_webhook_names_are_told_apart_by_their_service(lint):
    """kubebuilder's mpod.kb.io is used by several operators: the OpenTelemetry operator and
    kube-image-keeper are recognised by service and path, any other operator is not reported."""
    files = {"profile.yaml": profile(), "app.yaml": deployment()}
    r = lint({**files, "hook.yaml": mpod_hook("otel-mutation", "otel-opentelemetry-operator-webhook",
                                              "/mutate-v1-pod", version="0.82.1")})
    assert "OpenTelemetry Operator" in r.of(STRIP)[0]["message"] and "0.83.0 or later" in r.of(STRIP)[0]["message"]
    r = lint({**files, "hook.yaml": mpod_hook("kuik-mutating-webhook", "kube-image-keeper-webhook",
                                              "/mutate-core-v1-pod")})
    assert "kube-image-keeper" in r.of(STRIP)[0]["message"]
    assert lint({**files, "hook.yaml": mpod_hook("acme", "acme-operator-webhook", "/mutate-v1-pod")}).of(STRIP) == []
    assert lint({**files, "hook.yaml": mpod_hook("otel-mutation", "opentelemetry-operator-webhook", "/mutate-v1-pod",
                                                 version="0.92.1")}).of(STRIP) == []


def test_webhooks_known_by_configuration_name_and_by_namespace_label(lint):
    files = {"profile.yaml": profile(), "app.yaml": deployment()}
    r = lint({**files, "hook.yaml": mpod_hook("datadog-webhook", "datadog-cluster-agent-admission-controller",
                                            "/injectconfig", name="datadog.webhook.agent.config")})
    assert "Datadog Cluster Agent admission controller" in r.of(STRIP)[0]["message"]
    r = lint({**files, "hook.yaml": "", "ns.yaml": namespace("    appmesh.k8s.aws/sidecarInjectorWebhook: disabled")})
    assert r.where(STRIP) == [r.at("ns.yaml", "appmesh.k8s.aws/sidecarInjectorWebhook")]
    assert "AWS App Mesh controller" in r.of(STRIP)[0]["message"]
    r = lint({**files, "hook.yaml": mpod_hook("secrets-init", "secrets-init-webhook-svc", "/pods",
                                              name="secrets-init.doit-intl.com")})
    assert "kube-secrets-init" in r.of(STRIP)[0]["message"]


def test_a_webhook_configuration_known_to_run_a_fixed_release_can_say_so(lint):
    hook = mpod_hook("kuik-mutating-webhook", "kube-image-keeper-webhook", "/mutate-core-v1-pod",
                     annotations=f"meshrender.dev/ignore: {STRIP}")
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(), "hook.yaml": hook})
    assert r.of(STRIP) == [] and r.doc["summary"]["suppressed"] == 1
