"""`meshrender lint` over PATHs in worker processes, one file at a time.

Lint used to load every file and keep every workload (and its rendered pod) until the
report was written: memory grew with the repository (800 MB at 10,000 workloads) and
one core did all the work. Here, as for render (render/run/pipeline.py, render/run/parallel.py):

1. every file is read and only the documents that may be settings are parsed (a cheap
   pre-pass), so the settings, namespaces and webhook configurations every rule needs
   are known, and the Resolver is built, before any workload is looked at;
2. each file is read again, in whichever worker process takes it, its workloads checked
   against that shared model, and each finding located (file:line:col) while the file's
   text is at hand; only the small located findings, the problems met while reading
   workloads and the counts run rules total come back, in input order;
3. the run rules (what looks across files) are checked last, in this process, and the
   report is deduplicated, suppressed and sorted exactly as from a model loaded at once
   (render/lint/model.py `load`, kept as the reference the tests compare with).

Bad input ends the run as before: the first error in input order, as if every file had
been read first (reading and parsing errors before flag errors before anything else).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from meshrender import yamlio
from meshrender.errors import MeshrenderError
from meshrender.inputs import sources
from meshrender.lint import engine
from meshrender.lint.engine import FileLint, Report
from meshrender.lint.model import prepare, views_of
from meshrender.lint.rules import Rule, all_rules
from meshrender.run import parallel
from meshrender.run.pipeline import Inputs, first_load_error, workers_for
from meshrender.settings.collect import may_be_settings
from meshrender.settings.resolve import Options
from meshrender.yamlio import Document


def _raise(failure: parallel.Failure) -> None:
    raise failure.error


def lint_paths(paths: list[str], options: Options, rules: tuple[Rule, ...] | None = None,
               warn: Callable[[str], None] | None = None) -> Report:
    """Lint the files of `paths`; the report is the one engine.run(model.load(...)) gives."""
    rules = all_rules() if rules is None else rules  # found before the workers fork
    inputs = Inputs(paths, warn)
    n = len(inputs)
    jobs = workers_for(n)

    # 1. The documents that may be settings, from every file, in input order.
    def scan(i: int) -> tuple[int, list[Document], int]:
        display, _, path = inputs.found[i]
        text = inputs.text(i)
        docs, count = yamlio.parse_some(text, display, may_be_settings)
        if not count and path is None:  # empty stdin: where reading every file first stops
            sources.check_counts([inputs.found[i]], [0], paths, warn)
        sources.check_objects(docs)
        return len(text), docs, count

    settings_docs: list[Document] = []
    total_bytes = documents = 0
    for i, r in parallel.ordered_map(scan, n, jobs):
        if isinstance(r, parallel.Failure):  # a parse error earlier in the same file comes first
            _raise(first_load_error(inputs, list(range(i + 1)), jobs) or r)
        total_bytes += r[0]
        settings_docs += r[1]
        documents += r[2]
    if not documents:  # nothing at all (the count may only be too high: `~` documents)
        sources.check_counts(inputs.found, [0] * n, paths, warn)
    try:
        model = prepare(settings_docs, options, {display for display, _, _ in inputs.found})
    except MeshrenderError as e:
        _raise(first_load_error(inputs, list(range(n)), jobs) or parallel.Failure(-1, e))
    del settings_docs
    yamlio.expect(total_bytes)  # load the fast YAML reader once, before the workers fork

    # 2. Every file's workloads, checked where the file is read.
    def check(i: int) -> FileLint:
        f = inputs.load(i)
        views, problems = views_of(model, f)
        result = engine.check_file(model, views, rules)
        result.problems = problems
        result.documents = len(f.docs)
        return result

    counts: list[int] = []

    def checked() -> Iterator[FileLint]:
        jobs = workers_for(n, total_bytes)
        for i, r in parallel.ordered_map(check, n, jobs):
            if isinstance(r, parallel.Failure):  # a file not read yet may hold an earlier kind of error
                _raise(first_load_error(inputs, list(range(i, n)), jobs) or r)
            counts.append(r.documents)
            yield r

    # 3. Run rules, dedup, suppression, order; warnings about empty files once all are read.
    after = lambda: sources.check_counts(inputs.found, counts, paths, warn)  # noqa: E731
    return engine.finish(model, _then(checked(), after), rules, n)


def _then(items: Iterator[FileLint], after: Callable[[], None]) -> Iterator[FileLint]:
    """`items`, then `after()` before the caller goes on (the empty-input checks run once
    every file has been read, before the run rules, as when all files are read first)."""
    yield from items
    after()

