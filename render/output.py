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
from pathlib import Path
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
    out = out.absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for rel, text in sorted(files.items()):
            dest = staging / rel
            if not _inside(dest.resolve(), staging.resolve()):
                raise UsageError(f"refusing to write {rel} outside the output folder")
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
        (staging / MARKER).write_text(marker, encoding="utf-8")
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rmdir(old)
            os.replace(out, old)
        try:
            os.replace(staging, out)
        except OSError:
            if old is not None:
                os.replace(old, out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
