"""The repository configuration file, .meshrender.yaml (render/config.py), through the CLI:
found from the inputs up to the repository root and no further; render defaults under
flags and ClusterProfiles; exclude globs; lint rules, failOn and ignores; declared kinds;
located errors. And repositories as they are: files that are no manifests are skipped
and counted; with no path, stdin when it is not a terminal."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.conftest import container, pod_spec, run_cli

APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: registry.example.com/web:1.0}]
"""
JOB = """\
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: shop}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: registry.example.com/migrate:1.0}]
"""
PROFILE = """\
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: prod}
spec: {kubernetesVersion: "1.30", provider: ack, meshVersion: "1.22", flavor: asm}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def git_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return write(root, files)


def rendered(out: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in yaml.safe_load_all(out) if d}


def test_render_defaults_come_from_the_file_found_above_the_inputs(tmp_path):
    root = git_repo(tmp_path, {".meshrender.yaml": "render:\n  flavor: istio\n  namespace: team\n"
                                                   "  nativeSidecars: \"false\"\n",
                               "apps/web.yaml": APP.replace("namespace: shop", "")})
    r = run_cli("render", str(root / "apps"))
    assert r.code == 0, r.err
    web = rendered(r.out)["web"]
    assert web["metadata"].get("namespace") is None  # the document says nothing: the default namespace applies
    names = [c["name"] for c in pod_spec(web)["containers"]]
    assert "istio-proxy" in names  # nativeSidecars "false": traditional
    env = {e["name"]: e.get("value") for e in container(web, "istio-proxy")["env"]}
    assert "DNS_AGENT" not in env  # istio flavor, not asm
    explained = json.loads(run_cli("explain", str(root / "apps"), "--workload", "team/web", "--format",
                                   "json").out)
    assert explained["cluster"]["flavor"] == "istio" and explained["mode"]["mode"] == "traditional"


def test_flags_win_over_the_file_and_a_cluster_profile_wins_over_its_defaults(tmp_path):
    root = git_repo(tmp_path, {".meshrender.yaml": "render:\n  flavor: istio\n  kubernetesVersion: \"1.28\"\n",
                               "apps/web.yaml": APP})
    flag = json.loads(run_cli("explain", str(root / "apps"), "--workload", "web", "--flavor", "asm",
                              "--format", "json").out)
    assert flag["cluster"]["flavor"] == "asm" and flag["cluster"]["kubernetesVersion"] == "1.28"
    write(root, {"apps/profile.yaml": PROFILE})
    profiled = json.loads(run_cli("explain", str(root / "apps"), "--workload", "web", "--format", "json").out)
    assert profiled["cluster"]["flavor"] == "asm" and profiled["cluster"]["kubernetesVersion"] == "1.30"
    assert profiled["mode"]["mode"] == "native"
    sources = {s["name"] for s in profiled["mode"]["sources"]}
    assert "ClusterProfile prod kubernetesVersion" in sources


def test_a_file_outside_the_repository_is_never_read(tmp_path):
    write(tmp_path, {".meshrender.yaml": "render: {flavor: [not, valid]}\n"})  # would be exit 2 if read
    root = git_repo(tmp_path, {"apps/web.yaml": APP})
    r = run_cli("render", str(root / "apps"))
    assert r.code == 0, r.err


def test_the_config_file_is_checked_with_its_line_and_field(tmp_path):
    root = git_repo(tmp_path, {".meshrender.yaml": "render:\n  flavor: asm\n  nativeSidecars: yes\n",
                               "apps/web.yaml": APP})
    r = run_cli("render", str(root / "apps"))
    assert r.code == 2 and r.out == ""
    assert r.err.startswith(f"meshrender: {root / '.meshrender.yaml'}:3:3: error: render.nativeSidecars: ")
    write(root, {".meshrender.yaml": "lint:\n  rules:\n    job-sidecar-never-exit: off\n"})
    r = run_cli("lint", str(root / "apps"))
    assert r.code == 2 and "unknown lint rule 'job-sidecar-never-exit'; did you mean job-sidecar-never-exits?" \
        in r.err and ":3:5: error:" in r.err


def test_explicit_config_or_none(tmp_path):
    root = git_repo(tmp_path, {".meshrender.yaml": "render: {flavor: istio}\n", "apps/web.yaml": APP,
                               "other.yaml": "render: {flavor: asm}\n"})
    flavor = lambda *a: json.loads(run_cli("explain", str(root / "apps"), "--workload", "web", "--format",  # noqa: E731
                                           "json", *a).out)["cluster"]["flavor"]
    assert flavor() == "istio"
    assert flavor("--config", str(root / "other.yaml")) == "asm"
    assert flavor("--config", "none") == "asm"


def test_exclude_globs_leave_vendored_files_unread(tmp_path):
    root = git_repo(tmp_path, {".meshrender.yaml": "exclude: [vendor/**, '*.generated.yaml']\n",
                               "apps/web.yaml": APP,
                               "vendor/chart/broken.yaml": "kind: [\n",
                               "apps/old.generated.yaml": "apiVersion: v1\nkind: Pod\nmetadata: {name: [\n"})
    r = run_cli("render", str(root))
    assert r.code == 0, r.err
    assert set(rendered(r.out)) == {"web"}
    # explicit files too (pre-commit passes them): linting only excluded files has nothing to do
    r = run_cli("lint", str(root / "vendor" / "chart" / "broken.yaml"), str(root / "apps" / "old.generated.yaml"))
    assert r.code == 0 and r.out == "", r.err
    r = run_cli("render", str(root / "vendor" / "chart" / "broken.yaml"))  # an empty render is refused
    assert r.code == 2 and "no YAML documents in the inputs" in r.err


def test_lint_rules_off_severity_fail_on_and_ignores(tmp_path):
    files = {"apps/job.yaml": JOB, "apps/web.yaml": APP, "mesh/profile.yaml": PROFILE.replace('"1.30"', '"1.28"')}
    root = git_repo(tmp_path, files)

    def lint(config: str) -> tuple[int, dict]:
        write(root, {".meshrender.yaml": config})
        r = run_cli("lint", str(root / "apps"), str(root / "mesh"), "--format", "json")
        assert r.code in (0, 1), r.err
        return r.code, json.loads(r.out)

    code, doc = lint("lint: {}\n")
    rules = {f["rule"]: f["severity"] for f in doc["findings"]}
    assert rules["job-sidecar-never-exits"] == "warning" and code == 0
    code, doc = lint("lint:\n  failOn: warning\n  rules: {job-sidecar-never-exits: error}\n")
    assert {f["rule"]: f["severity"] for f in doc["findings"]}["job-sidecar-never-exits"] == "error"
    assert code == 1 and doc["failOn"] == "warning"
    code, doc = lint("lint:\n  rules: {job-sidecar-never-exits: 'off'}\n")
    assert "job-sidecar-never-exits" not in {f["rule"] for f in doc["findings"]}
    code, doc = lint("lint:\n  ignore:\n    - paths: [apps/job.yaml]\n      rules: ['*']\n")
    assert not any(f["file"].endswith("job.yaml") for f in doc["findings"])
    assert any(f["file"].endswith("job.yaml") and "lint.ignore[0]" in f["suppressedBy"] for f in doc["suppressed"])
    code, doc = lint("lint:\n  ignore:\n    - resources: [{kind: Job, namespace: shop}]\n"
                     "      rules: [job-sidecar-never-exits]\n")
    assert "job-sidecar-never-exits" not in {f["rule"] for f in doc["findings"]}
    assert [f["workload"] for f in doc["suppressed"]] == ["Job shop/migrate"]


def test_workload_kinds_declared_in_the_config_file(tmp_path):
    service = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: hello, namespace: fn}
spec:
  template:
    spec:
      containers: [{name: user-container, image: ghcr.io/knative/helloworld-go}]
"""
    root = git_repo(tmp_path, {"apps/svc.yaml": service})
    r = run_cli("render", str(root / "apps"))
    assert r.code == 0 and "istio-proxy" not in r.out and "warning" in r.err
    write(root, {".meshrender.yaml": "workloadKinds:\n  - {apiVersion: serving.knative.dev/v1, kind: Service, "
                                     "template: spec.template}\n"})
    r = run_cli("render", str(root / "apps"))
    assert r.code == 0, r.err
    assert "istio-proxy" in r.out


