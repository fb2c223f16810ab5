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
@click.option("--validate", is_flag=True,
              help="Check every rendered workload against the target Kubernetes version's API schema "
                   "(needs meshrender[validate]); on any error exit 2 and write nothing.")
@click.option("--fail-empty", is_flag=True,
              help="Exit 2 when the render has no documents to output (an empty render makes "
                   "Argo CD prune the whole application).")
@click.option("-q", "--quiet", is_flag=True, help="No summary, warnings or progress on stderr.")
@handle_errors
def render(paths: tuple[str, ...], output: str | None, validate: bool, fail_empty: bool, quiet: bool,
           **kw: Any) -> None:
    """Inject the mesh proxy into every workload in PATH (files, folders, or - for stdin)."""
    from pathlib import Path

    from render import output as out_mod
    from render import yamlio
    from render.errors import InputError
    from render.progress import Progress
    from render.summary import summarize

    paths_list = list(paths) or ["."]
    options = make_options(**kw)
    if output:
        out_mod.check_output_dir(Path(output), paths_list)
    with Progress(enabled=False if quiet else None) as bar:
        result = load_and_render(paths_list, options, bar)
    report = None
    if validate:
        from render import kube_schema

        report = kube_schema.check(result)
        if report.problems:
            raise kube_schema.SchemaInvalid(report.problems, report.version)
    if fail_empty and not any(texts for _, texts in result.outputs):
        raise InputError(f"the render has no documents to output (read {result.documents} documents, "
                         f"{result.consumed} of them settings, from {' '.join(paths_list)}); refusing to "
                         "print an empty render, which would make Argo CD prune everything")
    if output:
        from render.recipe import Recipe

        out_dir = Path(output)
        marker = Recipe(tuple(paths_list), options).marker_text(out_dir)
        out_mod.write_tree(out_dir, out_mod.rendered_files(result.outputs), marker)
    else:
        stream = yamlio.dump_stream(t for _, texts in result.outputs for t in texts)
        sys.stdout.write(stream)
        sys.stdout.flush()
    if not quiet:
        for note in report.notes if report else []:
            click.echo(f"meshrender: warning: {note}", err=True)
        for w in result.warnings:
            click.echo(w, err=True)
        if output:
            click.echo(summarize(result, output), err=True)


def load_and_render(paths: list[str], options: Any, bar: Any) -> Any:
    """Read and render `paths`, advancing `bar` (a render.progress.Progress) as it goes."""
    from render import pipeline, sources

    files = sources.load(paths, progress=lambda done, total: bar.update("reading", done, total, "files"))
    advance = bar.stage("rendering", sum(len(f.docs) for f in files), "documents")
    return pipeline.render(files, options, progress=advance)
