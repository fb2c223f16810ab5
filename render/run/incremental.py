"""Incremental checks: re-render only what changed since the render a marker records.

`render -o` writes, after the recipe in `DIR/.meshrender-output`, a `digests` block
(run/digests.py says what a file's output depends on):

    digests: |
      {"fingerprint": "xxh3-128", "format": 2, "meshrender": CODE, "scopes": {"run": D, "ns:shop": D, ...}}
      ["../apps/web.yaml", FP, ["ns:shop"], [], [["apps", "Deployment", "shop", "web"]], "apps/web.yaml", OUT, 2]
      ...

one JSON line per input file: its path from the marker's folder, the fingerprint of its
text (digests.fingerprint), the scopes its workloads used and those its settings define,
the objects it creates, the output file it gave, that file's fingerprint and its number
of documents.

`render-check` and `diff` then (with no cache, on a fresh clone):

1. hash every input and read settings only from the files that hold some or changed;
2. hash the settings scopes; a changed `run` scope (options, meshrender, mesh-wide
   settings, values files, ...) means a full run;
3. re-render the files whose text changed, that are new, whose scopes changed, or whose
   committed output no longer has the recorded fingerprint (hashed again, never trusted);
4. compare only those outputs; every other output file is known to be what a render
   writes, because its source, its scopes and its bytes are what they were.

Whatever only a full run reports exactly (any error, an object defined in a re-rendered
file and in another, two inputs writing one output) falls back to a full run; so does a
marker without digests, from another meshrender build, or that does not parse. The
marker is untrusted: its paths are only ever compared with the inputs found by walking
the recipe's paths, never opened.

`MESHRENDER_CACHE=0` (or `--no-cache`) turns incremental work off; `MESHRENDER_CACHE=verify`
does both and fails on any difference (the test suite runs so).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshrender.errors import MeshrenderError
from meshrender.limits import MAX_TOTAL_BYTES
from meshrender.run import digests

if TYPE_CHECKING:  # (the driver is imported when a check runs: a Check begins before that)
    from meshrender.run.driver import Inputs, Run

# 2: file records hold fingerprints (digests.fingerprint), named in the head, not digests
FORMAT = 2
# A digests block larger than this is not written (the marker is read whole).
MAX_BLOCK_BYTES = 12 * 1024 * 1024


FORCED_OFF = False  # --no-cache, for the command running (cli.py resets it)


def mode() -> str:
    """"on", "off" or "verify": --no-cache, else MESHRENDER_CACHE (0/off/false/no: off)."""
    if FORCED_OFF:
        return "off"
    value = os.environ.get("MESHRENDER_CACHE", "").strip().lower()
    if value in ("0", "off", "false", "no"):
        return "off"
    return "verify" if value == "verify" else "on"


class Disagreement(AssertionError):
    """Verify mode: the incremental answer differs from the full one (a bug)."""


@dataclass
class FileRecord:
    """One input file as a render recorded it."""

    input: str  # path from the marker's folder, POSIX
    fingerprint: str  # of its bytes (digests.fingerprint)
    deps: tuple[str, ...] = ()
    defines: tuple[str, ...] = ()
    keys: list[tuple[str, str, str, str]] = field(default_factory=list)
    output: str | None = None  # the output file's path in the folder
    out_fingerprint: str | None = None
    documents: int = 0

    def line(self) -> str:
        return json.dumps([self.input, self.fingerprint, list(self.deps), list(self.defines),
                           [list(k) for k in self.keys], self.output, self.out_fingerprint, self.documents],
                          separators=(",", ":"))

    @classmethod
    def of(cls, v: Any) -> FileRecord:
        """The record a line holds (as parsed JSON); ValueError for anything but what
        `line` writes."""
        if not isinstance(v, list) or len(v) != 8:
            raise ValueError("not a file record")
        path, fingerprint, deps, defines, keys, output, out_fingerprint, documents = v
        # (str.join raises TypeError for anything but a list of strings: a check in C,
        # for the tens of thousands of lines of a large repository's marker)
        if not (type(path) is str and type(fingerprint) is str and type(deps) is list and type(defines) is list
                and type(keys) is list and (output is None or type(output) is str)
                and (out_fingerprint is None or type(out_fingerprint) is str) and type(documents) is int):
            raise ValueError("not a file record")
        "".join(deps), "".join(defines)
        for k in keys:
            if type(k) is not list or len(k) != 4:
                raise ValueError("not a file record")
            "".join(k)
        return cls(path, fingerprint, tuple(deps), tuple(defines), [tuple(k) for k in keys], output, out_fingerprint,
                   documents)


@dataclass
class Record:
    """A marker's digests block."""

    code: str
    scopes: dict[str, str]
    files: list[FileRecord]

    def text(self) -> str:
        head = json.dumps({"format": FORMAT, "fingerprint": digests.FINGERPRINT, "meshrender": self.code,
                           "scopes": self.scopes},
                          separators=(",", ":"), sort_keys=True)
        return "".join(f"  {line}\n" for line in [head, *(f.line() for f in self.files)])


