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

    from meshrender.run import incremental

    root = Path(against)
    # DIR's files are hashed by a worker from here on (run/incremental.py, hash_committed),
    # while this process loads what a render needs and reads the inputs.
    committed = incremental.hash_committed(root, against) if root.is_dir() else None
    try:
        from meshrender.diff import drift
        from meshrender.diff import format as drift_format
        from meshrender.run.recipe import Recipe, recorded_digests
        from meshrender.safetext import line_text

        paths_list = input_paths(paths)
        drift.check_against(root, paths_list)
        options = make_options(paths_list, **kw)
        recipe = Recipe(tuple(paths_list), options, recorded_digests(root) if root.is_dir() else None)
        check = incremental.Check(root, recipe, against, committed)
        committed = None  # (the Check's now)
        check.begin_inputs()  # (check_against walked them)
        with check:
            result, report = _report(recipe, root, against, check)
    finally:
        if committed is not None:
            committed.close()
    refresh = recipe.command(root, as_given=True)
    if not quiet:
        for w in result.warnings:
            click.echo(line_text(w), err=True)  # names in them come from the inputs
    out = {"json": drift_format.as_json, "markdown": drift_format.markdown}.get(fmt, drift_format.text)(report, refresh)
    sys.stdout.write(out)
    sys.stdout.flush()
    sys.exit(1 if report.drift else 0)


def _report(recipe: Any, root: Any, against: str, check: Any) -> tuple[Any, Any]:
    """The render (its warnings) and the drift report: incrementally when `root`'s marker
    records digests (`check`, run/incremental.py; warnings then come from the files
    re-rendered), else in full; in verify mode both, failing on any difference."""
    from meshrender.diff import drift
    from meshrender.run import incremental
    from meshrender.run.render import render

    how = incremental.mode()
    outcome = check.run(recipe.options)
    if outcome is not None:
        report = drift.compare(drift.rendered_tree(outcome.rendered.outputs), root, against, outcome.unchanged,
                               outcome.unchanged_documents, outcome.committed)
        if how != "verify":
            return outcome.rendered, report
    result = render(list(recipe.paths), recipe.options)  # in worker processes
    full = drift.compare(drift.rendered_tree(result.outputs), root, against)
    if outcome is not None and report != full:
        raise incremental.Disagreement(f"diff against {against}: incremental {report}, full {full}")
    return result, full
