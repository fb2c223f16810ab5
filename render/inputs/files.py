"""Reading from a repository's folders: which folders no walk enters, and one regular
file, within a size limit, without blocking.

Kept apart from sources.py (which parses what it reads) so that a worker that only
hashes files, or a command that only looks for output folders, starts without importing
the YAML readers.
"""

from __future__ import annotations

import errno
import os
import stat

from meshrender.errors import InputError, Location
from meshrender.limits import MAX_FILE_BYTES, MiB

# Folders no walk enters (hidden folders are skipped too): tools' and VCS state.
SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__", ".hg", ".svn"})

NOT_REGULAR = ("not a regular file (a FIFO, socket or device); meshrender reads only regular files "
               "(pipe other input to standard input, `-`)")


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n} bytes"



def _read_upto(fd: int, n: int) -> bytes:
    """Up to `n` bytes of `fd`, fewer only at its end (as a file object's read(n))."""
    parts = []
    while n > 0:
        chunk = os.read(fd, n)
        if not chunk:
            break
        parts.append(chunk)
        n -= len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class TooLarge(InputError):
    """A file over the size limit (the caller may say which limit)."""


def read_regular(path: str | os.PathLike, display: str, limit: int = MAX_FILE_BYTES, *,
                 follow: bool = True) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them (TooLarge beyond).

    Everything meshrender reads from disk comes through here: inputs, --values and
    --mesh-config files, output markers and committed output. A FIFO, socket or device
    is refused before a byte is read (opened non-blocking, so a FIFO without a writer
    cannot hang the open, then checked with fstat), and so is a symlink where `follow` is
    False (committed output: `render -o` never writes one). InputError, at the file,
    for everything that cannot be read.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        # A descriptor, not a file object: four system calls fewer a file (10-20 us each
        # on a VM, and every input is read twice).
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP and not follow:
            raise InputError("is a symlink; meshrender reads only regular files here (render -o writes no "
                             "symlinks)", Location.whole(display)) from None
        raise InputError(f"cannot read: {e.strerror}", Location.whole(display)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError("cannot read: this is a folder, not a file", Location.whole(display))
        if not stat.S_ISREG(info.st_mode):
            raise InputError(NOT_REGULAR, Location.whole(display))
        # Read what the file holds: asking for the limit allocates it every time.
        size = info.st_size
        want = min(size, limit) + 1
        raw = os.read(fd, want)
        if len(raw) < want and len(raw) != size:  # a short read that is not the whole file yet
            raw += _read_upto(fd, want - len(raw))
        if len(raw) > size:  # more than its size said (/proc, a growing file)
            raw += _read_upto(fd, max(0, limit + 1 - len(raw)))
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", Location.whole(display)) from None
    finally:
        os.close(fd)
    if len(raw) > limit:
        raise TooLarge(f"file is larger than {_size(limit)}, the most meshrender reads from one file (see "
                       "docs/bad-input.md, Limits); split it", Location(display))
    return raw
