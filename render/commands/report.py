"""`meshrender report`: what the mesh costs, per workload, per namespace and overall."""

from __future__ import annotations

import sys
from typing import Any

import click

from meshrender.cli import CONTEXT, common_options, handle_errors, make_options


@click.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "csv"]), default="text",
              show_default=True, help="Report format (markdown: a pull-request comment; csv: a row per workload).")
@common_options
@handle_errors
def report(paths: tuple[str, ...], fmt: str, **kw: Any) -> None:
    """What the mesh costs: proxy and istio-init resources, pod requests native vs traditional.

    Per workload, per namespace and overall: the proxy's and istio-init's requests and
    limits times the pods the workload runs, and the pod's effective request as
    Kubernetes computes it (native sidecars by KEP-753) without the mesh, injected as
    native sidecars and injected traditionally. Exit status: 0 report printed, 2 bad
    input (nothing printed).
    """
    from meshrender.report.cost import report as price
    from meshrender.report.formats import FORMATS

    out = FORMATS[fmt](price(list(paths), make_options(list(paths), **kw)))
    sys.stdout.write(out)
    sys.stdout.flush()
