"""Writing rendered files, all or nothing.

The output folder is built in a staging folder next to its final place and swapped in
only when every file is written, so a failed run (bad input, a full disk, an unwritable
file, Ctrl-C or SIGTERM from a CI timeout) leaves the previous output as it was. On
Linux the swap is one `renameat2(RENAME_EXCHANGE)`, so there is no instant at which the
folder is missing. A folder meshrender did not create is never replaced (it could be
someone's work), the output may not sit inside the inputs (the next run would read its
own output), not even through a symlink in them (`apps/prev -> ../deploy`), nor contain
them (the swap would delete them).

Signals: while files are staged, SIGINT, SIGTERM and SIGHUP roll the run back (the
staging folder is removed); from the swap on they are held until the swap and the
removal of the previous copy are done, then reported: the run says which of the two
happened. A run killed outright (SIGKILL, an out-of-memory kill) cannot clean up, so each
run first removes the staging folders that runs into the same output left behind; a
folder in use by a concurrent run is told apart by the lock its run holds on it (flock,
released by the kernel when that process dies). The output folder keeps its mode, and a
previous output that this user could not remove is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from meshrender.errors import Location, MeshrenderError, UsageError
from meshrender.inputs.committed import MARKER
from meshrender.yamlio import dump_stream

MARKER_TEXT = "This folder is written by `meshrender render -o`; it is replaced whole on every run.\n"


class OutputError(MeshrenderError):
    """The output could not be written (disk full, permissions); the old output is intact."""


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP while writing: unwinds like Ctrl-C so the staging folder is
    removed. `done` is the output folder when the signal came after the new output was
    swapped in (the run finished rather than rolled back)."""

    def __init__(self, name: str = "", done: str | None = None):
        super().__init__(name)
        self.done = done

    def __reduce__(self) -> Any:
        return (Interrupted, (str(self), self.done))


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
                             Location.whole(arg))
        if not src.is_dir() and target == base and src.suffix in (".yaml", ".yml"):
            raise UsageError(f"output folder {out} is the folder of input {arg}; choose another folder",
                             Location.whole(arg))
        if src.is_relative_to(target):
            raise UsageError(f"input {arg} is inside the output folder {out}, which meshrender replaces "
                             "whole; render from the sources, not from a previous output", Location.whole(arg))
        if src.is_dir():
            link = symlink_into(target, Path(arg))
            if link is not None:
                raise UsageError(f"output folder {out} is reached from the input folder {arg} through the "
                                 f"symlink {link}; the next run would read its own output. Remove the link "
                                 "or choose a folder it does not lead to", Location.whole(link))
    if target.exists():
        if not target.is_dir():
            raise UsageError(f"output path {out} exists and is not a folder", Location.whole(str(out)))
        if any(target.iterdir()) and not (target / MARKER).exists():
            raise UsageError(
                f"output folder {out} already holds files that meshrender did not write; "
                "choose an empty or new folder (meshrender replaces its output folder whole)",
                Location.whole(str(out)))


def symlink_into(target: Path, folder: Path) -> str | None:
    """A symlink under input `folder` (as the input walk follows them) that leads to
    `target` or inside it, even one that does not resolve yet (the output folder of a
    first run); None if there is none."""
    from meshrender.inputs.walk import walk

    found = walk(folder, lambda _: None)
    inside = str(target).rstrip("/") + "/"  # (compared as text: thousands of folders)
    for path, real in (*found.links, *found.folders):
        real = os.path.normpath(real)
        if real == str(target) or real.startswith(inside):
            return path
    return None


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


_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _SignalsUnwind:
    """While output is being staged, SIGINT, SIGTERM and SIGHUP unwind the stack (so the
    staging folder is removed); their default action would kill the process and leave the
    staging folder behind. Around the swap they are held (`hold`) and raised once the swap
    and the removal of the old copy are done (`release`), so a run is never stopped half
    way through its cleanup. Forked render workers inherit the handler and report the
    interruption like any other error."""

    def __init__(self) -> None:
        self.saved: dict[int, Any] = {}
        self.holding = False
        self.pending: str | None = None
        self.done: str | None = None  # the output folder, once the new output is in place

    def _raise(self, signum: int, frame: Any) -> None:
        name = "" if signum == signal.SIGINT else signal.Signals(signum).name
        if self.holding:
            if self.pending is None:
                self.pending = name
            return
        raise Interrupted(name, self.done)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in _SIGNALS:
            with contextlib.suppress(ValueError, OSError):
                self.saved[sig] = signal.signal(sig, self._raise)

    def hold(self) -> None:
        self.holding = True

    def release(self) -> None:
        """Stop holding signals; one that arrived meanwhile is raised now."""
        self.holding = False
        pending, self.pending = self.pending, None
        if pending is not None and self.saved:
            raise Interrupted(pending, self.done)

    def restore(self) -> None:
        for sig, old in self.saved.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, old)
        self.saved.clear()