def _loads(text: str) -> Any:
    """JSON, with orjson where installed (a third faster on a 3 MB block; what it refuses
    that json takes, NaN or a lone surrogate, no render writes: a full check then)."""
    try:
        import orjson
    except ImportError:
        return json.loads(text)
    return orjson.loads(text)


def parse(block: str | None) -> Record | None:
    """The digests block of a marker (as recipe.read keeps it), or None when it has
    none, does not parse, or was written by another meshrender build."""
    if not block:
        return None
    lines = block.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    try:
        if not lines or not all(line.startswith("  ") for line in lines):
            return None
        head = json.loads(lines[0])
        if not isinstance(head, dict) or head.get("format") != FORMAT \
                or head.get("fingerprint") != digests.FINGERPRINT or head.get("meshrender") != digests.code_digest():
            return None
        scopes = head.get("scopes")
        if not isinstance(scopes, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in scopes.items()):
            return None
        rows = _loads("[" + ",".join(lines[1:]) + "]")
        return Record(head["meshrender"], scopes, [FileRecord.of(v) for v in rows])
    except (ValueError, TypeError, RecursionError):
        return None


class _From:
    """Input paths as the marker names them: relative to its folder, POSIX (each folder's
    relative path worked out once: thousands of files share a few hundred folders)."""

    def __init__(self, out_dir: Path) -> None:
        self.base = os.path.abspath(out_dir)
        self.cwd = os.getcwd()
        self.folders: dict[str, str] = {}

    def __call__(self, path: str | None) -> str:
        if path is None:
            return "-"
        # (str.rpartition where it gives what os.path.split gives: three times faster)
        folder, sep, name = path.rpartition("/")
        rel = self.folders.get(folder) if (folder or not sep) and not folder.endswith("/") else None
        if rel is None:
            folder, name = os.path.split(path)
            rel = self.folders.get(folder)
            if rel is None:
                rel = self._folder(folder)
        return name if rel == "." else f"{rel}/{name}"

    def _folder(self, folder: str) -> str:
        """A folder's path from the marker's: its parent's and its name, where the parent's
        is known and the name cannot lead back into the marker's folder (os.path.relpath
        for each of 3,000 folders cost a tenth of a check); else os.path.relpath."""
        chain = []  # (folder, name) up to one whose path is known, or can be computed directly
        here = folder
        while here not in self.folders:
            parent, name = os.path.split(here)
            if not parent or parent == here or name in ("", ".", ".."):
                real = os.path.normpath(os.path.join(self.cwd, here))
                self.folders[here] = Path(os.path.relpath(real, self.base)).as_posix()
                break
            chain.append((here, name))
            here = parent
        for here, name in reversed(chain):
            up = self.folders[os.path.split(here)[0]]
            if all(part == ".." for part in up.split("/")):  # an ancestor of the marker's folder
                real = os.path.normpath(os.path.join(self.cwd, here))
                self.folders[here] = Path(os.path.relpath(real, self.base)).as_posix()
            else:
                self.folders[here] = name if up == "." else f"{up}/{name}"
        return self.folders[folder]


