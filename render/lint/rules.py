"""Rules and how they are found: every module of `policies/` is a rule family.

A rule is a check function wrapped by `workload_rule` (called once per workload, with a
`WorkloadView`) or `run_rule` (called once per lint run, with the `LintModel`), carrying
its id, severity, rationale and fix hint. Lint checks each file where it is read (in a
worker process, holding one file at a time), so a run rule names what it looks at per
workload separately: `each(view)` yields that workload's hits, `count(view)` yields
(key, detail) pairs that the run check sees totalled over every workload in
`model.tallies[rule id]`; the run check itself sees only what the whole run shares
(settings, namespaces, problems found while loading). Adding a rule is adding a module to
`policies/` (with its data files beside it, read through `catalog`); nothing else needs
to know about it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from meshrender import bundled
from meshrender.lint.finding import Hit, Severity

POLICIES = "meshrender.policies"
Check = Callable[[Any], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    rationale: str
    fix: str
    check: Check
    scope: str  # "workload" or "run"
    family: str
    each: Check | None = None  # run rules: the hits of one workload
    count: Callable[[Any], Iterable[tuple[Any, Any]]] | None = None  # (key, detail) per workload
    autofix: str | None = None  # what `lint --fix` changes for this rule's findings, if it can

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity.label, "family": self.family, "title": self.title,
                "rationale": self.rationale, "fix": self.fix, "autofix": self.autofix}


def _rule(scope: str, id: str, severity: str, title: str, rationale: str, fix: str,
          **parts: Any) -> Callable[[Check], Rule]:
    def wrap(fn: Check) -> Rule:
        family = fn.__module__.rpartition(".")[2]
        if parts.get("autofix"):
            parts["autofix"] = " ".join(parts["autofix"].split())
        return Rule(id, Severity.parse(severity), title, " ".join(rationale.split()), " ".join(fix.split()),
                    fn, scope, family, **parts)

    return wrap


def workload_rule(id: str, severity: str, *, title: str, rationale: str, fix: str,
                  count: Callable[[Any], Iterable[tuple[Any, Any]]] | None = None,
                  autofix: str | None = None) -> Callable[[Check], Rule]:
    """Declare a rule checked once per workload: `check(view: WorkloadView) -> Iterable[Hit]`.
    `autofix` says what `lint --fix` does with its findings (their hits carry a Fix);
    `count(view)`, as for run rules, totals what the fixes' `needs_all` keys refer to."""
    return _rule("workload", id, severity, title, rationale, fix, count=count, autofix=autofix)


def run_rule(id: str, severity: str, *, title: str, rationale: str, fix: str, each: Check | None = None,
             count: Callable[[Any], Iterable[tuple[Any, Any]]] | None = None,
             autofix: str | None = None) -> Callable[[Check], Rule]:
    """Declare a rule checked once per run: `check(model: LintModel) -> Iterable[Hit]`, plus
    `each(view) -> Iterable[Hit]` for what it finds in one workload, and `count(view)` for
    what it totals over workloads (details must pickle: they cross from the worker)."""
    return _rule("run", id, severity, title, rationale, fix, each=each, count=count, autofix=autofix)


@cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule of every module in policies/, sorted by id; ids must be unique."""
    package = importlib.import_module(POLICIES)
    found: dict[str, Rule] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{POLICIES}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Rule) and value.family == info.name:
                if value.id in found and found[value.id] is not value:
                    raise RuntimeError(f"lint rule id {value.id!r} is declared twice "
                                       f"({found[value.id].family} and {value.family})")
                found[value.id] = value
    return tuple(sorted(found.values(), key=lambda r: r.id))


@cache
def rule_ids() -> frozenset[str]:
    return frozenset(r.id for r in all_rules())


def catalog(name: str) -> Any:
    """A data file of policies/ (YAML or JSON), parsed once: known webhooks, known annotations, ..."""
    return bundled.load(name, POLICIES)


catalog.cache_clear = bundled.load.cache_clear  # type: ignore[attr-defined]
