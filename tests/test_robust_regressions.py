"""Inputs the fuzzer (fuzz/fuzz_cli.py) and the property tests found, kept as regressions.

Each test is the smallest input that reproduced the finding, and names what went wrong.
"""

from __future__ import annotations

import yaml

from tests.conftest import CORPUS, container, pod_spec

HELLO = (CORPUS / "cases" / "hello.yaml").read_text()


def test_null_init_containers_on_reinjection_with_a_mode_change(cli):
    """Was: AttributeError in the injector moving istio-proxy into `initContainers: null`."""
    trad = cli("render", "--native-sidecars", "false", "-", stdin=HELLO)
    assert trad.code == 0
    doc = trad.docs()[0]
    pod_spec(doc)["initContainers"] = None
    r = cli("render", "--native-sidecars", "true", "-", stdin=yaml.safe_dump(doc))
    assert r.code == 0, r.err
    proxy = container(r.docs()[0], "istio-proxy", init=True)
    assert proxy["restartPolicy"] == "Always"


def test_document_that_is_a_number(cli):
    """Was: TypeError ('int' object is not iterable) in the nesting check."""
    r = cli("render", "-", stdin="42\n")
    assert r.code == 2
    assert r.err.startswith("meshrender: -:1:1: error: a YAML document must be a Kubernetes object"), r.err


def test_line_numbers_count_only_line_feeds(cli, tmp_path):
    """Was: a line past the end of the file, since YAML also breaks lines at U+2028. (An
    error at the end of the text is where the text ends: line 5, after `x: "open`.)"""
    p = tmp_path / "a.yaml"
    p.write_text('kind: ConfigMap\nmetadata: {name: a}\ndata: {x: "\u2028"}\n---\nx: "open\n', encoding="utf-8")
    r = cli("render", str(p))
    assert r.code == 2
    assert r.err.startswith(f"meshrender: {p}:5:9: error: invalid YAML: found unexpected end of stream"), r.err


def test_bad_kube_version_flag_names_the_flag(cli):
    """Was: `meshrender: error: Kubernetes version 'x' ...` with neither a file nor a flag."""
    r = cli("render", "--kube-version", "x", "-", stdin=HELLO)
    assert r.code == 2
    assert r.err.startswith("meshrender: error: --kube-version: Kubernetes version 'x' is not a version like 1.30")


def test_base_60_looking_values_stay_strings(cli):
    """Was: `value: 1:30` rendered as 90 (YAML 1.1 base 60); Kubernetes (go-yaml) reads a string."""
    text = HELLO.replace('image: "fake.docker.io/google-samples/hello-go-gke:1.0"',
                         'image: "fake.docker.io/google-samples/hello-go-gke:1.0"\n          args: [--at, 1:30]')
    r = cli("render", "-", stdin=text)
    assert r.code == 0, r.err
    assert container(r.docs()[0], "hello")["args"] == ["--at", "1:30"]


def test_exa_quantity_is_not_an_exponent(cli):
    """Was: ValueError in the quantity parser, which read the exa suffix of `2E` as `2e<nothing>`."""
    text = HELLO.replace('image: "fake.docker.io/google-samples/hello-go-gke:1.0"',
                         'image: "fake.docker.io/google-samples/hello-go-gke:1.0"\n'
                         '          resources: {limits: {memory: 2E, cpu: "1e3"}}')
    r = cli("render", "-", stdin=text)
    assert r.code == 0, r.err
    assert container(r.docs()[0], "hello")["resources"]["limits"] == {"memory": "2E", "cpu": "1e3"}


def test_error_at_the_end_of_a_file_without_final_newline(cli, tmp_path):
    """Was: a line past the end of the file (the parser counts a virtual line break at EOF)."""
    p = tmp_path / "a.yaml"
    p.write_text("kind: Pod\nmetadata:\n  name: x\n  labels:\n    - a\n    -b", encoding="utf-8")
    r = cli("render", str(p))
    assert r.code == 2
    assert r.err.startswith(f"meshrender: {p}:6:7: error: invalid YAML"), r.err


def test_container_port_that_is_not_a_number(cli):
    """Was: ValueError (int('-5s'), int(nan)) resolving a probe's named port, once pod
    fields were checked for shape only: containerPort is the one scalar injection computes with."""
    for value in ('"-5s"', ".nan", "80.5"):
        text = HELLO.replace("containerPort: 80", f"containerPort: {value}")
        assert text != HELLO
        r = cli("render", "-", stdin=text)
        assert r.code == 2, r.err
        if value == ".nan":  # Kubernetes refuses the document: JSON has no NaN
            assert "`.nan` is a float that JSON cannot hold" in r.err
        else:
            assert "containerPort: Deployment default/hello: must be a port number" in r.err
        assert "bug" not in r.err
    r = cli("render", "-", stdin=HELLO.replace("containerPort: 80", 'containerPort: "80"'))
    assert r.code == 0, r.err  # a quoted number is the schema's concern: render --validate reports it


def test_reinjection_with_a_number_in_the_agents_env(cli):
    """Was: TypeError in json.loads reading back ISTIO_KUBE_APP_PROBERS: 1.5 on re-injection.
    Env values must be strings (Kubernetes' type, and the injector merges them)."""
    first = cli("render", "-", stdin=(CORPUS / "cases" / "hello-probes.yaml").read_text())
    assert first.code == 0
    doc = first.docs()[0]
    for c in pod_spec(doc)["containers"]:
        for e in c.get("env") or []:
            if e["name"] == "ISTIO_KUBE_APP_PROBERS":
                e["value"] = 1.5
    r = cli("render", "-", stdin=yaml.safe_dump(doc))
    assert r.code == 2
    assert "env[" in r.err and 'must be a string, not a decimal number; quote it: "1.5"' in r.err
    assert "bug" not in r.err


def test_settings_looking_document_with_a_kind_that_is_not_a_string(cli, tmp_path):
    """Was: TypeError (unhashable list) looking a settings kind up before the document was
    checked to be a Kubernetes object (render reads settings documents first)."""
    (tmp_path / "a.yaml").write_text(HELLO, encoding="utf-8")
    (tmp_path / "s.yaml").write_text("apiVersion: meshrender.dev/v1alpha1\nkind: [SidecarProxySettings]\n"
                                     "metadata: {name: s}\n", encoding="utf-8")
    r = cli("render", str(tmp_path))
    assert r.code == 2
    assert r.err.startswith(f"meshrender: {tmp_path}/s.yaml:2:1: error: kind: must be a non-empty string, "
                            "not a list"), r.err
