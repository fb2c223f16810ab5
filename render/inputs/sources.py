"""Finding and reading input files: paths, folders (recursively) and stdin.

Folders are walked in sorted order so output never depends on the file system. Symlinks
that lead outside the repository (the Git work tree around the folder, or the folder
itself outside Git) or into its `.git` folder (which may hold credentials: actions/checkout
keeps the token in .git/config) are not followed, so a repository cannot make meshrender
read (and print) files from elsewhere on the CI machine; symlink loops are walked once.
Only regular files are read, whether found in folders or named on the command line: a
FIFO would block forever and a device such as /dev/zero never ends (standard input is
read as `-`). Every read is bounded by meshrender.limits, input files are only ever
opened for reading, and folders are walked without recursion, so a tree thousands of
levels deep is no RecursionError.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError, Location
from meshrender.inputs import objects
from meshrender.inputs.files import TooLarge, _size, read_regular
from meshrender.inputs.walk import walk
from meshrender.limits import MAX_FILE_BYTES, MAX_TOTAL_BYTES
from meshrender.yamlio import Document

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
    skipped: bool = False  # holds no Kubernetes manifest: not rendered, not written


def _walk(root: Path, warn: Warn) -> list[tuple[Path, str, str]]:
    return walk(root, warn).files


def discover(paths: list[str], warn: Warn | None = None,
             exclude: Callable[[Path], bool] | None = None,
             excluded: list[str] | None = None) -> list[tuple[str, str, Path | None]]:
    """(display path, output-relative path, file path or None for stdin) for every input,
    but those `exclude` (the repository configuration's globs) leaves out (listed in
    `excluded` when given)."""
    warn = warn or _stderr
    found: list[tuple[str, str, Path | None]] = []
    seen: set[str] = set()
    for arg in paths:
        if arg == "-":
            found.append(("-", "stdin.yaml", None))
            continue
        p = Path(arg)
        if not p.exists():
            raise InputError("no such file or folder", Location.whole(arg))
        if p.is_dir():
            for f, key, rel in _walk(p, warn):
                if key in seen:
                    continue
                if exclude is not None and exclude(f):
                    if excluded is not None:
                        excluded.append(str(f))
                    continue
                seen.add(key)
                found.append((str(f), rel, f))
        else:
            key = str(p.resolve())
            if key in seen:
                continue
            if exclude is not None and exclude(p):
                if excluded is not None:
                    excluded.append(str(p))
                continue
            seen.add(key)
            rel = p.name
            with contextlib.suppress(ValueError):
                rel = p.resolve().relative_to(Path.cwd().resolve()).as_posix()
            found.append((str(p), rel, p))
    return found


def _read_bounded(f: object, limit: int) -> bytes:
    return f.read(limit + 1)  # type: ignore[attr-defined]


def read_bytes(display: str, path: Path | None, budget: int = MAX_TOTAL_BYTES) -> bytes:
    """The bytes of one input, refusing more than MAX_FILE_BYTES (or what is left of the
    run's MAX_TOTAL_BYTES) without reading further: stdin may be endless."""
    limit = min(MAX_FILE_BYTES, budget)
    if path is None:
        raw = _read_bounded(sys.stdin.buffer, limit)
        if len(raw) > limit:
            raise _too_large(limit, display)
        return raw
    try:
        return read_regular(path, display, limit)
    except TooLarge:
        raise _too_large(limit, display) from None


def _too_large(limit: int, display: str) -> InputError:
    if limit == MAX_FILE_BYTES:
        return InputError(f"file is larger than {_size(MAX_FILE_BYTES)}, the most meshrender reads "
                          "from one file (see docs/bad-input.md, Limits); split it", Location(display))
    return InputError(f"the inputs together are larger than {_size(MAX_TOTAL_BYTES)}, the most "
                      "meshrender reads in one run (see docs/bad-input.md, Limits); render fewer "
                      "files at a time", Location(display))


def read_text(display: str, path: Path | None, budget: int = MAX_TOTAL_BYTES) -> str:
    return yamlio.decode(read_bytes(display, path, budget), display)


def check_total_size(found: list[tuple[str, str, Path | None]], stdin_bytes: int = 0) -> None:
    """Refuse a run whose inputs together exceed MAX_TOTAL_BYTES, before reading them
    (their sizes from the file system), naming the file that crosses the limit."""
    total = stdin_bytes
    for display, _, path in found:
        if path is None:
            continue
        with contextlib.suppress(OSError):
            total += os.stat(path).st_size
        if total > MAX_TOTAL_BYTES:
            raise InputError(f"the inputs together are larger than {_size(MAX_TOTAL_BYTES)}, the most "
                             "meshrender reads in one run (see docs/bad-input.md, Limits); render fewer "
                             "files at a time", Location(display))


def check_objects(docs: list[Document]) -> None:
    """Every document must be a Kubernetes object (render/inputs/objects.py)."""
    for doc in docs:
        objects.check(doc)


def is_manifest(data: Any) -> bool:
    """A document that says it is a Kubernetes object: a map with apiVersion and kind, but
    not a build tool's configuration (render/data/tool-kinds.yaml: kustomizations, ...)."""
    if not isinstance(data, dict) or "apiVersion" not in data or "kind" not in data:
        return False
    api = data["apiVersion"]
    if not isinstance(api, str):
        return True  # objects.check says what is wrong with it
    groups = _tool_groups()
    return api not in groups and api.rpartition("/")[0] not in groups


@cache
def _tool_groups() -> frozenset[str]:
    from meshrender import bundled

    return frozenset(bundled.load("tool-kinds.yaml")["groups"])


def may_hold_manifests(text: str) -> bool:
    """False only for a file that cannot hold a Kubernetes manifest: no document of it
    spells both apiVersion and kind (a kustomization, a Helm chart's values, a CI or
    pre-commit config). Checked on the text, so such files are not even parsed."""
    return "apiVersion" in text and "kind" in text


def check_counts(found: list[tuple[str, str, Path | None]], counts: list[int], paths: list[str],
                 warn: Warn | None = None) -> None:
    """An input without documents: a warning for a file, an error for stdin (the command
    feeding meshrender probably failed), and an error when no input has any: rendering
    nothing would make Argo CD prune every object of the application."""
    warn = warn or _stderr
    for (display, _, path), count in zip(found, counts, strict=True):
        if count:  # documents, or (-1) a file that is no manifest, skipped
            continue
        if path is None:
            raise InputError("stdin holds no YAML documents; did the command feeding meshrender fail? "
                             "An empty render would make Argo CD prune every object of the application",
                             Location(display))
        warn(f"{Location(display)}: warning: file holds no YAML documents; nothing to render from it")
    if not any(c > 0 for c in counts):
        skipped = sum(1 for c in counts if c < 0)
        what = (f"no Kubernetes manifests in the inputs ({skipped} file{'s' if skipped != 1 else ''} without "
                "apiVersion and kind skipped)") if skipped else "no YAML documents in the inputs"
        raise InputError(f"{what}; an empty render would make Argo CD (or any GitOps sync) prune every object "
                         "of the application. Check the paths", Location.whole(paths[0] if paths else "."))
