"""SARIF 2.1.0, for code-scanning dashboards: rule metadata, real regions, suppressions.

Suppressed findings are kept as results with an `inSource` suppression (the SARIF way:
viewers hide them but can show why); the summary sits in the run's property bag.
"""

from __future__ import annotations

import json
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import quote

from meshrender import __version__
from meshrender.lint.engine import Report
from meshrender.lint.finding import Finding, Severity
from meshrender.lint.formats import full_message

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def artifact_uri(path: str) -> str:
    """A file path as a SARIF artifact URI: relative paths stay relative (repository root)."""
    posix = PureWindowsPath(path).as_posix() if "\\" in path else path
    if PurePosixPath(posix).is_absolute():
        return "file://" + quote(posix)
    return quote(posix)


def _result(f: Finding, index: dict[str, int]) -> dict:
    result = {
        "ruleId": f.rule,
        "ruleIndex": index[f.rule],
        "level": LEVEL[f.severity],
        "message": {"text": full_message(f.workload, f.message)},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": artifact_uri(f.location.path)},
                "region": {"startLine": f.location.line, "startColumn": f.location.column},
            },
        }],
    }
    if f.workload:
        result["properties"] = {"workload": f.workload}
    if f.suppressed_by:
        result["suppressions"] = [{"kind": "inSource", "justification": f.suppressed_by}]
    return result


def render(report: Report, fail_on: Severity) -> str:
    rules = list(report.rules)
    index = {r.id: i for i, r in enumerate(rules)}
    results = sorted([*report.findings, *report.suppressed], key=Finding.sort_key)
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "meshrender",
                "version": __version__,
                "rules": [{
                    "id": r.id,
                    "name": r.id,
                    "shortDescription": {"text": r.title},
                    "fullDescription": {"text": r.rationale},
                    "help": {"text": r.fix},
                    "defaultConfiguration": {"level": LEVEL[r.severity]},
                    "properties": {"family": r.family},
                } for r in rules],
            }},
            "columnKind": "unicodeCodePoints",
            "results": [_result(f, index) for f in results],
            "invocations": [{"executionSuccessful": True}],
            "properties": {"summary": report.summary(), "failOn": fail_on.label,
                           "failed": report.failed(fail_on)},
        }],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
