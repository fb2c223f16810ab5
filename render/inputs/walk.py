"""Walking the input folders: every YAML file under a folder, in sorted order, without
leaving the repository.

Kept apart from sources.py (which reads and parses the files found) so that the
command-line wrapper, and the checks that only look at folders, do not import the YAML
readers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from meshrender.errors import InputError, Location
from meshrender.inputs.files import NOT_REGULAR, SKIP_DIRS
from meshrender.safetext import path_text

SUFFIXES = (".yaml", ".yml")

Warn = Callable[[str], None]


def repository_root(folder: Path) -> Path:
    """The Git work tree holding `folder` (a `.git` folder or file), else `folder` itself.

    Symlinks may point anywhere inside it: `apps/prod/base -> ../base` is a common layout.
    """
    return git_root(folder) or folder.resolve()


def git_root(folder: Path) -> Path | None:
    """The Git work tree holding `folder` (resolved), or None outside Git."""
    real = folder.resolve()
    for candidate in (real, *real.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def escapes(real: str, boundary: str) -> str | None:
    """Why the resolved path `real` may not be read inside the repository `boundary`
    (outside it, or inside its .git folder), or None when it may."""
    inside = boundary.rstrip("/") + "/"
    if real != boundary and not real.startswith(inside):
        return f"it leads outside the repository {boundary}"
    if ".git" in real[len(inside):].split("/"):
        return "it leads into the repository's .git folder"
    return None


@dataclass
class Walk:
    """What walking one folder found: YAML files and the folders it went through."""

    files: list[tuple[Path, str, str]] = field(default_factory=list)  # (path, real path, relative)
    folders: list[tuple[str, str]] = field(default_factory=list)  # (path as reached, real path)
    links: list[tuple[str, str]] = field(default_factory=list)  # every symlink met: (path, target)
    warnings: list[str] = field(default_factory=list)


# One command's walks: the output-folder checks and the input discovery walk the same
# folders; within `remembering_walks()` (a CLI command) the second takes the first's.
_WALKS: dict[tuple[str, str], Walk] | None = None
# And the folders listed before any walk (render-check's search for output folders lists
# the whole repository first): real path -> its entries, sorted by name, taken by the walk.
_LISTINGS: dict[str, list[os.DirEntry]] | None = None


@contextlib.contextmanager
def remembering_walks() -> Iterator[None]:
    """Within this block each folder is walked once, and listed once (a command: nothing
    changes the inputs meanwhile); outside it, every walk reads the folder anew."""
    global _WALKS, _LISTINGS
    outer, _WALKS = _WALKS, {}
    outer_listings, _LISTINGS = _LISTINGS, {}
    try:
        yield
    finally:
        _WALKS, _LISTINGS = outer, outer_listings


def _name(e: os.DirEntry) -> str:
    return e.name


def listing(here: str | Path, real: str, *, keep: bool = False) -> list[os.DirEntry]:
    """The entries of the folder reached as `here` (`real` once resolved), sorted by
    name. Within remembering_walks, a listing made with `keep` is handed to the next
    caller of the same folder (once: the walk that takes it keeps what it found, not the
    entries), so that a command that looks through the repository before walking its
    inputs lists each folder once, not twice (3,000 folders: a tenth of a check).
    OSError when it cannot be listed."""
    if _LISTINGS is not None:
        kept = _LISTINGS.pop(real, None)
        if kept is not None:
            return kept
    entries = sorted(os.scandir(here), key=_name)
    if keep and _LISTINGS is not None:
        _LISTINGS[real] = entries
    return entries


def walk(root: Path, warn: Warn) -> Walk:
    """`walk_folder(root)` (once per command, see remembering_walks); its warnings go to
    `warn` on every call."""
    if _WALKS is None:
        found = walk_folder(root)
    else:
        key = (str(root), os.path.realpath(root))
        found = _WALKS.get(key) or _WALKS.setdefault(key, walk_folder(root))
    for message in found.warnings:
        warn(message)
    return found


def walk_folder(root: Path) -> Walk:
    """Every YAML file under `root` as (path, real path, path relative to `root` with `/`),
    sorted by path, and every folder walked. (The relative path is built as text on the
    way down: pathlib's relative_to for each of thousands of files is a measurable part of
    a run's start.)

    One pass with os.scandir, which knows each entry's type without another system call,
    and an explicit stack instead of recursion: the hidden and tool folders of SKIP_DIRS
    are skipped, symlinks are followed only when they stay inside the repository and out
    of its .git folder (a warning says which are not), every folder is walked once
    (symlink loops), a folder that cannot be read is an error rather than a silent gap,
    and so is a FIFO or device named like a manifest (reading it would block).
    """
    out = Walk()
    walked: set[str] = set()
    boundary = str(repository_root(root))
    # The stack holds folders and files alike, each folder's entries pushed in reverse name
    # order: popped, they come out as a recursive walk in sorted order visits them, which is
    # the order of their paths' parts (no sort afterwards).
    stack: list[tuple[Path, str, str, bool]] = [(root, os.path.realpath(root), "", True)]
    child = getattr(type(root), "_make_child_relpath", None)  # pathlib's own (3.11, 3.12): 4x faster than /
    while stack:
        here, real_here, rel_here, is_dir = stack.pop()
        if not is_dir:
            out.files.append((here, real_here, rel_here))
            continue
        if real_here in walked:
            continue
        walked.add(real_here)
        out.folders.append((str(here), real_here))
        try:
            entries = listing(here, real_here)
        except OSError as err:
            raise InputError(f"cannot read folder: {err.strerror}", Location.whole(str(here))) from None
        base = real_here.rstrip("/")
        shown = str(here)  # (an entry's path as os.scandir(here) names it: the listing may be another's)
        below: list[tuple[Path, str, str, bool]] = []
        for e in entries:
            name = e.name
            if name.startswith("."):
                continue
            try:
                if e.is_symlink():
                    path = os.path.join(shown, name)
                    real = os.path.realpath(path)
                    out.links.append((path, real))
                    why = escapes(real, boundary)
                    if why is not None:
                        out.warnings.append(f"{Location(path)}: warning: not following symlink to "
                                            f"{path_text(real)}: {why}")
                        continue
                    if not os.path.exists(real):
                        out.warnings.append(f"{Location(path)}: warning: skipping broken symlink to "
                                            f"{path_text(real)}")
                        continue
                else:
                    real = ""
                is_dir = e.is_dir()
                is_file = not is_dir and e.is_file()
            except OSError:
                continue
            if is_dir:
                if name not in SKIP_DIRS:
                    below.append((child(here, name) if child else here / name, real or f"{base}/{name}",
                                  f"{rel_here}{name}/", True))
            elif name.endswith(SUFFIXES):
                if not is_file:
                    raise InputError(NOT_REGULAR, Location.whole(os.path.join(shown, name)))
                below.append((child(here, name) if child else here / name, real or f"{base}/{name}",
                              rel_here + name, False))
        stack.extend(reversed(below))
    return out
