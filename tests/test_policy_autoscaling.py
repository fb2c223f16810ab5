"""VerticalPodAutoscalers and native sidecars (policies/autoscaling.py)."""

from __future__ import annotations

import pytest

from tests.lintkit import deployment, profile

RULE = "vpa-ignores-native-sidecar"


def vpa(target: str = "web", ns: str = "shop", policies: str = "", kind: str = "Deployment") -> str:
    policy = f"  resourcePolicy:\n    containerPolicies:\n{policies}" if policies else ""
    return f"""apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata:
  name: {target}-vpa
  namespace: {ns}
spec:
  targetRef:
    apiVersion: apps/v1
    kind: {kind}
    name: {target}
  updatePolicy:
    updateMode: Auto
{policy}"""


def test_vpa_on_a_native_workload_points_at_its_target(lint):
    r = lint({"profile.yaml": profile(), "vpa.yaml": vpa(), "app.yaml": deployment()})
    assert r.where(RULE) == [r.at("vpa.yaml", "name: web\n")]
    (f,) = r.of(RULE)
    assert f["workload"] == "Deployment shop/web" and "ignores" in f["message"]
    assert "cpu 100m, memory 128Mi" in f["message"]  # what the proxy keeps (ASM's defaults)


def test_a_containerpolicy_for_the_proxy_is_said_to_do_nothing(lint):
    policies = "      - containerName: istio-proxy\n        maxAllowed: {cpu: '1'}\n"
    r = lint({"profile.yaml": profile(), "vpa.yaml": vpa(policies=policies), "app.yaml": deployment()})
    assert r.where(RULE) == [r.at("vpa.yaml", "containerName: istio-proxy")]
    assert "the policy does nothing" in r.of(RULE)[0]["message"]


@pytest.mark.parametrize("files", [
    {"profile.yaml": profile("1.28"), "vpa.yaml": vpa(), "app.yaml": deployment()},  # traditional: VPA sizes it
    {"profile.yaml": profile(), "vpa.yaml": vpa("api"), "app.yaml": deployment()},  # another target
    {"profile.yaml": profile(), "vpa.yaml": vpa(ns="other"), "app.yaml": deployment()},
    {"profile.yaml": profile(), "vpa.yaml": vpa(kind="StatefulSet"), "app.yaml": deployment()},
    {"profile.yaml": profile(), "app.yaml": deployment(),
     "vpa.yaml": vpa(policies="      - containerName: istio-proxy\n        mode: \"Off\"\n")},  # sized by hand
    {"profile.yaml": profile(), "app.yaml": deployment(),
     "vpa.yaml": vpa(policies="      - containerName: '*'\n        mode: \"Off\"\n")},
])
def test_nothing_to_report(lint, files):
    assert lint(files).of(RULE) == []


def test_the_vpa_passes_through_render_unchanged(cli, tmp_path):
    (tmp_path / "vpa.yaml").write_text(vpa())
    r = cli("render", str(tmp_path / "vpa.yaml"))
    assert r.code == 0 and r.out == vpa()
