"""`meshrender render` as the contract describes it: inputs, outputs, errors."""

import json
import subprocess
import sys

import yaml

from tests.conftest import CORPUS, container, pod_spec

HELLO = (CORPUS / "cases" / "hello.yaml").read_text()
SERVICE = """
apiVersion: v1
kind: Service   # comments survive on documents that pass through
metadata: {name: hello}
spec: {ports: [{port: 80}]}
"""


def test_stdin_to_stdout_in_input_order(cli):
    r = cli("render", "-", stdin=HELLO + "---\n" + SERVICE)
    assert r.code == 0, r.err
    docs = r.docs()
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    assert "# comments survive" in r.out
    assert pod_spec(docs[0])["initContainers"]


def test_folder_to_mirrored_output_tree(cli, repo, tmp_path):
    root = repo({"apps/a.yaml": HELLO, "apps/svc.yml": SERVICE, "settings/s.yaml": """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: g}
spec: {proxy: {concurrency: 2}}
"""})
    out = tmp_path / "out"
    r = cli("render", str(root), "-o", str(out))
    assert r.code == 0, r.err
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [".meshrender-output", "apps/a.yaml", "apps/svc.yml"]
    assert "injected 1 of 1 workloads" in r.err


def test_settings_are_consumed_not_emitted(cli, repo):
    root = repo({"a.yaml": HELLO + "---\n" + """
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: c}
spec: {kubernetesVersion: "1.30"}
"""})
    kinds = [d["kind"] for d in cli("render", str(root)).docs()]
    assert kinds == ["Deployment"]


def test_list_items_are_injected(cli):
    r = cli("render", "--flavor", "istio", str(CORPUS / "cases" / "list.yaml"))
    assert r.code == 0
    (lst,) = r.docs()
    assert lst["kind"] == "List"
    for item in lst["items"]:
        assert container(item, "istio-proxy")


def test_deterministic_and_idempotent(cli, repo, tmp_path):
    probes = (CORPUS / "cases" / "hello-probes.yaml").read_text().replace("name: hello\n", "name: hello-probes\n", 1)
    root = repo({"a.yaml": HELLO, "b.yaml": probes})
    first = cli("render", str(root))
    second = cli("render", str(root))
    assert first.out == second.out
    again = cli("render", "-", stdin=first.out)
    assert again.code == 0
    assert again.out == first.out


def test_reinjection_after_mode_change_leaves_one_proxy(cli):
    native = cli("render", "--flavor", "istio", "--native-sidecars", "true", "-", stdin=HELLO)
    trad = cli("render", "--flavor", "istio", "--native-sidecars", "false", "-", stdin=native.out)
    spec = pod_spec(trad.docs()[0])
    assert [c["name"] for c in spec["containers"]] == ["hello", "istio-proxy"]
    assert [c["name"] for c in spec["initContainers"]] == ["istio-init"]


def test_skipped_workloads_pass_through_with_a_warning(cli):
    text = (CORPUS / "cases" / "hello-host-network.yaml").read_text()
    r = cli("render", "-", stdin=text)
    assert r.code == 0
    assert "host networking" in r.err
    assert yaml.safe_load(r.out) == yaml.safe_load(text)


def test_invalid_annotation_is_exit_2_naming_file_line_and_annotation(cli):
    path = CORPUS / "cases" / "traffic-annotations-bad-includeipranges.yaml"
    r = cli("render", str(path))
    assert r.code == 2
    assert f"{path}:" in r.err and "includeOutboundIPRanges" in r.err
    line = int(r.err.split(f"{path}:")[1].split(":")[0])
    assert "includeOutboundIPRanges" in path.read_text().splitlines()[line - 1]
    assert r.out == ""


def test_bad_settings_document_names_file_line_and_field(cli, repo, tmp_path):
    root = repo({"s.yaml": """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: g}
spec:
  proxy:
    concurrency: -1
""", "a.yaml": HELLO})
    out = tmp_path / "out"
    r = cli("render", str(root), "-o", str(out))
    assert r.code == 2
    assert "s.yaml:6:5" in r.err and "spec.proxy.concurrency" in r.err
    assert not out.exists()


def test_unknown_settings_field_is_refused(cli, repo):
    root = repo({"s.yaml": """
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: g}
spec:
  proxy:
    resource: {limits: {cpu: 1}}
"""})
    r = cli("render", str(root))
    assert r.code == 2 and "did you mean resources?" in r.err and "s.yaml:6:5" in r.err


def test_yaml_syntax_error_is_exit_2_with_location(cli, repo):
    root = repo({"bad.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n"})
    r = cli("render", str(root))
    assert r.code == 2 and "bad.yaml:" in r.err and "Traceback" not in r.err


def test_failed_run_keeps_previous_output(cli, repo, tmp_path):
    root = repo({"a.yaml": HELLO})
    out = tmp_path / "out"
    assert cli("render", str(root), "-o", str(out)).code == 0
    before = (out / "a.yaml").read_text()
    (root / "b.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: 3\n")
    r = cli("render", str(root), "-o", str(out))
    assert r.code == 2 and "containers must be a list" in r.err
    assert (out / "a.yaml").read_text() == before
    assert not (out / "b.yaml").exists()


def test_output_inside_input_is_refused(cli, repo):
    root = repo({"a.yaml": HELLO})
    r = cli("render", str(root), "-o", str(root / "out"))
    assert r.code == 2 and "inside the input" in r.err


def test_python_dash_m_render_and_console_script_agree():
    out1 = subprocess.run([sys.executable, "-m", "render", "render", "--flavor", "istio", "-"], input=HELLO,
                          capture_output=True, text=True, check=True).stdout
    exe = sys.executable.replace("python", "meshrender")
    out2 = subprocess.run([exe, "render", "--flavor", "istio", "-"], input=HELLO, capture_output=True,
                          text=True, check=True).stdout
    assert out1 == out2
    status = json.loads(yaml.safe_load(out1)["spec"]["template"]["metadata"]["annotations"]
                        ["sidecar.istio.io/status"])
    assert status["revision"] == "default"


def test_namespace_comes_from_argocd_env(cli):
    r = cli("render", "--flavor", "istio", "-", stdin=HELLO, env={"ARGOCD_APP_NAMESPACE": "shop"})
    owner = [e for e in container(r.docs()[0], "istio-proxy")["env"] if e["name"] == "ISTIO_META_OWNER"]
    assert owner[0]["value"].endswith("/namespaces/shop/deployments/hello")
