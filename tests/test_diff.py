"""`meshrender diff --against DIR`: drift between a fresh render and a committed one."""

import json
import shutil

import pytest

from tests.conftest import ROOT

DEMO = ROOT / "fixtures" / "demo"


@pytest.fixture
def rendered(cli, tmp_path):
    """A copy of the demo repo and its rendered output: (repo, out)."""
    src = tmp_path / "repo"
    shutil.copytree(DEMO, src)
    out = tmp_path / "deploy"
    r = cli("render", str(src), "-o", str(out))
    assert r.code == 0, r.err
    return src, out


def test_no_drift_exits_0(cli, rendered):
    src, out = rendered
    r = cli("diff", str(src), "--against", str(out))
    assert r.code == 0, r.out + r.err
    assert r.out == f"meshrender: {out} is up to date (5 files, 7 documents compared)\n"


def test_changed_setting_reports_file_document_field_and_line(cli, rendered):
    src, out = rendered
    settings = src / "mesh" / "sidecar-payments.yaml"
    settings.write_text(settings.read_text().replace('limits: {cpu: "2", memory: 1025Mi}',
                                                     'limits: {cpu: "3", memory: 1025Mi}'))
    r = cli("diff", str(src), "--against", str(out))
    assert r.code == 1
    lines = r.out.splitlines()
    assert lines[0] == "~ apps/payments/checkout.yaml"
    assert lines[1] == f"    ~ Deployment payments/checkout  ({out}/apps/payments/checkout.yaml:1)"
    field = "spec.template.spec.initContainers[istio-proxy].resources.limits.cpu"
    rendered_lines = (out / "apps/payments/checkout.yaml").read_text().splitlines()
    line = next(i + 1 for i, ln in enumerate(rendered_lines) if ln.strip() == 'cpu: "2"')
    assert lines[2] == f'        ~ {field}: "2" -> "3"  ({out}/apps/payments/checkout.yaml:{line})'
    # ledger's pod annotations replace the resources block, so only checkout drifts
    assert "ledger" not in r.out
    assert lines[-2] == (f"meshrender: {out} differs from a fresh render: 1 file (1 changed, 0 added, "
                         "0 removed), 1 document, 1 field")
    assert lines[-1] == f"meshrender: to update it, run: meshrender render {src} -o {out}"
    # the refresh command does what it says
    assert cli("render", str(src), "-o", str(out)).code == 0
    assert cli("diff", str(src), "--against", str(out)).code == 0


def test_added_and_removed_documents_and_files(cli, rendered):
    src, out = rendered
    (src / "apps" / "storefront" / "migrate.yaml").unlink()
    (src / "apps" / "storefront" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: storefront}\ndata: {a: b}\n")
    checkout = src / "apps" / "payments" / "checkout.yaml"
    text = checkout.read_text()
    service = text[text.index("---\napiVersion: v1\nkind: Service"):]
    checkout.write_text(text.replace(service, "") + "---\napiVersion: v1\nkind: ServiceAccount\n"
                        "metadata: {name: checkout, namespace: payments}\n")
    (out / "notes.txt").write_text("hand-written\n")
    r = cli("diff", str(src), "--against", str(out))
    assert r.code == 1
    assert r.out.splitlines()[:-2] == [
        "~ apps/payments/checkout.yaml",
        "    + ServiceAccount payments/checkout  (would be added)",
        f"    - Service payments/checkout  (would be removed)  ({out}/apps/payments/checkout.yaml:"
        f"{_doc_line(out / 'apps/payments/checkout.yaml', 'kind: Service')})",
        "+ apps/storefront/cm.yaml  (new file, 1 document)",
        "- apps/storefront/migrate.yaml  (would be removed: a render no longer writes it)",
        "- notes.txt  (would be removed: a render no longer writes it)",
    ]
    assert "4 files (1 changed, 1 added, 2 removed)" in r.out
    assert ".meshrender-output" not in r.out


def _doc_line(path, needle):
    """The line of the document that holds `needle`: its first line after `---`."""
    lines = path.read_text().splitlines()
    return lines.index(needle)  # apiVersion, the line above `needle` (1-based: index)


