"""The `meshrender` command line.

Exit status for every command: 0 success; 1 findings at or above --fail-on, or drift;
2 bad input or usage, with a message naming file, line and column, and nothing written.
Heavy modules are imported inside commands so that `meshrender --help` and pre-commit
runs start fast.
"""

from __future__ import annotations

import contextlib
import errno
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


# Errors of a write to standard output (a full disk behind `> file`, /dev/full, a closed or
# broken pipe, a closed descriptor): reported as such, not as a bug.
_STREAM_ERRNOS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF,
                            errno.EROFS, errno.EINVAL})


class _Closed:
    """Stands in for a standard stream whose descriptor was closed when meshrender started
    (`>&-`): Python leaves None there, and writing to it raises EBADF like a closed file."""

    encoding = "utf-8"
    errors = "strict"

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


def _flush_stdout() -> None:
    if sys.stdout is not None:
        sys.stdout.flush()


def _stdout_failed(e: OSError) -> None:
    """A write to standard output failed: say so, and keep Python's own flush at exit from
    failing again (it would print "Exception ignored")."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    if e.errno == errno.EPIPE:
        _fail("meshrender: error: standard output was closed before all of the output was written (the "
              "command reading it stopped early); the output is incomplete")
    if e.errno == errno.EBADF:
        _fail("meshrender: error: standard output is closed, so the output cannot be printed; redirect it to "
              "a file, or write a folder with -o")
    _fail(f"meshrender: error: cannot write to standard output: {e.strerror}; the output is incomplete")


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every error into one message and exit status 2; never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if sys.stdout is None:
            sys.stdout = _Closed()  # type: ignore[assignment]
        try:
            try:
                result = fn(*args, **kwargs)
            except SystemExit:
                _flush_stdout()  # inside the handlers below: a full disk is reported
                raise
            _flush_stdout()
            return result
        except MeshrenderError as e:
            _fail(f"meshrender: {e}")
        except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM / SIGHUP while writing output
            name = f" by {e}" if str(e) else ""
            done = getattr(e, "done", None)
            if done:
                from meshrender.safetext import path_text

                _fail(f"meshrender: interrupted{name} after the new output was swapped in; {path_text(done)} "
                      "holds the complete new output and the previous copy was removed")
            _fail(f"meshrender: interrupted{name}; no output was changed")
        except OSError as e:
            if e.filename is not None or e.errno not in _STREAM_ERRNOS:
                _internal(e)
            _stdout_failed(e)
        except MemoryError:
            _fail("meshrender: error: out of memory: the inputs need more memory than this process may use "
                  "(see docs/bad-input.md, Limits)")
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as e:  # a bug: still no traceback unless asked for
            _internal(e)

    return wrapper


def _internal(e: BaseException) -> None:
    if os.environ.get("MESHRENDER_DEBUG"):
        traceback.print_exc()
    _fail(f"meshrender: internal error: {type(e).__name__}: {e} "
          "(set MESHRENDER_DEBUG=1 for a traceback, and please report it)")


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
