"""The committed output of `render -o`: a folder in the repository, read back by
`render-check` and `diff` as untrusted content.

Nothing here follows a symlink or reads anything but a regular file: `render -o` writes
only regular files and folders, so anything else in the folder came from someone else,
and reading it could block, never end, or leave the repository. (Kept apart from
diff/drift.py, which compares documents, so that an incremental check that only hashes
these files does not import the comparison's libraries.)
"""

from __future__ import annotations

import os
from pathlib import Path

from meshrender.errors import InputError, Location
from meshrender.inputs.files import NOT_REGULAR, read_regular

# The file `render -o` leaves in its folder: the recipe, and the digests of run/incremental.py.
MARKER = ".meshrender-output"


def existing_files(root: Path | str, shown: str | None = None) -> dict[str, str]:
    """Every file under `root` (relative POSIX path -> path), except meshrender's marker.

    Committed output is repository content, read as untrusted: the folder is walked with
    an explicit stack (a tree 1,500 levels deep is no RecursionError) and symlinks are not
    followed; anything but a regular file or a folder (a symlink, which `render -o` never
    writes, a FIFO, a device) is an InputError naming it, since reading it could block,
    never end, or leave the repository.
    """
    base = (shown or str(root)).rstrip("/") or "."
    out: dict[str, str] = {}
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        here, rel_here = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as e:
            raise InputError(f"cannot read folder: {e.strerror}", Location.whole(f"{base}/{rel_here}".rstrip("/"))) \
                from None
        below = []
        for e in entries:
            rel = rel_here + e.name
            try:
                is_dir = e.is_dir(follow_symlinks=False)
                is_file = not is_dir and e.is_file(follow_symlinks=False)
                is_link = e.is_symlink()
            except OSError:
                is_dir = is_file = is_link = False
            if is_dir:
                below.append((e.path, rel + "/"))
            elif is_file:
                if rel != MARKER:
                    out[rel] = e.path
            elif is_link:
                raise InputError("is a symlink; `render -o` writes only regular files and folders, so meshrender "
                                 "does not follow it (remove it)", Location.whole(f"{base}/{rel}"))
            else:
                raise InputError(NOT_REGULAR, Location.whole(f"{base}/{rel}"))
        stack.extend(reversed(below))
    return dict(sorted(out.items()))


def read_committed(path: str | Path, display: str) -> bytes:
    """One committed output file: regular, not through a symlink, within the input size limit."""
    return read_regular(path, display, follow=False)
