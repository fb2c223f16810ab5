"""`FILE:LINE:COL: SEVERITY RULE: MESSAGE`, one finding a line: what compilers print.

File names, workload names and messages are escaped (meshrender.safetext): they come from
the inputs, and a line break or escape sequence in them must not start a line of its own
(a forged finding, or a GitHub Actions workflow command) or drive the terminal.
"""

from __future__ import annotations

from meshrender.lint.engine import Report
from meshrender.lint.finding import Severity
from meshrender.lint.formats import full_message
from meshrender.safetext import line_text


def render(report: Report, fail_on: Severity) -> str:
    return "".join(
        f"{f.location}: {f.severity.label} {f.rule}: {line_text(full_message(f.workload, f.message))}\n"
        for f in report.findings
    )
