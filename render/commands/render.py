"""`meshrender render`: inject the mesh proxy into every workload of the inputs."""

from __future__ import annotations

import sys
from typing import Any

import click

from render.cli import CONTEXT, common_options, handle_errors, make_options


@click.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("-o", "--output", "output", metavar="DIR", type=click.Path(file_okay=False),
              help="Write each input file's documents to the same relative path under DIR.")
@common_options
@click.option("-q", "--quiet", is_flag=True, help="No summary or warnings on stderr.")
@handle_errors
def render(paths: tuple[str, ...], output: str | None, quiet: bool, **kw: Any) -> None:
    """Inject the mesh proxy into every workload in PATH (files, folders, or - for stdin)."""
    from pathlib import Path

    from render import output as out_mod
    from render import pipeline, sources, yamlio
    from render.summary import summarize

    paths_list = list(paths) or ["."]
    if output:
        out_mod.check_output_dir(Path(output), paths_list)
    files = sources.load(paths_list)
    result = pipeline.render(files, make_options(**kw))
    if output:
        tree = out_mod.plan_tree(result.outputs, yamlio.dump_stream)
        out_mod.write_tree(Path(output), tree)
    else:
        stream = yamlio.dump_stream(t for _, texts in result.outputs for t in texts)
        sys.stdout.write(stream)
        sys.stdout.flush()
    if not quiet:
        for w in result.warnings:
            click.echo(w, err=True)
        if output:
            click.echo(summarize(result, output), err=True)
