"""Issue 13, YAML as Kubernetes reads it: through the CLI, without kubectl (the kubectl
differential test is tests/test_kubectl_yaml.py)."""

from __future__ import annotations

import pytest

from meshrender import yamlio
from tests.conftest import container, pod_spec

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  replicas: 0o3
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
{extra}      containers:
      - name: app
        image: nginx
        tty: n
        stdin: y
        ports: [{{containerPort: 8080.0}}]
"""


def deploy(name: str = "web", extra: str = "") -> str:
    return DEPLOY.format(name=name, extra=extra)


def test_validate_accepts_what_kubernetes_reads_as_the_right_type(cli, repo):
    """`tty: n`, `stdin: y` are booleans, `replicas: 0o3` is 3, `containerPort: 8080.0` is
    8080 once in JSON: the API server takes them, so --validate does too."""
    root = repo({"a.yaml": deploy()})
    r = cli("render", str(root), "--validate", "--kube-version", "1.30")
    assert r.code == 0, r.err
    d = r.docs()[0]
    assert d["spec"]["replicas"] == 3
    app = container(d, "app")
    assert app["tty"] is False and app["stdin"] is True and app["ports"][0]["containerPort"] == 8080
    bad = cli("render", "-", "--validate", "--kube-version", "1.30", stdin=deploy().replace("tty: n", "tty: maybe"))
    assert bad.code == 2 and "tty" in bad.err and "boolean" in bad.err, bad.err


def test_host_network_y_is_host_networking(cli):
    r = cli("render", "-", stdin=deploy(extra="      hostNetwork: y\n"))
    assert r.code == 0, r.err
    assert "host networking is enabled" in r.err
    assert [c["name"] for c in pod_spec(r.docs()[0])["containers"]] == ["app"]


def test_strings_that_yaml_v2_would_type_stay_quoted_in_the_output(cli):
    values = ["08", "09", "08540", "0_8", "0X1F", "0O17", "0B101", "y", "n", "1e3", "0o3", "1_000"]
    env = "".join(f"          - {{name: E{i}, value: \"{v}\"}}\n" for i, v in enumerate(values))
    text = deploy().replace("        tty: n\n", "        tty: n\n        env:\n" + env).replace(
        "    metadata: {labels: {app: web}}",
        '    metadata:\n      labels: {app: web}\n      annotations: {checksum/config: "0123456789", "08": x}')
    r = cli("render", "-", stdin=text)
    assert r.code == 0, r.err
    for v in values:
        assert f'value: "{v}"' in r.out
    assert 'checksum/config: "0123456789"' in r.out and '"08": x' in r.out
    (doc,) = yamlio.parse(r.out, "out")  # as Kubernetes reads the output
    app = container(doc.data, "app")
    assert [e["value"] for e in app["env"] if e["name"].startswith("E")] == values
    assert doc.data["spec"]["template"]["metadata"]["annotations"]["08"] == "x"


def test_a_merge_key_after_explicit_keys_wins(cli):
    """kubectl creates this document as a Pod: meshrender injects it (it passed it
    through as a ConfigMap), and an `inject: "false"` merged after `"true"` wins."""
    pod = ("apiVersion: v1\nkind: ConfigMap\n<<: {kind: Pod}\nmetadata: {name: p}\n"
           "spec:\n  containers: [{name: app, image: nginx}]\n")
    r = cli("render", "-", stdin=pod)
    assert r.code == 0, r.err
    assert "istio-proxy" in [c["name"] for c in pod_spec(r.docs()[0])["containers"]]
    off = deploy().replace("    metadata: {labels: {app: web}}",
                           '    metadata:\n      labels: {app: web}\n      annotations:\n'
                           '        sidecar.istio.io/inject: "true"\n        <<: {sidecar.istio.io/inject: "false"}')
    r = cli("render", "-", stdin=off)
    assert r.code == 0, r.err
    assert [c["name"] for c in pod_spec(r.docs()[0])["containers"]] == ["app"]


@pytest.mark.parametrize("ending", ["\r\n", "mixed"])
def test_crlf_and_mixed_line_endings_read_as_kubectl_reads_them(cli, repo, tmp_path, ending):
    text = deploy("web") + "---\n" + deploy("api") + "---\n" + deploy("db")
    if ending == "mixed":
        lines = text.split("\n")
        text = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines[:-1]))
    else:
        text = text.replace("\n", ending)
    path = tmp_path / "crlf.yaml"
    path.write_bytes(text.encode())
    r = cli("render", str(path))
    assert r.code == 0, r.err
    assert [d["metadata"]["name"] for d in r.docs()] == ["web", "api", "db"]
    assert all(container(d, "istio-proxy") for d in r.docs())
    assert "\r" not in r.out


FILLER = "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: f{i}}}\ndata: {{a: b}}\n"
                 for i in range(1500))  # 80 KiB of small documents: the fast reader reads the file


@pytest.mark.parametrize("pad", [False, True], ids=["small", "over 64 KiB"])
@pytest.mark.parametrize("bad", ["k" * 1100 + ": v", "args:\n- \"a\"\n image: x"],
                         ids=["1,100-character key", "mis-indented key"])
def test_the_fast_reader_refuses_what_kubectl_refuses(cli, tmp_path, pad, bad):
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n"
            + "".join("  " + line + "\n" for line in bad.split("\n")) + (FILLER if pad else ""))
    path = tmp_path / "a.yaml"
    path.write_text(text, encoding="utf-8")
    r = cli("render", str(path))
    assert r.code == 2 and "invalid YAML" in r.err, r.err


@pytest.mark.parametrize("command", ["render", "lint"])
def test_an_unknown_meshrender_dev_kind_is_a_typo(cli, repo, command):
    root = repo({"a.yaml": deploy(), "s.yaml": "apiVersion: meshrender.dev/v1alpha1\nkind: ClusterProfil\n"
                                                "metadata: {name: p}\nspec: {}\n"})
    r = cli(command, str(root))
    assert r.code == 2, r.out + r.err
    assert r.err.startswith(f"meshrender: {root / 's.yaml'}:2:1: error: kind: ClusterProfil is not a kind of the "
                            "meshrender.dev API group; did you mean ClusterProfile?"), r.err