# -- writing (render -o) --------------------------------------------------------------------

def block(out_dir: Path, rendered: Any) -> str:
    """The marker's digests block for a tracked render (render.Rendered), '' when it
    cannot be tracked (stdin) or would be too large."""
    run = rendered.run
    inputs = run.inputs
    if run.scopes is None or run.partial or any(p is None for _, _, p in inputs.found):
        return ""
    defines = run.scopes.defines
    files = []
    named = _From(out_dir)
    for i, (display, rel, path) in enumerate(inputs.found):
        out = rendered.tracked.get(i)
        out_print = out.out_print if out is not None and out.has_output else None
        files.append(FileRecord(named(display if path is not None else None), run.prints.get(i, ""),
                                out.deps if out else (),
                                tuple(sorted(defines.get(display, ()))), run.keys.get(i, []),
                                rel if out_print else None, out_print, out.out_documents if out_print else 0))
    text = "digests: |\n" + Record(digests.code_digest(), run.scopes.digests, files).text()
    return text if len(text) <= MAX_BLOCK_BYTES else ""


# -- checking (render-check, diff) ----------------------------------------------------------

@dataclass
class Outcome:
    """An incremental run: the outputs of the files re-rendered (`rendered`, as
    render.Rendered) and the output files known to be unchanged, with their documents."""

    rendered: Any
    unchanged: set[str]
    unchanged_documents: int
    evaluated: int
    total: int
    committed: dict[str, str]  # committed.existing_files of the output folder


class Planner:
    """Decides, for one output folder and its record, what an incremental run reads."""

    def __init__(self, out_dir: Path, block: str, shown: str, committed: Any, inputs: Any = None) -> None:
        self.out_dir = out_dir
        self.inputs = inputs  # parallel.Background of hash_found, or None: hashed here
        self.shown = shown
        self.block = block  # the marker's digests block, parsed while the inputs are hashed
        self.record = Record("", {}, [])
        self.hashing = committed  # parallel.Background of committed_fingerprints
        self.prints: dict[int, str] = {}  # input -> fingerprint (digests.fingerprint)
        self.old: dict[int, FileRecord] = {}
        self.changed: set[int] = set()
        self.validated_files: list[int] = []
        self.clean: list[int] = []
        self.unchanged: set[str] = set()
        self.unchanged_documents = 0
        self.committed: dict[str, str] = {}  # the output folder's files, walked once

    def scan(self, inputs: Inputs) -> Collection[int]:
        """Hash every input; settings are read from the files that define some (as
        recorded) and from every file that changed or is new."""
        from meshrender.run import parallel
        from meshrender.run.driver import NeedsFullRun

        found = inputs.found
        # The inputs are being hashed in another process (Check.begin_inputs) meanwhile:
        # the record is parsed and matched to them first.
        record = parse(self.block)
        if record is None:
            raise NeedsFullRun("the marker records no digests this meshrender can use")
        by_input = {f.input: f for f in record.files}
        named = _From(self.out_dir)
        olds = [by_input.get(named(display if path is not None else None)) for display, _, path in found]
        try:
            hashed = self.inputs.result() if self.inputs is not None else {}
        except (MeshrenderError, parallel.WorkerDied) as e:  # (too much in all, too: the full run says where)
            raise NeedsFullRun(e) from None
        left = MAX_TOTAL_BYTES - sum(size for _, size in hashed.values())
        for i, (display, _, path) in enumerate(found):
            known = hashed.get(display) if path is not None else None
            if known is None:  # (not among the files the worker found, or no worker: read here)
                try:
                    raw = inputs.raw(i, left)
                except MeshrenderError as e:
                    raise NeedsFullRun(e) from None
                left -= len(raw)
                known = (digests.fingerprint(raw), len(raw))
            self.prints[i] = known[0]
        self.record = record
        scan = []
        for i, old in enumerate(olds):
            if old is not None:
                self.old[i] = old
            if old is None or old.fingerprint != self.prints[i]:
                self.changed.add(i)
                scan.append(i)
            elif old.defines:
                scan.append(i)
                self.validated_files.append(i)
        return scan

    def validated(self) -> Collection[int]:
        """The files scanned for their settings whose bytes are the recorded render's: it
        validated their documents (settings/schema.py, validated_before)."""
        return self.validated_files

    def select(self, run: Run) -> Collection[int]:
        """The files to evaluate, once the scopes are known."""
        from meshrender.run.driver import NeedsFullRun

        now, then = run.scopes.digests, self.record.scopes
        dirty_scopes = {s for s in set(now) | set(then) if now.get(s) != then.get(s)}
        if digests.RUN in dirty_scopes:
            raise NeedsFullRun("the run's options or mesh-wide settings changed")
        found = run.inputs.found
        from meshrender.run.parallel import WorkerDied

        try:
            self.committed, hashed = self.hashing.result()
        except (MeshrenderError, WorkerDied) as e:  # (a hostile folder: the full run says where)
            raise NeedsFullRun(e) from None
        # One pass over the recorded files, in input order (13,000 at 10,000 workloads).
        changed, clean, unchanged = self.changed, self.clean, self.unchanged
        documents = 0
        for i, old in self.old.items():
            if i in changed or (dirty_scopes and not dirty_scopes.isdisjoint(old.deps)):
                continue
            output = old.output
            if output is not None:
                if output != found[i][1]:  # (other paths given: other names)
                    continue
                if hashed.get(output) != old.out_fingerprint:
                    continue  # edited, removed or unreadable: rendered and compared in full
                unchanged.add(output)
                documents += old.documents
            clean.append(i)
        self.unchanged_documents += documents
        kept = set(clean)
        return [i for i in range(len(found)) if i not in kept]

    def known(self, inputs: Inputs) -> Iterable[tuple[int, tuple[str, str, str, str]]]:
        for i in self.clean:
            for key in self.old[i].keys:
                yield i, key


