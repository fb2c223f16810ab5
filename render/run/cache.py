"""A local cache of per-file results (render, lint), keyed by what the result depends on.

An entry is one file's result for one command: its key is the digest of the command
and its own options, the run (meshrender's code, options, files they name, mesh-wide
settings: run/digests.py), and the file's name and text; it records the digest of each
namespace scope the file used and is served only while every one of them is unchanged.
So a result is never served for inputs it was not computed for, and a changed namespace
setting re-evaluates exactly the files with workloads in that namespace.

Where: `MESHRENDER_CACHE_DIR`, else `$XDG_CACHE_HOME/meshrender`, else
`~/.cache/meshrender`: the user's cache, never the repository (a branch could commit a
crafted one), created 0700 and used only when this user owns it and nobody else may
write it. The entries live in one SQLite database (`results.sqlite`):
a file per entry cost as much as rendering on a cold run (thousands of file creations),
a database row costs nothing. Concurrent runs and the worker processes of one run each
write through their own connection; SQLite keeps every entry whole. A database that does
not open or read back (corrupt, another format) is removed and started anew; an entry
that does not unpickle is a miss. The database is kept under `MESHRENDER_CACHE_MAX_MB`
(256) by removing the least recently written entries.
`MESHRENDER_CACHE=0` or `--no-cache` turns it off; `MESHRENDER_CACHE=verify` evaluates
every file anyway and fails on any difference from what the cache holds.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sqlite3
import stat
import time
from pathlib import Path
from typing import Any

from meshrender.run import digests

SCHEMA = 1
DATABASE = "results.sqlite"
DEFAULT_MAX_MB = 256
PRUNE_EVERY_SECONDS = 600  # a size check at most this often
COMMIT_EVERY = 64  # entries a worker holds before it writes them (and at the end of the run)


def folder() -> Path:
    env = os.environ.get("MESHRENDER_CACHE_DIR", "").strip()
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "meshrender"


def _private(path: Path) -> bool:
    """The folder exists (made 0700 if not), is a real folder this user owns, and only
    this user may write it."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
    # A rollback journal, not a write-ahead log: no shared memory mapped into every run (a
    # truncated -shm file is a SIGBUS), and writers hold the lock only for one batch.
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("PRAGMA synchronous=OFF")  # a cache: what a power cut loses is only a miss
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, written REAL, size INTEGER, "
               "value BLOB)")
    found = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    if found is None:
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
    elif found[0] != str(SCHEMA):
        raise sqlite3.DatabaseError(f"cache schema {found[0]}")
    return db


def _open(root: Path) -> sqlite3.Connection | None:
    """The database in `root`; a damaged one is removed and started anew."""
    path = root / DATABASE
    try:
        return _connect(path)
    except sqlite3.Error:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                os.unlink(str(path) + suffix)
    try:
        return _connect(path)
    except sqlite3.Error:
        return None


class ResultCache:
    """Per-file results of one command in one run (see the module docstring)."""

    def __init__(self, root: Path, salt: str, verify: bool = False) -> None:
        self.root = root
        self.salt = salt  # the command, its own options, and the run's digest
        self.verify = verify
        self.written = 0
        self._db: sqlite3.Connection | None = None
        self._pid = -1
        self._pending: list[tuple[str, float, int, bytes]] = []

    @classmethod
    def open(cls, kind: str, run_digest: str) -> ResultCache | None:
        """The cache for command `kind` (with its options) in a run whose RUN scope has
        `run_digest`; None when caching is off or the folder is not private."""
        from meshrender.run import incremental

        how = incremental.mode()
        if how == "off":
            return None
        root = folder()
        if not _private(root):
            return None
        return cls(root, digests.digest(f"{kind}\0{run_digest}"), verify=how == "verify")

    def _connection(self) -> sqlite3.Connection | None:
        """This process's connection (a forked worker opens its own)."""
        if self._pid != os.getpid():
            self._db, self._pid, self._pending = _open(self.root), os.getpid(), []
        return self._db

    def close(self) -> None:
        """Write what is held and let the database go (the end of a run)."""
        self.flush()
        if self._db is not None and self._pid == os.getpid():
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db, self._pid = None, -1

    def key(self, display: str, rel: str, sha: str) -> str:
        return digests.digest(f"{self.salt}\0{display}\0{rel}\0{sha}")

    def get(self, key: str, scopes: dict[str, str]) -> Any:
        """The entry stored under `key` if every scope it used still has the digest it
        had; else None (also for an entry that does not read back)."""
        db = self._connection()
        if db is None:
            return None
        try:
            row = db.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            deps, value = pickle.loads(row[0])
        except Exception:
            return None
        if not isinstance(deps, dict) or any(scopes.get(s, "") != d for s, d in deps.items()):
            return None
        return value

    def put(self, key: str, deps: dict[str, str], value: Any) -> None:
        """Store `value` (written in batches, and by flush()); a cache that cannot be
        written is no error: a result is only lost, never wrong."""
        if self._connection() is None:
            return
        try:
            data = pickle.dumps((deps, value), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return
        self._pending.append((key, time.time(), len(data), data))
        if len(self._pending) >= COMMIT_EVERY:
            self.flush()

    def flush(self) -> None:
        """Write the entries held (each worker before it answers its last file)."""
        db = self._connection()
        if db is None or not self._pending:
            return
        try:
            with db:
                db.execute("BEGIN")
                db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", self._pending)
            self.written += len(self._pending)
        except sqlite3.Error:
            pass
        self._pending = []

    def prune(self) -> None:
        """Keep the database under its size bound (main process, after a run that wrote
        entries, at most every PRUNE_EVERY_SECONDS)."""
        db = self._connection()
        if db is None:
            return
        stamp = self.root / ".pruned"
        try:
            if time.time() - stamp.stat().st_mtime < PRUNE_EVERY_SECONDS:
                return
        except OSError:
            pass
        with contextlib.suppress(OSError):
            stamp.touch()
        limit = _max_bytes()
        with contextlib.suppress(OSError):
            if os.stat(self.root / DATABASE).st_size <= limit:
                return  # (summing the entries reads the whole database: 2 s when it is not in memory)
        prune(db, limit)


def _max_bytes() -> int:
    try:
        return max(1, int(os.environ.get("MESHRENDER_CACHE_MAX_MB", DEFAULT_MAX_MB))) * 1024 * 1024
    except ValueError:
        return DEFAULT_MAX_MB * 1024 * 1024


def prune(db: sqlite3.Connection, max_bytes: int) -> None:
    """Remove the least recently written entries until the entries take at most 80% of
    `max_bytes`, and give the space back."""
    try:
        total = db.execute("SELECT COALESCE(SUM(size), 0) FROM results").fetchone()[0]
        if total <= max_bytes:
            return
        keep = max_bytes * 0.8
        removed = 0
        rows = db.execute("SELECT key, size FROM results ORDER BY written").fetchall()
        doomed = []
        for key, size in rows:
            if total - removed <= keep:
                break
            doomed.append((key,))
            removed += size
        with db:
            db.execute("BEGIN")
            db.executemany("DELETE FROM results WHERE key = ?", doomed)
        db.execute("VACUUM")
    except sqlite3.Error:
        pass