def _write_file(dest: Path, text: str | bytes) -> None:
    """One output file (two inputs with one output path are refused by the caller, which
    can name both). Written with os.open/os.write: a Python file object costs four more
    system calls (fstat, isatty, two seeks), 10-20 us each on a VM, for every file."""
    data = text.encode("utf-8") if isinstance(text, str) else text
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


# -- folders, without recursion ----------------------------------------------------------
# os.makedirs, Path.mkdir(parents=True) and shutil.rmtree recurse once per level: a
# repository with folders 1,500 levels deep would end in RecursionError.


def makedirs(folder: str | Path) -> None:
    """os.makedirs(folder, exist_ok=True), level by level without recursion."""
    missing = []
    here = os.fspath(folder)
    while here and not os.path.isdir(here):
        missing.append(here)
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(d)


def remove_tree(path: str | Path) -> None:
    """Remove a folder and everything in it, without recursion and without following
    symlinks (a link in an old output is removed, not what it points to); what cannot be
    removed is left."""
    stack: list[tuple[str, bool]] = [(os.fspath(path), False)]
    while stack:
        here, emptied = stack.pop()
        if emptied:
            with contextlib.suppress(OSError):
                os.rmdir(here)
            continue
        try:
            entries = list(os.scandir(here))
        except OSError:
            continue
        stack.append((here, True))
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append((e.path, False))
                    continue
            except OSError:
                pass
            with contextlib.suppress(OSError):
                os.unlink(e.path)


def _folders(root: Path) -> Iterator[str]:
    """`root` and every folder under it (not through symlinks)."""
    stack = [os.fspath(root)]
    while stack:
        here = stack.pop()
        yield here
        with contextlib.suppress(OSError), os.scandir(here) as entries:
            stack += [e.path for e in entries if e.is_dir(follow_symlinks=False)]


# -- locks: leftovers of killed runs, told apart from folders in use --------------------


