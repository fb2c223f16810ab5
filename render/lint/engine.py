"""Runs the rules over each file's workloads and turns their hits into sorted, suppressed findings.

Each file's workloads are checked in the worker that evaluated them, and their hits
located there, while the file's text is at hand (`check_file`); only the small located
findings and what run rules total come back. `Gatherer` merges them in input order,
then runs the run rules (what looks across files) and sorts the report.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from meshrender.config import NO_CONFIG, Config
from meshrender.errors import Location
from meshrender.evaluate.evaluation import WorkloadSummary
from meshrender.lint.finding import Edit, Finding, Fix, Hit, Severity
from meshrender.lint.model import LintModel, WorkloadView
from meshrender.lint.rules import Rule
from meshrender.lint.suppress import suppressed_by
from meshrender.run.driver import Problem
from meshrender.settings.provenance import Place

NOWHERE = Location("<command line>", 1, 1)


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)  # reported, sorted
    suppressed: list[Finding] = field(default_factory=list)  # silenced by meshrender.dev/ignore
    workloads: int = 0
    files: int = 0
    not_manifests: int = 0  # files skipped: no Kubernetes manifest in them
    rules: tuple[Rule, ...] = ()
    evaluated: list[WorkloadSummary] = field(default_factory=list)  # each workload, in input order
    # rule id -> key -> [detail, number of workloads]: what rules' `count` totalled (fixes'
    # `needs_all` conditions are read from it)
    tallies: dict[str, dict[Any, list]] = field(default_factory=dict)
    # fixes held back because they would change workloads that have no such finding, and why
    held: list[tuple[Finding, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        c = Counter(f.severity.label for f in self.findings)
        return {s.label: c.get(s.label, 0) for s in sorted(Severity, reverse=True)}

    def summary(self) -> dict[str, int]:
        return {**self.counts(), "suppressed": len(self.suppressed), "workloads": self.workloads,
                "files": self.files, "skippedFiles": self.not_manifests}

    def failed(self, threshold: Severity) -> bool:
        return any(f.severity >= threshold for f in self.findings)


class _Locator:
    """Resolves anchors to locations, each (document, path) once."""

    def __init__(self) -> None:
        self._memo: dict[tuple, Location | None] = {}

    def __call__(self, anchor: Place, fallback: Place | None) -> Location:
        for a in (anchor, fallback):
            if a is None:
                continue
            key = (id(a.doc), a.path, a.needle, a.inner, a.location)
            if key not in self._memo:
                self._memo[key] = a.resolve()
            if self._memo[key] is not None:
                return self._memo[key]  # type: ignore[return-value]
        return NOWHERE


# One finding as a file's check reports it, small enough to cross from a worker process:
# (rule id, message as the rule wrote it, location, workload, the ignore that silences it,
# the edit that fixes it).
Found = tuple[str, str, Location, str | None, str | None, Edit | None]


@lru_cache(maxsize=256)
def _digest(text: str) -> str:
    """A document's text, hashed once: shared settings documents are named by many fixes."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def edit_of(rule: Rule, fix: Fix | None) -> Edit | None:
    """A hit's Fix as an Edit that can leave the worker (None for stdin: nothing to write)."""
    doc = fix.doc if fix is not None else None
    if doc is None or doc.source == "-" or doc.source.startswith("<"):
        return None
    return Edit(fix.description, doc.source, doc.line, _digest(doc.text), fix.ops, rule.id, fix.needs_all)


@dataclass
class FileLint:
    """What checking one file's workloads found: located findings, and what run rules total."""

    found: list[Found] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # documents that are no workload
    workloads: int = 0
    documents: int = 0
    evaluated: list[WorkloadSummary] = field(default_factory=list)
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
    return rule.id, hit.message, location, workload, by, edit_of(rule, hit.fix)


