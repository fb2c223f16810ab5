"""`meshrender render`: inject the mesh proxy into every workload of the inputs."""

from __future__ import annotations

import sys
from typing import Any

import click

from meshrender.cli import CONTEXT, common_options, handle_errors, input_paths, make_options


@click.command(context_settings=CONTEXT)
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("-o", "--output", "output", metavar="DIR", type=click.Path(file_okay=False),
              help="Write each input file's documents to the same relative path under DIR.")
@common_options
@click.option("--validate", is_flag=True,
              help="Check every rendered workload against the target Kubernetes version's API schema "
                   "(needs meshrender[validate]); on any error exit 2 and write nothing.")
@click.option("--allow-empty", is_flag=True,
              help="Accept a render with no documents to output (by default that is exit 2: an empty "
                   "render makes Argo CD, or any GitOps sync, prune the whole application).")
@click.option("--fail-empty", is_flag=True, hidden=True,
              help="Exit 2 on an empty render: the default now; accepted for existing scripts.")
@click.option("-q", "--quiet", is_flag=True, help="No summary, warnings or progress on stderr.")
@handle_errors
def render(paths: tuple[str, ...], output: str | None, validate: bool, allow_empty: bool, fail_empty: bool,
           quiet: bool, **kw: Any) -> None:
    """Inject the mesh proxy into every workload in PATH (files, folders, or - for stdin)."""
    from pathlib import Path

    from meshrender.errors import InputError, Location, UsageError
    from meshrender.progress import Progress
    from meshrender.run import incremental
    from meshrender.run import output as out_mod
    from meshrender.run.render import Renderer
    from meshrender.run.render import render as run_render
    from meshrender.run.summary import summarize
    from meshrender.safetext import line_text

    if allow_empty and fail_empty:
        raise UsageError("--allow-empty and --fail-empty contradict each other (--fail-empty is the default)")
    paths_list = input_paths(paths)
    options = make_options(paths_list, **kw)
    if output:
        out_mod.check_output_dir(Path(output), paths_list)
    sink: _Folder | _Stdout = _Folder(Path(output)) if output else _Stdout()
    validation = _Validation() if validate else None
    # Everything up to the last message happens inside `with sink`: a signal after the
    # swap is then reported (see render/run/output.py), not a silent exit 143.
    with sink:
        with Progress(enabled=False if quiet else None) as bar:
            def on_file(file: Any, done: Any) -> None:
                sink.add(file, done)
                if validation:
                    validation.add(done.extra)

            renderer = Renderer(on_file, write=sink.write, per_file=validation.setup if validation else None,
                                reuse=sink.reuse if isinstance(sink, _Folder) else None)
            if isinstance(sink, _Folder) and not sink.staging.previous:
                # A first render into DIR: nothing to link from, so nothing to keep (the
                # cache holds digests of -o output, not its text).
                renderer.cache_kind = None
            result = run_render(paths_list, options, renderer, progress=bar,
                                warn=(lambda _: None) if quiet else None, allow_empty=allow_empty,
                                track=bool(output) and incremental.mode() != "off")
        if validation:
            validation.check()
        if not sink.has_output and not allow_empty:
            raise InputError(f"the render has no documents to output (read {result.documents} documents, "
                             f"{result.consumed} of them settings); an empty render would make Argo CD (or "
                             "any GitOps sync) prune every object of the application, so nothing is "
                             "written. Pass --allow-empty if an empty render is what you want",
                             Location.whole(paths_list[0]))
        if output:
            from meshrender.run.recipe import Recipe

            sink.finish(Recipe(tuple(paths_list), options).marker_text(
                Path(output), incremental.block(Path(output), result) if incremental.mode() != "off" else ""))
        else:
            sink.finish()
        if not quiet:
            for note in validation.notes if validation else []:
                click.echo(line_text(f"meshrender: warning: {note}"), err=True)
            for w in result.warnings:
                click.echo(line_text(w), err=True)  # names in them come from the inputs
            if output:
                if getattr(sink, "leftovers", None):
                    click.echo(f"meshrender: removed {len(sink.leftovers)} staging folder(s) that an "
                               f"interrupted run left next to {output}", err=True)
                click.echo(summarize(result, output), err=True)


