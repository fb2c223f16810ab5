"""`meshrender diff`: what a render would change in a previous `render -o DIR`."""

from __future__ import annotations

import sys
from typing import Any

import click

from meshrender.cli import CONTEXT, common_options, handle_errors, input_paths, make_options


@click.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--against", required=True, metavar="DIR",
              help="A previous `meshrender render -o DIR` to compare with.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Report format (markdown: a pull-request comment).")
@common_options
@click.option("-q", "--quiet", is_flag=True, help="No render warnings on stderr.")
@handle_errors
def diff(paths: tuple[str, ...], against: str, fmt: str, quiet: bool, **kw: Any) -> None:
    """Show what rendering PATH would change in DIR; exit 1 on drift (like kubectl diff)."""
    from pathlib import Path

    from meshrender.diff import drift
    from meshrender.diff import format as drift_format
    from meshrender.run.recipe import Recipe
    from meshrender.run.render import render
    from meshrender.safetext import line_text

    paths_list = input_paths(paths)
    root = Path(against)
    drift.check_against(root, paths_list)
    options = make_options(paths_list, **kw)
    result = render(paths_list, options)  # in worker processes
    report = drift.compare(drift.rendered_tree(result.outputs), root, against)
    refresh = Recipe(tuple(paths_list), options).command(root, as_given=True)
    if not quiet:
        for w in result.warnings:
            click.echo(line_text(w), err=True)  # names in them come from the inputs
    out = {"json": drift_format.as_json, "markdown": drift_format.markdown}.get(fmt, drift_format.text)(report, refresh)
    sys.stdout.write(out)
    sys.stdout.flush()
    sys.exit(1 if report.drift else 0)
