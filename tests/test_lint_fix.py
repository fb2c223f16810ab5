"""`meshrender lint --fix` and `--fix --diff` (render/lint/fix.py): the user's files edited in
place with comments, key order, quoting and indentation kept, or left alone and said so."""

from __future__ import annotations

import difflib
import json
import os
import re
import stat

from tests.lintkit import deployment, profile, settings

MISPLACED = """# checkout: the storefront's payment step
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
  annotations:
    sidecar.istio.io/proxyMemory: "512Mi"   # sized for the peak
    # keep the owner for the on-call rota
    example.com/owner: 'payments'
spec:
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels:
        app: checkout
      annotations:
        sidecar.istio.io/proxyCpu: 500m    # misspelt: CPU
    spec:
      containers:
      - name: checkout
        image: "registry.example.com/checkout:1.0"
        args: [--port, "8080"]
"""

FIXED = """# checkout: the storefront's payment step
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
  namespace: shop
  annotations:
    # keep the owner for the on-call rota
    example.com/owner: 'payments'
spec:
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels:
        app: checkout
      annotations:
        sidecar.istio.io/proxyCPU: 500m    # misspelt: CPU
        sidecar.istio.io/proxyMemory: "512Mi"   # sized for the peak
    spec:
      containers:
      - name: checkout
        image: "registry.example.com/checkout:1.0"
        args: [--port, "8080"]
"""


def write(root, files):
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def test_fix_edits_in_place_keeping_comments_quotes_order_and_indentation(cli, tmp_path):
    root = write(tmp_path / "repo", {"profile.yaml": profile(), "app.yaml": MISPLACED})
    r = cli("lint", str(root), "--fix", "--format", "json", "--fail-on", "warning")
    assert (root / "app.yaml").read_text() == FIXED
    assert "fixed 2 findings in 1 file" in r.err
    remaining = json.loads(r.out)  # the report is a lint of the files as they are now
    assert {f["rule"] for f in remaining["findings"]} & {"unknown-mesh-annotation",
                                                         "mesh-annotation-on-workload-metadata"} == set()
    assert r.code == 0


def test_fix_keeps_indented_sequences_and_other_documents_byte_for_byte(cli, tmp_path):
    other = "---\n# the namespace\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: 'a'}}\n"
    text = deployment(annotations="        sidecar.istio.io/proxyCpu: 500m") + other
    root = write(tmp_path / "repo", {"app.yaml": text})
    cli("lint", str(root), "--fix")
    assert (root / "app.yaml").read_text() == text.replace("proxyCpu", "proxyCPU")


def test_fix_diff_prints_a_patch_and_writes_nothing(cli, tmp_path):
    root = write(tmp_path / "repo", {"profile.yaml": profile(), "app.yaml": MISPLACED})
    before = (root / "app.yaml").stat()
    r = cli("lint", str(root), "--fix", "--diff")
    assert r.code == 1
    assert (root / "app.yaml").read_text() == MISPLACED and (root / "app.yaml").stat().st_mtime_ns == before.st_mtime_ns
    assert r.out.startswith(f"--- a/{root / 'app.yaml'}\n+++ b/{root / 'app.yaml'}\n")
    assert "-        sidecar.istio.io/proxyCpu: 500m    # misspelt: CPU\n" in r.out
    assert "+        sidecar.istio.io/proxyCPU: 500m    # misspelt: CPU\n" in r.out
    assert "would fix 2 findings in 1 file" in r.err
    # the patch is exactly the change --fix writes
    path = root / "app.yaml"
    assert r.out == "".join(difflib.unified_diff(MISPLACED.splitlines(True), FIXED.splitlines(True),
                                                 f"a/{path}", f"b/{path}"))


def test_nothing_to_fix_is_exit_0_with_an_empty_patch(cli, tmp_path):
    root = write(tmp_path / "repo", {"profile.yaml": profile(), "app.yaml": deployment()})
    r = cli("lint", str(root), "--fix", "--diff")
    assert (r.code, r.out) == (0, "")