def test_json_report(cli, rendered):
    src, out = rendered
    web = src / "apps" / "storefront" / "web.yaml"
    web.write_text(web.read_text().replace("version: v1", "version: v2"))
    (src / "apps" / "storefront" / "migrate.yaml").unlink()
    r = cli("diff", str(src), "--against", str(out), "--format", "json")
    assert r.code == 1
    data = json.loads(r.out)
    assert data["drift"] is True
    assert data["summary"]["files"] == 2
    files = {f["path"]: f for f in data["files"]}
    assert files["apps/storefront/migrate.yaml"]["status"] == "removed"
    assert files["apps/storefront/migrate.yaml"]["documents"] == [
        {"kind": "Job", "namespace": "storefront", "name": "migrate-catalog", "status": "removed", "line": 1}]
    (doc,) = files["apps/storefront/web.yaml"]["documents"]
    assert (doc["kind"], doc["name"], doc["status"]) == ("Deployment", "web", "changed")
    changes = {c["path"]: (c["op"], c["old"], c["new"]) for c in doc["changes"]}
    assert changes == {
        "spec.template.metadata.labels.version": ("changed", "v1", "v2"),
        'spec.template.metadata.labels["service.istio.io/canonical-revision"]': ("changed", "v1", "v2"),
    }
    assert data["refresh"].startswith("meshrender render ")
    clean = json.loads(cli("diff", str(DEMO), "--against", str(_render(cli, DEMO, out.parent / "x")),
                           "--format", "json").out)
    assert clean["drift"] is False and clean["files"] == []


def _render(cli, src, out):
    assert cli("render", str(src), "-o", str(out)).code == 0
    return out


def test_named_list_items_are_matched_by_name(cli, rendered):
    """Switching a workload to traditional moves the proxy: one removed, one added container."""
    src, out = rendered
    r = cli("diff", str(src), "--against", str(out), "--native-sidecars", "false", "--format", "json")
    assert r.code == 1
    data = json.loads(r.out)
    checkout = next(f for f in data["files"] if f["path"] == "apps/payments/checkout.yaml")
    changes = {c["path"]: c for c in checkout["documents"][0]["changes"]}
    assert changes["spec.template.spec.initContainers[istio-proxy]"]["op"] == "removed"
    assert changes["spec.template.spec.containers[istio-proxy]"]["op"] == "added"
    assert not any(p.startswith("spec.template.spec.containers[checkout]") or "(order)" in p for p in changes)
    assert "--native-sidecars false" in data["refresh"]


def test_reordered_containers_are_one_order_change(cli, tmp_path):
    src = tmp_path / "repo"
    shutil.copytree(DEMO, src)
    out = tmp_path / "deploy"
    assert cli("render", str(src), "-o", str(out), "--native-sidecars", "false").code == 0
    settings = src / "mesh" / "sidecar-global.yaml"
    # (ASM holds the app by default: turning it off moves the proxy after the app)
    settings.write_text(settings.read_text().replace("    terminationDrainDuration: 5s\n",
                                                     "    terminationDrainDuration: 5s\n"
                                                     "    holdApplicationUntilProxyStarts: false\n"))
    r = cli("diff", str(src), "--against", str(out), "--native-sidecars", "false", "--format", "json")
    assert r.code == 1
    web = next(f for f in json.loads(r.out)["files"] if f["path"] == "apps/storefront/web.yaml")
    order = [c for c in web["documents"][0]["changes"] if c["op"] == "order"]
    assert order == [{"path": "spec.template.spec.containers (order)", "op": "order",
                      "old": ["istio-proxy", "web"], "new": ["web", "istio-proxy"], "line": order[0]["line"]}]
    lines = (out / "apps/storefront/web.yaml").read_text().splitlines()
    assert lines[order[0]["line"] - 1].strip() == "containers:"


def test_comment_only_and_corrupt_files_are_drift(cli, rendered):
    src, out = rendered
    web = src / "apps" / "storefront" / "web.yaml"
    web.write_text(web.read_text().replace("kind: ConfigMap", "kind: ConfigMap  # web settings"))
    (out / "apps/payments/ledger.yaml").write_text("<<<<<<< HEAD\nkind: [\n")
    r = cli("diff", str(src), "--against", str(out))
    assert r.code == 1
    assert "    ~ ConfigMap storefront/web-config  (same fields; comments or formatting differ)" in r.out
    assert "~ apps/payments/ledger.yaml  (not valid YAML (" in r.out


