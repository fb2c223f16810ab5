"""Runs the rules over a loaded model and turns their hits into sorted, suppressed findings."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from render.errors import Location
from render.lint.finding import Anchor, Finding, Hit, Severity
from render.lint.model import LintModel, WorkloadView
from render.lint.rules import Rule, all_rules
from render.lint.suppress import suppressed_by

NOWHERE = Location("<command line>", 1, 1)


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)  # reported, sorted
    suppressed: list[Finding] = field(default_factory=list)  # silenced by meshrender.dev/ignore
    workloads: int = 0
    files: int = 0
    rules: tuple[Rule, ...] = ()

    def counts(self) -> dict[str, int]:
        c = Counter(f.severity.label for f in self.findings)
        return {s.label: c.get(s.label, 0) for s in sorted(Severity, reverse=True)}

    def summary(self) -> dict[str, int]:
        return {**self.counts(), "suppressed": len(self.suppressed), "workloads": self.workloads,
                "files": self.files}

    def failed(self, threshold: Severity) -> bool:
        return any(f.severity >= threshold for f in self.findings)


class _Locator:
    """Resolves anchors to locations, each (document, path) once."""

    def __init__(self) -> None:
        self._memo: dict[tuple, Location | None] = {}

    def __call__(self, anchor: Anchor, fallback: Anchor | None) -> Location:
        for a in (anchor, fallback):
            if a is None:
                continue
            key = (id(a.doc), a.path, a.needle, a.location)
            if key not in self._memo:
                self._memo[key] = a.resolve()
            if self._memo[key] is not None:
                return self._memo[key]  # type: ignore[return-value]
        return NOWHERE


def run(model: LintModel, rules: tuple[Rule, ...] | None = None) -> Report:
    rules = all_rules() if rules is None else rules
    hits: list[tuple[Rule, Hit, WorkloadView | None]] = []
    per_workload = [r for r in rules if r.scope == "workload"]
    for view in model.workloads:
        for rule in per_workload:
            hits.extend((rule, h, view) for h in rule.check(view))
    # Run rules last: they also report what rendering for the workload rules turned up.
    for rule in rules:
        if rule.scope == "run":
            hits.extend((rule, h, None) for h in rule.check(model))

    report = Report(workloads=len(model.workloads), files=len(model.files), rules=rules)
    locate = _Locator()
    seen: set[tuple] = set()
    for rule, hit, view in hits:
        subject = hit.subject or (view.subject if view is not None else None)
        location = locate(hit.anchor, view.at_meta() if view is not None else None)
        workload = subject.name if subject is not None else None
        key = (rule.id, location, workload, hit.message)  # one finding per place, workload and problem
        if key in seen:
            continue
        seen.add(key)
        by = suppressed_by(subject.ignores, rule.id) if subject is not None else None
        message = " ".join(hit.message.split())  # one line: FILE:LINE:COL parsers read line by line
        finding = Finding(rule.id, rule.severity, message, location, workload, by)
        (report.suppressed if by else report.findings).append(finding)
    report.findings.sort(key=Finding.sort_key)
    report.suppressed.sort(key=Finding.sort_key)
    return report