class _Folder:
    """`-o DIR`: each file is written where it was rendered, into a staging folder that
    replaces DIR only when the whole render succeeded."""

    def __init__(self, out: Any):
        from meshrender.run.output import Staging

        self.staging = Staging(out)
        self.leftovers = self.staging.leftovers
        self.has_output = False
        self._by_rel: dict[str, str] = {}
        self._clash: tuple[str, str, str] | None = None

    def write(self, f: Any, texts: list[str]) -> None:  # in the worker
        from meshrender.yamlio import dump_stream

        self.staging.write(f.rel, dump_stream(texts))

    def reuse(self, f: Any, digest: str) -> bool:  # in the worker
        return self.staging.reuse(f.rel, digest)

    def add(self, file: Any, done: Any) -> None:
        if not done.has_output:
            return
        self.has_output = True
        first = self._by_rel.setdefault(file.rel, file.display)
        if first != file.display and self._clash is None:
            self._clash = (first, file.display, file.rel)

    def finish(self, marker: str) -> None:
        if self._clash:
            from meshrender.errors import Location, UsageError

            first, second, rel = self._clash
            raise UsageError(f"{first} and {second} would both be written to {rel} in the output folder; "
                             "render them into separate folders, or pass the folder that holds both",
                             Location(second))
        self.staging.commit(marker)

    def __enter__(self) -> _Folder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.staging.discard()


class _Stdout:
    """No -o: one YAML stream, in input order, printed only once the render succeeded
    (kept on disk past a few MB, so memory stays flat)."""

    write = None  # the texts come back to this process

    def __init__(self) -> None:
        import tempfile

        self.spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by __exit__
            max_size=32 * 1024 * 1024, mode="w+", encoding="utf-8", newline="\n")
        self.has_output = False

    def add(self, file: Any, done: Any) -> None:
        for t in done.texts or ():
            if self.has_output and not t.startswith("---"):
                self.spool.write("---\n")
            self.spool.write(t)
            self.has_output = True

    def finish(self) -> None:
        import shutil

        self.spool.seek(0)
        shutil.copyfileobj(self.spool, sys.stdout)
        sys.stdout.flush()

    def __enter__(self) -> _Stdout:
        return self

    def __exit__(self, *exc: object) -> None:
        self.spool.close()


class _Validation:
    """--validate: each rendered workload is checked against the target Kubernetes API
    schema in the worker that rendered it; problems are reported once the render is done."""

    def __init__(self) -> None:
        self.problems: list[Any] = []
        self.notes: list[str] = []
        self.version: Any = None
        self._error: Exception | None = None

    def setup(self, run: Any) -> Any:
        from meshrender.errors import MeshrenderError
        from meshrender.kube import apischema as kube_schema

        try:
            self.version = kube_schema.target_version(run.resolver)
            schema = kube_schema.schema_for(self.version)
        except MeshrenderError as e:  # reported after the render, as without workers
            self._error = e
            return None
        self.notes = [schema.note] if schema.note else []

        def check(evaluated: Any) -> list[Any]:
            return [p for e in evaluated.evaluations for p in kube_schema.workload_problems(e, schema)]

        return check

    def add(self, problems: list[Any] | None) -> None:
        self.problems += problems or []

    def check(self) -> None:
        from meshrender.kube import apischema as kube_schema

        if self._error is not None:
            raise self._error
        if self.problems:
            raise kube_schema.SchemaInvalid(self.problems, self.version)


def load_and_render(paths: list[str], options: Any, bar: Any) -> Any:
    """Read and render `paths` (in worker processes), advancing `bar` (a
    meshrender.progress.Progress); the result's `outputs` holds every file's documents."""
    from meshrender.run.render import render

    return render(paths, options, progress=bar)
