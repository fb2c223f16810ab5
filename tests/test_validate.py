"""`render --validate`: rendered workloads checked against the target Kubernetes API schema."""

from __future__ import annotations

import subprocess
import sys

import pytest

from meshrender.kube import apischema as kube_schema
from tests.conftest import ROOT, container

NATIVE = """\
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: global}
spec: {nativeSidecar: true}
"""
APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: web}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      initContainers:
        - name: migrate
          image: registry.example.com/migrate:1
      containers:
        - name: shop
          image: registry.example.com/shop:1
          ports: [{containerPort: 8080}]
"""


def test_native_sidecar_is_rejected_for_kubernetes_127_and_accepted_for_130(cli, repo, tmp_path):
    root = repo({"app.yaml": APP, "mesh.yaml": NATIVE})
    out = tmp_path / "out"
    old = cli("render", str(root), "-o", str(out), "--validate", "--kube-version", "1.27")
    assert old.code == 2
    assert not out.exists(), "nothing is written when validation fails"
    assert old.out == ""
    line = old.err.splitlines()[0]
    assert line.startswith(f"meshrender: {root / 'app.yaml'}:")
    assert "spec.template.spec.initContainers[1].restartPolicy" in line
    assert "Deployment web/shop, container istio-proxy" in line
    assert "unknown field 'restartPolicy'" in line and "Kubernetes 1.27" in line
    assert "--native-sidecars false" in old.err, "the hint says how to render for this cluster"

    new = cli("render", str(root), "-o", str(out), "--validate", "--kube-version", "1.30")
    assert new.code == 0, new.err
    (doc,) = [d for d in __import__("yaml").safe_load_all((out / "app.yaml").read_text()) if d]
    assert container(doc, "istio-proxy", init=True)["restartPolicy"] == "Always"


def test_errors_point_at_the_users_field_even_after_injection_moved_it(cli, repo):
    # Injection inserts istio-init (and a native istio-proxy) before the user's init
    # containers: errors in them must still point at their lines in the input.
    bad = APP.replace("image: registry.example.com/migrate:1",
                      "image: registry.example.com/migrate:1\n          imagePullPolcy: Always")
    bad = bad.replace("containerPort: 8080", 'containerPort: "8080"')
    lines_in = bad.splitlines()
    typo_line = next(i for i, x in enumerate(lines_in, 1) if "imagePullPolcy" in x)
    port_line = next(i for i, x in enumerate(lines_in, 1) if "containerPort" in x)
    root = repo({"app.yaml": bad})
    r = cli("render", str(root / "app.yaml"), "--validate", "--kube-version", "1.30", "--native-sidecars", "true")
    assert r.code == 2
    errors = [x for x in r.err.splitlines() if ": error: " in x]
    assert len(errors) == 2, r.err
    typo, port = errors  # in input order
    assert f"app.yaml:{typo_line}:11: error: spec.template.spec.initContainers[" in typo
    assert "initContainers[0]" not in typo, "the index is the rendered one, after the injected containers"
    assert "container migrate: unknown field 'imagePullPolcy'" in typo
    assert f"app.yaml:{port_line}:" in port and "containers[0].ports[0].containerPort" in port
    assert 'container shop: "8080" is not of type "integer"' in port
    assert r.out == ""


OLD_CRON = """\
apiVersion: batch/v1beta1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 1 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: job, image: registry.example.com/job:1}]
"""


def test_a_version_the_cluster_no_longer_serves_is_rejected(cli):
    r = cli("render", "-", "--validate", "--kube-version", "1.30", stdin=OLD_CRON)
    assert r.code == 2
    assert ("-:1:1: error: apiVersion: CronJob default/nightly: "
            "Kubernetes 1.30 does not serve CronJob in batch/v1beta1") in r.err


def test_the_version_comes_from_the_cluster_profile(cli, repo):
    profile = """\
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: old}
spec: {kubernetesVersion: "1.27"}
"""
    root = repo({"app.yaml": APP, "mesh.yaml": NATIVE, "profile.yaml": profile})
    r = cli("render", str(root), "--validate")
    assert r.code == 2 and "Kubernetes 1.27" in r.err


def test_validation_without_a_target_version_is_a_usage_error(cli, repo):
    root = repo({"app.yaml": APP})
    r = cli("render", str(root), "--validate")
    assert r.code == 2
    assert "--kube-version" in r.err and "ClusterProfile" in r.err


def test_a_version_newer_than_the_schemas_uses_the_newest_with_a_warning(cli, repo):
    newest = kube_schema.available_versions()[-1]
    future = f"{newest[0]}.{newest[1] + 5}"
    root = repo({"app.yaml": APP})
    r = cli("render", str(root), "--validate", "--kube-version", future)
    assert r.code == 0, r.err
    assert f"Kubernetes {future} is newer than the newest schema installed" in r.err


def test_kinds_without_a_builtin_schema_are_not_checked(cli):
    dc = """\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata: {name: legacy}
