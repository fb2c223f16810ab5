"""A pull-request comment: the summary, a table per rule, then the findings, fitted to
GitHub's comment limit (render/markdown.py escapes and budgets).

Everything that decides pass or fail comes from the report (each finding's severity, the
--fail-on threshold), never from a rule's default severity, so that severities set in a
repository's configuration are what the comment shows.
"""

from __future__ import annotations

from collections import Counter

from meshrender import markdown as md
from meshrender.lint.engine import Report
from meshrender.lint.finding import Finding, Severity

ICON = {Severity.ERROR: ":x:", Severity.WARNING: ":warning:", Severity.INFO: ":information_source:"}
TITLE = "meshrender lint"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 and word != 'info' else ''}"


def summary(report: Report, fail_on: Severity) -> str:
    counts = report.counts()
    parts = ", ".join(_plural(n, label) for label, n in counts.items())
    verdict = "fails" if report.failed(fail_on) else "passes"
    fixable = sum(1 for f in report.findings if f.fix is not None)
    extra = f"; {fixable} fixable with `meshrender lint --fix`" if fixable else ""
    return (f"**{parts}** ({len(report.suppressed)} suppressed) in {_plural(report.workloads, 'workload')} and "
            f"{_plural(report.files, 'file')}: {verdict} at `--fail-on {fail_on.label}`{extra}.")


def _row(f: Finding) -> str:
    loc = f.location
    return (f"| {ICON[f.severity]} {f.severity.label} | {md.code(f'{loc.path}:{loc.line}:{loc.column}')} | "
            f"{md.code(f.rule)} | {md.cell(f.workload or '')} | {md.cell(f.message)} |")


def render(report: Report, fail_on: Severity) -> str:
    out = md.Budget()
    icon = ":x:" if report.failed(fail_on) else ":white_check_mark:"
    out.force(f"### {icon} {TITLE}")
    out.force("")
    out.force(summary(report, fail_on))
    if not report.findings:
        return out.render()
    by_rule = Counter(f.rule for f in report.findings)
    worst = {}
    for f in report.findings:
        worst[f.rule] = max(worst.get(f.rule, f.severity), f.severity)
    out.force("")
    out.force("| Rule | Severity | Findings |")
    out.force("| --- | --- | ---: |")
    for rule, n in sorted(by_rule.items(), key=lambda kv: (-worst[kv[0]], -kv[1], kv[0])):
        out.force(f"| {md.code(rule)} | {ICON[worst[rule]]} {worst[rule].label} | {n} |")
    out.force("")
    out.force("| Severity | Where | Rule | Workload | Message |")
    out.force("| --- | --- | --- | --- | --- |")
    ordered = sorted(report.findings, key=lambda f: (-f.severity, f.sort_key()))  # errors first
    shown = 0
    notice = 200  # room kept for the line that says how many were left out
    for f in ordered:
        if not out.add(_row(f), reserve=notice):
            break
        shown += 1
    if shown < len(ordered):
        left = len(ordered) - shown
        out.force("")
        out.force(f"_{left} more finding{'s' if left != 1 else ''} not shown: this comment stays under GitHub's "
                  f"{md.GITHUB_COMMENT_LIMIT:,}-character limit. Run `meshrender lint` (or `--format sarif`) "
                  "for all of them._")
    return out.render()
