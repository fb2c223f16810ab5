"""Runs the rules over a loaded model and turns their hits into sorted, suppressed findings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from meshrender.errors import Location
from meshrender.lint.finding import Anchor, Finding, Hit, Severity
from meshrender.lint.model import LintModel, Problem, WorkloadView
from meshrender.lint.rules import Rule, all_rules
from meshrender.lint.suppress import suppressed_by

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


# One finding as a file's check reports it, small enough to cross from a worker process:
# (rule id, message as the rule wrote it, location, workload, the ignore that silences it).
Found = tuple[str, str, Location, str | None, str | None]


@dataclass
class FileLint:
    """What checking one file's workloads found: located findings, and what run rules total."""

    found: list[Found] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # documents that are no workload
    workloads: int = 0
    documents: int = 0
    tallies: dict[str, dict[Any, list]] = field(default_factory=dict)  # rule id -> key -> [detail, n]


def _view_hits(view: WorkloadView, rules: tuple[Rule, ...]) -> Iterator[tuple[Rule, Hit, WorkloadView | None]]:
    """A workload's hits: its own rules', then the per-workload part of run rules (which,
    as before they were checked per file, fall back on no subject and no location)."""
    for rule in rules:
        if rule.scope == "workload":
            for h in rule.check(view):
                yield rule, h, view
    for rule in rules:
        if rule.each is not None:
            for h in rule.each(view):
                yield rule, h, None


def _found(rule: Rule, hit: Hit, view: WorkloadView | None, locate: _Locator) -> Found:
    subject = hit.subject or (view.subject if view is not None else None)
    location = locate(hit.anchor, view.at_meta() if view is not None else None)
    workload = subject.name if subject is not None else None
    by = suppressed_by(subject.ignores, rule.id) if subject is not None else None
    return rule.id, hit.message, location, workload, by


def check_file(model: LintModel, views: list[WorkloadView], rules: tuple[Rule, ...]) -> FileLint:
    """Check workloads (one file's, or all of them) and locate what they hit while their
    documents are at hand: the result holds no document."""
    out = FileLint(workloads=len(views))
    locate = _Locator()  # per call: ids of the documents of a file are reused after it
    out.found = [_found(rule, hit, v, locate) for view in views for rule, hit, v in _view_hits(view, rules)]
    for rule in rules:
        if rule.count is None:
            continue
        tally = out.tallies.setdefault(rule.id, {})
        for view in views:
            for key, detail in rule.count(view):
                entry = tally.get(key)
                if entry is None:
                    tally[key] = [detail, 1]
                else:
                    entry[1] += 1
    return out


def finish(model: LintModel, checked: Iterable[FileLint], rules: tuple[Rule, ...], files: int) -> Report:
    """Findings of every file (in input order) and of the run rules, deduplicated, suppressed, sorted.

    `checked` may be a stream: each file's result is merged as it arrives and not kept.
    """
    report = Report(files=files, rules=rules)
    by_id = {r.id: r for r in rules}
    seen: set[tuple] = set()
    # Findings are what the report keeps for every workload: the same file names, workload
    # names, messages and places (a settings line many workloads share) arrive from the
    # workers as separate copies, and are kept once.
    shared: dict[Any, Any] = {}

    def add(found: Found) -> None:
        rule_id, raw, location, workload, by = found
        key = (rule_id, location, workload, raw)  # one finding per place, workload and problem
        if key in seen:
            return
        location = shared.setdefault(location, location)
        if location.path is not shared.setdefault(location.path, location.path):
            location = shared[location] = Location(shared[location.path], location.line, location.column)
        workload = shared.setdefault(workload, workload)
        raw = shared.setdefault(raw, raw)  # many workloads get the same message
        seen.add((rule_id, location, workload, raw))
        message = " ".join(raw.split())  # one line: FILE:LINE:COL parsers read line by line
        message = raw if message == raw else message
        finding = Finding(rule_id, by_id[rule_id].severity, message, location, workload, by)
        (report.suppressed if by else report.findings).append(finding)

    for result in checked:
        report.workloads += result.workloads
        model.problems += result.problems
        for rule_id, tally in result.tallies.items():
            total = model.tallies.setdefault(rule_id, {})
            for key, (detail, n) in tally.items():
                total.setdefault(key, [detail, 0])[1] += n
        for found in result.found:
            add(found)
    # Run rules last: they also report what loading and rendering the workloads turned up.
    locate = _Locator()
    for rule in rules:
        if rule.scope == "run":
            for hit in rule.check(model):
                add(_found(rule, hit, None, locate))
    report.findings.sort(key=Finding.sort_key)
    report.suppressed.sort(key=Finding.sort_key)
    return report


def run(model: LintModel, rules: tuple[Rule, ...] | None = None) -> Report:
    """Lint a model loaded in one process (model.load): every workload at once."""
    rules = all_rules() if rules is None else rules
    return finish(model, [check_file(model, model.workloads, rules)], rules, len(model.files))
