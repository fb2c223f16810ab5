"""meshrender inside kustomize and Helm, run as those tools run it.

- the legacy exec plugin under the real `kubectl kustomize --enable-alpha-plugins`;
- the KRM exec function protocol (a ResourceList on stdin and stdout, results);
- a Helm post-renderer: the rendered chart on stdin, arguments as `--post-renderer-args`
  gives them, the manifests on stdout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, WEB, container, pod_spec
from tests.gitops import BIN

KUBECTL = shutil.which("kubectl")
MESHRENDER = str(BIN / "meshrender")

OPTED_OUT = """\
apiVersion: v1
kind: Pod
metadata:
  name: tool
  namespace: shop
  labels: {sidecar.istio.io/inject: "false"}
spec: {containers: [{name: tool, image: busybox}]}
"""
SETTINGS = """\
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: global}
spec: {proxy: {concurrency: 3}}
"""


def _proxy_config(doc: dict) -> dict:
    env = {e["name"]: e.get("value") for e in container(doc, "istio-proxy").get("env") or []}
    return json.loads(env["PROXY_CONFIG"])


def _kustomization(tmp_path: Path, injector: str) -> Path:
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "settings.yaml").write_text(SETTINGS)
    app = tmp_path / "app"
    app.mkdir()
    (app / "web.yaml").write_text(WEB)
    (app / "kustomization.yaml").write_text("resources: [web.yaml]\ntransformers: [injector.yaml]\n")
    (app / "injector.yaml").write_text(injector)
    home = tmp_path / "plugins" / "meshrender.dev" / "v1alpha1" / "sidecarinjector"
    home.mkdir(parents=True)
    shutil.copy2(ROOT / "kustomize" / "SidecarInjector", home / "SidecarInjector")
    return app


def _kubectl_kustomize(tmp_path: Path, app: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUSTOMIZE_PLUGIN_HOME": str(tmp_path / "plugins"), "MESHRENDER": MESHRENDER}
    return subprocess.run([KUBECTL, "kustomize", "--enable-alpha-plugins", str(app)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_legacy_exec_plugin_under_kubectl_kustomize(tmp_path):
    app = _kustomization(tmp_path, """\
apiVersion: meshrender.dev/v1alpha1
kind: SidecarInjector
metadata: {name: mesh}
spec:
  flavor: istio
  nativeSidecars: "false"
  settings: [../mesh]
""")
    r = _kubectl_kustomize(tmp_path, app)
    assert r.returncode == 0, r.stderr
    (web,) = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert "istio-proxy" in [c["name"] for c in pod_spec(web)["containers"]]  # traditional, as asked
    assert _proxy_config(web)["concurrency"] == 3  # the settings the SidecarInjector names
    assert "kustomize.config.k8s.io/id" not in r.stdout


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_a_bad_sidecar_injector_fails_the_kustomize_build_with_its_field(tmp_path):
    app = _kustomization(tmp_path, "apiVersion: meshrender.dev/v1alpha1\nkind: SidecarInjector\n"
                                   "metadata: {name: mesh}\nspec: {flavor: linkerd}\n")
    r = _kubectl_kustomize(tmp_path, app)
    assert r.returncode != 0
    assert "spec.flavor" in r.stderr and "linkerd" in r.stderr


def _krm(request: dict) -> subprocess.CompletedProcess:
    return subprocess.run([MESHRENDER, "kustomize-plugin"], input=yaml.safe_dump(request), capture_output=True,
                          text=True, timeout=120, check=False)


def test_krm_function_renders_items_and_reports_results(tmp_path):
    request = {
        "apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList",
        "items": [yaml.safe_load(WEB.replace("labels: {app: web}}", "labels: {app: web}, annotations: "
                                                                "{sidecar.istio.io/proxyCpu: 100m}}")),
                  yaml.safe_load(OPTED_OUT)],
        "functionConfig": {"apiVersion": "meshrender.dev/v1alpha1", "kind": "SidecarInjector",
                           "metadata": {"name": "mesh"},
                           "spec": {"flavor": "istio", "inline": [yaml.safe_load(SETTINGS)], "lint": True}},
    }
    r = _krm(request)
    assert r.returncode == 0, r.stderr
    out = yaml.safe_load(r.stdout)
    assert out["apiVersion"] == "config.kubernetes.io/v1" and out["kind"] == "ResourceList"
    web, tool = out["items"]
    assert _proxy_config(web)["concurrency"] == 3
    assert [c["name"] for c in pod_spec(tool)["containers"]] == ["tool"]  # opted out: unchanged
    messages = [r["message"] for r in out["results"]]
    assert any("skipping injection of Pod shop/tool" in m for m in messages)
    (typo,) = [res for res in out["results"] if res.get("tags", {}).get("rule") == "unknown-mesh-annotation"]
    assert typo["severity"] == "warning" and "did you mean sidecar.istio.io/proxyCPU" in typo["message"]
    assert typo["resourceRef"] == {"kind": "Deployment", "name": "web", "namespace": "shop"}


def test_krm_function_error_is_a_result_and_exit_1():
    request = {"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [yaml.safe_load(WEB)],
               "functionConfig": {"apiVersion": "meshrender.dev/v1alpha1", "kind": "SidecarInjector",
                                  "spec": {"nativeSidecars": "maybe"}}}
    r = _krm(request)
    assert r.returncode == 1
    out = yaml.safe_load(r.stdout)
    (result,) = out["results"]
    assert result["severity"] == "error" and "spec.nativeSidecars" in result["message"]


def test_not_a_resource_list_without_config_is_bad_usage():
    r = subprocess.run([MESHRENDER, "kustomize-plugin"], input=WEB, capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 1 and "expected a KRM ResourceList" in r.stdout


def test_helm_post_renderer(tmp_path):
    """Helm runs `--post-renderer meshrender --post-renderer-args render --post-renderer-args -
    --post-renderer-args mesh/`: the chart's manifests on stdin, the manifests on stdout, in
    the folder Helm runs in (where .meshrender.yaml is found)."""
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "settings.yaml").write_text(SETTINGS)
    (tmp_path / ".meshrender.yaml").write_text("render: {flavor: istio}\n")
    chart_output = "---\n# Source: web/templates/deployment.yaml\n" + WEB + "---\n# Source: web/templates/pod.yaml\n" \
        + OPTED_OUT
    r = subprocess.run([MESHRENDER, "render", "-", "mesh/"], input=chart_output, cwd=tmp_path,
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    web, tool = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert _proxy_config(web)["concurrency"] == 3
    assert "DNS_AGENT" not in json.dumps(web)  # the istio flavor of .meshrender.yaml
    assert tool["metadata"]["name"] == "tool"
    # no path at all: stdin, as a post-renderer without arguments
    r = subprocess.run([MESHRENDER, "render"], input=WEB, cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0 and "istio-proxy" in r.stdout
