"""How an output folder was rendered, recorded in its marker so it can be checked and refreshed.

`render -o DIR` replaces DIR whole and leaves `.meshrender-output` in it. The marker also
records the inputs and options of that render, with paths relative to DIR, so the
pre-commit hook (`meshrender render-check`) can re-run exactly that render with no
configuration of its own, and can print the command that refreshes a stale folder. A
hook configured separately from the render it checks drifts from it (a new input folder,
a bumped --kube-version) and then reports stale output that is not, or misses output
that is.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from meshrender.errors import InputError, Location
from meshrender.run.output import MARKER
from meshrender.settings.resolve import Options

HEADER = """\
# Written by `meshrender render -o`; this folder is replaced whole on every run.
# The render it came from (paths relative to this folder). `meshrender render-check`
# (the meshrender-render-check pre-commit hook) re-runs it to tell whether it is stale.
"""

# (flag, Options field, holds file paths)
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

    def marker_text(self, out_dir: Path) -> str:
        spec: dict[str, Any] = {"paths": [_rel(p, out_dir) for p in self.paths]}
        for flag, attr, is_path in FLAGS:
            value = getattr(self.options, attr)
            if attr not in self.options.given:  # the repository configuration's, read again each time
                continue
            spec[flag] = [_rel(v, out_dir) for v in value] if is_path else value
        return HEADER + yaml.safe_dump({"render": spec}, sort_keys=False, default_flow_style=None, width=1000)

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


def _strings(value: Any, where: Location, key: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError("must be a list of paths", where, field=f"render.{key}")
    return value


def read(out_dir: Path) -> Recipe | None:
    """The render recorded in `out_dir`'s marker; None if it records none (older meshrender)."""
    marker = out_dir / MARKER
    where = Location(str(marker))
    try:
        data = yaml.safe_load(marker.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", where) from None
    except yaml.YAMLError:
        return None
    spec = data.get("render") if isinstance(data, dict) else None
    if not isinstance(spec, dict):
        return None
    known = {flag: (attr, is_path) for flag, attr, is_path in FLAGS}
    paths = [p if p == "-" else os.path.normpath(out_dir / p) for p in _strings(spec.get("paths"), where, "paths")]
    changes: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "paths":
            continue
        if key not in known:
            raise InputError(f"unknown option {key!r} (written by a newer meshrender?)", where, field=f"render.{key}")
        attr, is_path = known[key]
        if is_path:
            changes[attr] = tuple(os.path.normpath(out_dir / p) for p in _strings(value, where, key))
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            changes[attr] = str(value)
        else:
            raise InputError("must be a string", where, field=f"render.{key}")
    return Recipe(tuple(paths), replace(_DEFAULTS, **changes, given=frozenset(changes)))
