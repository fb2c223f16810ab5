"""`meshrender lint`: report mesh configurations that break or silently do nothing."""

from __future__ import annotations

import sys
from typing import Any

import click

from meshrender.cli import CONTEXT, common_options, handle_errors, input_paths, make_options

FORMATS = ("text", "json", "sarif", "github")
SEVERITIES = ("error", "warning", "info")


@click.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text (FILE:LINE:COL: SEVERITY RULE: MESSAGE), json, sarif (SARIF 2.1.0) or "
                   "github (workflow commands that annotate pull requests).")
@click.option("--fail-on", type=click.Choice(SEVERITIES), default=None,
              help="Exit 1 when a finding is at or above this severity [default: .meshrender.yaml's lint.failOn, "
                   "else error].")
@click.option("--list-rules", is_flag=True, help="Print every rule with its severity and rationale, and exit.")
@common_options
@click.option("-q", "--quiet", is_flag=True, help="No summary on stderr.")
@handle_errors
def lint(paths: tuple[str, ...], fmt: str, fail_on: str, list_rules: bool, quiet: bool, **kw: Any) -> None:
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
    inputs = input_paths(paths)
    options = make_options(inputs, **kw)
    threshold = Severity.parse(fail_on or options.config.fail_on or "error")
    # Files are read and checked one at a time, in worker processes when there are many.
    report = lint_paths(inputs, options)
    sys.stdout.write(renderer(fmt)(report, threshold))
    sys.stdout.flush()
    if fmt in STDERR_SUMMARY and not quiet:
        click.echo(summary_line(report), err=True)
    sys.exit(1 if report.failed(threshold) else 0)


def _rules_listing(rules: tuple, fmt: str) -> str:
    if fmt == "json":
        import json

        return json.dumps([r.to_dict() for r in rules], indent=2) + "\n"
    import textwrap

    width = max(len(r.id) for r in rules)
    out = []
    for r in rules:
        out.append(f"{r.id:<{width}}  {r.severity.label:<7}  {r.title}")
        out += textwrap.wrap(r.rationale, 96, initial_indent="    ", subsequent_indent="    ")
        out += textwrap.wrap("fix: " + r.fix, 96, initial_indent="    ", subsequent_indent="         ")
        out.append("")
    return "\n".join(out)
