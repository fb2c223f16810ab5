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


def _walk(root: Path) -> list[tuple[Path, str]]:
    """(path, real path) of every YAML file under `root`, sorted by path.

    One pass with os.scandir, which knows each entry's type without another system call:
    the hidden and tool folders of SKIP_DIRS are skipped, and so are symlinks leading
    outside the folder they were found in (a symlinked folder inside it is walked, once).
    """
    out: list[tuple[Path, str]] = []
    walked: set[str] = set()

    def walk(here: Path, real_here: str, real_top: str) -> None:
        if real_here in walked:
            return
        walked.add(real_here)
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            return
        top = real_top.rstrip("/") + "/"
        for e in entries:
            name = e.name
            try:
                link = e.is_symlink()
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir or (link and os.path.isdir(e.path)):
                if name in SKIP_DIRS or name.startswith("."):
                    continue
                if not link:
                    walk(here / name, f"{real_here.rstrip('/')}/{name}", real_top)
                else:
                    target = os.path.realpath(e.path)
                    if target == real_top or target.startswith(top):
                        walk(here / name, target, target)
            elif name.endswith(SUFFIXES) and not name.startswith("."):
                real = os.path.realpath(e.path) if link else f"{real_here.rstrip('/')}/{name}"
                if not link or real == real_top or real.startswith(top):
                    out.append((here / name, real))

    real_root = os.path.realpath(root)
    walk(root, real_root, real_root)
    out.sort(key=lambda f: f[0].parts)
    return out


def discover(paths: list[str]) -> list[tuple[str, str, Path | None]]:
    """(display path, output-relative path, file path or None for stdin) for every input."""
    found: list[tuple[str, str, Path | None]] = []
    seen: set[str] = set()
    for arg in paths:
        if arg == "-":
            found.append(("-", "stdin.yaml", None))
            continue
        p = Path(arg)
        if not p.exists():
            raise InputError("no such file or folder", Location(arg, 1, 1))
        if p.is_dir():
            for f, key in _walk(p):
                if key in seen:
                    continue
                seen.add(key)
                found.append((str(f), f.relative_to(p).as_posix(), f))
        else:
            key = str(p.resolve())
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
                # Read what the file holds: asking for the limit allocates it every time.
                size = os.fstat(f.fileno()).st_size
                raw = f.read(min(size, yamlio.MAX_FILE_BYTES) + 1)
                if len(raw) > size:  # more than its size said (a pipe, /proc, a growing file)
                    raw += f.read(yamlio.MAX_FILE_BYTES + 1 - len(raw))
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
