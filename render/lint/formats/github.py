"""GitHub Actions workflow commands: each finding becomes an annotation on the pull request.

`::error file=F,line=L,col=C,title=RULE::MESSAGE`; info findings become notices. Values
are escaped as the runner expects (`%`, CR and LF everywhere; `:` and `,` in properties).
"""

from __future__ import annotations

from meshrender.lint.engine import Report
from meshrender.lint.finding import Severity
from meshrender.lint.formats import full_message
from meshrender.safetext import line_text

COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _data(s: str) -> str:
    # The runner's own escapes, then every other control character (an escape sequence in
    # a name) shown escaped, as in every text format (meshrender.safetext).
    return line_text(s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def render(report: Report, fail_on: Severity) -> str:
    lines = []
    for f in report.findings:
        loc = f.location
        lines.append(
            f"::{COMMAND[f.severity]} file={_prop(loc.path)},line={loc.line},col={loc.column},"
            f"title={_prop(f.rule)}::{_data(full_message(f.workload, f.message))}\n")
    return "".join(lines)
