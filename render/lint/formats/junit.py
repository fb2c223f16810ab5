"""JUnit XML, as GitLab (artifacts:reports:junit) and Jenkins (junit step) read it.

One testsuite per rule, one testcase per workload the run checked (and per settings
document a finding is about): a testcase fails with the rule's findings for that
workload at or above --fail-on (each `FILE:LINE:COL: SEVERITY RULE: MESSAGE` in the
failure's text, the first as its message), passes with the findings below it in
system-out, and is skipped when every finding is suppressed. The counts are those CI
tools show; `file` and `line` point at the first finding. Pass or fail follows each
finding's severity in the report (which a repository's configuration may override),
never a rule's default.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from meshrender import __version__
from meshrender.lint.engine import Report
from meshrender.lint.finding import Finding, Severity


def _subject(f: Finding) -> str:
    return f.workload or f"{f.location.path}:{f.location.line}"


def _line(f: Finding) -> str:
    return f"{f.location}: {f.severity.label} {f.rule}: {f.message}"


def render(report: Report, fail_on: Severity) -> str:
    findings: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    suppressed: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in report.findings:
        findings[(f.rule, _subject(f))].append(f)
    for f in report.suppressed:
        suppressed[(f.rule, _subject(f))].append(f)
    workloads = list(dict.fromkeys(w.display for w in report.evaluated))
    root = ET.Element("testsuites", name="meshrender lint")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for rule in report.rules:
        subjects = list(workloads)
        subjects += sorted({s for (r, s) in [*findings, *suppressed] if r == rule.id and s not in workloads})
        suite = ET.SubElement(root, "testsuite", name=rule.id)
        properties = ET.SubElement(suite, "properties")  # before the testcases, as the JUnit schema orders them
        ET.SubElement(properties, "property", name="default-severity", value=rule.severity.label)
        ET.SubElement(properties, "property", name="rationale", value=rule.rationale)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for subject in subjects:
            mine = findings.get((rule.id, subject), [])
            quiet = suppressed.get((rule.id, subject), [])
            case = ET.SubElement(suite, "testcase", name=subject, classname=f"meshrender.{rule.id}", time="0")
            counts["tests"] += 1
            first = (mine or quiet or [None])[0]
            if first is not None:
                case.set("file", first.location.path)
                case.set("line", str(first.location.line))
            failing = [f for f in mine if f.severity >= fail_on]
            if failing:
                failure = ET.SubElement(case, "failure", message=failing[0].message, type=failing[0].severity.label)
                failure.text = "\n".join(_line(f) for f in failing) + "\n"
                counts["failures"] += 1
            elif quiet and not mine:
                ET.SubElement(case, "skipped", message="; ".join(sorted({f.suppressed_by or "" for f in quiet})))
                counts["skipped"] += 1
            below = [f for f in mine if f.severity < fail_on]
            if below:
                ET.SubElement(case, "system-out").text = "\n".join(_line(f) for f in below) + "\n"
        for key, n in counts.items():
            suite.set(key, str(n))
            totals[key] += n
        suite.set("time", "0")
    for key, n in totals.items():
        root.set(key, str(n))
    root.set("time", "0")
    tree = ET.ElementTree(root)
    ET.indent(tree)
    head = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<!-- meshrender {__version__} lint; failing at {fail_on.label} -->\n")
    return head + ET.tostring(root, encoding="unicode") + "\n"
