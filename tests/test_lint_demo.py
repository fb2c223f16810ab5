"""The example lint repo (fixtures/lint-demo) gives its checked-in findings, in every format.

Regenerate the expected files after a deliberate change with
`.venv/bin/python tests/test_lint_demo.py` (from the repository root), and review the diff.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = "fixtures/lint-demo"
EXPECTED = ROOT / "fixtures" / "lint-demo-expected"
OUTPUTS = {"text": "findings.txt", "json": "findings.json", "sarif": "findings.sarif", "github": "findings.github.txt",
           "markdown": "findings.md", "junit": "findings.junit.xml"}


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # findings name files as given on the command line


@pytest.mark.parametrize("fmt", sorted(OUTPUTS))
def test_demo_findings_match_expected(cli, at_root, fmt):
    r = cli("lint", DEMO, "--format", fmt)
    assert r.code == 1, r.err  # the demo has errors: exit 1 in every format
    want = (EXPECTED / OUTPUTS[fmt]).read_text(encoding="utf-8")
    assert r.out == want, f"lint output ({fmt}) differs from {OUTPUTS[fmt]}; see the module docstring"
    if fmt in ("text", "github"):
        assert r.err == (EXPECTED / "summary.txt").read_text(encoding="utf-8")
    else:
        assert r.err == ""


def test_demo_covers_every_rule_of_the_issue_and_each_format_agrees(cli, at_root):
    doc = json.loads((EXPECTED / "findings.json").read_text(encoding="utf-8"))
    rules = {f["rule"] for f in doc["findings"]}
    assert rules >= {
        "webhook-strips-native-sidecar", "hold-application-ignored-in-native", "drain-settings-ignored-in-native",
        "lifecycle-overrides-native-drain", "native-sidecar-available", "job-sidecar-never-exits",
        "init-container-without-mesh", "invalid-mesh-annotation", "unknown-mesh-annotation",
        "mesh-annotation-on-workload-metadata", "conflicting-traffic-settings",
        "proxy-resources-request-exceeds-limit", "reinjected-by-cluster-webhook", "proxy-uid-conflict",
        "namespace-multiple-injection-labels", "deprecated-mesh-annotation", "vpa-ignores-native-sidecar",
        "settings-apply-to-no-workload",
    }
    assert doc["summary"]["suppressed"] == 2
    text_lines = (EXPECTED / "findings.txt").read_text(encoding="utf-8").splitlines()
    assert len(text_lines) == len(doc["findings"])
    for line, f in zip(text_lines, doc["findings"], strict=True):
        assert line.startswith(f"{f['file']}:{f['line']}:{f['column']}: {f['severity']} {f['rule']}: ")
    sarif = json.loads((EXPECTED / "findings.sarif").read_text(encoding="utf-8"))
    regions = [(r["locations"][0]["physicalLocation"]["region"]["startLine"],
                r["locations"][0]["physicalLocation"]["region"]["startColumn"])
               for r in sarif["runs"][0]["results"] if "suppressions" not in r]
    assert regions == [(f["line"], f["column"]) for f in doc["findings"]]


def regenerate() -> None:
    from click.testing import CliRunner

    from meshrender.cli import main

    os.chdir(ROOT)
    for fmt, name in OUTPUTS.items():
        result = CliRunner().invoke(main, ["lint", DEMO, "--format", fmt], env={"KUBE_VERSION": None})
        (EXPECTED / name).write_text(result.stdout, encoding="utf-8")
        if fmt == "text":
            (EXPECTED / "summary.txt").write_text(result.stderr, encoding="utf-8")
        print(f"wrote {name} (exit {result.exit_code})", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    regenerate()
