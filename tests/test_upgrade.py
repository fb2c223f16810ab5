"""`meshrender upgrade`: what rendering with another mesh release changes, per workload.

Every scenario is a real difference of the release table (render/data/istio-releases.yaml
and asm-releases.yaml) seen through the CLI; the target side is checked against what
`meshrender render --mesh-version TARGET` writes, field by field.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from meshrender import bundled
from meshrender.inject import release
from tests.conftest import ROOT, pod_spec

SCHEMA = json.loads((ROOT / "schemas" / "upgrade-report.json").read_text())

PROFILE = """\
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {{name: prod}}
spec: {spec}
"""


def deployment(name: str, labels: dict | None = None, annotations: dict | None = None,
               container: dict | None = None) -> str:
    doc = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name, **(labels or {})},
                                           **({"annotations": annotations} if annotations else {})},
                              "spec": {"containers": [container or {"name": name, "image": "nginx",
                                                                    "resources": {"limits": {"cpu": "2"}}}]}}},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def stream(*docs: str) -> str:
    return "---\n".join(docs)


def upgrade(cli, *args: str) -> tuple[Any, dict | None]:
    """Run `meshrender upgrade ARGS --format json`; the result and the document (checked
    against schemas/upgrade-report.json) when it printed one."""
    r = cli("upgrade", *args, "--format", "json")
    if r.code == 2:
        return r, None
    doc = json.loads(r.out)
    jsonschema.validate(doc, SCHEMA)
    return r, doc


def workload(doc: dict, name: str) -> dict:
    found = [w for w in doc["workloads"] if w["name"] == name]
    assert len(found) == 1, [w["workload"] for w in doc["workloads"]]
    return found[0]


def fields(w: dict) -> dict[str, dict]:
    return {f["path"]: f for f in w["fields"]}


# -- field paths, read back against a render -------------------------------------------------

_STEP = re.compile(r'\(json\)|\["((?:[^"\\]|\\.)*)"\]|\[([^\]]+)\]|\.?([A-Za-z0-9_-]+)')


def steps(path: str) -> list[tuple[str, Any]]:
    out = []
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        assert m, f"cannot read {path!r} at {pos}"
        if m.group(0) == "(json)":
            out.append(("json", None))
        elif m.group(1) is not None:
            out.append(("key", json.loads(f'"{m.group(1)}"')))
        elif m.group(2) is not None:
            out.append(("item", m.group(2)))
        else:
            out.append(("key", m.group(3)))
        pos = m.end()
    return out


_MISSING = object()


def walk(pod: dict, path: str) -> Any:
    """The value at an upgrade field path in a rendered pod template ({"metadata", "spec"}):
    `metadata.` paths from the template, the others from its spec."""
    node: Any = pod if path.startswith("metadata") else pod["spec"]
    for kind, key in steps(path):
        if kind == "json":
            node = json.loads(node)
        elif kind == "key":
            if not isinstance(node, dict) or key not in node:
                return _MISSING
            node = node[key]
        elif isinstance(node, list):
            if key.isdigit():
                node = node[int(key)] if int(key) < len(node) else _MISSING
            else:
                node = next((i for i in node if isinstance(i, dict) and i.get("name") == key), _MISSING)
            if node is _MISSING:
                return node
        else:
            return _MISSING
    return node


def leaves(value: Any, prefix: tuple = ()) -> dict[tuple, Any]:
    """Every scalar of a tree, lists of named maps keyed by name (as upgrade names them)."""
    out: dict[tuple, Any] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            out.update(leaves(v, (*prefix, ("key", k))))
    elif isinstance(value, list):
        named = all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in value) and value
        for n, v in enumerate(value):
            out.update(leaves(v, (*prefix, ("item", v["name"] if named else str(n)))))
        if not value:
            out[prefix] = []
    else:
        out[prefix] = value
    return out


def template(doc: dict) -> dict:
    t = doc["spec"]["template"]
    return {"metadata": t["metadata"], "spec": t["spec"]}


def rendered(cli, path: Path, *args: str) -> dict[str, dict]:
    r = cli("render", str(path), *args)
    assert r.code == 0, r.err
    return {d["metadata"]["name"]: d for d in r.docs() if d.get("kind") == "Deployment"}


def check_against_renders(w: dict, before: dict, after: dict) -> None:
    """Each reported field has the reported values in `render` at either release, and
    every scalar that differs between the two renders is inside a reported field. A
    container reported as moved is compared with itself at its old place."""
    moved = {f["new"]: f["old"] for f in w["fields"] if f["op"] == "moved"}

    def old_path(path: str) -> str:
        for new, old in moved.items():
            if path == new or path.startswith(new + "."):
                return old + path[len(new):]
        return path

    for f in w["fields"]:
        if f["op"] == "moved":
            assert walk(before, f["old"]) is not _MISSING and walk(after, f["old"]) is _MISSING
            assert walk(after, f["new"]) is not _MISSING and walk(before, f["new"]) is _MISSING
            continue
        old, new = walk(before, old_path(f["path"])), walk(after, f["path"])
        if f["op"] != "added":
            assert old == f["old"], f["path"]
        else:
            assert old is _MISSING, f["path"]
        if f["op"] != "removed":
            assert new == f["new"], f["path"]
        else:
            assert new is _MISSING, f["path"]
    reported = []
    for f in w["fields"]:
        s = steps(f["path"])
        cut = next((i for i, (kind, _) in enumerate(s) if kind == "json"), len(s))
        reported.append(tuple(s[:cut]))

    def split(pod: dict) -> dict[tuple, Any]:
        meta = leaves(pod["metadata"], (("key", "metadata"),))
        return {**meta, **leaves(pod["spec"])}

    renamed = [(tuple(steps(old)), tuple(steps(new))) for new, old in moved.items()]

    def at_new_place(key: tuple) -> tuple:
        for old, new in renamed:
            if key[: len(old)] == old:
                return (*new, *key[len(old):])
        return key

    a = {at_new_place(k): v for k, v in split(before).items()}
    b = split(after)
    for key in set(a) | set(b):
        if a.get(key, _MISSING) != b.get(key, _MISSING):
            assert any(key[: len(r)] == r for r in reported), f"unreported difference at {key}"


# -- what a workload gains, loses and changes ---------------------------------------------------

def test_target_side_is_what_render_writes_at_that_version(cli, repo):
    """Istio 1.22 -> 1.30: the image, the divisor of the resourceFieldRef envs (1.29), the
    istio-ca-crl volume and mount (1.27); every reported value is what `render
    --mesh-version` writes at either release, and nothing render changes is left out."""
    root = repo({"app.yaml": deployment("web")})
    r, doc = upgrade(cli, str(root), "--flavor", "istio", "--mesh-version", "1.22", "--to", "1.30",
                     "--native-sidecars", "false")
    assert r.code == 1, r.err
    w = workload(doc, "web")
    assert w["status"] == "changed" and w["file"].endswith("app.yaml") and w["line"] == 1
    assert w["podSpecPath"] == "spec.template.spec" and w["podMetadataPath"] == "spec.template.metadata"
    got = fields(w)
    old_image, new_image = "docker.io/istio/proxyv2:1.22.8", "registry.istio.io/release/proxyv2:1.30.3"
    assert got["containers[istio-proxy].image"] == {"path": "containers[istio-proxy].image", "op": "changed",
                                                     "old": old_image, "new": new_image}
    assert got["initContainers[istio-init].image"]["new"] == new_image
    for env in ("GOMAXPROCS", "GOMEMLIMIT", "ISTIO_CPU_LIMIT"):
        divisor = got[f"containers[istio-proxy].env[{env}].valueFrom.resourceFieldRef.divisor"]
        assert (divisor["old"], divisor["new"]) == ("0", "1")
    assert got["volumes[istio-ca-crl]"]["op"] == "added"
    assert got["volumes[istio-ca-crl]"]["new"]["configMap"] == {"name": "istio-ca-crl", "optional": True}
    assert got["containers[istio-proxy].volumeMounts[istio-ca-crl]"]["new"]["mountPath"] == \
        "/var/run/secrets/istio/crl"
    # the status annotation is JSON: the volume it gains, not the whole string
    status = got['metadata.annotations["sidecar.istio.io/status"](json).volumes[8]']
    assert (status["op"], status["new"]) == ("added", "istio-ca-crl")

    before = template(rendered(cli, root, "--flavor", "istio", "--mesh-version", "1.22",
                               "--native-sidecars", "false")["web"])
    after = template(rendered(cli, root, "--flavor", "istio", "--mesh-version", "1.30",
                              "--native-sidecars", "false")["web"])
    check_against_renders(w, before, after)


def test_gomaxprocs_env_is_lost_on_master(cli, repo):
    """`gomaxprocs-env` is removed on master (1.32-dev): istio-proxy loses GOMAXPROCS."""
    root = repo({"app.yaml": deployment("web")})
    r, doc = upgrade(cli, str(root), "--flavor", "istio", "--mesh-version", "1.31", "--to", "1.32",
                     "--native-sidecars", "false")
    assert r.code == 1
    gone = fields(workload(doc, "web"))["containers[istio-proxy].env[GOMAXPROCS]"]
    assert gone["op"] == "removed" and gone["old"]["valueFrom"]["resourceFieldRef"]["resource"] == "limits.cpu"
    assert doc["to"]["version"] == "Istio 1.32-dev (master)" and doc["to"]["dev"] is True
    lost = {c["name"] for c in doc["releaseChanges"]["lost"]}
    assert "gomaxprocs-env" in lost


def test_enable_core_dump_container_is_lost_at_1_24(cli, repo):
    """`sidecar.istio.io/enableCoreDump` adds the enable-core-dump init container up to
    1.23 (core-dump-annotation, removed by istio/istio#53437)."""
    root = repo({"app.yaml": deployment("web", annotations={"sidecar.istio.io/enableCoreDump": "true"})})
    r, doc = upgrade(cli, str(root), "--flavor", "istio", "--mesh-version", "1.23", "--to", "1.24",
                     "--native-sidecars", "false")
    assert r.code == 1
    got = fields(workload(doc, "web"))
    assert got["initContainers[enable-core-dump]"]["op"] == "removed"
    assert got["initContainers[enable-core-dump]"]["old"]["securityContext"]["privileged"] is True
    ro = got["containers[istio-proxy].securityContext.readOnlyRootFilesystem"]
    assert (ro["old"], ro["new"]) == (False, True)
    defaults = {d["setting"]: d for d in doc["defaults"]}
    assert defaults["values.global.proxy.enableCoreDump"]["from"] == "false"
    assert "istio/istio#53437" in defaults["values.global.proxy.enableCoreDump"]["source"]


def test_text_report(cli, repo):
    """One block per changed workload with its fields (list items by name), the defaults
    with their Istio source, the summary; unchanged workloads only counted."""
    quiet = deployment("quiet", labels={"sidecar.istio.io/inject": "false"})
    root = repo({"app.yaml": stream(deployment("web"), quiet)})
    r = cli("upgrade", str(root), "--flavor", "istio", "--mesh-version", "1.28", "--to", "1.29",
            "--native-sidecars", "false")
    assert r.code == 1, r.err
    lines = r.out.splitlines()
    assert lines[0] == "meshrender upgrade: Istio 1.28.10 -> Istio 1.29.6"
    block = lines.index("~ Deployment shop/web  " + str(root / "app.yaml") + ":1")
    assert ('    ~ containers[istio-proxy].env[GOMAXPROCS].valueFrom.resourceFieldRef.divisor: "0" -> "1"'
            in lines[block:])
    assert '    ~ containers[istio-proxy].image: "docker.io/istio/proxyv2:1.28.10" -> ' \
           '"docker.io/istio/proxyv2:1.29.6"' in lines
    assert "quiet" not in r.out  # not injected at either release: counted, not listed
    at = lines.index("defaults changed between Istio 1.28.10 and Istio 1.29.6:")
    assert lines[at + 1].startswith("  proxy image: docker.io/istio/proxyv2:1.28.10 -> docker.io/istio/proxyv2:1.29.6")
    assert any(x.startswith("  + resource-field-divisor: ") and "istio/istio#58077" in x for x in lines)
    assert lines[-1].startswith("meshrender: upgrade from Istio 1.28.10 to Istio 1.29.6: workloads: 1 of 2 change "
                                "(1 unchanged)")


def test_workload_not_injected_is_unchanged(cli, repo):
    root = repo({"app.yaml": deployment("quiet", labels={"sidecar.istio.io/inject": "false"})})
    r, doc = upgrade(cli, str(root), "--flavor", "istio", "--mesh-version", "1.22", "--to", "1.30")
    assert r.code == 0, r.out
    assert doc["workloads"] == [] and doc["summary"]["unchanged"] == 1 and doc["changed"] is False
    assert doc["defaults"]  # the release still changes defaults: they do not touch these inputs


def test_injection_changes_with_the_strict_inject_label(cli, repo, tmp_path):
    """From 1.27 sidecar.istio.io/inject is "true" or "false"; "yes" falls back to the
    policy (inject-label-strict): with the policy disabled the pod is no longer injected."""
    root = repo({"app.yaml": deployment("web", labels={"sidecar.istio.io/inject": "yes"})})
    values = tmp_path / "values.yaml"
    values.write_text("global: {proxy: {autoInject: disabled}}\n")
    r, doc = upgrade(cli, str(root), "--flavor", "istio", "--mesh-version", "1.26", "--to", "1.27",
                     "--native-sidecars", "false", "--values", str(values))
    assert r.code == 1
    w = workload(doc, "web")
    assert w["from"]["injected"] is True and w["to"]["injected"] is False
    assert "policy is disabled" in w["to"]["injectReason"] and w["to"]["mode"] is None
    assert w["from"]["mode"] == "traditional" and w["from"]["injectReason"]
    assert fields(w)["containers[istio-proxy]"]["op"] == "removed"
    text = cli("upgrade", str(root), "--flavor", "istio", "--mesh-version", "1.26", "--to", "1.27",
               "--native-sidecars", "false", "--values", str(values)).out
    assert "    injection: injected -> not injected (the injection policy is disabled" in text


def test_mode_changes_from_traditional_to_native(cli, repo):
    """Istio turns native sidecars on by default from 1.27 on Kubernetes 1.33
    (native-sidecars-by-default): istio-proxy moves to initContainers."""
    profile = PROFILE.format(spec='{kubernetesVersion: "1.33", flavor: istio, meshVersion: "1.26"}')
    root = repo({"app.yaml": stream(profile, deployment("web"))})
    r, doc = upgrade(cli, str(root), "--to", "1.27")
    assert r.code == 1
    w = workload(doc, "web")
    assert (w["from"]["mode"], w["to"]["mode"], w["modeChanged"]) == ("traditional", "native", True)
    assert "Istio 1.27" in w["to"]["modeReason"] and "Istio 1.26" in w["from"]["modeReason"]
    got = fields(w)
    assert got["containers[istio-proxy]"] == {"path": "containers[istio-proxy]", "op": "moved",
                                              "old": "containers[istio-proxy]", "new": "initContainers[istio-proxy]"}
    assert got["initContainers[istio-proxy].restartPolicy"] == {
        "path": "initContainers[istio-proxy].restartPolicy", "op": "added", "new": "Always"}
    assert doc["summary"]["modeChanges"] == 1
    defaults = {d["setting"]: d for d in doc["defaults"]}
    assert defaults["ENABLE_NATIVE_SIDECARS"]["from"] == "false"
    assert defaults["ENABLE_NATIVE_SIDECARS"]["to"].startswith("auto")
    text = cli("upgrade", str(root), "--to", "1.27").out
    assert "    mode: traditional -> native (auto: Kubernetes 1.33, Istio 1.27" in text
    assert "    ~ containers[istio-proxy] moved to initContainers[istio-proxy]" in text
    # the target side is render's, here too (the moved container's own fields included)
    before = template(rendered(cli, root)["web"])
    after = template(rendered(cli, root, "--mesh-version", "1.27")["web"])
    check_against_renders(w, before, after)
    assert walk(after, "initContainers[istio-proxy].image") == "docker.io/istio/proxyv2:1.27.9"


# -- lint ------------------------------------------------------------------------------------

IMAGE_SETTINGS = """\
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {{name: global}}
spec:
  proxy: {{image: "docker.io/istio/proxyv2:{tag}"}}
"""


def test_lint_finding_appears_and_disappears_with_the_version(cli, repo):
    """proxy-image-version-mismatch follows the mesh version: an image of 1.24 pinned in the
    settings matches 1.24 and not 1.26; kubevirtInterfaces is deprecated from 1.25."""
    root = repo({"app.yaml": deployment("web", annotations={"traffic.sidecar.istio.io/kubevirtInterfaces": "net1"}),
                 "mesh.yaml": IMAGE_SETTINGS.format(tag="1.24.6")})
    r, doc = upgrade(cli, str(root), "--flavor", "istio", "--mesh-version", "1.24", "--to", "1.26",
                     "--native-sidecars", "false")
    assert r.code == 1
    appear = {(f["rule"], f["workload"]) for f in doc["findings"] if f["status"] == "appears"}
    assert appear == {("proxy-image-version-mismatch", "Deployment shop/web"),
                      ("deprecated-mesh-annotation", "Deployment shop/web")}
    mismatch = next(f for f in doc["findings"] if f["rule"] == "proxy-image-version-mismatch")
    assert mismatch["file"].endswith("mesh.yaml") and "Istio 1.26.8" in mismatch["message"]
    assert doc["summary"]["findingsAppear"] == 2 and doc["summary"]["findingsDisappear"] == 0

    root2 = repo({"mesh.yaml": IMAGE_SETTINGS.format(tag="1.26.8")})
    r, doc = upgrade(cli, str(root2), "--flavor", "istio", "--mesh-version", "1.24", "--to", "1.26",
                     "--native-sidecars", "false")
    gone = [f for f in doc["findings"] if f["status"] == "disappears"]
    assert [(f["rule"], f["workload"]) for f in gone] == [("proxy-image-version-mismatch", "Deployment shop/web")]
    assert "Istio 1.24.6" in gone[0]["message"]
    # the image is the pinned one at both releases
    assert "containers[istio-proxy].image" not in fields(workload(doc, "web"))
    text = cli("upgrade", str(root2), "--flavor", "istio", "--mesh-version", "1.24", "--to", "1.26",
               "--native-sidecars", "false").out
    assert re.search(r"^  - \S+mesh.yaml:\d+:\d+: warning proxy-image-version-mismatch: .*\[Deployment shop/web\]$",
                     text, re.M)


def test_lint_message_that_changes_with_the_version(cli, repo):
    """alpha.istio.io/identity: deprecated (1.19) until 1.23, removed from 1.24: the same
    finding at the same place, another message."""
    root = repo({"app.yaml": deployment("web", annotations={"alpha.istio.io/identity": "x"})})
    r, doc = upgrade(cli, str(root), "--flavor", "istio", "--mesh-version", "1.23", "--to", "1.24",
                     "--native-sidecars", "false")
    assert r.code == 1
    changed = [f for f in doc["findings"] if f["status"] == "changes"]
    assert len(changed) == 1 and changed[0]["rule"] == "deprecated-mesh-annotation"
    assert "deprecated since Istio 1.19" in changed[0]["previousMessage"]
    assert "was removed in Istio 1.24" in changed[0]["message"]


# -- exit status and bad input ------------------------------------------------------------------

def test_same_release_is_no_change(cli, repo):
    root = repo({"app.yaml": stream(PROFILE.format(spec='{flavor: istio, meshVersion: "1.24"}'), deployment("web"))})
    r = cli("upgrade", str(root), "--to", "1.24")
    assert r.code == 0, r.err
    assert "Istio 1.24.6 is the release the inputs already run; no change (1 workload)" in r.out
    r, doc = upgrade(cli, str(root), "--to", "1.24")
    assert doc["sameRelease"] is True and doc["changed"] is False and doc["workloads"] == []
    # naming the patch is compared (pinned images are checked against it): nothing changes here
    r, doc = upgrade(cli, str(root), "--to", "1.24.6")
    assert r.code == 0 and doc["sameRelease"] is False and doc["summary"]["unchanged"] == 1


def test_assumed_release_is_compared_with_the_same_release_named(cli, repo):
    """No mesh version: the default release, and "version unknown" for native sidecars;
    naming the same release turns native sidecars on where the cluster allows them."""
    root = repo({"app.yaml": stream(PROFILE.format(spec='{flavor: istio, kubernetesVersion: "1.33"}'),
                                    deployment("web"))})
    newest = release.table().newest
    r, doc = upgrade(cli, str(root), "--to", f"1.{newest}")
    assert r.code == 1
    assert doc["from"]["assumed"] is True and doc["from"]["version"] == doc["to"]["version"]
    w = workload(doc, "web")
    assert (w["from"]["mode"], w["to"]["mode"]) == ("traditional", "native")
    assert "version unknown" in w["from"]["modeReason"]
    assert doc["defaults"] == [] and doc["releaseChanges"] == {"gained": [], "lost": []}


@pytest.mark.parametrize(("args", "message"), [
    ((), "upgrade needs the release to preview: --to X.Y[.Z]"),
    (("--to", "next"), "--to: mesh version 'next' is not a version like 1.24 or 1.24.3"),
    (("--to", "1.10"), "--to: Istio 1.10 is not supported; meshrender renders for Istio 1.22, 1.23"),
])
def test_bad_to_exits_2_with_the_supported_releases(cli, repo, args, message):
    root = repo({"app.yaml": deployment("web")})
    r = cli("upgrade", str(root), "--flavor", "istio", *args)
    assert r.code == 2 and r.out == ""
    assert message in r.err
    if not args:
        assert "Istio 1.22 to 1.32-dev (master)" in r.err


def test_bad_input_exits_2_naming_the_place(cli, repo):
    root = repo({"app.yaml": deployment("web") + "  extra: [\n"})
    r = cli("upgrade", str(root), "--to", "1.28")
    assert r.code == 2 and r.out == ""
    assert re.search(r"app.yaml:\d+:\d+: error: ", r.err)


def test_newer_than_known_renders_as_the_newest_with_a_warning(cli, repo):
    root = repo({"app.yaml": deployment("web")})
    r = cli("upgrade", str(root), "--flavor", "istio", "--mesh-version", "1.30", "--to", "1.40")
    assert r.code == 1
    assert "warning: --to: Istio 1.40 is newer than the newest release meshrender knows" in r.err
    assert r.out.startswith("meshrender upgrade: Istio 1.30.3 -> Istio 1.32-dev (master)\n")


def test_annotation_the_newer_injector_refuses(cli, repo):
    """Istio 1.30 checks traffic.sidecar.istio.io/excludeInterfaces (exclude-interfaces-
    validation): the workload renders at 1.29 and fails at 1.30, with render's own error."""
    root = repo({"app.yaml": deployment("web", annotations={"traffic.sidecar.istio.io/excludeInterfaces":
                                                            "eth0,bad/name"})})
    args = ("--flavor", "istio", "--native-sidecars", "false")
    r, doc = upgrade(cli, str(root), *args, "--mesh-version", "1.29", "--to", "1.30")
    assert r.code == 1
    w = workload(doc, "web")
    assert w["status"] == "fails-at-target" and w["from"]["injected"] is True and w["fields"] == []
    refused = cli("render", str(root), *args, "--mesh-version", "1.30")
    assert refused.code == 2
    assert refused.err.strip() == f"meshrender: {w['to']['error']}"
    assert "interface name 'bad/name' contains invalid characters" in w["to"]["error"]


# -- ASM ------------------------------------------------------------------------------------------

ASM_PROFILE = PROFILE.format(spec='{kubernetesVersion: "1.30", flavor: asm, provider: ack, region: cn-beijing}')


def test_asm_target_without_a_known_image_fails_for_that_workload(cli, repo):
    """ASM 1.24's proxy image is not in asm-releases.yaml: rendering at 1.24 fails for the
    workload, which is reported, not a crash; the current side is ASM's newest known."""
    root = repo({"app.yaml": stream(ASM_PROFILE, deployment("web"))})
    r, doc = upgrade(cli, str(root), "--to", "1.24")
    assert r.code == 1, r.err
    known = max(bundled.load("asm-releases.yaml")["releases"], key=lambda e: [int(x) for x in e["version"].split(".")])
    assert doc["from"]["version"] == f"ASM {known['version']}" and doc["from"]["assumed"] is True
    assert doc["from"]["image"] == f"registry-cn-beijing-vpc.ack.aliyuncs.com/acs/proxyv2:{known['tag']}"
    assert doc["to"] == {"flavor": "asm", "version": "ASM 1.24", "line": "1.24", "dev": False, "assumed": False,
                         "image": None}
    w = workload(doc, "web")
    assert w["status"] == "fails-at-target" and w["from"]["injected"] is True
    assert "meshrender does not know the proxy image of ASM 1.24" in w["to"]["error"]
    assert re.match(r".*app.yaml:\d+:\d+: error: ", w["to"]["error"])
    text = cli("upgrade", str(root), "--to", "1.24").out
    assert "! Deployment shop/web  " in text and "    fails at ASM 1.24: " in text


def test_asm_downgrade_to_a_known_image_renders_where_the_current_fails(cli, repo):
    root = repo({"app.yaml": stream(ASM_PROFILE, deployment("web"))})
    r, doc = upgrade(cli, str(root), "--mesh-version", "1.24", "--to", "1.22")
    assert r.code == 1
    assert doc["direction"] == "downgrade"
    w = workload(doc, "web")
    assert w["status"] == "fixed-at-target" and w["to"]["injected"] is True and w["from"]["error"]


def test_asm_fails_at_both_releases_is_bad_input(cli, repo):
    root = repo({"app.yaml": stream(ASM_PROFILE, deployment("web"))})
    r = cli("upgrade", str(root), "--mesh-version", "1.24", "--to", "1.25")
    assert r.code == 2 and r.out == ""
    assert "meshrender does not know the proxy image of ASM 1.24" in r.err


def test_asm_with_the_image_in_the_values(cli, repo, tmp_path):
    """`--to 1.24` is ASM 1.24 (its Istio 1.24 behaviour): with the image named in the
    values, ASM's enable-core-dump init container goes as in Istio 1.24, the image stays."""
    web = deployment("web", annotations={"sidecar.istio.io/enableCoreDump": "true"})
    root = repo({"app.yaml": stream(ASM_PROFILE, web)})
    values = tmp_path / "values.yaml"
    values.write_text("global: {hub: registry-cn-beijing-vpc.ack.aliyuncs.com/acs, tag: v1.24.6.1-g0000000-aliyun}\n")
    r, doc = upgrade(cli, str(root), "--values", str(values), "--native-sidecars", "false", "--to", "1.24")
    assert r.code == 1, r.err
    got = fields(workload(doc, "web"))
    assert got["initContainers[enable-core-dump]"]["op"] == "removed"
    assert not any(p.endswith(".image") for p in got)
    assert doc["to"]["flavor"] == "asm"
    after = template(rendered(cli, root, "--values", str(values), "--native-sidecars", "false",
                              "--mesh-version", "1.24")["web"])
    assert walk(after, "initContainers[enable-core-dump]") is _MISSING
    assert "enable-core-dump" in [c["name"] for c in pod_spec(
        rendered(cli, root, "--values", str(values), "--native-sidecars", "false")["web"])["initContainers"]]


# -- formats ----------------------------------------------------------------------------------

def test_json_lists_release_table_changes_with_their_sources(cli, repo):
    root = repo({"app.yaml": deployment("web")})
    r, doc = upgrade(cli, str(root), "--flavor", "istio", "--mesh-version", "1.26", "--to", "1.27")
    assert r.code == 1
    table = release.table().changes
    gained = {c["name"]: c for c in doc["releaseChanges"]["gained"]}
    want = {n for n, c in table.items() if c.present((27, 9)) and not c.present((26, 8))}
    assert set(gained) == want
    crl = gained["istio-ca-crl"]
    assert crl["added"] == "1.27.0" and crl["source"]["pr"] == table["istio-ca-crl"].data["source"]["pr"]
    assert doc["summary"]["releaseChanges"] == len(want) + len(doc["releaseChanges"]["lost"])


def test_markdown_comment(cli, repo):
    """A pull-request comment: summary table, one section per workload (folded into
    <details> when there are more than three), field tables, defaults, findings."""
    names = ["a", "b", "c", "d"]
    root = repo({"app.yaml": stream(*(deployment(n) for n in names))})
    r = cli("upgrade", str(root), "--flavor", "istio", "--mesh-version", "1.26", "--to", "1.27",
            "--native-sidecars", "false", "--format", "markdown")
    assert r.code == 1
    md = r.out
    assert md.startswith("### :warning: meshrender upgrade: Istio 1.26.8 → Istio 1.27.9\n")
    assert "| 4 | 4 | 0 | 0 | 0 |" in md
    assert md.count("<details><summary>`Deployment shop/") == 4
    assert md.count("<details>") == md.count("</details>")
    assert "| `volumes[istio-ca-crl]` |  | `{\"name\": \"istio-ca-crl\"" in md
    assert "#### Defaults changed between Istio 1.26.8 and Istio 1.27.9" in md
    assert "istio/istio&#35;56428" in md  # escaped: no issue link to another repository's number
    one = repo({"one/app.yaml": deployment("a")}) / "one"
    md1 = cli("upgrade", str(one), "--flavor", "istio", "--mesh-version", "1.26", "--to", "1.27",
              "--native-sidecars", "false", "--format", "markdown").out
    assert "#### `Deployment shop/a`" in md1 and "<details><summary>`Deployment" not in md1


def test_markdown_stays_under_githubs_limit(cli, repo):
    from meshrender import markdown as mdmod

    root = repo({"app.yaml": stream(*(deployment(f"w{i:03}") for i in range(150)))})
    r = cli("upgrade", str(root), "--flavor", "istio", "--mesh-version", "1.22", "--to", "1.30",
            "--native-sidecars", "false", "--format", "markdown")
    assert r.code == 1
    assert len(r.out) < mdmod.GITHUB_COMMENT_LIMIT
    assert re.search(r"_\d+ more sections not shown", r.out)
    assert r.out.count("<details>") == r.out.count("</details>")


# -- --version --------------------------------------------------------------------------------

def test_version_names_the_releases_it_renders_for(cli):
    r = cli("--version")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0].startswith("meshrender ")
    t = release.table()
    istio = next(x for x in lines if x.startswith("Istio "))
    assert istio.startswith(f"Istio 1.{t.oldest} to 1.{t.newest}")
    for minor, line in t.lines.items():
        if not line.get("dev"):
            assert str(line["newest"]) in istio, minor
    asm = next(x for x in lines if x.startswith("ASM "))
    for entry in bundled.load("asm-releases.yaml")["releases"]:
        assert str(entry["version"]) in asm
    newest_stable = max(m for m, line in t.lines.items() if not line.get("dev"))
    assert asm.startswith(f"ASM 1.{t.oldest} to 1.{newest_stable}")
