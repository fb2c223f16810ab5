"""Settings native sidecars ignore, and lifecycles that undo their drain (policies/native_ignored.py)."""

from __future__ import annotations

from tests.lintkit import deployment, profile, settings

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
