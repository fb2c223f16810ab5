"""`meshrender lint` as CI jobs and pre-commit hooks use it: formats, exit status, suppression,
bad input, and the guarantee that linting never writes anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from jsonschema import Draft4Validator

from meshrender.errors import Location
from meshrender.lint.engine import Report
from meshrender.lint.finding import Finding, Severity
from meshrender.lint.formats import github, sarif
from meshrender.lint.rules import all_rules
from tests.conftest import ROOT

SARIF_SCHEMA = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
FORMATS = ("text", "json", "sarif", "github")

PROFILE = """apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: prod}
spec: {kubernetesVersion: "1.30", provider: ack, meshVersion: "1.22", flavor: asm}
"""
CLEAN = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: registry.example.com/web:1.0
"""
UID_1337 = CLEAN.replace("image: registry.example.com/web:1.0",
                         "image: registry.example.com/web:1.0\n          securityContext: {runAsUser: 1337}")
WARN_ONLY = CLEAN.replace("      labels: {app: web}",
                          "      labels: {app: web}\n      annotations: {sidecar.istio.io/proxyCpu: 200m}")


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


# -- exit status, the same in every format ------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_exit_status_in_every_format(cli, tmp_path, fmt):
    clean = write(tmp_path / "clean", {"p.yaml": PROFILE, "app.yaml": CLEAN})
    failing = write(tmp_path / "failing", {"p.yaml": PROFILE, "app.yaml": UID_1337})
    warned = write(tmp_path / "warned", {"p.yaml": PROFILE, "app.yaml": WARN_ONLY})
    assert cli("lint", str(clean), "--format", fmt).code == 0
    assert cli("lint", str(failing), "--format", fmt).code == 1
    assert cli("lint", str(warned), "--format", fmt).code == 0
    assert cli("lint", str(warned), "--format", fmt, "--fail-on", "warning").code == 1
    assert cli("lint", str(clean), "--format", fmt, "--fail-on", "info").code == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_unreadable_input_is_exit_2_with_location_and_nothing_on_stdout(cli, tmp_path, fmt):
    root = write(tmp_path / "r", {"app.yaml": CLEAN, "broken.yaml": "kind: Deployment\nmetadata:\n  name: [oops\n"})
    r = cli("lint", str(root), "--format", fmt)
    assert r.code == 2
    assert r.out == ""
    assert f"{root / 'broken.yaml'}:3:14: error: invalid YAML" in r.err  # where the text ends
    r = cli("lint", str(tmp_path / "missing"), "--format", fmt)
    assert (r.code, r.out) == (2, "")
    assert "no such file or folder" in r.err


def test_bad_flags_are_exit_2(cli, tmp_path):
    root = write(tmp_path / "r", {"app.yaml": CLEAN})
    r = cli("lint", str(root), "--kube-version", "latest")
    assert (r.code, r.out) == (2, "")
    assert "not a version" in r.err
    assert cli("lint", str(root), "--format", "xml").code == 2
    assert cli("lint", "--list-rules", "--format", "sarif").code == 2


# -- text ----------------------------------------------------------------------------------

def test_text_lines_and_summary_on_stderr(cli, tmp_path):
    root = write(tmp_path / "r", {"p.yaml": PROFILE, "app.yaml": UID_1337})
    r = cli("lint", str(root))
    assert r.out == (f"{root / 'app.yaml'}:13:29: error proxy-uid-conflict: Deployment shop/web: container web runs "
                     "as UID 1337, the proxy's UID: its traffic bypasses the proxy, so mTLS, authorization and "
                     "telemetry silently do not apply; run it as another UID\n")
    assert r.err == "meshrender lint: 1 error, 0 warnings, 0 info; 0 suppressed (1 workload in 2 files)\n"
    assert cli("lint", str(root), "-q").err == ""


def test_findings_are_sorted_and_deterministic(cli, tmp_path):
    files = {"p.yaml": PROFILE}
    for name in ("zeta", "alpha", "mid"):
        files[f"{name}.yaml"] = UID_1337.replace("name: web", f"name: {name}").replace(
            "app: web", f"app: {name}")
    root = write(tmp_path / "r", files)
    first = cli("lint", str(root)).out
    assert first == cli("lint", str(root)).out
    paths = [line.split(":")[0] for line in first.splitlines()]
    assert paths == sorted(paths) and len(paths) == 3


# -- json ----------------------------------------------------------------------------------

