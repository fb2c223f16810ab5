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
