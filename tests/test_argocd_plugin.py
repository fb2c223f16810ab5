"""The Argo CD plugin: argocd/plugin.yaml's commands, run as Argo CD's plugin server runs them.

Argo CD's cmp-server execs `command + args` in the Application's source folder (a copy
of the repository), with the sidecar's environment plus the build environment
(ARGOCD_APP_*, KUBE_VERSION, KUBE_API_VERSIONS), the Application's plugin env prefixed
ARGOCD_ENV_, and its parameters as PARAM_*. Standard output must be manifests only; a
non-zero exit fails the sync. These tests do exactly that with the commands as written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import container, env_of, pod_spec
from tests.gitops import BIN, ROOT, offline_pip_env, wheelhouse

PLUGIN = yaml.safe_load((ROOT / "argocd" / "plugin.yaml").read_text(encoding="utf-8"))
SETTINGS_KINDS = {"SidecarProxySettings", "ClusterProfile"}


def argocd_env(**extra: str) -> dict[str, str]:
    """The environment of a plugin command in Argo CD's sidecar: a minimal PATH, the build env."""
    env = {
        "PATH": os.pathsep.join([str(BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": "/home/argocd",
        "ARGOCD_APP_NAME": "payments",
        "ARGOCD_APP_NAMESPACE": "payments",
        "ARGOCD_APP_PROJECT_NAME": "default",
        "ARGOCD_APP_REVISION": "0c1d7d5b6c0a4a8f9e2b3c4d5e6f708192a3b4c5",
        "ARGOCD_APP_REVISION_SHORT": "0c1d7d5",
        "ARGOCD_APP_SOURCE_PATH": "clusters/prod",
        "ARGOCD_APP_SOURCE_REPO_URL": "https://git.example.com/platform/gitops.git",
        "ARGOCD_APP_SOURCE_TARGET_REVISION": "main",
        "KUBE_VERSION": "1.30.4",
        "KUBE_API_VERSIONS": "v1,apps/v1,batch/v1,networking.istio.io/v1,security.istio.io/v1",
    }
    env.update(extra)
    return env


def run(step: dict, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Exec a plugin command (`command` + `args`) as Argo CD does: no shell of our own."""
    argv = [*step["command"], *(step.get("args") or [])]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def generate(app: Path, **env: str) -> subprocess.CompletedProcess:
    return run(PLUGIN["spec"]["generate"], app, argocd_env(**env))


def discover(app: Path) -> subprocess.CompletedProcess:
    return run(PLUGIN["spec"]["discover"]["find"], app, argocd_env())


def manifests(r: subprocess.CompletedProcess) -> list[dict]:
    """stdout as Kubernetes objects; fails if it holds anything else."""
    assert r.returncode == 0, r.stderr
    docs = [d for d in yaml.safe_load_all(r.stdout) if d is not None]
    assert docs, "generate printed no manifests"
    for d in docs:
        assert isinstance(d, dict) and d.get("apiVersion") and d.get("kind"), f"not a Kubernetes object: {d!r}"
    return docs


def by_name(docs: list[dict], name: str) -> dict:
    return next(d for d in docs if d["metadata"]["name"] == name)


@pytest.fixture
def app(tmp_path) -> Path:
    """The Application's source folder: a copy of the demo repo at a path inside a repo."""
    dest = tmp_path / "gitops" / "clusters" / "prod"
    shutil.copytree(ROOT / "fixtures" / "demo", dest)
    return dest


def failed(r: subprocess.CompletedProcess) -> str:
    """A failed generate: non-zero, nothing on stdout for Argo CD to apply, a reason on stderr."""
    assert r.returncode != 0, r.stdout
    assert r.stdout == ""
    assert r.stderr.strip()
    return r.stderr


def test_plugin_is_a_v2_sidecar_plugin():
    assert PLUGIN["apiVersion"] == "argoproj.io/v1alpha1"
    assert PLUGIN["kind"] == "ConfigManagementPlugin"
    assert {p["name"] for p in PLUGIN["spec"]["parameters"]["static"]} >= {"flavor", "kube-version",
                                                                          "mesh-version"}


def test_discover_matches_repos_with_meshrender_settings_only(app, tmp_path):
    r = discover(app)
    assert r.returncode == 0 and r.stdout.strip(), r.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    shutil.copy(ROOT / "fixtures" / "demo" / "apps" / "storefront" / "web.yaml", plain)
    r = discover(plain)
    assert r.returncode == 0 and r.stdout.strip() == "", "Argo CD takes any output as a match"


def test_generate_prints_injected_manifests_for_the_destination_cluster(app):
    docs = manifests(generate(app))
    assert not {d["kind"] for d in docs} & SETTINGS_KINDS
    checkout = by_name(docs, "checkout")
    # KUBE_VERSION 1.30 on ACK with ASM 1.22 (the ClusterProfile): a native sidecar.
    proxy = container(checkout, "istio-proxy", init=True)
    assert proxy["restartPolicy"] == "Always"
    assert checkout["metadata"]["namespace"] == "payments"


def test_kube_version_comes_from_argocd_over_the_cluster_profile(app):
    # The ClusterProfile says 1.30; Argo CD reports the real cluster at 1.29: traditional.
    docs = manifests(generate(app, KUBE_VERSION="v1.29.7"))
    checkout = by_name(docs, "checkout")
    assert container(checkout, "istio-proxy", init=False)
    assert "istio-proxy" not in [c["name"] for c in pod_spec(checkout).get("initContainers") or []]


def test_parameters_win_over_plugin_env(app):
    istio = manifests(generate(app, ARGOCD_ENV_FLAVOR="istio"))
    asm = manifests(generate(app, ARGOCD_ENV_FLAVOR="istio", PARAM_FLAVOR="asm"))
    assert "DNS_AGENT" not in env_of(container(by_name(istio, "checkout"), "istio-init"))
    assert "DNS_AGENT" in env_of(container(by_name(asm, "checkout"), "istio-init"))
    old = manifests(generate(app, PARAM_KUBE_VERSION="1.28", ARGOCD_ENV_KUBE_VERSION="1.31"))
    assert container(by_name(old, "checkout"), "istio-proxy", init=False)


def test_mesh_version_parameter_wins_over_env_and_the_cluster_profile(app):
    # The ClusterProfile says ASM 1.22; the parameter (then the plugin env) chooses the release.
    def has_crl(docs: list[dict]) -> bool:
        return any(v["name"] == "istio-ca-crl" for v in pod_spec(by_name(docs, "checkout"))["volumes"])

    profile = manifests(generate(app, PARAM_FLAVOR="istio"))
    assert not has_crl(profile)  # Istio 1.22 (the profile): no CRL volume (istio/istio#56308, 1.27)
    env = manifests(generate(app, PARAM_FLAVOR="istio", ARGOCD_ENV_MESH_VERSION="1.28"))
    assert has_crl(env)
    assert container(by_name(env, "checkout"), "istio-proxy", init=False)["image"] == \
        "docker.io/istio/proxyv2:1.28.10"  # the newest 1.28 patch meshrender knows
    param = manifests(generate(app, PARAM_FLAVOR="istio", ARGOCD_ENV_MESH_VERSION="1.28",
                               PARAM_MESH_VERSION="1.22.3"))
    assert not has_crl(param)
    assert container(by_name(param, "checkout"), "istio-proxy", init=False)["image"] == \
        "docker.io/istio/proxyv2:1.22.3"
    assert "Istio 1.21 is not supported" in failed(generate(app, PARAM_FLAVOR="istio", PARAM_MESH_VERSION="1.21"))


def test_destination_namespace_applies_to_workloads_without_one(app):
    (app / "apps" / "orders.yaml").write_text("""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: orders}
spec:
  selector: {matchLabels: {app: orders}}
  template:
    metadata: {labels: {app: orders}}
    spec:
      containers: [{name: orders, image: registry.example.com/orders:1.0}]
""")
    (app / "mesh" / "sidecar-orders.yaml").write_text("""\
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: orders, namespace: orders}
spec: {proxy: {resources: {requests: {cpu: 250m, memory: 64Mi}}}}
""")
    in_orders = by_name(manifests(generate(app, ARGOCD_APP_NAMESPACE="orders")), "orders")
    elsewhere = by_name(manifests(generate(app, ARGOCD_APP_NAMESPACE="shop")), "orders")
    assert container(in_orders, "istio-proxy")["resources"]["requests"]["cpu"] == "250m"
    assert container(elsewhere, "istio-proxy")["resources"]["requests"]["cpu"] == "100m"


def test_native_sidecar_for_an_old_cluster_fails_the_sync(app):
    err = failed(generate(app, KUBE_VERSION="1.27.3", PARAM_NATIVE_SIDECARS="true"))
    assert "restartPolicy" in err and "Kubernetes 1.27" in err
    assert "apps/payments/checkout.yaml" in err
    # With validation off the render goes through (the user asked for it).
    docs = manifests(generate(app, KUBE_VERSION="1.27.3", PARAM_NATIVE_SIDECARS="true", PARAM_VALIDATE="false"))
    assert container(by_name(docs, "checkout"), "istio-proxy", init=True)


@pytest.mark.parametrize("case", ["no-files", "settings-only", "empty-files"])
def test_an_empty_render_is_an_error_not_an_empty_success(app, case):
    shutil.rmtree(app / "apps")
    if case == "no-files":
        shutil.rmtree(app / "mesh")
        shutil.rmtree(app / "cluster")
    elif case == "empty-files":
        for f in app.rglob("*.yaml"):
            f.write_text("# nothing here yet\n---\n")
    err = failed(generate(app))
    assert "prune" in err


def test_bad_input_fails_with_its_location(app):
    (app / "apps" / "payments" / "checkout.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\n  bad: [\n")
    err = failed(generate(app))
    assert "apps/payments/checkout.yaml:" in err


@pytest.mark.parametrize("env", [{"PARAM_FLAVOR": "linkerd"}, {"PARAM_VALIDATE": "yes"},
                                 {"PARAM_NATIVE_SIDECARS": "sometimes"}, {"KUBE_VERSION": "latest"}])
def test_bad_parameters_fail(app, env):
    failed(generate(app, **env))


# -- installation files -------------------------------------------------------------------

def _readme_block(title: str) -> dict:
    """The YAML block of README.md whose first line is `# <title>`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for block in text.split("```yaml\n")[1:]:
        body = block.split("```", 1)[0]
        if body.startswith(f"# {title}\n"):
            return yaml.safe_load(body)
    raise AssertionError(f"README.md has no ```yaml block starting with '# {title}'")


def test_sidecar_install_files_fit_together_and_match_the_readme():
    patch = yaml.safe_load((ROOT / "argocd" / "repo-server-patch.yaml").read_text())
    app = yaml.safe_load((ROOT / "argocd" / "application.yaml").read_text())
    assert _readme_block("argocd/repo-server-patch.yaml") == patch
    assert _readme_block("argocd/application.yaml") == app
    spec = patch["spec"]["template"]["spec"]
    (sidecar,) = spec["containers"]
    assert sidecar["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert sidecar["securityContext"]["runAsUser"] == 999
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    config = mounts["/home/argocd/cmp-server/config/plugin.yaml"]
    assert config["subPath"] == "plugin.yaml"
    volumes = {v["name"]: v for v in spec["volumes"]}
    # var-files and plugins are the repo server's own volumes; the others come with the patch.
    assert {m["name"] for m in sidecar["volumeMounts"]} - {"var-files", "plugins"} <= set(volumes)
    assert volumes[config["name"]]["configMap"]["name"] == "meshrender-plugin"
    plugin = app["spec"]["source"]["plugin"]
    assert plugin["name"] == f"{PLUGIN['metadata']['name']}-{PLUGIN['spec']['version']}"
    announced = {p["name"] for p in PLUGIN["spec"]["parameters"]["static"]}
    assert {p["name"] for p in plugin["parameters"]} <= announced


def test_sidecar_image_sources_are_enough_to_install_meshrender(tmp_path):
    """The Dockerfile copies only some folders; building meshrender from them must work."""
    src = tmp_path / "src"
    src.mkdir()
    for line in (ROOT / "argocd" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            *items, dest = line.split()[1:]
            for item in items:
                target = src / Path(dest).relative_to("/src") / (Path(item).name if dest.endswith("/") else "")
                if (ROOT / item).is_dir():
                    shutil.copytree(ROOT / item, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(ROOT / item, target)
    env = {**os.environ, **offline_pip_env(wheelhouse())}
    r = subprocess.run([str(BIN / "python"), "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "w"),
                        str(src)], env=env, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    (wheel,) = (tmp_path / "w").glob("meshrender_gitops-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "meshrender/policies/__init__.py" in names and "meshrender/data/asm.yaml" in names
    # every package folder of render/ ships (pyproject lists them one by one)
    for init in (ROOT / "render").rglob("__init__.py"):
        assert f"meshrender/{init.relative_to(ROOT / 'render').as_posix()}" in names, init
    assert any(n.startswith("meshrender/schemas/") and n.endswith(".json") for n in names)
