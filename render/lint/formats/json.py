"""One JSON document: findings, suppressed findings, the summary, and each workload's
evaluation (injected or why not, native or traditional and why), as render sees it."""

from __future__ import annotations

import json

from meshrender import __version__
from meshrender.lint.engine import Report
from meshrender.lint.finding import Severity


def render(report: Report, fail_on: Severity) -> str:
    doc = {
        "tool": {"name": "meshrender", "version": __version__},
        "findings": [f.to_dict() for f in report.findings],
        "suppressed": [{**f.to_dict(), "suppressedBy": f.suppressed_by} for f in report.suppressed],
        "summary": report.summary(),
        "workloads": [w.to_dict() for w in report.evaluated],
        "failOn": fail_on.label,
        "failed": report.failed(fail_on),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
