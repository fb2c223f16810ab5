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
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def _cache_flag() -> Iterator[None]:
    """--no-cache holds for one command (tests run many in one process)."""
    from meshrender.run import incremental

    try:
        yield
    finally:
        incremental.FORCED_OFF = False


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every error into one message and exit status 2; never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from meshrender.inputs.walk import remembering_walks

        if sys.stdout is None:
            sys.stdout = _Closed()  # type: ignore[assignment]
        try:
            try:
                with remembering_walks(), _cache_flag():
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


def _no_cache(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        from meshrender.run import incremental

        incremental.FORCED_OFF = True  # until the command ends (handle_errors)


def common_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that renders. Those not given on the command line
    come from the repository's .meshrender.yaml, when it has them (render/config.py)."""
    options = [
        click.option("--flavor", type=click.Choice(["asm", "istio"]), default=None,
                     help="Injector semantics (default: the ClusterProfile's, else .meshrender.yaml's, else asm)."),
        click.option("--kube-version", envvar="KUBE_VERSION", metavar="X.Y",
                     help="Target Kubernetes version [env: KUBE_VERSION]."),
        click.option("--provider", type=click.Choice(["ack", "ack-serverless", "acs", "community"]), default=None,
                     help="Where the cluster runs, for the native sidecar decision (default: the ClusterProfile's)."),
        click.option("--native-sidecars", type=click.Choice(["true", "false", "auto"]), default=None,
                     help="Cluster-wide native sidecar setting (Istio's ENABLE_NATIVE_SIDECARS) [default: auto]."),
        click.option("-n", "--namespace", envvar="ARGOCD_APP_NAMESPACE", default=None, metavar="NS",
                     help="Namespace of workloads that name none [env: ARGOCD_APP_NAMESPACE; default: default]."),
        click.option("--values", "values_files", multiple=True, metavar="FILE",
                     type=click.Path(dir_okay=False), help="Istio injector values (repeatable)."),
        click.option("--mesh-config", "mesh_config_files", multiple=True, metavar="FILE",
                     type=click.Path(dir_okay=False), help="Istio mesh config (repeatable)."),
        click.option("--compliance-policy", default=None, metavar="P",
                     help="istiod's COMPLIANCE_POLICY (e.g. fips-140-3)."),
        click.option("--config", "config_file", default=None, metavar="FILE",
                     help="The repository configuration to use (default: the .meshrender.yaml found from the "
                          "inputs up to the repository root; `none` for none)."),
        click.option("--mesh-version", metavar="X.Y[.Z]", default=None,
                     help="Mesh release the cluster runs (default: the ClusterProfile's meshVersion, "
                          "else Istio master / the newest ASM release with a known image)."),
        click.option("--no-cache", is_flag=True, expose_value=False, callback=_no_cache,
                     help="Evaluate every file: no local result cache, no incremental check from the output "
                          "folder's digests [env: MESHRENDER_CACHE=0]."),
    ]
    for opt in reversed(options):
        fn = opt(fn)
    return fn


# Options fields and the keyword arguments of common_options that set them.
_OPTION_ARGS = (
    ("flavor", "flavor"), ("kube_version", "kube_version"), ("provider", "provider"),
    ("native_sidecars", "native_sidecars"), ("namespace", "namespace"), ("values_files", "values_files"),
    ("mesh_config_files", "mesh_config_files"), ("compliance_policy", "compliance_policy"),
    ("mesh_version", "mesh_version"),
)


def make_options(paths: list[str], **kw: Any) -> Any:
    """The render options of a command: its flags, and the repository configuration for
    inputs `paths` (render/config.py) where no flag was given."""
    from meshrender import config as config_mod
    from meshrender.settings.options import Options

    given = {field for field, arg in _OPTION_ARGS if kw.get(arg) not in (None, "", ())}
    values = {field: kw[arg] for field, arg in _OPTION_ARGS if field in given}
    for key in ("values_files", "mesh_config_files"):
        if key in values:
            values[key] = tuple(values[key])
    options = Options(**values, given=frozenset(given))
    return options.with_config(config_mod.resolve(paths, kw.get("config_file")))


def input_paths(paths: tuple[str, ...] | list[str]) -> list[str]:
    """The inputs of a command: the paths given; with none, standard input when it is not
    a terminal (a Helm post-renderer, a pipe), else the current folder."""
    if paths:
        return list(paths)
    stdin = sys.stdin
    try:
        interactive = stdin is None or stdin.isatty()
    except (ValueError, OSError):  # closed
        interactive = True
    return ["."] if interactive else ["-"]


# Subcommands, imported only when run: "name" -> "module:attribute".
COMMANDS = {
    "render": "meshrender.commands.render:render",
    "lint": "meshrender.commands.lint:lint",
    "diff": "meshrender.commands.diff:diff",
    "explain": "meshrender.commands.explain:explain",
    "report": "meshrender.commands.report:report",
    "upgrade": "meshrender.commands.upgrade:upgrade",
    "render-check": "meshrender.commands.render_check:render_check",  # the pre-commit hook
    "kustomize-plugin": "meshrender.commands.kustomize_plugin:kustomize_plugin",  # a kustomize transformer
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


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """`--version`: meshrender's version and the mesh releases it renders for (read from
    the release tables only when asked, so that startup stays fast)."""
    if not value or ctx.resilient_parsing:
        return
    from meshrender.inject.release import known_releases

    click.echo(f"meshrender {__version__}")
    for line in known_releases():
        click.echo(line)
    ctx.exit()


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and the mesh releases it renders for, and exit.")
def main() -> None:
    """Render and lint service-mesh sidecar injection (Istio, Alibaba Cloud ASM), offline."""


def run() -> None:
    """The `meshrender` command (the console script, `python -m meshrender`): `main`, then
    an exit that does not tear the interpreter's objects down one by one, which took 30 ms
    after a check that held a 10,000-file record (5% of it). By then every output is
    written and closed (output folders, the result cache) and nothing registers work for
    the interpreter's exit; the exit status is sys.exit's."""
    import gc

    gc.set_threshold(100_000, 20, 20)
    try:
        main()
        code: object = 0
    except SystemExit as e:
        code = e.code
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # (sys.exit("message"): printed, status 1)
        with contextlib.suppress(Exception):
            print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status & 0xFF)
