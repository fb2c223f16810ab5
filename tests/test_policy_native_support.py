"""Native or traditional against what the cluster supports (policies/native_support.py)."""

from __future__ import annotations

from tests.lintkit import deployment, profile, settings

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
