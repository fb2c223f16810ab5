"""How an output folder was rendered, recorded in its marker so it can be checked and refreshed.

`render -o DIR` replaces DIR whole and leaves `.meshrender-output` in it. The marker also
records the inputs and options of that render, with paths relative to DIR, so the
pre-commit hook (`meshrender render-check`) can re-run exactly that render with no
configuration of its own, and can print the command that refreshes a stale folder. A
hook configured separately from the render it checks drifts from it (a new input folder,
a bumped --kube-version) and then reports stale output that is not, or misses output
that is.

A marker is repository content, so it is read as untrusted input: it must be a regular
file (not a symlink, FIFO or device) within the input size limit; the paths it records
must be relative and lie inside the repository that holds it once `..` and symlinks are
resolved, and not in its `.git` folder (a committed marker naming `../../etc/passwd` or a
token file would make the hook print the start of that file); it may hold only the
options meshrender records, with values of their type. Its format:

    version: 1              # absent in markers of meshrender before 0.2: read as 1
    render:
      paths: [../apps]      # relative to the folder that holds the marker
      kube-version: "1.30"  # options that differ from their defaults, as on the command line

A marker whose `version` is newer than this meshrender knows is refused (not guessed at).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError, Location
from meshrender.inputs.committed import MARKER
from meshrender.limits import MAX_FILE_BYTES
from meshrender.settings.options import Options

HEADER = """\
# Written by `meshrender render -o`; this folder is replaced whole on every run.
# The render it came from (paths relative to this folder). `meshrender render-check`
# (the meshrender-render-check pre-commit hook) re-runs it to tell whether it is stale.
"""

# The marker format this meshrender writes and reads (see the module docstring).
VERSION = 1

# (flag, Options field, holds file paths); a marker may record these and nothing else
FLAGS = (
    ("flavor", "flavor", False),
    ("kube-version", "kube_version", False),
    ("native-sidecars", "native_sidecars", False),
    ("namespace", "namespace", False),
    ("values", "values_files", True),
    ("mesh-config", "mesh_config_files", True),
    ("compliance-policy", "compliance_policy", False),
    ("provider", "provider", False),
    ("mesh-version", "mesh_version", False),
)
_DEFAULTS = Options()
# Where the digests block starts (run/incremental.py writes it), and how large a marker
# may be: the block holds a line per input file.
DIGESTS_START = b"\ndigests: |\n"
MAX_MARKER_BYTES = MAX_FILE_BYTES
# Options whose value is one of a few words (as the command line's click.Choice).
CHOICES = {"flavor": ("asm", "istio"), "native-sidecars": ("true", "false", "auto")}


def _rel(path: str, base: Path) -> str:
    if path == "-":
        return path
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(base))).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(os.path.abspath(path)).as_posix()


@dataclass(frozen=True)
class Recipe:
    """The inputs and options of one render, with paths as the current process sees them."""

    paths: tuple[str, ...]
    options: Options
    # The marker's `digests` block as read (run/incremental.py parses it), if any.
    digests: str | None = field(default=None, compare=False, repr=False)

    def marker_text(self, out_dir: Path, digests: str = "") -> str:
        """The marker: this recipe, then `digests` (run/incremental.py's block, last)."""
        return self._recipe_text(out_dir) + digests

    def _recipe_text(self, out_dir: Path) -> str:
        spec: dict[str, Any] = {"paths": [_rel(p, out_dir) for p in self.paths]}
        for flag, attr, is_path in FLAGS:
            value = getattr(self.options, attr)
            if attr not in self.options.given:  # the repository configuration's, read again each time
                continue
            spec[flag] = [_rel(v, out_dir) for v in value] if is_path else value
        # Written as every output is (Kubernetes' quoting), read back by yamlio: a path
        # such as `08` stays a string.
        return HEADER + yamlio.dump({"version": VERSION, "render": spec}, sort_keys=False)

    def argv(self, out_dir: Path, cwd: Path | None = None, as_given: bool = False) -> list[str]:
        """`render` arguments that redo this render into `out_dir`: paths relative to `cwd`,
        or (`as_given`) as the user typed them."""
        here = cwd or Path.cwd()

        def path(p: str) -> str:
            return p if as_given else _rel(p, here)

        args = ["render", *map(path, self.paths), "-o", path(str(out_dir))]
        for flag, attr, is_path in FLAGS:
            value = getattr(self.options, attr)
            if attr not in self.options.given:
                continue
            for v in value if is_path else [value]:
                args += [f"--{flag}", path(v) if is_path else str(v)]
        return args

    def command(self, out_dir: Path, cwd: Path | None = None, as_given: bool = False) -> str:
        return shlex.join(["meshrender", *self.argv(out_dir, cwd, as_given)])

    @property
    def from_stdin(self) -> bool:
        return "-" in self.paths


def repository_of(out_dir: Path) -> Path:
    """The repository a marker in `out_dir` belongs to, which its paths may not leave: the
    Git work tree holding it; outside Git, the current folder when `out_dir` is inside it
    (render-check is run from the repository's root), else the folder holding `out_dir`."""
    from meshrender.inputs.walk import git_root

    root = git_root(out_dir)
    if root is not None:
        return root
    here = Path.cwd().resolve()
    real = out_dir.resolve()
    return here if real.is_relative_to(here) else real.parent


class _Marker:
    """A parsed marker: values and the location of each field, for messages."""

    def __init__(self, doc: yamlio.Document, display: str):
        self.doc = doc
        self.display = display

    def at(self, *path: str | int) -> Location:
        return yamlio.locate(self.doc, path)

    def error(self, message: str, *path: str | int) -> InputError:
        from meshrender.errors import field_path

        return InputError(message, self.at(*path), field=field_path(path))


def _text(value: Any, marker: _Marker, *path: str | int) -> str:
    """A recorded option value: a string (a number for a version) with nothing in it a
    terminal or a shell would read as more than text."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise marker.error("must be a string", *path)
    text = str(value)
    if not text.isprintable():
        raise marker.error("holds a control character; a marker records plain option values", *path)
    return text


def _contained(value: Any, marker: _Marker, out_dir: Path, boundary: Path, *path: str | int) -> str:
    """A recorded path, as a path the current process can open, once shown to stay inside
    the repository: relative, not out of it through `..` or a symlink, not into .git."""
    from meshrender.inputs.walk import escapes

    if not isinstance(value, str) or not value:
        raise marker.error("must be a path (a string)", *path)
    if value == "-":
        return value
    if not value.isprintable():
        raise marker.error("holds a control character; a marker records plain paths", *path)
    if os.path.isabs(value):
        raise marker.error(f"{value} is an absolute path; a marker records paths relative to its folder", *path)
    joined = os.path.normpath(out_dir / value)
    real = os.path.realpath(joined)
    why = escapes(real, str(boundary))
    if why is not None:
        raise marker.error(f"{value} is not a path render-check may read: {why}; a marker names only files "
                           f"inside the repository that holds it (pass PATH... --against DIR to check other "
                           "inputs)", *path)
    return joined


def read(out_dir: Path) -> Recipe | None:
    """The render recorded in `out_dir`'s marker; None if it records none (older meshrender).

    The marker is untrusted (see the module docstring): InputError, at its file, line and
    field, for a marker that is not a regular file, is too large, names a path outside its
    repository or an option meshrender does not record."""
    from meshrender.inputs.files import read_regular

    display = str(out_dir / MARKER)
    raw = read_regular(out_dir / MARKER, display, follow=False, limit=MAX_MARKER_BYTES)
    # The digests block (last, one JSON line per file) is parsed only by an incremental
    # check, line by line: the recipe above it is small YAML.
    head, found, block = raw.partition(DIGESTS_START)
    if found:
        raw = head + b"\n"
    docs = yamlio.parse(yamlio.decode(raw, display), display)  # bounded like any input
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        return None  # the plain sentence of a marker written before recipes
    marker = _Marker(docs[0], display)
    data = docs[0].data
    version = data.get("version", VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        raise marker.error("must be a whole number (the marker format's version)", "version")
    if version > VERSION:
        raise marker.error(f"this marker has format version {version}, newer than this meshrender reads "
                           f"({VERSION}); upgrade meshrender", "version")
    spec = data.get("render")
    if not isinstance(spec, dict):
        return None
    boundary = repository_of(out_dir)
    known = {flag: (attr, is_path) for flag, attr, is_path in FLAGS}
    paths_value = spec.get("paths")
    if isinstance(paths_value, str):
        paths_value = [paths_value]
    if not isinstance(paths_value, list) or not paths_value:
        raise marker.error("must be a list of paths", "render", "paths")
    paths = [_contained(p, marker, out_dir, boundary, "render", "paths", i) for i, p in enumerate(paths_value)]
    changes: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "paths":
            continue
        if key not in known:
            raise marker.error(f"unknown option {key!r}; a marker records only the options "
                               f"{', '.join(f for f, _, _ in FLAGS)} (written by a newer meshrender?)",
                               "render", str(key))
        attr, is_path = known[key]
        if is_path:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list):
                raise marker.error("must be a list of paths", "render", key)
            changes[attr] = tuple(_contained(v, marker, out_dir, boundary, "render", key, i)
                                  for i, v in enumerate(items))
            continue
        text = _text(value, marker, "render", key)
        if key in CHOICES and text not in CHOICES[key]:
            raise marker.error(f"{text!r} is not one of {', '.join(CHOICES[key])}", "render", key)
        changes[attr] = text
    recorded = block.decode("utf-8", "replace") if found else None
    return Recipe(tuple(paths), replace(_DEFAULTS, **changes, given=frozenset(changes)), recorded)


def recorded_digests(out_dir: Path) -> str | None:
    """The digests block of `out_dir`'s marker, for a check given its own paths and
    options (diff, render-check PATH... --against DIR): None when there is none or the
    marker cannot be read (the check then runs in full, and says what is wrong if it must)."""
    from meshrender.errors import MeshrenderError

    try:
        recipe = read(out_dir) if (out_dir / MARKER).is_file() else None
    except (MeshrenderError, OSError):
        return None
    return recipe.digests if recipe is not None else None
