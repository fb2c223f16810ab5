"""Finding and reading input files: paths, folders (recursively) and stdin.

Folders are walked in sorted order so output never depends on the file system. Symlinks
that lead outside the repository (the Git work tree around the folder, or the folder
itself outside Git) are not followed, so a repository cannot make meshrender read (and
print) files from elsewhere on the CI machine; symlink loops are walked once. Only
regular files are read from folders (a FIFO named `x.yaml` would block forever), every
read is bounded by render.limits, and input files are only ever opened for reading.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from render import objects, yamlio
from render.errors import InputError, Location
from render.limits import MAX_FILE_BYTES, MAX_TOTAL_BYTES, MiB
from render.yamlio import Document

SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__", ".hg", ".svn"})

Warn = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


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


def repository_root(folder: Path) -> Path:
    """The Git work tree holding `folder` (a `.git` folder or file), else `folder` itself.

    Symlinks may point anywhere inside it: `apps/prod/base -> ../base` is a common layout.
    """
    real = folder.resolve()
    for candidate in (real, *real.parents):
        if (candidate / ".git").exists():
            return candidate
    return real


def _walk(root: Path, warn: Warn) -> list[Path]:
    """Every YAML file under `root`, sorted, with symlinks followed only inside the repository."""
    boundary = repository_root(root)
    visited: set[Path] = set()
    out: list[Path] = []
    stack = [root]
    while stack:
        here = stack.pop()
        real = here.resolve()
        if real in visited:
            continue
        visited.add(real)
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as e:
            raise InputError(f"cannot read folder: {e.strerror}", Location(str(here))) from None
        subdirs = []
        for entry in entries:
            p = Path(here) / entry.name
            if entry.name.startswith("."):
                continue
            link = entry.is_symlink()
            if link:
                target = p.resolve()
                if not _inside(target, boundary):
                    warn(f"{p}:1:1: warning: not following symlink to {target}: it leads outside the "
                         f"repository {boundary}")
                    continue
                if not target.exists():
                    warn(f"{p}:1:1: warning: skipping broken symlink to {target}")
                    continue
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                if entry.name not in SKIP_DIRS:
                    subdirs.append(p)
                continue
            if not entry.name.endswith(SUFFIXES):
                continue
            try:
                mode = entry.stat(follow_symlinks=True).st_mode
            except OSError as e:
                raise InputError(f"cannot read: {e.strerror}", Location(str(p))) from None
            if not stat.S_ISREG(mode):
                raise InputError("not a regular file (a FIFO, socket or device); meshrender reads only "
                                 "regular files from folders", Location(str(p)))
            out.append(p)
        stack.extend(reversed(subdirs))
    return sorted(out)


def discover(paths: list[str], warn: Warn | None = None) -> list[tuple[str, str, Path | None]]:
    """(display path, output-relative path, file path or None for stdin) for every input."""
    warn = warn or _stderr
    found: list[tuple[str, str, Path | None]] = []
    seen: set[Path] = set()
    for arg in paths:
        if arg == "-":
            found.append(("-", "stdin.yaml", None))
            continue
        p = Path(arg)
        if not p.exists():
            raise InputError("no such file or folder", Location(arg))
        if p.is_dir():
            for f in _walk(p, warn):
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


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n} bytes"


def _read_bounded(f: object, limit: int) -> bytes:
    return f.read(limit + 1)  # type: ignore[attr-defined]


def read_bytes(display: str, path: Path | None, budget: int = MAX_TOTAL_BYTES) -> bytes:
    """The bytes of one input, refusing more than MAX_FILE_BYTES (or what is left of the
    run's MAX_TOTAL_BYTES) without reading further: stdin may be endless."""
    limit = min(MAX_FILE_BYTES, budget)
    if path is None:
        raw = _read_bounded(sys.stdin.buffer, limit)
    else:
        try:
            with open(path, "rb") as f:
                raw = _read_bounded(f, limit)
        except OSError as e:
            raise InputError(f"cannot read: {e.strerror}", Location(display)) from None
    if len(raw) > limit:
        if limit == MAX_FILE_BYTES:
            raise InputError(f"file is larger than {_size(MAX_FILE_BYTES)}, the most meshrender reads "
                             "from one file (see docs/bad-input.md, Limits); split it", Location(display))
        raise InputError(f"the inputs together are larger than {_size(MAX_TOTAL_BYTES)}, the most "
                         "meshrender reads in one run (see docs/bad-input.md, Limits); render fewer "
                         "files at a time", Location(display))
    return raw


def read_text(display: str, path: Path | None, budget: int = MAX_TOTAL_BYTES) -> str:
    return yamlio.decode(read_bytes(display, path, budget), display)


def load(paths: list[str], progress: Callable[[int, int], Any] | None = None,
         warn: Warn | None = None) -> list[SourceFile]:
    """Read and parse every input; each document is checked to be a Kubernetes object.
    `progress(done, total)` is called after each file, `warn(message)` for skipped paths."""
    warn = warn or _stderr
    files: list[SourceFile] = []
    budget = MAX_TOTAL_BYTES
    found = discover(paths, warn)
    for display, rel, path in found:
        raw = read_bytes(display, path, budget)
        budget -= len(raw)
        docs = yamlio.parse(yamlio.decode(raw, display), display)
        if not docs and path is None:
            # `kustomize build | meshrender render -` whose producer failed: rendering
            # nothing would make Argo CD prune every object of the application.
            raise InputError("stdin holds no YAML documents; did the command feeding meshrender fail? "
                             "An empty render would make Argo CD prune every object of the application",
                             Location(display))
        if not docs:
            warn(f"{display}:1:1: warning: file holds no YAML documents; nothing to render from it")
        for doc in docs:
            objects.check(doc)
        files.append(SourceFile(display, rel, path, docs))
        if progress:
            progress(len(files), len(found))
    if not any(f.docs for f in files):
        where = paths[0] if paths else "."
        raise InputError("no YAML documents in the inputs; an empty render would make Argo CD (or any "
                         "GitOps sync) prune every object of the application. Check the paths", Location(where))
    return files
