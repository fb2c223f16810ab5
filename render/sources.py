"""Finding and reading input files: paths, folders (recursively) and stdin.

Folders are walked in sorted order so output never depends on the file system. Symlinks
that lead outside the folder being read are not followed, so a repository cannot make
meshrender read (and print) files from elsewhere on the CI machine.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render import yamlio
from render.errors import InputError, Location
from render.yamlio import Document

SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__", ".hg", ".svn"})


@dataclass
class SourceFile:
    """One input file: where it is, where its output goes, and its documents."""

    display: str
    rel: str
    path: Path | None
    docs: list[Document] = field(default_factory=list)


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def _walk(root: Path) -> list[Path]:
    real_root = root.resolve()
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        here = Path(dirpath)
        for d in list(dirnames):
            p = here / d
            if p.is_symlink() and not _inside(p.resolve(), real_root):
                dirnames.remove(d)
        for name in sorted(filenames):
            if not name.endswith(SUFFIXES) or name.startswith("."):
                continue
            p = here / name
            if p.is_symlink() and not _inside(p.resolve(), real_root):
                continue
            out.append(p)
    # Symlinked folders inside the root: walk them too (os.walk does not follow them).
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        for d in dirnames:
            p = Path(dirpath) / d
            if p.is_symlink() and p.is_dir() and _inside(p.resolve(), real_root):
                out.extend(_walk(p))
    return sorted(set(out))


def discover(paths: list[str]) -> list[tuple[str, str, Path | None]]:
    """(display path, output-relative path, file path or None for stdin) for every input."""
    found: list[tuple[str, str, Path | None]] = []
    seen: set[Path] = set()
    for arg in paths:
        if arg == "-":
            found.append(("-", "stdin.yaml", None))
            continue
        p = Path(arg)
        if not p.exists():
            raise InputError("no such file or folder", Location(arg, 1, 1))
        if p.is_dir():
            for f in _walk(p):
                key = f.resolve()
                if key in seen:
                    continue
                seen.add(key)
                found.append((str(f), f.relative_to(p).as_posix(), f))
        else:
            key = p.resolve()
            if key in seen:
                continue
            seen.add(key)
            rel = p.name
            with contextlib.suppress(ValueError):
                rel = p.resolve().relative_to(Path.cwd().resolve()).as_posix()
            found.append((str(p), rel, p))
    return found


def read_text(display: str, path: Path | None) -> str:
    if path is None:
        raw = sys.stdin.buffer.read()
    else:
        try:
            with open(path, "rb") as f:
                raw = f.read(yamlio.MAX_FILE_BYTES + 1)
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror}", Location(display, 1, 1)) from None
    return yamlio.decode(raw, display)


def load(paths: list[str], progress: Callable[[int, int], Any] | None = None) -> list[SourceFile]:
    """Read and parse every input; `progress(done, total)` is called after each file."""
    files = []
    found = discover(paths)
    for display, rel, path in found:
        text = read_text(display, path)
        files.append(SourceFile(display, rel, path, yamlio.parse(text, display)))
        if progress:
            progress(len(files), len(found))
    return files