def check_file(model: LintModel, views: list[WorkloadView], rules: tuple[Rule, ...]) -> FileLint:
    """Check workloads (one file's, or all of them) and locate what they hit while their
    documents are at hand: the result holds no document."""
    out = FileLint(workloads=len(views), evaluated=[v.e.summary() for v in views])
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


class Gatherer:
    """Findings of every file (in input order) and of the run rules, deduplicated,
    suppressed and sorted. Each file's result is merged as it arrives and not kept."""

    def __init__(self, model: LintModel, rules: tuple[Rule, ...], files: int, config: Config = NO_CONFIG):
        self.model = model
        self.config = config
        self.rules = rules
        self.report = Report(files=files, rules=rules)
        self.by_id = {r.id: r for r in rules}
        self.seen: set[tuple] = set()
        # Findings are what the report keeps for every workload: the same file names, workload
        # names, messages and places (a settings line many workloads share) arrive from the
        # workers as separate copies, and are kept once.
        self.shared: dict[Any, Any] = {}

    def _add(self, found: Found) -> None:
        rule_id, raw, location, workload, by, edit = found
        if by is None and self.config.ignores:
            by = self.config.ignored_by(rule_id, location.path, workload)
        key = (rule_id, location, workload, raw)  # one finding per place, workload and problem
        if key in self.seen:
            return
        shared = self.shared
        location = shared.setdefault(location, location)
        if location.path is not shared.setdefault(location.path, location.path):
            location = shared[location] = Location(shared[location.path], location.line, location.column)
        workload = shared.setdefault(workload, workload)
        raw = shared.setdefault(raw, raw)  # many workloads get the same message
        self.seen.add((rule_id, location, workload, raw))
        message = " ".join(raw.split())  # one line: FILE:LINE:COL parsers read line by line
        message = raw if message == raw else message
        finding = Finding(rule_id, self.by_id[rule_id].severity, message, location, workload, by, edit)
        (self.report.suppressed if by else self.report.findings).append(finding)

    def add(self, result: FileLint) -> None:
        self.report.workloads += result.workloads
        self.report.evaluated += result.evaluated
        self.model.problems += result.problems
        for rule_id, tally in result.tallies.items():
            total = self.model.tallies.setdefault(rule_id, {})
            for key, (detail, n) in tally.items():
                total.setdefault(key, [detail, 0])[1] += n
        for found in result.found:
            self._add(found)

    def finish(self) -> Report:
        """Run rules last: they also report what loading and rendering the workloads turned up."""
        locate = _Locator()
        for rule in self.rules:
            if rule.scope == "run":
                for hit in rule.check(self.model):
                    self._add(_found(rule, hit, None, locate))
        self.report.findings.sort(key=Finding.sort_key)
        self.report.suppressed.sort(key=Finding.sort_key)
        self.report.tallies = self.model.tallies
        self._hold_shared_fixes()
        return self.report

    def _hold_shared_fixes(self) -> None:
        """A fix with `needs_all` (a setting shared by several workloads) applies only if
        every workload its rule counted under that key has a finding proposing it; the
        findings of a fix that does not are reported without it, and the reason kept."""
        report = self.report
        wanting: Counter[tuple] = Counter()
        for f in [*report.findings, *report.suppressed]:
            if f.fix is not None and f.fix.needs_all is not None:
                wanting[(f.rule, f.fix)] += 1
        reasons: dict[tuple, str | None] = {}
        for key, have in wanting.items():
            rule, edit = key
            total = report.tallies.get(rule, {}).get(edit.needs_all, [None, 0])[1]
            n = total - have
            reasons[key] = None if n <= 0 else (
                f"{n} other workload{'s take' if n != 1 else ' takes'} it from there without this finding "
                "(it has an effect on them)")
        for findings in (report.findings, report.suppressed):
            for i, f in enumerate(findings):
                why = reasons.get((f.rule, f.fix)) if f.fix is not None else None
                if why is not None:
                    if not any(h.fix == f.fix for h, _ in report.held):
                        report.held.append((f, why))
                    findings[i] = dataclasses.replace(f, fix=None)
