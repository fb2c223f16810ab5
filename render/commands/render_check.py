"""`meshrender render-check`: fail when committed rendered output is stale.

This is the `meshrender-render-check` pre-commit hook. With no arguments it finds every
folder under the current one that `render -o` wrote (by its `.meshrender-output` marker)
and re-runs the render the marker records, so the hook needs no configuration and cannot
drift from the command that produced the folder. With `PATH... --against DIR` it checks
DIR against a render of PATH with the options given, like `meshrender diff`.

It compares files, not fields: a hook only has to say *that* the output is stale and how
to refresh it (`meshrender diff` shows what changed, field by field). Exit status: 0 up to
date, 1 stale, 2 bad input or usage.
"""

from __future__ import annotations

import collections
import os
import sys
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from meshrender.cli import CONTEXT, common_options, handle_errors, make_options


@dataclass
class Staleness:
    """How a folder differs from what a render writes (paths relative to the folder)."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.changed or self.missing or self.extra)


def staleness(expected: dict[str, str], root: Path, unchanged: Collection[str] = (),
              actual: dict[str, str] | None = None) -> Staleness:
    """Which files of `root` a render writing `expected` would change, add or remove.

    Line endings are compared as LF: a Windows checkout with core.autocrlf holds CRLF
    files that Git stores, and Argo CD reads, exactly as meshrender writes them. The
    committed files are read as untrusted input (committed.existing_files, read_committed):
    regular files only, each within the input size limit. Files in `unchanged` are
    known to hold what a render writes (an incremental check hashed them): not read.
    """
    from meshrender.inputs.committed import existing_files, read_committed

    shown = str(root)  # as given (or found), like diff's --against
    if actual is None:  # (an incremental check walked the folder already)
        actual = existing_files(root, shown) if root.is_dir() else {}
    result = Staleness()
    for rel in sorted(set(expected) | set(actual) | set(unchanged)):
        if rel in unchanged and rel not in expected:
            if rel not in actual:
                result.missing.append(rel)
            continue
        if rel not in actual:
            result.missing.append(rel)
        elif rel not in expected:
            result.extra.append(rel)
        else:
            try:
                text = read_committed(actual[rel], f"{shown}/{rel}").decode("utf-8").replace("\r\n", "\n")
            except UnicodeDecodeError:
                text = None
            if text != expected[rel]:
                result.changed.append(rel)
    return result


def find_outputs(root: Path, found: Callable[[Path], None] | None = None) -> list[Path]:
    """Folders under `root` that `render -o` wrote, outermost only, in sorted order;
    `found` is called with each as soon as the walk meets it (shallowest first: the
    caller can begin work on it while the walk goes on).

    Walked breadth first, with a queue instead of recursion and without following
    symlinks: a deep or looping tree in the repository neither recurses nor repeats. The
    folders it lists are kept for the input walk that follows (inputs.walk.listing)."""
    from meshrender.inputs.committed import MARKER
    from meshrender.inputs.files import SKIP_DIRS
    from meshrender.inputs.walk import listing

    out = []
    queue = collections.deque([(str(root), os.path.realpath(root))])
    while queue:
        here, real = queue.popleft()
        try:
            entries = listing(here, real, keep=True)
        except OSError:
            continue
        if any(e.name == MARKER for e in entries):
            out.append(Path(here))
            if found is not None:
                found(out[-1])
            continue
        base = real.rstrip("/")
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False) and e.name not in SKIP_DIRS and not e.name.startswith("."):
                    queue.append((e.path, f"{base}/{e.name}"))
            except OSError:
                continue
    return sorted(out, key=lambda p: p.parts)


def _show(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def _check_one(out_dir: Path, recipe: Any, bar: Any, committed: Any = None) -> bool:
    """Render `recipe` and compare it with `out_dir`; print a report when stale.
    `committed`: the folder's files being hashed already (incremental.hash_committed)."""
    from meshrender.run import incremental

    with incremental.Check(out_dir, recipe, str(out_dir), committed) as check:  # (hashes the folder from here on)
        from meshrender import config
        from meshrender.run import output

        output.check_output_dir(out_dir, list(recipe.paths))
        check.begin_inputs()  # (walked by the line above: a worker hashes them from here on)
        options = recipe.options.with_config(config.resolve(list(recipe.paths), recipe.options.config.path and
                                                            str(recipe.options.config.path)))
        stale = _staleness(out_dir, recipe, options, bar, check)
    bar.close()
    from meshrender.safetext import line_text, lines_text

    shown = _show(out_dir)
    if not stale:
        click.echo(line_text(f"meshrender: {shown} is up to date"), err=True)
        return True
    lines = [f"{shown} is stale: rendering {' '.join(map(_show, map(Path, recipe.paths)))} gives other output"]
    lines += [f"  changed  {shown}/{r}" for r in stale.changed]
    lines += [f"  missing  {shown}/{r}" for r in stale.missing]
    lines += [f"  extra    {shown}/{r}  (a render removes it)" for r in stale.extra]
    lines += ["Refresh it with:", f"  {recipe.command(out_dir)}"]
    click.echo(lines_text(lines))  # names come from the repository: escaped
    return False


