"""`lint --format markdown` (a pull-request comment) and `--format junit` (GitLab, Jenkins)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from tests.lintkit import deployment, profile

HOSTILE = '        sidecar.istio.io/logLevel: "a|b *c* <img src=x> @octocat #12 [x](y) `z`"'


def _cells(row: str) -> list[str]:
    """A GFM table row split as GitHub splits it: on pipes that are not escaped."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_markdown_comment_has_summary_rule_table_and_escaped_findings(lint, cli):
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(annotations=HOSTILE + "\n"
                                                                "        sidecar.istio.io/proxyCpu: 500m")})
    md = cli("lint", str(r.root), "--format", "markdown")
    assert md.code == 1 and md.err == ""
    lines = md.out.splitlines()
    assert lines[0] == "### :x: meshrender lint"
    assert "**1 error, 1 warning, 0 info** (0 suppressed) in 1 workload and 2 files: fails at " \
           "`--fail-on error`" in md.out
    assert "1 fixable with `meshrender lint --fix`" in md.out
    assert "| `invalid-mesh-annotation` | :x: error | 1 |" in lines
    rows = [x for x in lines if x.startswith("| :")]
    assert len(rows) == 2 and all(len(_cells(x)) == 5 for x in rows)  # no pipe broke a row
    hostile = next(x for x in rows if "invalid-mesh-annotation" in x)
    for raw in (" <img", "@octocat", " #12", " *c*", " [x](y)"):
        assert raw not in hostile
    assert "&#64;octocat" in hostile and "\\<img" in hostile and "\\*c\\*" in hostile


def test_markdown_for_a_clean_run_says_it_passes(lint, cli):
    r = lint({"profile.yaml": profile(), "app.yaml": deployment()})
    md = cli("lint", str(r.root), "--format", "markdown")
    assert md.code == 0
    assert md.out.startswith("### :white_check_mark: meshrender lint\n\n**0 errors, 0 warnings, 0 info**")


def test_markdown_fits_a_github_comment_and_says_what_it_left_out(lint, cli):
    anns = "\n".join(f"        sidecar.istio.io/unknown-{i:03d}-{'x' * 150}: v" for i in range(500))
    r = lint({"app.yaml": deployment(annotations=anns)})
    total = len(r.of("unknown-mesh-annotation"))
    assert total == 500
    md = cli("lint", str(r.root), "--format", "markdown")
    assert len(md.out) < 65536
    shown = sum(1 for x in md.out.splitlines() if x.startswith("| :warning:"))
    notice = re.search(r"_(\d+) more findings not shown: this comment stays under GitHub's 65,536-character", md.out)
    assert notice and shown + int(notice.group(1)) == total and shown > 100


def _junit(cli, root, *flags):
    r = cli("lint", str(root), "--format", "junit", *flags)
    assert r.err == ""
    assert r.out.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    return r, ET.fromstring(r.out)


def test_junit_has_the_structure_and_counts_ci_tools_read(lint, cli):
    anns = '        sidecar.istio.io/proxyCpu: 500m\n        meshrender.dev/ignore: proxy-uid-conflict'
    body = """      securityContext: {runAsUser: 1337}
      containers:
        - name: app
          image: registry.example.com/app:1.0"""
    r = lint({"profile.yaml": profile(), "a.yaml": deployment("a", annotations=anns, spec=body),
              "b.yaml": deployment("b", annotations='        sidecar.istio.io/logLevel: loud')})
    out, root = _junit(cli, r.root)
    assert out.code == 1
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    listed = json.loads(cli("lint", "--list-rules", "--format", "json").out)
    assert [s.get("name") for s in suites] == [x["id"] for x in listed]  # a testsuite per rule
    for key in ("tests", "failures", "errors", "skipped"):
        assert int(root.get(key)) == sum(int(s.get(key)) for s in suites)
    for s in suites:
        assert [c.tag for c in s][:1] == ["properties"]  # the order the JUnit schema requires
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases) >= 2  # a testcase per workload
        assert int(s.get("failures")) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(s.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None)
        for c in cases:
            assert c.get("name") and c.get("classname") == f"meshrender.{s.get('name')}" and c.get("time")
    invalid = root.find("testsuite[@name='invalid-mesh-annotation']/testcase[@name='Deployment shop/b']")
    failure = invalid.find("failure")
    assert failure.get("type") == "error" and "'loud' is not one of" in failure.get("message")
    assert re.match(rf"{re.escape(str(r.root / 'b.yaml'))}:\d+:\d+: error invalid-mesh-annotation: ", failure.text)
    assert invalid.get("file") == str(r.root / "b.yaml") and int(invalid.get("line")) > 0
    # a warning below --fail-on: passes, with the finding in system-out
    unknown = root.find("testsuite[@name='unknown-mesh-annotation']/testcase[@name='Deployment shop/a']")
    assert unknown.find("failure") is None and "proxyCpu" in unknown.find("system-out").text
    # suppressed: skipped, saying by what
    uid = root.find("testsuite[@name='proxy-uid-conflict']/testcase[@name='Deployment shop/a']")
    assert "meshrender.dev/ignore" in uid.find("skipped").get("message")
    _, strict = _junit(cli, r.root, "--fail-on", "warning")
    assert strict.find("testsuite[@name='unknown-mesh-annotation']/testcase[@name='Deployment shop/a']/failure") \
        is not None


def test_junit_names_settings_findings_by_their_file(lint, cli):
    settings = """apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: g}
spec:
  nativeSidecar: "yes"
"""
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings, "app.yaml": deployment()})
    _, root = _junit(cli, r.root)
    names = [c.get("name") for c in root.findall("testsuite[@name='invalid-mesh-annotation']/testcase")]
    assert f"{r.root / 'mesh.yaml'}:5" in names
