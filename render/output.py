"""Writing rendered files, all or nothing.

The output folder is built in a staging folder next to its final place and swapped in
only when every file is written, so a failed run (bad input, a full disk, an unwritable
file, Ctrl-C or SIGTERM from a CI timeout) leaves the previous output as it was. On
Linux the swap is one `renameat2(RENAME_EXCHANGE)`, so there is no instant at which the
folder is missing. A folder meshrender did not create is never replaced (it could be
someone's work), the output may not sit inside the inputs (the next run would read its
own output) nor contain them (the swap would delete them).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from render.errors import Location, MeshrenderError, UsageError
from render.yamlio import dump_stream

MARKER = ".meshrender-output"
MARKER_TEXT = "This folder is written by `meshrender render -o`; it is replaced whole on every run.\n"


class OutputError(MeshrenderError):
    """The output could not be written (disk full, permissions); the old output is intact."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP while writing: unwinds like Ctrl-C so the staging folder is removed."""


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def check_output_dir(out: Path, inputs: list[str]) -> None:
    """Refuse output folders that would overwrite inputs or someone else's files."""
    target = out.resolve()
    for arg in inputs:
        if arg == "-":
            continue
        src = Path(arg).resolve()
        base = src if src.is_dir() else src.parent
        if src.is_dir() and (_inside(target, src) or target == src):
            raise UsageError(f"output folder {out} is inside the input folder {arg}; "
                             "the next run would read its own output. Choose a folder outside it",
                             Location(arg))
        if not src.is_dir() and target == base and src.suffix in (".yaml", ".yml"):
            raise UsageError(f"output folder {out} is the folder of input {arg}; choose another folder",
                             Location(arg))
        if _inside(src, target):
            raise UsageError(f"input {arg} is inside the output folder {out}, which meshrender replaces "
                             "whole; render from the sources, not from a previous output", Location(arg))
    if target.exists():
        if not target.is_dir():
            raise UsageError(f"output path {out} exists and is not a folder", Location(str(out)))
        if any(target.iterdir()) and not (target / MARKER).exists():
            raise UsageError(
                f"output folder {out} already holds files that meshrender did not write; "
                "choose an empty or new folder (meshrender replaces its output folder whole)",
                Location(str(out)))


def rendered_files(outputs: list[tuple[Any, list[str]]]) -> dict[str, str]:
    """What `render -o` writes: relative path -> text, for every input file with output.

    Two inputs with the same relative path (`a/x.yaml` and `b/x.yaml` from `render a b`)
    would overwrite each other's output, losing documents: that is refused.
    """
    files: dict[str, str] = {}
    source: dict[str, str] = {}
    for f, texts in outputs:
        if not texts:
            continue
        if f.rel in files:
            raise UsageError(f"{source[f.rel]} and {f.display} would both be written to {f.rel} in the output "
                             "folder; render them into separate folders, or pass the folder that holds both",
                             Location(f.display))
        files[f.rel] = dump_stream(texts)
        source[f.rel] = f.display
    return files


# -- the atomic swap --------------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2() -> Any:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    fn = _renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def _swap_in(staging: Path, out: Path) -> Path | None:
    """Put `staging` at `out`; returns where the previous output now is (to delete)."""
    if not out.exists():
        os.replace(staging, out)
        return None
    if exchange(staging, out):
        return staging
    # No atomic exchange: two renames, with the old output put back if the second fails.
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    os.rmdir(old)
    os.replace(out, old)
    try:
        os.replace(staging, out)
    except BaseException:
        os.replace(old, out)
        raise
    return old


@contextlib.contextmanager
def _signals_unwind() -> Iterator[None]:
    """While writing, SIGTERM and SIGHUP unwind the stack (cleaning up) like Ctrl-C does;
    the default action would kill the process and leave the staging folder behind."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    saved = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            saved[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in saved.items():
            signal.signal(sig, old)


def _write_file(dest: Path, text: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "x", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_tree(out: Path, files: dict[str, str], marker: str = MARKER_TEXT) -> None:
    """Replace folder `out` with exactly `files` (relative path -> text), atomically."""
    out = out.absolute()
    if out.is_symlink():
        out = out.resolve()
    with _signals_unwind():
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
        except OSError as e:
            raise OutputError(f"cannot create the output folder: {e.strerror}", Location(str(out))) from None
        current = staging
        try:
            for rel, text in sorted(files.items()):
                dest = staging / rel
                current = dest
                if not _inside(dest.resolve(), staging.resolve()):
                    raise UsageError(f"refusing to write {rel} outside the output folder")
                _write_file(dest, text)
            current = staging / MARKER
            _write_file(current, marker)
            current = out
            old = _swap_in(staging, out)
        except OSError as e:
            shutil.rmtree(staging, ignore_errors=True)
            shown = out / current.relative_to(staging) if _inside(current, staging) else current
            kept = "the previous output is unchanged" if out.exists() else "nothing was written"
            raise OutputError(f"cannot write output: {e.strerror or e}; {kept}", Location(str(shown))) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
