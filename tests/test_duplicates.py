"""The same object given twice (render/inputs/identity.py): render stops naming both
places and writes nothing; lint reports duplicate-object. An object is its API group,
kind, namespace (the run's, when the document says none; none for cluster-scoped kinds)
and name, as the API server and Argo CD know it."""

from __future__ import annotations

import json


def deploy(name: str = "web", ns: str | None = "shop", api: str = "apps/v1", extra: str = "") -> str:
    namespace = f", namespace: {ns}" if ns else ""
    return f"""\
apiVersion: {api}
kind: Deployment
metadata: {{name: {name}{namespace}}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec: {{containers: [{{name: {name}, image: nginx{extra}}}]}}
"""


def test_render_stops_at_the_second_copy_naming_both_places(cli, repo):
    root = repo({"apps/web.yaml": "# the web app\n" + deploy(), "deploy/web.yaml": deploy()})
    out = root.parent / "out"
    r = cli("render", str(root), "-o", str(out))
    assert r.code == 2 and not out.exists()
    assert f"{root}/deploy/web.yaml:3:12: error: metadata.name: Deployment shop/web is defined twice, here " \
           f"and at {root}/apps/web.yaml:4:12" in r.err
    # to stdout as well: nothing printed
    r = cli("render", str(root))
    assert r.code == 2 and r.out == ""


def test_the_run_namespace_fills_in_a_missing_namespace(cli, repo):
    root = repo({"a.yaml": deploy(ns=None), "b.yaml": deploy(ns="shop")})
    assert cli("render", str(root), "-n", "shop").code == 2
    assert cli("render", str(root), "-n", "other").code == 0  # default/web and shop/web


def test_not_the_same_object(cli, repo):
    root = repo({"a.yaml": deploy(), "b.yaml": deploy(ns="other"), "c.yaml": deploy(name="api"),
                 # another kind with the same name, and an object that gets its name from the server
                 "d.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
                           "spec: {ports: [{port: 80}]}\n",
                 "e.yaml": "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: web-, namespace: shop}\n"
                           "spec: {template: {spec: {restartPolicy: Never, containers: [{name: j, image: x}]}}}\n"
                           "---\n"
                           "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: web-, namespace: shop}\n"
                           "spec: {template: {spec: {restartPolicy: Never, containers: [{name: j, image: x}]}}}\n"})
    r = cli("render", str(root))
    assert r.code == 0, r.err


def test_the_api_version_within_a_group_does_not_matter(cli, repo):
    root = repo({"a.yaml": deploy(), "b.yaml": deploy(api="apps/v1beta2")})
    assert cli("render", str(root)).code == 2


def test_cluster_scoped_objects_ignore_metadata_namespace(cli, repo):
    role = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: reader{ns}}}\nrules: []\n"
    root = repo({"a.yaml": role.format(ns=""), "b.yaml": role.format(ns=", namespace: shop")})
    r = cli("render", str(root))
    assert r.code == 2 and "ClusterRole reader is defined twice" in r.err


def test_list_items_are_objects_too(cli, repo):
    items = "apiVersion: v1\nkind: List\nitems:\n" + "".join(
        "  - " + deploy().replace("\n", "\n    ").rstrip() + "\n" for _ in range(2))
    root = repo({"list.yaml": items})
    r = cli("render", str(root))
    assert r.code == 2 and f"{root}/list.yaml:" in r.err and "Deployment shop/web is defined twice" in r.err


def test_lint_reports_each_copy_after_the_first(cli, repo):
    root = repo({"a.yaml": deploy(), "b.yaml": deploy(), "c.yaml": deploy()})
    r = cli("lint", str(root), "--format", "json", "--fail-on", "warning")
    assert r.code == 1
    found = [f for f in json.loads(r.out)["findings"] if f["rule"] == "duplicate-object"]
    assert [(f["file"], f["line"], f["severity"], f["workload"]) for f in found] == [
        (f"{root}/b.yaml", 3, "warning", "Deployment shop/web"),
        (f"{root}/c.yaml", 3, "warning", "Deployment shop/web")]
    assert all(f"and at {root}/a.yaml:3:12" in f["message"] for f in found)


def dups(r) -> list[str]:
    return [f["file"] for f in json.loads(r.out)["findings"] if f["rule"] == "duplicate-object"]


def test_a_rendered_folder_is_an_application_of_its_own(cli, repo):
    root = repo({"apps/web.yaml": deploy()})
    for env in ("prod", "staging"):
        assert cli("render", str(root / "apps"), "-o", str(root / "deploy" / env)).code == 0
    # Sources and their renderings linted together (a pre-commit run over the repository).
    assert dups(cli("lint", str(root), "--format", "json")) == []
    # Rendered together they would be one application with the object three times.
    r = cli("render", str(root))
    assert r.code == 2 and "Deployment shop/web is defined twice" in r.err
    # An object twice inside one rendered folder is a duplicate still.
    (root / "deploy" / "prod" / "zz-copy.yaml").write_text(deploy())
    assert dups(cli("lint", str(root), "--format", "json")) == [str(root / "deploy" / "prod" / "zz-copy.yaml")]


def test_kustomize_patches_are_not_objects(cli, repo):
    root = repo({"base/web.yaml": deploy(), "base/kustomization.yaml": "resources: [web.yaml]\n",
                 "overlays/prod/kustomization.yaml": "resources: [../../base]\npatches:\n  - path: replicas.yaml\n"
                                                     "patchesStrategicMerge: [image.yaml]\n",
                 "overlays/prod/replicas.yaml": "apiVersion: apps/v1\nkind: Deployment\n"
                                                "metadata: {name: web, namespace: shop}\nspec: {replicas: 3}\n",
                 "overlays/prod/image.yaml": "apiVersion: apps/v1\nkind: Deployment\n"
                                             "metadata: {name: web, namespace: shop}\nspec:\n  template:\n"
                                             "    spec: {containers: [{name: web, image: nginx:2}]}\n"})
    r = cli("render", str(root))
    assert r.code == 0, r.err
    assert [d["kind"] for d in r.docs()] == ["Deployment"]
    r = cli("render", str(root), "-o", str(root.parent / "out"))
    assert "skipped 4 files" in r.err and "overlays/prod/image.yaml" in r.err
    r = cli("lint", str(root), "--format", "json")
    assert dups(r) == [] and json.loads(r.out)["summary"]["skippedFiles"] == 4


def test_stdin_and_a_file(cli, repo):
    root = repo({"a.yaml": deploy()})
    r = cli("render", str(root), "-", stdin=deploy())
    assert r.code == 2 and "-:3:12: error: metadata.name: Deployment shop/web is defined twice" in r.err
