"""Writing rendered files, all or nothing.

The output folder is built next to its final place and swapped in only when every file
is written, so a failed run leaves the previous output as it was. A folder meshrender
did not create is never replaced (it could be someone's work), and the output may not
sit inside the inputs (the next run would read its own output).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from render.errors import UsageError
from render.yamlio import dump_stream

MARKER = ".meshrender-output"


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def check_output_dir(out: Path, inputs: list[str]) -> None:
    """Refuse output folders that would overwrite inputs or someone else's files."""
    target = out.resolve()
    for arg in inputs:
        if arg == "-":
            continue
        src = Path(arg).resolve()
        base = src if src.is_dir() else src.parent
        if src.is_dir() and (_inside(target, src) or target == src):
            raise UsageError(f"output folder {out} is inside the input folder {arg}; "
                             "the next run would read its own output. Choose a folder outside it")
        if not src.is_dir() and target == base and src.suffix in (".yaml", ".yml"):
            raise UsageError(f"output folder {out} is the folder of input {arg}; choose another folder")
    if target.exists():
        if not target.is_dir():
            raise UsageError(f"output path {out} exists and is not a folder")
        if any(target.iterdir()) and not (target / MARKER).exists():
            raise UsageError(
                f"output folder {out} already holds files that meshrender did not write; "
                "choose an empty or new folder (meshrender replaces its output folder whole)")


def rendered_files(outputs: list[tuple[Any, list[str]]]) -> dict[str, str]:
    """What `render -o` writes: relative path -> text, for every input file with output.

    Two inputs with the same relative path (`a/x.yaml` and `b/x.yaml` from `render a b`)
    would overwrite each other's output, losing documents: that is refused.
    """
    files: dict[str, str] = {}
    source: dict[str, str] = {}
    for f, texts in outputs:
        if not texts:
            continue
        if f.rel in files:
            raise UsageError(f"{source[f.rel]} and {f.display} would both be written to {f.rel} in the output "
                             "folder; render them into separate folders, or pass the folder that holds both")
        files[f.rel] = dump_stream(texts)
        source[f.rel] = f.display
    return files


MARKER_TEXT = "This folder is written by `meshrender render -o`; it is replaced whole on every run.\n"


def write_tree(out: Path, files: dict[str, str], marker: str = MARKER_TEXT) -> None:
    """Replace folder `out` with exactly `files` (relative path -> text), atomically."""
    with Staging(out) as staging:
        for rel, text in sorted(files.items()):
            staging.write(rel, text)
        staging.commit(marker)


class Staging:
    """A new output folder, built next to `out` and swapped in whole by commit().

    write() may be called from forked worker processes (render writes each file where it
    was rendered); leaving the `with` block without commit() removes everything, and the
    folders made to hold it.
    """

    def __init__(self, out: Path):
        self.out = out.absolute()
        self._made = [p for p in (self.out.parent, *self.out.parent.parents) if not p.exists()]
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        self._dirs: set[str] = set()
        self.committed = False

    def write(self, rel: str, text: str) -> None:
        parts = PurePosixPath(rel).parts
        if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
            raise UsageError(f"refusing to write {rel} outside the output folder")
        dest = os.path.join(self.path, *parts)
        folder = os.path.dirname(dest)
        if folder not in self._dirs:
            os.makedirs(folder, exist_ok=True)
            self._dirs.add(folder)
        with open(dest, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    def commit(self, marker: str = MARKER_TEXT) -> None:
        (self.path / MARKER).write_text(marker, encoding="utf-8")
        old = None
        if self.out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-", dir=self.out.parent))
            os.rmdir(old)
            os.replace(self.out, old)
        try:
            os.replace(self.path, self.out)
        except OSError:
            if old is not None:
                os.replace(old, self.out)
            raise
        self.committed = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def discard(self) -> None:
        if self.committed:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        for folder in self._made:  # innermost first; only the empty ones this run made
            try:
                folder.rmdir()
            except OSError:
                break

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()