def _staleness(out_dir: Path, recipe: Any, options: Any, bar: Any, check: Any) -> Staleness:
    """How `out_dir` differs from a render of `recipe`: incrementally when its marker
    records digests (`check`, run/incremental.py), else (or when only a full run can tell)
    in full; in verify mode both, failing on any difference."""
    from meshrender.commands.render import load_and_render
    from meshrender.run import incremental, output

    how = incremental.mode()
    outcome = check.run(options, progress=bar)
    if outcome is not None:
        stale = staleness(output.rendered_files(outcome.rendered.outputs), out_dir, outcome.unchanged,
                          outcome.committed)
        if how != "verify":
            return stale
    full = staleness(output.rendered_files(load_and_render(list(recipe.paths), options, bar).outputs), out_dir)
    if outcome is not None and stale != full:
        raise incremental.Disagreement(f"render-check of {out_dir}: incremental {stale}, full {full}")
    return full


@click.command("render-check", context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--against", metavar="DIR", type=click.Path(file_okay=False),
              help="The rendered folder to check (default: every folder `render -o` wrote, found by "
                   "its marker, re-rendered as the marker records).")
@common_options
@handle_errors
@click.pass_context
def render_check(ctx: click.Context, paths: tuple[str, ...], against: str | None, **kw: Any) -> None:
    """Fail (exit 1) when rendered output is stale, and print the command that refreshes it."""
    from meshrender.errors import Location, UsageError
    from meshrender.run import incremental

    explicit = [p.opts[0] for p in ctx.command.params
                if p.name in kw and ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE]
    targets: list[tuple[Path, Any]] = []
    early: dict[Path, Any] = {}  # output folder -> its committed files being hashed
    try:
        if paths:
            from meshrender.run import recipe as recipe_mod

            if not against:
                raise UsageError("PATH... needs --against DIR (the rendered folder to check)")
            targets.append((Path(against), recipe_mod.Recipe(tuple(paths), make_options(list(paths), **kw),
                                                             recipe_mod.recorded_digests(Path(against)))))
        else:
            if explicit:
                raise UsageError(f"{explicit[0]} applies to PATH... --against DIR; "
                                 "without PATH the render recorded in the folder is re-run as it was")
            def begin(d: Path) -> None:
                """The first folder found has its committed files hashed from here on, while
                the walk goes on and the recipe and the modules a render needs are read
                (run/incremental.py, hash_committed)."""
                if not early:
                    early[d] = incremental.hash_committed(d, str(d))

            dirs = [Path(against)] if against else find_outputs(Path("."), begin)
            if not dirs:
                raise UsageError("found no folder written by `meshrender render -o` (none has a .meshrender-output "
                                 "marker); render one first, or pass PATH... --against DIR", Location.whole("."))
            if against:
                begin(dirs[0])
            from meshrender.run import recipe as recipe_mod

            for d in dirs:
                r = recipe_mod.read(d) if d.is_dir() else None
                if r is None:
                    raise UsageError(f"{_show(d)} does not record the render it came from (it was written by an "
                                     "older meshrender, or is not a render -o folder); re-render it once, or pass "
                                     f"PATH... --against {_show(d)}")
                if r.from_stdin:
                    raise UsageError(f"{_show(d)} was rendered from standard input, which cannot be re-read; "
                                     f"pass PATH... --against {_show(d)}")
                targets.append((d, r))
        from meshrender.progress import Progress

        fresh = True
        with Progress() as bar:
            for out_dir, r in targets:
                fresh = _check_one(out_dir, r, bar, early.pop(out_dir, None)) and fresh
    finally:
        for hashing in early.values():
            if hashing is not None:
                hashing.close()
    sys.exit(0 if fresh else 1)
