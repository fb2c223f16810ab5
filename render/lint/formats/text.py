"""`FILE:LINE:COL: SEVERITY RULE: MESSAGE`, one finding a line: what compilers print."""

from __future__ import annotations

from meshrender.lint.engine import Report
from meshrender.lint.finding import Severity
from meshrender.lint.formats import full_message


def render(report: Report, fail_on: Severity) -> str:
    return "".join(
        f"{f.location}: {f.severity.label} {f.rule}: {full_message(f.workload, f.message)}\n"
        for f in report.findings
    )
