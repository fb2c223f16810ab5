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
import errno
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from meshrender.errors import Location, MeshrenderError, UsageError
from meshrender.yamlio import dump_stream

MARKER = ".meshrender-output"
MARKER_TEXT = "This folder is written by `meshrender render -o`; it is replaced whole on every run.\n"


class OutputError(MeshrenderError):
    """The output could not be written (disk full, permissions); the old output is intact."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP while writing: unwinds like Ctrl-C so the staging folder is removed."""


def check_output_dir(out: Path, inputs: list[str]) -> None:
    """Refuse output folders that would overwrite inputs or someone else's files."""
    target = out.resolve()
    for arg in inputs:
        if arg == "-":
            continue
        src = Path(arg).resolve()
        base = src if src.is_dir() else src.parent
        if src.is_dir() and (target.is_relative_to(src) or target == src):
            raise UsageError(f"output folder {out} is inside the input folder {arg}; "
                             "the next run would read its own output. Choose a folder outside it",
                             Location(arg))
        if not src.is_dir() and target == base and src.suffix in (".yaml", ".yml"):
            raise UsageError(f"output folder {out} is the folder of input {arg}; choose another folder",
                             Location(arg))
        if src.is_relative_to(target):
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
    """libc's renameat2, or None. Imported and looked up only when an existing output is
    replaced: ctypes costs 10 ms of imports, and ctypes.util.find_library runs ldconfig in
    a subprocess, so the symbol is looked up in the running process first."""
    import ctypes

    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        import ctypes.util

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
    import ctypes

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


class _SignalsUnwind:
    """While output is being staged, SIGTERM and SIGHUP unwind the stack (so the staging
    folder is removed) like Ctrl-C does; their default action would kill the process and
    leave the staging folder behind. Forked render workers inherit the handler and report
    the interruption like any other error."""

    def __init__(self) -> None:
        self.saved: dict[int, Any] = {}

    @staticmethod
    def _raise(signum: int, frame: Any) -> None:
        raise Interrupted(signal.Signals(signum).name)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(ValueError, OSError):
                self.saved[sig] = signal.signal(sig, self._raise)

    def restore(self) -> None:
        for sig, old in self.saved.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, old)
        self.saved.clear()


def _write_file(dest: Path, text: str) -> None:
    """One output file (two inputs with one output path are refused by the caller, which
    can name both). Written with os.open/os.write: a Python file object costs four more
    system calls (fstat, isatty, two seeks), 10-20 us each on a VM, for every file."""
    data = text.encode("utf-8")
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _rel_parts(rel: str) -> tuple[str, ...]:
    """The parts of `rel`, a path relative to the output folder; an absolute path or one
    with `..` is refused. (Plain `a/b/c.yaml`, what sources.discover makes, is split as
    text: PurePosixPath is a tenth of a millisecond a file on the way to 2,000 files.)"""
    split = rel.split("/")
    if "" in split or "." in split or ".." in split:
        path = PurePosixPath(rel)
        split = list(path.parts)
        if not split or path.is_absolute() or ".." in split:
            raise UsageError(f"refusing to write {rel} outside the output folder")
    return tuple(split)


class Staging:
    """A new output folder, built next to `out` and swapped in whole by commit().

    write() may be called from forked worker processes (render writes each file where it
    was rendered); leaving the `with` block without commit() removes everything, and the
    folders made to hold it. A write or swap that fails (disk full, permissions) is an
    OutputError naming the file, and the previous output stays as it was.
    """

    def __init__(self, out: Path):
        out = out.absolute()
        self.out = out.resolve() if out.is_symlink() else out
        self._made = [p for p in (self.out.parent, *self.out.parent.parents) if not p.exists()]
        self._signals = _SignalsUnwind()
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        except OSError as e:
            self._remove_made()
            raise OutputError(f"cannot create the output folder: {e.strerror}", Location(str(self.out))) from None
        self._signals.install()
        self._dirs: set[str] = set()
        self.committed = False

    def _failed(self, e: OSError, where: Path) -> OutputError:
        kept = "the previous output is unchanged" if self.out.exists() else "nothing was written"
        return OutputError(f"cannot write output: {e.strerror or e}; {kept}", Location(str(where)))

    def write(self, rel: str, text: str) -> None:
        parts = _rel_parts(rel)
        dest = os.path.join(self.path, *parts)
        folder = os.path.dirname(dest)
        try:
            if folder not in self._dirs:
                os.makedirs(folder, exist_ok=True)
                self._dirs.add(folder)
            _write_file(Path(dest), text)
        except OSError as e:
            raise self._failed(e, self.out.joinpath(*parts)) from None

    def commit(self, marker: str = MARKER_TEXT) -> None:
        try:
            _write_file(self.path / MARKER, marker)
        except OSError as e:
            raise self._failed(e, self.out / MARKER) from None
        try:
            old = _swap_in(self.path, self.out)
        except OSError as e:
            raise self._failed(e, self.out) from None
        self.committed = True
        self._signals.restore()
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def _remove_made(self) -> None:
        for folder in self._made:  # innermost first; only the empty ones this run made
            try:
                folder.rmdir()
            except OSError:
                break

    def discard(self) -> None:
        self._signals.restore()
        if self.committed:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        self._remove_made()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