def committed_fingerprints(out_dir: Path, shown: str) -> tuple[dict[str, str], dict[str, str]]:
    """The output folder's files (committed.existing_files) and the fingerprint of each
    one's bytes, read as untrusted content; a file that cannot be read has none (it is then
    re-rendered and compared in full). Every file, not only those the record names: this
    runs in a worker process from the start of a check, before the record is parsed."""
    from meshrender.inputs.committed import existing_files, read_committed

    files = existing_files(out_dir, shown)
    hashed = {}
    for rel, path in files.items():
        try:
            hashed[rel] = digests.fingerprint(read_committed(path, f"{shown}/{rel}"))
        except MeshrenderError:
            continue
    return files, hashed


def hash_found(paths: list[str]) -> dict[str, tuple[str, int]]:
    """The fingerprint and size of every YAML file under `paths`, by the name input discovery
    gives it (the walks of this command, see sources.remembering_walks: the caller
    walked the inputs already), for a worker to compute while the caller goes on. Each
    file is read once and dropped, within MAX_TOTAL_BYTES in all (an incremental check
    counts the inputs' total as it reads them, instead of a stat of every file first);
    InputError beyond it, or for a file that cannot be read."""
    from meshrender.inputs.files import read_regular
    from meshrender.inputs.walk import walk
    from meshrender.limits import MAX_FILE_BYTES

    out: dict[str, tuple[str, int]] = {}
    left = MAX_TOTAL_BYTES
    for arg in paths:
        if arg == "-":
            continue
        root = Path(arg)
        found = [f for f, _, _ in walk(root, lambda _: None).files] if root.is_dir() else [root]
        for path in found:
            display = str(path)
            if display in out:
                continue
            raw = read_regular(path, display, min(MAX_FILE_BYTES, left))
            left -= len(raw)
            out[display] = (digests.fingerprint(raw), len(raw))
    return out


# Hashing in a worker process pays off from about this many files (starting one costs a
# few milliseconds); below that, this process hashes them itself. A marker's digests
# line is about MARKER_LINE_BYTES long: a marker's size tells how many files its folder has.
WORKER_MIN_FILES = 1000
MARKER_LINE_BYTES = 256