def test_a_file_that_does_not_round_trip_is_not_touched_and_said_so(cli, tmp_path):
    odd = MISPLACED.replace("  name: checkout\n", "  name:    checkout\n", 1)  # spacing ruamel would normalise
    root = write(tmp_path / "repo", {"app.yaml": odd})
    r = cli("lint", str(root), "--fix")
    assert (root / "app.yaml").read_text() == odd
    assert f"{root / 'app.yaml'}: not touched: a round trip through ruamel.yaml does not give it back" in r.err
    assert "fixed 0 findings in 0 files" in r.err
    assert r.code == 0  # the findings remain (warnings)
    assert "unknown-mesh-annotation" in r.out


def test_fix_is_atomic_and_keeps_the_files_mode(cli, tmp_path):
    root = write(tmp_path / "repo", {"app.yaml": deployment(annotations="        sidecar.istio.io/proxyCpu: 500m")})
    os.chmod(root / "app.yaml", 0o640)
    cli("lint", str(root), "--fix")
    assert stat.S_IMODE((root / "app.yaml").stat().st_mode) == 0o640
    assert sorted(p.name for p in root.iterdir()) == ["app.yaml"]  # no temporary file left
    assert "proxyCPU" in (root / "app.yaml").read_text()


def test_crlf_files_stay_crlf(cli, tmp_path):
    text = deployment(annotations="        sidecar.istio.io/proxyCpu: 500m").replace("\n", "\r\n")
    root = tmp_path / "repo"
    root.mkdir()
    (root / "app.yaml").write_bytes(text.encode())
    cli("lint", str(root), "--fix")
    assert (root / "app.yaml").read_bytes() == text.replace("proxyCpu", "proxyCPU").encode()


def test_misspelt_rule_in_an_ignore_annotation_is_corrected_in_place(cli, tmp_path):
    anns = '        meshrender.dev/ignore: "proxy-uid-conflcit, job-sidecar-never-exits"'
    root = write(tmp_path / "repo", {"app.yaml": deployment(annotations=anns)})
    cli("lint", str(root), "--fix")
    assert '        meshrender.dev/ignore: "proxy-uid-conflict, job-sidecar-never-exits"\n' in \
        (root / "app.yaml").read_text()


def test_misplaced_annotation_set_again_in_the_template_is_removed_or_left(cli, tmp_path):
    same = deployment(annotations="        sidecar.istio.io/proxyCPU: 200m").replace(
        "  namespace: shop\n", "  namespace: shop\n  annotations:\n    sidecar.istio.io/proxyCPU: 200m\n", 1)
    other = same.replace("    sidecar.istio.io/proxyCPU: 200m\n", "    sidecar.istio.io/proxyCPU: 300m\n", 1)
    root = write(tmp_path / "repo", {"same.yaml": same, "other.yaml": other})
    r = cli("lint", str(root), "--fix", "--format", "json")
    assert (root / "same.yaml").read_text() == deployment(annotations="        sidecar.istio.io/proxyCPU: 200m")
    assert (root / "other.yaml").read_text() == other  # which value is meant is not mechanical
    left = [f for f in json.loads(r.out)["findings"] if f["rule"] == "mesh-annotation-on-workload-metadata"]
    assert [(f["fixable"], "sets it to '200m'" in f["message"]) for f in left] == [(False, True)]


NATIVE_ONLY = "  nativeSidecar: true\n  proxy:\n    holdApplicationUntilProxyStarts: true\n"


def test_settings_native_mode_ignores_are_removed_when_every_taker_is_native(cli, tmp_path):
    root = write(tmp_path / "repo", {
        "profile.yaml": profile(), "mesh.yaml": settings(NATIVE_ONLY + "    concurrency: 2\n", "shop", "shop"),
        "a.yaml": deployment("a"), "b.yaml": deployment("b")})
    r = cli("lint", str(root), "--fix", "--fail-on", "info")
    assert (root / "mesh.yaml").read_text() == settings("  nativeSidecar: true\n  proxy:\n    concurrency: 2\n",
                                                         "shop", "shop")
    assert "fixed 2 findings in 1 file" in r.err  # one setting, two workloads' findings