spec:
  template:
    metadata: {labels: {app: legacy}}
    spec:
      containers: [{name: app, image: registry.example.com/legacy:1}]
"""
    r = cli("render", "-", "--validate", "--kube-version", "1.30", stdin=dc)
    assert r.code == 0, r.err
    assert "istio-proxy" in r.out


def test_list_items_are_validated_and_located(cli):
    lst = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: ok}
    spec:
      containers: [{name: a, image: registry.example.com/a:1}]
  - apiVersion: v1
    kind: Pod
    metadata: {name: bad}
    spec:
      containers: [{name: b, image: registry.example.com/b:1, tty: "yes"}]
"""
    r = cli("render", "-", "--validate", "--kube-version", "1.30", "--flavor", "istio", stdin=lst)
    assert r.code == 2
    (line,) = [x for x in r.err.splitlines() if ": error: " in x]
    assert line.startswith("meshrender: -:13:") and "items[1].spec.containers[0].tty" in line
    assert "Pod default/bad, container b" in line


def test_workload_problems_is_the_api_the_lint_rule_uses(repo):
    from meshrender.run.render import Renderer, render
    from meshrender.settings.resolve import Options

    root = repo({"app.yaml": APP, "mesh.yaml": NATIVE})
    found = []
    renderer = Renderer(per_file=lambda run: lambda evaluated: found.extend(
        kube_schema.workload_problems(e, kube_schema.schema_for(kube_schema.target_version(run.resolver)))
        for e in evaluated.evaluations))
    render([str(root)], Options(kube_version="1.27"), renderer, workers=1)
    ((problem,),) = found
    assert problem.field == "spec.template.spec.initContainers[1].restartPolicy"
    assert problem.location.path.endswith("app.yaml") and problem.location.line > 1
    assert problem.hint


def test_missing_schema_package_is_a_clear_usage_error(cli, repo, monkeypatch):
    monkeypatch.setattr(kube_schema.importlib.util, "find_spec", lambda name: None)
    kube_schema._schema_root.cache_clear()
    kube_schema.available_versions.cache_clear()
    kube_schema.schema_for.cache_clear()
    try:
        r = cli("render", str(repo({"app.yaml": APP})), "--validate", "--kube-version", "1.30")
    finally:
        monkeypatch.undo()
        kube_schema._schema_root.cache_clear()
        kube_schema.available_versions.cache_clear()
        kube_schema.schema_for.cache_clear()
    assert r.code == 2
    assert "pip install 'meshrender[validate]'" in r.err


@pytest.mark.parametrize("flag, loaded", [((), False), (("--validate",), True)])
def test_schema_libraries_load_only_when_validating(flag, loaded):
    code = (
        "import sys; from click.testing import CliRunner; from meshrender.cli import main\n"
        f"r = CliRunner().invoke(main, ['render', {str(ROOT / 'fixtures' / 'demo')!r}, '-q', *{list(flag)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        # (jsonschema_rs itself also checks settings documents now: the Kubernetes schemas
        # are what must not load)
        "print('meshrender.kube.apischema' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith(str(loaded))


def test_lint_rule_output_schema_invalid(cli, repo):
    pytest.importorskip("meshrender.lint.rules", reason="the lint engine is on another branch")
    root = repo({"app.yaml": APP, "mesh.yaml": NATIVE})
    r = cli("lint", str(root), "--kube-version", "1.27", "--format", "json")
    import json

    findings = [f for f in json.loads(r.out)["findings"] if f["rule"] == "output-schema-invalid"]
    assert r.code == 1
    (f,) = findings
    assert f["severity"] == "error" and f["file"].endswith("app.yaml")
    assert "initContainers[1].restartPolicy (container istio-proxy)" in f["message"]
    ok = cli("lint", str(root), "--kube-version", "1.30", "--format", "json")
    assert not [f for f in json.loads(ok.out)["findings"] if f["rule"] == "output-schema-invalid"]


def test_api_versions_are_judged_only_with_the_versions_own_schema(cli):
    # batch/v1beta1 CronJobs were served until 1.24; the oldest installed schema (1.25+)
    # cannot say so, so a 1.24 render is not refused for it.
    oldest = kube_schema.available_versions()[0]
    older = f"{oldest[0]}.{oldest[1] - 1}"
    r = cli("render", "-", "--validate", "--kube-version", older, stdin=OLD_CRON)
    assert r.code == 0, r.err
    assert f"no schema for Kubernetes {older}" in r.err