def test_json_document(cli, tmp_path):
    root = write(tmp_path / "r", {"p.yaml": PROFILE, "app.yaml": UID_1337})
    r = cli("lint", str(root), "--format", "json")
    doc = json.loads(r.out)
    assert r.err == ""
    assert doc["findings"] == [{
        "rule": "proxy-uid-conflict", "severity": "error",
        "message": "container web runs as UID 1337, the proxy's UID: its traffic bypasses the proxy, so mTLS, "
                   "authorization and telemetry silently do not apply; run it as another UID",
        "file": str(root / "app.yaml"), "line": 13, "column": 29, "workload": "Deployment shop/web",
        "fixable": False}]
    assert doc["summary"] == {"error": 1, "warning": 0, "info": 0, "suppressed": 0, "workloads": 1, "files": 2,
                              "skippedFiles": 0}
    assert (doc["failOn"], doc["failed"]) == ("error", True)


# -- sarif ---------------------------------------------------------------------------------

def test_sarif_validates_against_the_sarif_2_1_0_schema(cli, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    for path in ("fixtures/lint-demo", str(write(tmp_path / "clean", {"app.yaml": CLEAN}))):
        doc = json.loads(cli("lint", path, "--format", "sarif").out)
        errors = sorted(Draft4Validator(SARIF_SCHEMA).iter_errors(doc), key=str)
        assert errors == [], errors[0].message if errors else ""


def test_sarif_has_rule_metadata_real_regions_and_suppressions(cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    doc = json.loads(cli("lint", "fixtures/lint-demo", "--format", "sarif").out)
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in all_rules()]
    for r in rules:
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"] and r["help"]["text"]
        assert r["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = run["results"]
    for res in results:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        region = res["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("fixtures/lint-demo/")
    uid = next(r for r in results if r["ruleId"] == "proxy-uid-conflict")
    assert uid["locations"][0]["physicalLocation"]["region"] == {"startLine": 20, "startColumn": 13}
    suppressed = [r for r in results if "suppressions" in r]
    assert len(suppressed) == run["properties"]["summary"]["suppressed"] == 2
    assert all(s["suppressions"][0]["kind"] == "inSource" for s in suppressed)


def test_sarif_uris_are_relative_or_file_uris():
    assert sarif.artifact_uri("apps/my app.yaml") == "apps/my%20app.yaml"
    assert sarif.artifact_uri("/abs/x.yaml") == "file:///abs/x.yaml"
    assert sarif.artifact_uri("-") == "-"


# -- github ----------------------------------------------------------------------------------

def test_github_workflow_commands_are_escaped():
    findings = [
        Finding("proxy-uid-conflict", Severity.ERROR, "50% of pods: bad\nreally", Location("a,b:c.yaml", 3, 7),
                "Deployment x/y"),
        Finding("native-sidecar-available", Severity.INFO, "could be native", Location("d.yaml", 1, 1)),
    ]
    out = github.render(Report(findings=findings), Severity.ERROR)
    assert out.splitlines() == [
        "::error file=a%2Cb%3Ac.yaml,line=3,col=7,title=proxy-uid-conflict::"
        "Deployment x/y: 50%25 of pods: bad%0Areally",
        "::notice file=d.yaml,line=1,col=1,title=native-sidecar-available::could be native",
    ]


# -- suppression ---------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["workload", "template", "namespace", "wildcard"])
def test_suppression_by_workload_template_or_namespace_is_counted(cli, tmp_path, where):
    text = UID_1337
    files = {"p.yaml": PROFILE}
    if where == "workload":
        text = text.replace("metadata: {name: web, namespace: shop}",
                            "metadata:\n  name: web\n  namespace: shop\n  annotations:\n"
                            "    meshrender.dev/ignore: proxy-uid-conflict")
    elif where == "template":
        text = text.replace("      labels: {app: web}",
                            "      labels: {app: web}\n      annotations:\n"
                            "        meshrender.dev/ignore: native-sidecar-available, proxy-uid-conflict")
    elif where == "namespace":
        files["ns.yaml"] = ("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n"
                            "    meshrender.dev/ignore: proxy-uid-conflict\n")
    else:
        text = text.replace("      labels: {app: web}",
                            "      labels: {app: web}\n      annotations: {meshrender.dev/ignore: '*'}")
    files["app.yaml"] = text
    root = write(tmp_path / "r", files)
    r = cli("lint", str(root))
    assert (r.code, r.out) == (0, "")
    assert "; 1 suppressed" in r.err
    doc = json.loads(cli("lint", str(root), "--format", "json").out)
    assert doc["findings"] == [] and doc["summary"]["suppressed"] == 1
    assert doc["suppressed"][0]["rule"] == "proxy-uid-conflict"
    assert doc["suppressed"][0]["suppressedBy"].startswith("meshrender.dev/ignore on ")


def test_suppressing_one_rule_keeps_the_others(cli, tmp_path):
    text = UID_1337.replace("      labels: {app: web}",
                            "      labels: {app: web}\n      annotations:\n"
                            "        meshrender.dev/ignore: init-container-without-mesh\n"
                            "        sidecar.istio.io/proxyCpu: 200m")
    root = write(tmp_path / "r", {"p.yaml": PROFILE, "app.yaml": text})
    doc = json.loads(cli("lint", str(root), "--format", "json").out)
    assert sorted(f["rule"] for f in doc["findings"]) == ["proxy-uid-conflict", "unknown-mesh-annotation"]
    assert doc["summary"]["suppressed"] == 0


# -- list-rules ----------------------------------------------------------------------------

def test_list_rules_prints_every_rule_with_severity_and_rationale(cli):
    r = cli("lint", "--list-rules")
    assert r.code == 0
    for rule in all_rules():
        assert f"{rule.id}" in r.out and rule.rationale.split()[0] in r.out
    listed = json.loads(cli("lint", "--list-rules", "--format", "json").out)
    assert {x["id"]: x["severity"] for x in listed} == {
        "conflicting-traffic-settings": "warning", "drain-settings-ignored-in-native": "warning",
        "hold-application-ignored-in-native": "warning", "init-container-without-mesh": "warning",
        "invalid-mesh-annotation": "error", "job-sidecar-never-exits": "warning",
        "lifecycle-overrides-native-drain": "warning", "mesh-annotation-on-workload-metadata": "warning",
        "native-sidecar-available": "info", "native-sidecar-unsupported-kubernetes": "error",
        "output-schema-invalid": "error", "pod-template-not-injected": "warning",
        "proxy-image-version-mismatch": "warning",
        "proxy-resources-request-exceeds-limit": "error", "proxy-uid-conflict": "error",
        "reinjected-by-cluster-webhook": "warning", "injection-blocked-by-namespace": "warning",
        "render-error": "error", "unknown-mesh-annotation": "warning",
        "webhook-strips-native-sidecar": "error", "deprecated-mesh-annotation": "info",
        "namespace-multiple-injection-labels": "warning", "settings-apply-to-no-workload": "warning",
        "vpa-ignores-native-sidecar": "warning", "duplicate-object": "warning",
    }
    assert all(x["rationale"] and x["fix"] and x["title"] for x in listed)


# -- inputs and side effects ---------------------------------------------------------------

def test_stdin_is_linted_as_file_dash(cli):
    r = cli("lint", "-", "--format", "json", stdin=PROFILE + "---\n" + UID_1337)
    doc = json.loads(r.out)
    assert r.code == 1
    assert [(f["file"], f["line"], f["column"]) for f in doc["findings"]] == [("-", 18, 29)]


def test_lint_writes_nothing(cli, tmp_path):
    root = write(tmp_path / "r", {"p.yaml": PROFILE, "apps/app.yaml": UID_1337, "apps/ok.yaml": CLEAN})
    def snapshot() -> dict:
        return {p: (p.is_dir() or p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.rglob("*")}

    before = snapshot()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for fmt in FORMATS:
            cli("lint", str(root), "--format", fmt)
    finally:
        os.chdir(cwd)
    assert snapshot() == before


def test_render_errors_do_not_stop_lint(cli, tmp_path):
    broken = CLEAN.replace("      containers:\n", "      containers: {}\n      initContainers:\n") \
        .replace("name: web, namespace", "name: broken, namespace")
    root = write(tmp_path / "r", {"p.yaml": PROFILE, "a.yaml": broken, "b.yaml": UID_1337})
    assert cli("render", str(root)).code == 2
    doc = json.loads(cli("lint", str(root), "--format", "json").out)
    assert sorted(f["rule"] for f in doc["findings"]) == ["proxy-uid-conflict", "render-error"]


def test_settings_findings_are_suppressed_on_the_settings_document(cli, tmp_path):
    mesh = ("apiVersion: meshrender.dev/v1alpha1\nkind: SidecarProxySettings\nmetadata:\n  name: shop\n"
            "  namespace: shop\n  annotations:\n    meshrender.dev/ignore: invalid-mesh-annotation\n"
            "spec:\n  traffic:\n    excludeInboundPorts: \"70000\"\n")
    root = write(tmp_path / "r", {"p.yaml": PROFILE, "mesh.yaml": mesh, "app.yaml": CLEAN})
    doc = json.loads(cli("lint", str(root), "--format", "json").out)
    assert doc["findings"] == []
    assert [(f["rule"], f["line"]) for f in doc["suppressed"]] == [("invalid-mesh-annotation", 10)]


def test_namespace_annotations_are_checked_too(cli, tmp_path):
    ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  annotations:\n    meshrender.dev/ignroe: x\n"
    root = write(tmp_path / "r", {"ns.yaml": ns, "app.yaml": CLEAN})
    doc = json.loads(cli("lint", str(root), "--format", "json").out)
    assert [(f["rule"], f["line"], f["column"]) for f in doc["findings"]] == [("unknown-mesh-annotation", 6, 5)]
    assert "did you mean meshrender.dev/ignore?" in doc["findings"][0]["message"]
