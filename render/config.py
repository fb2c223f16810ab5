"""The repository configuration file, `.meshrender.yaml`: what a team sets once for every
command (render, lint, diff, explain, render-check, the hooks and the Argo CD plugin).

It is found the way ruff and yamllint find theirs: in the folder of the first input, then
each folder above it, up to the root of the Git repository that holds the inputs (a
file outside the repository is never read: a branch cannot point meshrender at one).
`--config FILE` names one; `--config none` uses none. It holds:

- `render`: default render options. Flags win over them, and a ClusterProfile among the
  inputs wins over its render defaults (it describes the cluster; this file a default).
- `exclude`: globs of files and folders not to read (vendored charts, CI configs).
- `lint`: `failOn`, rules turned off or given another severity, and ignores by path and by
  resource for files that cannot carry `meshrender.dev/ignore` annotations.
- `workloadKinds`: kinds whose pod-template path meshrender does not know, declared as
  in `ClusterProfile.spec.workloadKinds`.

The file is checked against schemas/config.json; an error is exit 2 with its file, line
and field, like any settings document.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from meshrender.errors import InputError, Location, UsageError

NAMES = (".meshrender.yaml", ".meshrender.yml")


@dataclass(frozen=True)
class Ignore:
    """One `lint.ignore` entry: rules silenced for paths and/or resources."""

    index: int
    rules: tuple[str, ...]
    paths: tuple[re.Pattern[str], ...] = ()
    resources: tuple[dict[str, str], ...] = ()

    def matches(self, rule: str, rel_path: str | None, workload: str | None) -> bool:
        if "*" not in self.rules and rule not in self.rules:
            return False
        if self.paths and (rel_path is None or not any(p.fullmatch(rel_path) for p in self.paths)):
            return False
        if self.resources:
            if workload is None:
                return False
            kind, _, ns_name = workload.partition(" ")
            namespace, _, name = ns_name.partition("/")
            name = name.split(" ", 1)[0]
            facts = {"kind": kind, "namespace": namespace, "name": name}
            if not any(all(_glob(v).fullmatch(facts[k]) for k, v in r.items()) for r in self.resources):
                return False
        return True


@dataclass(frozen=True, eq=False)
class Config:
    """A loaded `.meshrender.yaml` (or none: every field empty)."""

    path: Path | None = None
    render: dict[str, Any] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    fail_on: str | None = None
    rules: dict[str, str] = field(default_factory=dict)
    ignores: tuple[Ignore, ...] = ()
    workload_kinds: list[dict[str, Any]] = field(default_factory=list)
    doc: Any = None  # the parsed document, for pointing at its fields

    @property
    def base(self) -> Path | None:
        return self.path.parent if self.path is not None else None

    @cached_property
    def _exclude_patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(compile_glob(p) for p in self.exclude)

    def excluded(self, path: str | Path) -> bool:
        """Whether a file or folder is excluded (paths outside this file's folder never are)."""
        rel = self.relative(path)
        return rel is not None and any(p.fullmatch(rel) for p in self._exclude_patterns)

    def relative(self, path: str | Path) -> str | None:
        """`path` relative to this file's folder, with `/`; None when it lies outside it."""
        if self.base is None:
            return None
        try:
            rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(self.base))
        except ValueError:
            return None
        return rel.as_posix()

    def ignored_by(self, rule: str, file: str | None, workload: str | None) -> str | None:
        """Where the configuration silences `rule` for a finding in `file` about `workload`."""
        rel = self.relative(file) if file else None
        for ig in self.ignores:
            if ig.matches(rule, rel, workload):
                return f"{self.path} lint.ignore[{ig.index}]"
        return None

    def default(self, key: str) -> Any:
        return self.render.get(key)

    def location(self, *path: Any) -> Location | None:
        if self.doc is None:
            return None
        from meshrender.yamlio import locate

        return locate(self.doc, path)


NO_CONFIG = Config()


# -- globs ------------------------------------------------------------------------------------

