"""`meshrender lint` through the driver: every file's workloads checked where they are evaluated.

The run is tolerant (render/run/driver.py): a settings document that does not validate,
a same-scope conflict or a workload the injector refuses is kept as a problem, reported
by a rule, and everything else is still checked; only unreadable input and bad usage end
it with exit status 2. Evaluations keep the pod as written (`keep_original`), since
rules read both it and the injected one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from meshrender.config import Config
from meshrender.inputs.sources import SourceFile
from meshrender.lint.engine import FileLint, Gatherer, Report, check_file
from meshrender.lint.finding import Severity
from meshrender.lint.model import LintModel, WorkloadView
from meshrender.lint.rules import Rule, all_rules
from meshrender.run.driver import Evaluated, Run, drive
from meshrender.settings.options import Options


def configured(rules: tuple[Rule, ...], config: Config) -> tuple[Rule, ...]:
    """The rules as the repository configuration wants them: without those turned off,
    with the severity it gives the others."""
    out = []
    for rule in rules:
        setting = config.rules.get(rule.id)
        if setting == "off":
            continue
        out.append(replace(rule, severity=Severity.parse(setting)) if setting else rule)
    return tuple(out)


class Linter:
    """The lint handler: rules run in the worker, findings gathered in input order."""

    def __init__(self, rules: tuple[Rule, ...]):
        self.rules = rules
        self.model: LintModel | None = None
        self.gatherer: Gatherer | None = None
        # A file's findings depend on the rules and their severities too (run/cache.py).
        self.cache_kind = "lint\0" + "\0".join(f"{r.id}={r.severity}" for r in rules)

    def payload(self, result: FileLint) -> FileLint:
        return result

    def revive(self, run: Run, file: SourceFile, payload: FileLint) -> FileLint:
        return payload

    def start(self, run: Run) -> None:
        self.model = LintModel.of(run)
        self.gatherer = Gatherer(self.model, self.rules, run.files, run.context.options.config)

    def file(self, run: Run, evaluated: Evaluated) -> FileLint:
        assert self.model is not None
        views = [WorkloadView(self.model, e) for e in evaluated.evaluations]
        result = check_file(self.model, views, self.rules)
        result.problems = evaluated.problems + evaluated.notes
        result.documents = evaluated.documents
        return result

    def collect(self, run: Run, index: int, file: SourceFile, result: FileLint) -> None:
        assert self.gatherer is not None
        self.gatherer.add(result)


def lint_paths(paths: list[str], options: Options, rules: tuple[Rule, ...] | None = None,
               warn: Callable[[str], None] | None = None, workers: int | None = None) -> Report:
    """Lint the files of `paths`."""
    # found before the workers fork
    linter = Linter(configured(all_rules() if rules is None else rules, options.config))
    run = drive(paths, options, linter, strict=False, keep_original=True, warn=warn, workers=workers)
    assert linter.gatherer is not None and linter.model is not None
    linter.model.unused_settings = run.unused_settings() if run.resolver is not None else []
    linter.model.duplicates = run.duplicates
    report = linter.gatherer.finish()
    report.not_manifests = len(run.skipped)
    report.files -= len(run.skipped)
    return report
