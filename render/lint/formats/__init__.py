"""Output formats of `meshrender lint`: each module has `render(report, fail_on) -> str`.

`STDERR_SUMMARY` formats print the summary on stderr (their stdout is a stream of
findings); the document formats (json, sarif) carry it inside the document.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from meshrender.lint.engine import Report
from meshrender.lint.finding import Severity

STDERR_SUMMARY = frozenset({"text", "github"})


def renderer(name: str) -> Callable[[Report, Severity], str]:
    module = importlib.import_module(f"meshrender.lint.formats.{name}")
    return module.render


def summary_line(report: Report) -> str:
    """`meshrender lint: 1 error, 2 warnings, 0 info; 3 suppressed (5 workloads in 4 files)`."""
    counts = report.counts()
    parts = [f"{n} {label}{'s' if n != 1 and label != 'info' else ''}" for label, n in counts.items()]
    where = f"{report.workloads} workload{'s' if report.workloads != 1 else ''} in " \
            f"{report.files} file{'s' if report.files != 1 else ''}"
    if report.not_manifests:
        where += f"; {report.not_manifests} without manifests skipped"
    return f"meshrender lint: {', '.join(parts)}; {len(report.suppressed)} suppressed ({where})"


def full_message(workload: str | None, message: str) -> str:
    """The message with the workload it affects, for formats that have no field for it."""
    return f"{workload}: {message}" if workload else message