def test_an_emptied_settings_section_goes_too(cli, tmp_path):
    root = write(tmp_path / "repo", {"profile.yaml": profile(), "mesh.yaml": settings(NATIVE_ONLY, "shop", "shop"),
                                     "a.yaml": deployment("a")})
    cli("lint", str(root), "--fix")
    assert (root / "mesh.yaml").read_text() == settings("  nativeSidecar: true\n", "shop", "shop")


def test_a_setting_a_traditional_workload_takes_is_not_removed(cli, tmp_path):
    traditional = deployment("b", annotations='        sidecar.istio.io/nativeSidecar: "false"')
    root = write(tmp_path / "repo", {"profile.yaml": profile(), "mesh.yaml": settings(NATIVE_ONLY, "shop", "shop"),
                                     "a.yaml": deployment("a"), "b.yaml": traditional})
    text = (root / "mesh.yaml").read_text()
    r = cli("lint", str(root), "--fix", "--format", "json")
    assert (root / "mesh.yaml").read_text() == text
    assert "hold-application-ignored-in-native: not fixed (remove holdApplicationUntilProxyStarts from " \
           "SidecarProxySettings shop/shop (namespace)): 1 other workload takes it from there" in r.err


def test_stdin_is_never_edited(cli):
    r = cli("lint", "-", "--fix", "--format", "json",
            stdin=deployment(annotations="        sidecar.istio.io/proxyCpu: 500m"))
    assert "fixed 0 findings in 0 files" in r.err
    assert [f["fixable"] for f in json.loads(r.out)["findings"]] == [False]


def test_fix_flags_that_do_not_fit(cli, tmp_path):
    root = write(tmp_path / "repo", {"app.yaml": deployment()})
    r = cli("lint", str(root), "--diff")
    assert r.code == 2 and "use --fix --diff" in r.err
    r = cli("lint", str(root), "--fix", "--diff", "--format", "json")
    assert r.code == 2 and "prints a patch" in r.err


def test_list_rules_says_which_rules_fix_and_how(cli):
    listed = {r["id"]: r for r in json.loads(cli("lint", "--list-rules", "--format", "json").out)}
    assert listed["unknown-mesh-annotation"]["autofix"]
    assert listed["proxy-uid-conflict"]["autofix"] is None
    text = cli("lint", "--list-rules").out
    line = next(x for x in text.splitlines() if x.startswith("unknown-mesh-annotation "))
    assert " fixable " in line
    assert "--fix: renames the annotation" in text


def test_fix_on_the_example_repo_fixes_what_it_says_and_relints(cli, tmp_path):
    import shutil

    from tests.conftest import ROOT

    repo = tmp_path / "lint-demo"
    shutil.copytree(ROOT / "fixtures" / "lint-demo", repo)
    before = json.loads(cli("lint", str(repo), "--format", "json").out)
    r = cli("lint", str(repo), "--fix", "--format", "json")
    after = json.loads(r.out)
    fixed = int(re.search(r"fixed (\d+) findings? in (\d+) files?", r.err).group(1))
    assert fixed > 0
    assert all(not f["fixable"] for f in after["findings"])  # every fixable one was fixed or said why not
    skipped = len(re.findall(r": not fixed \(", r.err))
    assert sum(f["fixable"] for f in before["findings"]) - skipped <= fixed
    again = cli("lint", str(repo), "--fix", "--diff")
    assert again.out == ""


def test_fix_inside_a_list_keeps_the_byte_order_mark(cli, tmp_path):
    item = deployment(annotations="        sidecar.istio.io/proxyCpu: 500m")
    listed = "apiVersion: v1\nkind: List\nitems:\n" + "".join(
        ("  - " if i == 0 else "    ") + line + "\n" for i, line in enumerate(item.splitlines()))
    root = tmp_path / "repo"
    root.mkdir()
    (root / "list.yaml").write_bytes(b"\xef\xbb\xbf" + listed.encode())
    r = cli("lint", str(root), "--fix")
    assert "fixed 1 finding in 1 file" in r.err
    assert (root / "list.yaml").read_bytes() == b"\xef\xbb\xbf" + listed.replace("proxyCpu", "proxyCPU").encode()
