"""Run meshrender as a hostile repository would meet it: in its own process, with a memory
budget, a time limit, and every file it opens or changes recorded.

`run(...)` starts `python -m meshrender ARGS` (so PYTHONPATH chooses which meshrender runs)
under RLIMIT_AS (meshrender.limits.PROCESS_MEMORY by default: the Argo CD sidecar's
512 Mi) and a timeout, and reports its exit status, output, time and peak memory. With
`audit=True` it also records every path the process tree opened, created, renamed or
removed: under `strace -f` when strace works on this machine, else through a Python audit
hook (sys.addaudithook, "open" and the os.* file events) in a wrapper script, which sees
the same calls for meshrender's own Python code. `Proc.outside(...)` lists what was
touched outside the paths a run may touch.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from meshrender import limits

ROOT = Path(__file__).resolve().parents[1]
BUDGET = limits.PROCESS_MEMORY

_HOOK = textwrap.dedent("""
    import json, os, sys
    events = []
    WRITE = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    def hook(event, args):
        if event == "open" and args and args[0] is not None and not isinstance(args[0], int):
            mode, flags = args[1], args[2]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & WRITE)
            events.append(["write" if writes else "read", os.path.abspath(os.fsdecode(args[0]))])
        elif event in ("os.rename", "os.replace", "os.remove", "os.rmdir", "os.unlink", "os.mkdir",
                       "os.chmod", "os.truncate", "os.symlink", "shutil.rmtree"):
            for a in args:
                if isinstance(a, (str, bytes, os.PathLike)):
                    events.append(["write", os.path.abspath(os.fsdecode(a))])
        elif event in ("os.scandir", "os.listdir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
            events.append(["read", os.path.abspath(os.fsdecode(args[0]))])
    sys.addaudithook(hook)
    import atexit
    def dump():
        with open(os.environ["MESHRENDER_AUDIT_LOG"], "w") as f:
            json.dump(events, f)
    atexit.register(dump)
    import runpy
    sys.argv = ["meshrender", *sys.argv[1:]]
    runpy.run_module("meshrender", run_name="__main__")
""")

# Runs the command and records the peak resident memory of the largest process under it.
_WRAP = ("import os, resource, subprocess, sys\n"
         "rc = subprocess.call(sys.argv[1:])\n"
         "with open(os.environ['MESHRENDER_PEAK_LOG'], 'w') as f:\n"
         "    f.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
         "sys.exit(rc if rc >= 0 else 128 - rc)\n")

_STRACE_CALLS = "open,openat,openat2,creat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,rmdir"
_STRACE_LINE = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")


@cache
def strace_works() -> bool:
    """Whether strace can trace a child here (containers may forbid ptrace)."""
    if shutil.which("strace") is None:
        return False
    try:
        r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", os.devnull, "true"],
                           capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@dataclass
class Proc:
    code: int | None  # None: killed by the timeout
    out: str
    err: str
    seconds: float
    peak_mb: float  # peak resident memory of the largest process of the run
    touched: list[tuple[str, str]] = field(default_factory=list)  # ("read" | "write", absolute path)
    auditor: str = ""
    cache: str | None = None  # the result cache's folder (run/cache.py), which a run may read and write

    def outside(self, reads: list[Path], writes: list[Path]) -> list[tuple[str, str]]:
        """What the run touched outside `reads` (and the runtime: Python, its libraries,
        meshrender's code, /proc, /sys, /dev/null) or wrote outside `writes`."""
        allowed_writes = [*map(_real, writes), *([_real(Path(self.cache))] if self.cache else [])]
        allowed_reads = [*map(_real, reads), *allowed_writes, *_runtime()]
        out = []
        for op, path in self.touched:
            real = os.path.abspath(path) if op.endswith("-failed") else _real(Path(path))
            op = op.removesuffix("-failed")
            if op == "write":
                if not _under(real, allowed_writes):
                    out.append((op, path))
            elif not _under(real, allowed_reads):
                out.append((op, path))
        return out


def _real(p: Path) -> str:
    return os.path.realpath(p)


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


@cache
def _runtime() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(ROOT / "render"), str(ROOT / "policies"),
             str(ROOT / "schemas"), "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo",
             "/usr/local/lib", "/usr/share/locale", "/etc/ld.so.cache", "/etc/localtime", "/proc", "/sys",
             "/dev/null", "/dev/urandom",
             "/dev/tty", "/etc/ld.so.preload", "/etc/locale.alias", "/etc/ssl"}
    roots |= {str(Path(p)) for p in sys.path if p and Path(p).is_dir() and Path(p) != Path.cwd()}
    return tuple(sorted({os.path.realpath(r) for r in roots} | roots))


def _limit(memory: int | None) -> None:
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def run(args: list[str], cwd: Path, *, stdin: str | bytes | None = None, env: dict | None = None,
        memory: int | None = BUDGET, timeout: float = 120, audit: bool = False, tmpdir: Path | None = None,
        stdout: int | None = None) -> Proc:
    """`meshrender ARGS` in `cwd` (see the module docstring). `stdout` may redirect its
    standard output (a descriptor, e.g. of /dev/full); `tmpdir` is its TMPDIR."""
    # As users run it: without the tests' cross-checks (MESHRENDER_VERIFY_*), which compute
    # every shared result a second time and would distort time and memory.
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("KUBE_VERSION", "ARGOCD_", "MESHRENDER_VERIFY_")) and k != "MESHRENDER_CACHE"}
    full_env.update({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": os.pathsep.join(
        [p for p in [os.environ.get("PYTHONPATH", "")] if p])})
    if tmpdir is not None:
        full_env["TMPDIR"] = str(tmpdir)
    full_env.update(env or {})
    log = Path(tmpdir or cwd) / f".audit-{os.getpid()}-{time.monotonic_ns()}.log"
    auditor = ""
    # -P: nothing from the current folder (a hostile repository) on sys.path.
    argv = [sys.executable, "-P", "-m", "meshrender", *args]
    if audit:
        if strace_works():
            auditor = "strace"
            argv = ["strace", "-f", "-qq", "-e", f"trace={_STRACE_CALLS}", "-o", str(log), *argv]
        else:
            auditor = "audit hook"
            full_env["MESHRENDER_AUDIT_LOG"] = str(log)
            argv = [sys.executable, "-P", "-c", _HOOK, *args]
    peak_log = log.with_suffix(".peak")
    full_env["MESHRENDER_PEAK_LOG"] = str(peak_log)
    data = stdin.encode() if isinstance(stdin, str) else stdin
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-P", "-c", _WRAP, *argv], cwd=cwd, env=full_env,
                            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                            stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: _limit(memory), start_new_session=True)
    try:
        out, err = proc.communicate(data, timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        code = None
    seconds = time.monotonic() - start
    peak = int(peak_log.read_text()) / 1024 if peak_log.exists() else 0.0
    touched = _read_log(log, auditor, cwd) if audit else []
    log.unlink(missing_ok=True)
    peak_log.unlink(missing_ok=True)
    return Proc(code, (out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"), seconds,
                peak, touched, auditor, full_env.get("MESHRENDER_CACHE_DIR"))


def _read_log(log: Path, auditor: str, cwd: Path) -> list[tuple[str, str]]:
    if not log.exists():
        return []
    if auditor == "audit hook":
        return [(op, path) for op, path in json.loads(log.read_text())]
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = _STRACE_LINE.match(line)
        if not m:
            continue
        call, rest = m.group(2), m.group(3)
        paths = [bytes(p, "utf-8").decode("unicode_escape") for p in _QUOTED.findall(rest)]
        if not paths:
            continue
        if call.startswith("openat") and not rest.startswith("AT_FDCWD"):
            continue  # relative to a descriptor: meshrender opens no files that way
        if call in ("open", "openat", "openat2", "creat"):
            op = "write" if call == "creat" or any(f in rest for f in _WRITE_FLAGS) else "read"
            failed = m.group(4).startswith("-")
            # A failed open read nothing: judged by the path asked for, not where a symlink
            # there leads (an O_NOFOLLOW open of a symlink to /dev/zero fails).
            out.append((op + ("-failed" if failed else ""), os.path.join(cwd, paths[0])))
        else:
            out += [("write", os.path.join(cwd, p)) for p in paths]
    return out
