"""`meshrender lint`: report mesh configurations that break or silently do nothing."""

from __future__ import annotations

import sys
from typing import Any

import click

from meshrender.cli import CONTEXT, common_options, handle_errors, input_paths, make_options

FORMATS = ("text", "json", "sarif", "github", "junit", "markdown")
SEVERITIES = ("error", "warning", "info")


@click.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text (FILE:LINE:COL: SEVERITY RULE: MESSAGE), json, sarif (SARIF 2.1.0), github "
                   "(workflow commands that annotate pull requests), junit (JUnit XML for GitLab and "
                   "Jenkins) or markdown (a pull-request comment).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="Exit 1 when a finding is at or above this severity [default: .meshrender.yaml's lint.failOn, "
                   "else error].")
@click.option("--list-rules", is_flag=True, help="Print every rule with its severity and rationale, and exit.")
@click.option("--fix", is_flag=True,
              help="Apply the mechanical fix of each fixable finding to its file (comments, key order, "
                   "quoting and indentation kept), then lint again and report what remains.")
@click.option("--diff", "show_diff", is_flag=True,
              help="With --fix: print the fixes as a unified diff and write nothing (exit 1 if there is one).")
@common_options
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
@handle_errors
def lint(paths: tuple[str, ...], fmt: str, fail_on: str, list_rules: bool, fix: bool, show_diff: bool,
         quiet: bool, **kw: Any) -> None:
    """Check workloads and sidecar settings in PATH (files, folders, or - for stdin).

    Findings point at the file, line and column to change: the settings file for a
    setting, the manifest for an annotation. Silence a rule for a workload, its pod
    template or its namespace with the annotation `meshrender.dev/ignore: RULE[,RULE]`.
    Exit status: 0 clean, 1 findings at or above --fail-on, 2 bad input.
    """
    from meshrender.errors import UsageError
    from meshrender.lint.finding import Severity
    from meshrender.lint.formats import STDERR_SUMMARY, renderer, summary_line
    from meshrender.lint.rules import all_rules
    from meshrender.lint.run import lint_paths

    if list_rules:
        if fmt not in ("text", "json"):
            raise UsageError("--list-rules prints text or json; use --format text or --format json")
        sys.stdout.write(_rules_listing(all_rules(), fmt))
        return
    if show_diff and not fix:
        raise UsageError("--diff shows what --fix would change; use --fix --diff")
    if show_diff and fmt != "text":
        raise UsageError("--fix --diff prints a patch, not a report; leave out --format")
    inputs = input_paths(paths)
    options = make_options(inputs, **kw)
    threshold = Severity.parse(fail_on or options.config.fail_on or "error")
    # Files are read and checked one at a time, in worker processes when there are many.
    report = lint_paths(inputs, options)
    if fix:
        changed = _fix(report, show_diff, quiet)
        if show_diff:
            sys.exit(1 if changed else 0)
        if changed:
            report = lint_paths(inputs, options)  # what remains, with the files as they are now
    sys.stdout.write(renderer(fmt)(report, threshold))
    sys.stdout.flush()
    if fmt in STDERR_SUMMARY and not quiet:
        click.echo(summary_line(report), err=True)
    sys.exit(1 if report.failed(threshold) else 0)


def _fix(report: Any, show_diff: bool, quiet: bool) -> bool:
    """Apply (or, with --diff, print) the fixes of `report`; True if a file changed.
    What was skipped, and why, goes to stderr whatever --quiet says: a fix left undone
    must not go unnoticed."""
    from meshrender.lint.fix import fix_files, same, write_atomic

    results = fix_files(report)
    applied = {same(e) for r in results for e in r.applied}
    fixed = [f for f in report.findings if f.fix is not None and same(f.fix) in applied]
    where: dict[tuple, Any] = {}
    for f in report.findings:
        if f.fix is not None:
            where.setdefault(same(f.fix), f.location)
    changed = [r for r in results if r.after is not None and r.after != r.before]
    for r in changed:
        if show_diff:
            sys.stdout.write(r.diff())
        else:
            write_atomic(r.path, r.after, r.bom)
    for r in results:
        if r.refused:
            click.echo(f"{r.path}: {r.refused}", err=True)
            continue
        for edit, why in r.skipped:
            click.echo(f"{where[same(edit)]}: {edit.rule}: not fixed ({edit.description}): {why}", err=True)
    for finding, why in report.held:
        edit = finding.fix
        click.echo(f"{finding.location}: {finding.rule}: not fixed ({edit.description}): {why}", err=True)
    if not quiet:
        verb = "would fix" if show_diff else "fixed"
        files = len(changed)
        click.echo(f"meshrender lint --fix: {verb} {len(fixed)} finding{'s' if len(fixed) != 1 else ''} in "
                   f"{files} file{'s' if files != 1 else ''}", err=True)
    return bool(changed)


def _rules_listing(rules: tuple, fmt: str) -> str:
    if fmt == "json":
        import json

        return json.dumps([r.to_dict() for r in rules], indent=2) + "\n"
    import textwrap

    width = max(len(r.id) for r in rules)
    out = []
    for r in rules:
        out.append(f"{r.id:<{width}}  {r.severity.label:<7}  {'fixable' if r.autofix else '       '}  {r.title}")
        out += textwrap.wrap(r.rationale, 96, initial_indent="    ", subsequent_indent="    ")
        out += textwrap.wrap("fix: " + r.fix, 96, initial_indent="    ", subsequent_indent="         ")
        if r.autofix:
            out += textwrap.wrap("--fix: " + r.autofix, 96, initial_indent="    ", subsequent_indent="           ")
        out.append("")
    return "\n".join(out)