def _lock(path: str | Path, how: int) -> int | None:
    """An open descriptor of folder `path` holding flock `how`, or None when it cannot be
    had (held by another process, or a file system without flock)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, how)
    except OSError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            os.close(fd)


def _leftover_names(out: Path) -> tuple[str, str]:
    return f".{out.name}.tmp-", f".{out.name}.old-"


def remove_leftovers(out: Path) -> list[str]:
    """Remove the staging folders and old copies that killed runs into `out` left next to
    it: hidden folders named after it that hold meshrender's marker and that no running
    process holds a lock on. Returns their names."""
    removed = []
    prefixes = _leftover_names(out)
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return removed
    for e in sorted(entries, key=lambda e: e.name):
        if not e.name.startswith(prefixes):
            continue
        try:
            if not e.is_dir(follow_symlinks=False):
                continue
            if not os.path.isfile(os.path.join(e.path, MARKER)):
                with contextlib.suppress(OSError):
                    os.rmdir(e.path)  # empty: killed before its marker was written
                continue  # not empty: not a folder meshrender made, left alone
        except OSError:
            continue
        fd = _lock(e.path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if fd is None:
            continue  # a concurrent run is using it
        try:
            remove_tree(e.path)
        finally:
            _unlock(fd)
        removed.append(e.name)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unwritable(folder: Path) -> str | None:
    """A folder of the previous output this user cannot write to (so could not remove
    after the swap), or None."""
    for here in _folders(folder):
        if not os.access(here, os.W_OK | os.X_OK):
            return here
    return None


class Staging:
    """A new output folder, built next to `out` and swapped in whole by commit().

    write() may be called from forked worker processes (render writes each file where it
    was rendered); leaving the `with` block without commit() removes everything, and the
    folders made to hold it. A write or swap that fails (disk full, permissions) is an
    OutputError naming the file, and the previous output stays as it was.
    """

    def __init__(self, out: Path):
        self.shown = str(out)  # as the user wrote it, for messages
        out = out.absolute()
        self.out = out.resolve() if out.is_symlink() else out
        self._made = [p for p in (self.out.parent, *self.out.parent.parents) if not p.exists()]
        self._signals = _SignalsUnwind()
        self._locks: list[int] = []
        self.path: Path | None = None
        self.leftovers: list[str] = []
        self.committed = False
        self.mode = 0o777 & ~_umask()
        # A previous render's folder: files that come out the same are linked, not rewritten.
        from meshrender.run.incremental import mode

        self.previous = mode() != "off" and (self.out / MARKER).is_file()
        if self.out.is_dir():
            self.mode = stat.S_IMODE(self.out.stat().st_mode)
            denied = _unwritable(self.out)
            if denied is not None:
                mode = stat.S_IMODE(os.stat(denied).st_mode)
                raise OutputError(f"cannot replace the output folder: {_shown(denied, self.out, self.shown)} is "
                                  f"not writable by this user (mode {mode:04o}), so its previous copy could not "
                                  "be removed; make it writable (chmod -R u+w) or choose another folder",
                                  Location.whole(self.shown))
        try:
            makedirs(self.out.parent)
            # Leftovers are looked for, and the new staging folder made and locked, under a
            # lock on the parent folder: a concurrent run never sees a staging folder of
            # another run before that run holds its lock on it.
            parent = _lock(self.out.parent, fcntl.LOCK_EX)
            try:
                if parent is not None:
                    self.leftovers = remove_leftovers(self.out)
                self.path = Path(tempfile.mkdtemp(prefix=_leftover_names(self.out)[0], dir=self.out.parent))
                held = _lock(self.path, fcntl.LOCK_SH)
                if held is not None:
                    self._locks.append(held)
                # Marks it as meshrender's, for the cleanup after a killed run.
                os.close(os.open(self.path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666))
            finally:
                _unlock(parent)
        except OSError as e:
            if self.path is not None:
                remove_tree(self.path)
            self._release_locks()
            self._remove_made()
            raise OutputError(f"cannot create the output folder: {e.strerror}",
                              Location.whole(str(self.out))) from None
        self._signals.install()
        self._dirs: set[str] = set()

    def _failed(self, e: OSError, where: Path) -> OutputError:
        kept = "the previous output is unchanged" if self.out.exists() else "nothing was written"
        return OutputError(f"cannot write output: {e.strerror or e}; {kept}", Location(str(where)))

    def write(self, rel: str, text: str) -> None:
        parts = _rel_parts(rel)
        dest = os.path.join(self.path, *parts)
        folder = os.path.dirname(dest)
        try:
            if folder not in self._dirs:
                makedirs(folder)
                self._dirs.add(folder)
            data = text.encode("utf-8")
            if not self._keep(os.path.join(self.out, *parts), dest, data):
                _write_file(Path(dest), data)
        except OSError as e:
            raise self._failed(e, self.out.joinpath(*parts)) from None

    def reuse(self, rel: str, digest: str) -> bool:
        """Link the previous output's file `rel` into the new folder if its bytes have
        `digest` (run/digests.py): the result cache knew what goes there, not the text."""
        from meshrender.limits import MAX_FILE_BYTES
        from meshrender.run.digests import digest as digest_of

        if not self.previous:
            return False
        parts = _rel_parts(rel)
        old, dest = os.path.join(self.out, *parts), os.path.join(self.path, *parts)
        folder = os.path.dirname(dest)
        try:
            st = os.lstat(old)
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                return False
            with open(old, "rb") as f:
                if digest_of(f.read()) != digest:
                    return False
            if folder not in self._dirs:
                makedirs(folder)
                self._dirs.add(folder)
            os.link(old, dest, follow_symlinks=False)
        except OSError:
            return False
        return True

    def _keep(self, old: str, dest: str, data: bytes) -> bool:
        """Link the previous output's file into the new folder when it already holds
        exactly `data`: a render rewrites only the files whose result changed (their
        inode and time stay, for tools that watch them). Only a regular file of the same
        size is read; anything unexpected is simply written anew."""
        if not self.previous:
            return False
        try:
            st = os.lstat(old)
            if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
                return False
            with open(old, "rb") as f:
                if f.read(len(data) + 1) != data:
                    return False
            os.link(old, dest, follow_symlinks=False)
        except OSError:
            return False
        return True

    def commit(self, marker: str = MARKER_TEXT) -> None:
        """Swap the staged folder in. From the swap to the removal of the old copy, signals
        are held; one that arrived meanwhile is raised afterwards, as Interrupted with
        `done` set (the new output is complete and nothing is left behind)."""
        try:
            _write_file(self.path / MARKER, marker)
            os.chmod(self.path, self.mode)
        except OSError as e:
            raise self._failed(e, self.out / MARKER) from None
        if self.out.is_dir():  # the old copy, wherever the swap puts it, is this run's to remove
            held = _lock(self.out, fcntl.LOCK_SH)
            if held is not None:
                self._locks.append(held)
        self._signals.hold()
        try:
            try:
                old = _swap_in(self.path, self.out)
            except OSError as e:
                raise self._failed(e, self.out) from None
            self.committed = True
            self._signals.done = self.shown
            if old is not None:
                remove_tree(old)
        finally:
            self._release_locks()
            self._signals.release()

    def _release_locks(self) -> None:
        for fd in self._locks:
            _unlock(fd)
        self._locks.clear()

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
        remove_tree(self.path)
        self._release_locks()
        self._remove_made()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


def _shown(path: str, out: Path, shown: str) -> str:
    return shown if path == str(out) else f"{shown.rstrip('/')}/{os.path.relpath(path, out)}"