def _glob(pattern: str) -> re.Pattern[str]:
    """A shell pattern within one name (`*`, `?`) for names and namespaces."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern))


def compile_glob(pattern: str) -> re.Pattern[str]:
    """A path glob as gitignore reads it: `*` and `?` within a name, `**` any number of
    folders, a pattern without a `/` (but at its end) matches a name in any folder, and a
    folder's pattern matches everything below it."""
    p = pattern.strip()
    anchored = "/" in p.rstrip("/")
    p = p.strip("/")
    out = []
    i = 0
    while i < len(p):
        if p.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif p.startswith("**", i):
            out.append(".*")
            i += 2
        elif p[i] == "*":
            out.append("[^/]*")
            i += 1
        elif p[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(p[i]))
            i += 1
    body = "".join(out)
    return re.compile(("" if anchored else "(?:.*/)?") + body + "(?:/.*)?")


# -- finding and loading ------------------------------------------------------------------

def _repository_root(start: Path) -> Path | None:
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def find(paths: list[str], cwd: Path | None = None) -> Path | None:
    """The configuration file for inputs `paths`: in the first input's folder or one above
    it, not above the Git repository that holds it (outside a repository: that folder, or
    the folders from it up to the current one)."""
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    first = next((p for p in paths if p != "-"), None)
    start = Path(os.path.abspath(first)) if first else cwd
    if not start.is_dir():
        start = start.parent
    root = _repository_root(start)
    if root is None:
        root = cwd if cwd == start or cwd in start.parents else start
    for folder in (start, *start.parents):
        for name in NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
        if folder == root:
            break
    return None


def load(path: Path) -> Config:
    """Read and check one configuration file."""
    from meshrender import yamlio
    from meshrender.inputs.sources import read_text
    from meshrender.settings import schema

    display = str(path)
    docs = yamlio.parse(read_text(display, path), display)
    if not docs:
        return Config(path)
    if len(docs) > 1:
        raise InputError("a meshrender configuration file holds one YAML document", docs[1].location)
    doc = docs[0]
    schema.validate(doc, "config.json", ".meshrender.yaml")
    data = doc.data
    render = dict(data.get("render") or {})
    base = path.parent
    for key in ("values", "meshConfig"):
        if key in render:
            render[key] = [str(base / p) for p in render[key]]
    lint = data.get("lint") or {}
    ignores = tuple(
        Ignore(i, tuple(entry["rules"]), tuple(compile_glob(p) for p in entry.get("paths") or ()),
               tuple(dict(r) for r in entry.get("resources") or ()))
        for i, entry in enumerate(lint.get("ignore") or ()))
    rules = {rule: "off" if setting is False else setting for rule, setting in (lint.get("rules") or {}).items()}
    config = Config(path, render, tuple(data.get("exclude") or ()), lint.get("failOn"), rules, ignores,
                    list(data.get("workloadKinds") or []), doc)
    _check_rules(config)
    return config


def _check_rules(config: Config) -> None:
    """Rule ids the configuration names must exist (a misspelt id would silently do nothing)."""
    import difflib

    from meshrender.lint.rules import rule_ids

    known = sorted(rule_ids())
    named = [(("lint", "rules", r), r) for r in config.rules]
    named += [(("lint", "ignore", ig.index, "rules", k), r) for ig in config.ignores
              for k, r in enumerate(ig.rules) if r != "*"]
    for path, rule in named:
        if rule not in known:
            close = difflib.get_close_matches(rule, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else "; see meshrender lint --list-rules"
            raise InputError(f"unknown lint rule {rule!r}{hint}", config.location(*path),
                             field=".".join(map(str, path)))


def resolve(paths: list[str], explicit: str | None = None) -> Config:
    """The configuration for a run: `--config FILE`, `--config none`, or the file found."""
    if explicit in ("none", ""):
        return NO_CONFIG
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise UsageError(f"--config {explicit}: no such file")
        return load(path)
    found = find(paths)
    return load(found) if found is not None else NO_CONFIG