def _inline(files: int) -> bool:
    """Whether `files` files are hashed in this process rather than in a worker
    (parallel.Background): few files, or MESHRENDER_JOBS=1 (one core, or no fork: the
    Background decides)."""
    return files < WORKER_MIN_FILES or os.environ.get("MESHRENDER_JOBS", "").strip() == "1"


def hash_committed(out_dir: Path, shown: str) -> Any:
    """committed_fingerprints(out_dir, shown), begun now in a worker process (see _inline);
    None when incremental work is off or the folder has no marker. The caller begins it
    as soon as it knows the folder, before it imports what a render needs: the worker
    then has the folder hashed by the time the inputs are."""
    from meshrender.inputs.committed import MARKER
    from meshrender.run import parallel

    if mode() == "off":
        return None
    try:
        size = os.stat(os.path.join(out_dir, MARKER)).st_size
    except OSError:
        return None
    return parallel.Background(lambda: committed_fingerprints(out_dir, shown),
                               inline=_inline(size // MARKER_LINE_BYTES))


class Check:
    """An incremental check of one output folder (`render-check`, `diff`), begun as soon
    as the folder is known: from then on another process hashes the committed output,
    while this one goes on with the command's own checks and reads the inputs. A Check
    that is never run ends its worker when closed (it is a context manager)."""

    def __init__(self, out_dir: Path, recipe: Any, shown: str | None = None, committed: Any = None) -> None:
        """`committed`: hash_committed(out_dir, shown), when the caller began it before it
        read the recipe (taken over: closed with the Check)."""
        self.out_dir = out_dir
        self.recipe = recipe
        self.shown = shown or str(out_dir)
        self.committed: Any = committed
        self.inputs: Any = None  # begin_inputs
        if mode() == "off" or not recipe.digests:
            self.close()
            self.committed = None
        elif committed is None:
            self.committed = hash_committed(out_dir, self.shown)

    def begin_inputs(self) -> None:
        """Have a worker hash the inputs from here on (once: the caller calls this as soon
        as it has walked them, run() otherwise), unless there are few."""
        from meshrender.run import parallel

        if self.inputs is not None or self.committed is None:
            return
        if not _inline(len(self.recipe.digests) // MARKER_LINE_BYTES):
            paths = list(self.recipe.paths)
            self.inputs = parallel.Background(lambda: hash_found(paths))

    def run(self, options: Any, *, progress: Any = None, warn: Any = None) -> Outcome | None:
        """The incremental render of the recipe against the folder, or None when a full
        run is needed (no usable record, or what only a full run reports exactly)."""
        from meshrender.run.driver import NeedsFullRun, Partial
        from meshrender.run.render import Renderer, render

        if self.committed is None:
            return None
        self.begin_inputs()
        planner = Planner(self.out_dir, self.recipe.digests, self.shown, self.committed, self.inputs)
        try:
            rendered = render(list(self.recipe.paths), options, Renderer(keep_texts=True), progress=progress,
                              warn=warn,
                              partial=Partial(planner.scan, planner.select, planner.known, planner.validated))
        except NeedsFullRun:
            return None
        finally:
            self.close()
        # Two inputs writing one output file, one of them not re-rendered: the full run says which.
        fresh = {f.rel for f, texts in rendered.outputs if texts}
        if fresh & planner.unchanged:
            return None
        return Outcome(rendered, planner.unchanged, planner.unchanged_documents, len(rendered.outputs),
                       len(planner.prints), planner.committed)

    def close(self) -> None:
        for job in (self.committed, self.inputs):
            if job is not None:
                job.close()

    def __enter__(self) -> Check:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run(out_dir: Path, recipe: Any, options: Any, *, progress: Any = None, shown: str | None = None,
        warn: Any = None) -> Outcome | None:
    """Check(out_dir, recipe, shown).run(options, ...) at once."""
    with Check(out_dir, recipe, shown) as check:
        return check.run(options, progress=progress, warn=warn)
