"""`meshrender diff`: what a render would change in a previous `render -o DIR`."""

from __future__ import annotations

import shlex
import sys
from typing import Any

import click

from meshrender.cli import CONTEXT, common_options, handle_errors, make_options


def refresh_command(paths: list[str], against: str, kw: dict[str, Any]) -> str:
    """The `meshrender render` command line that brings DIR up to date."""
    args = ["meshrender", "render", *paths, "-o", against]
    for opt, key in (("--flavor", "flavor"), ("--kube-version", "kube_version"),
                     ("--compliance-policy", "compliance_policy")):
        if kw.get(key):
            args += [opt, kw[key]]
    if kw.get("native_sidecars") not in (None, "auto"):
        args += ["--native-sidecars", kw["native_sidecars"]]
    if kw.get("namespace") not in (None, "default"):
        args += ["--namespace", kw["namespace"]]
    for opt, key in (("--values", "values_files"), ("--mesh-config", "mesh_config_files")):
        for v in kw.get(key) or ():
            args += [opt, v]
    return shlex.join(args)


@click.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--against", required=True, metavar="DIR",
              help="A previous `meshrender render -o DIR` to compare with.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Report format.")
@common_options
@click.option("-q", "--quiet", is_flag=True, help="No render warnings on stderr.")
@handle_errors
def diff(paths: tuple[str, ...], against: str, fmt: str, quiet: bool, **kw: Any) -> None:
    """Show what rendering PATH would change in DIR; exit 1 on drift (like kubectl diff)."""
    from pathlib import Path

    from meshrender.diff import drift
    from meshrender.diff import format as drift_format
    from meshrender.run.render import render
    from meshrender.safetext import line_text

    paths_list = list(paths) or ["."]
    root = Path(against)
    drift.check_against(root, paths_list)
    result = render(paths_list, make_options(**kw))  # in worker processes
    report = drift.compare(drift.rendered_tree(result.outputs), root, against)
    refresh = refresh_command(paths_list, against, kw)
    if not quiet:
        for w in result.warnings:
            click.echo(line_text(w), err=True)  # names in them come from the inputs
    out = drift_format.as_json(report, refresh) if fmt == "json" else drift_format.text(report, refresh)
    sys.stdout.write(out)
    sys.stdout.flush()
    sys.exit(1 if report.drift else 0)