def test_bad_input_exits_2(cli, rendered, tmp_path):
    src, out = rendered
    r = cli("diff", str(src), "--against", str(tmp_path / "missing"))
    assert r.code == 2
    assert "no such folder" in r.err and r.out == ""
    r = cli("diff", str(src), "--against", str(src / "apps"))
    assert r.code == 2 and "inside the input folder" in r.err
    r = cli("diff", str(src))
    assert r.code == 2 and "--against" in r.err
    (src / "apps" / "broken.yaml").write_text("kind: Deployment\nmetadata: {name: [\n")
    r = cli("diff", str(src), "--against", str(out))
    assert r.code == 2
    assert "broken.yaml:2:19: error: invalid YAML" in r.err  # the end of the last line, where the text ends
    assert r.out == ""


def test_reordered_containers_inside_a_list_of_objects(cli, repo):
    """A kind: List's items are compared as a list: a named list reordered inside one gave
    an internal error (fuzz finding, seed 20261207); now it is one order change."""
    item = """\
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, namespace: shop}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              initContainers: [{name: setup, image: busybox}]
              containers: [{name: web, image: nginx}]
    """
    root = repo({"apps/list.yaml": "apiVersion: v1\nkind: List\nitems:\n" + item})
    out = root.parent / "deploy"
    assert cli("render", str(root / "apps"), "-o", str(out), "--kube-version", "1.30",
               "--native-sidecars", "true").code == 0
    r = cli("diff", str(root / "apps"), "--against", str(out), "--kube-version", "1.30", "--native-sidecars", "false")
    assert r.code == 1 and "internal error" not in r.err, r.err
    assert "initContainers (order)" in r.out or "containers (order)" in r.out, r.out


def test_many_changed_files_are_compared_in_workers_with_the_same_report(cli, rendered, monkeypatch):
    """A namespace setting changes every file of its namespace: the files are compared in
    worker processes, and the report is the one a single process gives, in path order."""
    src, out = rendered
    files = sorted(p for p in out.rglob("*.yaml"))
    for i, p in enumerate(files):  # hand edits of every kind: fields, a broken file, an added document
        text = p.read_text()
        if i == 0:
            p.write_text(text + "  broken: [\n")
        elif i == 1:
            p.write_text(text + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")
        else:
            p.write_text(text.replace("istio-proxy", "istio-proxy-2", 1))
    reports = []
    for jobs in ("1", "2"):
        monkeypatch.setenv("MESHRENDER_JOBS", jobs)
        r = cli("diff", str(src), "--against", str(out), "--format", "json")
        assert r.code == 1, r.err
        reports.append(json.loads(r.out))
    assert reports[0] == reports[1]
    assert [f["path"] for f in reports[0]["files"]] == sorted(p.relative_to(out).as_posix() for p in files)
    assert reports[0]["summary"]["changed"] == len(files)


@pytest.mark.parametrize("large", [False, True])
def test_the_fast_yaml_reader_is_loaded_for_what_diff_compares_not_for_what_it_read_before(
        rendered, monkeypatch, large):
    """A one-file diff after a large incremental check parses two small texts: importing
    the fast reader for them cost more than it saved. It is loaded when what diff compares
    is large (before its workers fork), and the report is the same either way."""
    from meshrender.diff import drift
    from meshrender.diff import format as drift_format
    from meshrender.yamlio import read

    _, out = rendered
    expected = {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*.yaml")}
    target = out / "apps" / "payments" / "checkout.yaml"
    target.write_text(target.read_text().replace("istio-proxy", "istio-proxy-2", 1)
                      + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: filler}\ndata:\n"
                      + "".join(f"  k{i}: '{'x' * 60}'\n" for i in range(1200 if large else 0)))
    monkeypatch.setattr(read, "_fast", False)  # the reference reader alone
    reference = drift_format.as_json(drift.compare(expected, out), "refresh")
    monkeypatch.setattr(read, "_fast", None)  # (not loaded yet...)
    monkeypatch.setattr(read, "_read_bytes", read.FAST_AFTER_BYTES)  # (...after much YAML read)
    report = drift.compare(expected, out)
    assert report.drift and drift_format.as_json(report, "refresh") == reference
    assert (read._fast not in (None, False)) == large
