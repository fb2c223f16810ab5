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
import errno
import os
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError, Location
from meshrender.inputs import objects
from meshrender.limits import MAX_FILE_BYTES, MAX_TOTAL_BYTES, MiB
from meshrender.safetext import path_text
from meshrender.yamlio import Document

SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = frozenset({".git", ".venv", "node_modules", "__pycache__", ".hg", ".svn"})

Warn = Callable[[str], None]

NOT_REGULAR = ("not a regular file (a FIFO, socket or device); meshrender reads only regular files "
               "(pipe other input to standard input, `-`)")


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


@contextlib.contextmanager
def remembering_walks() -> Iterator[None]:
    """Within this block each folder is walked once (a command: nothing changes the
    inputs meanwhile); outside it, every walk reads the folder anew."""
    global _WALKS
    outer, _WALKS = _WALKS, {}
    try:
        yield
    finally:
        _WALKS = outer


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
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as err:
            raise InputError(f"cannot read folder: {err.strerror}", Location.whole(str(here))) from None
        base = real_here.rstrip("/")
        below: list[tuple[Path, str, str, bool]] = []
        for e in entries:
            name = e.name
            if name.startswith("."):
                continue
            try:
                link = e.is_symlink()
                real = os.path.realpath(e.path) if link else f"{base}/{name}"
                if link:
                    out.links.append((e.path, real))
                    why = escapes(real, boundary)
                    if why is not None:
                        out.warnings.append(f"{Location(e.path)}: warning: not following symlink to "
                                            f"{path_text(real)}: {why}")
                        continue
                    if not os.path.exists(real):
                        out.warnings.append(f"{Location(e.path)}: warning: skipping broken symlink to "
                                            f"{path_text(real)}")
                        continue
                is_dir = e.is_dir()
                is_file = not is_dir and e.is_file()
            except OSError:
                continue
            if is_dir:
                if name not in SKIP_DIRS:
                    below.append((child(here, name) if child else here / name, real, f"{rel_here}{name}/", True))
            elif name.endswith(SUFFIXES):
                if not is_file:
                    raise InputError(NOT_REGULAR, Location.whole(e.path))
                below.append((child(here, name) if child else here / name, real, rel_here + name, False))
        stack.extend(reversed(below))
    return out


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


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n % MiB == 0 else f"{n} bytes"


def _read_bounded(f: object, limit: int) -> bytes:
    return f.read(limit + 1)  # type: ignore[attr-defined]


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
