"""`meshrender explain`: the sidecar mode and effective proxy settings of one workload."""

from __future__ import annotations

import sys
from typing import Any

import click

from meshrender.cli import CONTEXT, common_options, handle_errors, make_options


@click.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("-w", "--workload", "selector", required=True, metavar="[NAMESPACE/]NAME",
              help="The workload to explain (its metadata.name, and namespace when the name repeats).")
@click.option("--kind", metavar="KIND", help="Workload kind, when one name is used by several kinds.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@common_options
@handle_errors
def explain(paths: tuple[str, ...], selector: str, kind: str | None, fmt: str, **kw: Any) -> None:
    """Why a workload gets the sidecar it gets: its mode and every proxy setting's source."""
    from meshrender.explain import answer as explain_mod
    from meshrender.explain import format as explain_format

    answer = explain_mod.explain(list(paths), make_options(list(paths), **kw), selector, kind)
    out = explain_format.as_json(answer) if fmt == "json" else explain_format.text(answer)
    sys.stdout.write(out)
    sys.stdout.flush()
