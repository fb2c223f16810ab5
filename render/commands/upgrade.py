"""`meshrender upgrade`: what moving the mesh to another release changes in each workload."""

from __future__ import annotations

import sys
from typing import Any

import click

from meshrender.cli import CONTEXT, common_options, handle_errors, input_paths, make_options


@click.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--to", "to", metavar="X.Y[.Z]", default=None,
              help="The mesh release to preview, of the render's flavor (Istio, or ASM), e.g. 1.28.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Report format (markdown: a pull-request comment).")
@common_options
@click.option("-q", "--quiet", is_flag=True, help="No render warnings on stderr.")
@handle_errors
def upgrade(paths: tuple[str, ...], to: str | None, fmt: str, quiet: bool, **kw: Any) -> None:
    """Preview a mesh upgrade: render PATH with the current release and with --to, and show
    per workload what the injected pod gains, loses and changes, which defaults changed
    between the releases and which lint findings appear or disappear.

    The current release is --mesh-version, else the ClusterProfile's meshVersion, else
    .meshrender.yaml's, else the default. Exit status: 0 no change, 1 changes, 2 bad input.
    """
    from meshrender.upgrade.format import FORMATS
    from meshrender.upgrade.preview import check_version, preview

    target = check_version(to)
    paths_list = input_paths(paths)
    options = make_options(paths_list, **kw)
    result = preview(paths_list, options, target)
    if not quiet:
        for w in result.warnings:
            click.echo(w, err=True)
    sys.stdout.write(FORMATS[fmt](result))
    sys.stdout.flush()
    sys.exit(1 if result.changed else 0)