def test_render_check_reads_the_configuration_again(tmp_path, monkeypatch):
    """The marker records flags only: a changed default in .meshrender.yaml makes committed
    output stale, as a fresh `meshrender render` would show."""
    root = git_repo(tmp_path, {".meshrender.yaml": "render: {flavor: asm}\n", "apps/web.yaml": APP})
    monkeypatch.chdir(root)
    assert run_cli("render", "apps", "-o", "deploy").code == 0
    assert "flavor" not in (root / "deploy" / ".meshrender-output").read_text()
    assert run_cli("render-check").code == 0
    write(root, {".meshrender.yaml": "render: {flavor: istio}\n"})
    r = run_cli("render-check")
    assert r.code == 1 and "deploy is stale" in r.out


def test_files_that_are_no_manifests_are_skipped_and_counted(tmp_path):
    root = git_repo(tmp_path, {
        "apps/web.yaml": APP,
        "apps/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                   "resources: [web.yaml]\n",
        "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        "chart/values.yaml": "replicaCount: 2\nkind: Deployment\n",
        "ci.yml": "stages: [test]\ntest:\n  script: [make test]\n",
    })
    out = tmp_path / "out"
    r = run_cli("render", str(root), "-o", str(out))
    assert r.code == 0, r.err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml")) == ["apps/web.yaml"]
    assert "skipped 4 files that hold no Kubernetes manifest" in r.err
    lint = run_cli("lint", str(root), "--format", "json")
    assert json.loads(lint.out)["summary"]["skippedFiles"] == 4
    # a document without kind among manifests is still an error
    write(root, {"apps/web.yaml": APP + "---\napiVersion: v1\nmetadata: {name: x}\n"})
    r = run_cli("render", str(root))
    assert r.code == 2 and "web.yaml:11:1: error: this document has no kind" in r.err


def test_no_path_reads_stdin_when_it_is_not_a_terminal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"other.yaml": APP.replace("name: web", "name: not-this")})
    r = run_cli("render", stdin=APP)  # a pipe (Helm's post-renderer)
    assert r.code == 0, r.err
    assert set(rendered(r.out)) == {"web"}
