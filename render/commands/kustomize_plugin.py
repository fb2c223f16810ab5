"""`meshrender kustomize-plugin`: meshrender as a kustomize transformer (render/run/kustomize.py)."""

from __future__ import annotations

import sys

import click

from meshrender.cli import CONTEXT, handle_errors


@click.command("kustomize-plugin", context_settings=CONTEXT)
@click.argument("config", required=False, metavar="[CONFIG]")
@handle_errors
def kustomize_plugin(config: str | None) -> None:
    """Inject the mesh proxy into the resources kustomize passes on stdin.

    With CONFIG (the SidecarInjector's file, as a legacy exec plugin gets it), stdin is the
    resources and stdout the rendered resources. Without, stdin is a KRM ResourceList
    whose functionConfig is the SidecarInjector, and stdout the ResourceList with the
    rendered items and results (exit 1 when it reports an error).
    """
    from meshrender.errors import MeshrenderError
    from meshrender.inputs.sources import read_bytes
    from meshrender.run import kustomize
    from meshrender.yamlio import dump_stream

    request = None
    try:
        request = kustomize.read_request(config, read_bytes("-", None))
        texts, results = kustomize.transform(request)
    except MeshrenderError as e:
        if config is not None:  # a legacy plugin: the message on stderr, exit 2
            raise
        sys.stdout.write(kustomize.error_list(e))  # a KRM function: a result of severity error
        sys.exit(1)
    if request.krm:
        sys.stdout.write(kustomize.resource_list(texts, results))
        return
    for r in results:
        click.echo(f"meshrender: {r['severity']}: {r['message']}", err=True)
    sys.stdout.write(dump_stream(texts))
