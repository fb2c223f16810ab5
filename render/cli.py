"""The `meshrender` command line.

Exit status for every command: 0 success; 1 findings at or above --fail-on, or drift;
2 bad input or usage, with a message naming file, line and column, and nothing written.
Heavy modules are imported inside commands so that `meshrender --help` and pre-commit
runs start fast.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable
from functools import wraps
from typing import Any

import click

from meshrender import __version__
from meshrender.errors import MeshrenderError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(2)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every error into one message and exit status 2; never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MeshrenderError as e:
            _fail(f"meshrender: {e}")
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM / SIGHUP while writing output
            _fail(f"meshrender: interrupted{f' by {e}' if str(e) else ''}; no output was changed")
        except BrokenPipeError:
            sys.exit(2)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as e:  # a bug: still no traceback unless asked for
            if os.environ.get("MESHRENDER_DEBUG"):
                traceback.print_exc()
            _fail(f"meshrender: internal error: {type(e).__name__}: {e} "
                  "(set MESHRENDER_DEBUG=1 for a traceback, and please report it)")

    return wrapper


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that renders."""
    options = [
        click.option("--flavor", type=click.Choice(["asm", "istio"]), default=None,
                     help="Injector semantics (default: the ClusterProfile's, else asm)."),
        click.option("--kube-version", envvar="KUBE_VERSION", metavar="X.Y",
                     help="Target Kubernetes version [env: KUBE_VERSION]."),
        click.option("--native-sidecars", type=click.Choice(["true", "false", "auto"]), default="auto",
                     show_default=True, help="Cluster-wide native sidecar setting (Istio's ENABLE_NATIVE_SIDECARS)."),
        click.option("--namespace", envvar="ARGOCD_APP_NAMESPACE", default="default", show_default=True,
                     metavar="NS", help="Namespace of workloads that name none [env: ARGOCD_APP_NAMESPACE]."),
        click.option("--values", "values_files", multiple=True, metavar="FILE",
                     type=click.Path(dir_okay=False), help="Istio injector values (repeatable)."),
        click.option("--mesh-config", "mesh_config_files", multiple=True, metavar="FILE",
                     type=click.Path(dir_okay=False), help="Istio mesh config (repeatable)."),
        click.option("--compliance-policy", default="", metavar="P",
                     help="istiod's COMPLIANCE_POLICY (e.g. fips-140-3)."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


def make_options(**kw: Any) -> Any:
    from meshrender.settings.resolve import Options

    return Options(
        flavor=kw.get("flavor"),
        kube_version=kw.get("kube_version") or None,
        native_sidecars=kw.get("native_sidecars") or "auto",
        namespace=kw.get("namespace") or "default",
        values_files=tuple(kw.get("values_files") or ()),
        mesh_config_files=tuple(kw.get("mesh_config_files") or ()),
        compliance_policy=kw.get("compliance_policy") or "",
    )


# Subcommands, imported only when run: "name" -> "module:attribute".
COMMANDS = {
    "render": "meshrender.commands.render:render",
    "lint": "meshrender.commands.lint:lint",
    "diff": "meshrender.commands.diff:diff",
    "explain": "meshrender.commands.explain:explain",
    "report": "meshrender.commands.report:report",
    "render-check": "meshrender.commands.render_check:render_check",  # the pre-commit hook
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (fast --help and startup)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="meshrender")
def main() -> None:
    """Render and lint service-mesh sidecar injection (Istio, Alibaba Cloud ASM), offline."""
