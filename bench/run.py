"""meshrender's throughput, start-up time and memory against the YAML floor, in one run.

    python bench/run.py [--workloads 2000] [--repeat 3] [--warm-workloads 10000]
    (or: make bench N=10000 WARM=10000)

Generates a realistic GitOps repo (bench/generate.py), then times, each in a fresh child
process: the floor (bench/floor.py: the same files parsed and emitted by rapidyaml alone,
and by PyYAML's libyaml binding for reference), `meshrender render -o` (all cores, one
worker, and the reference PyYAML parser), `meshrender lint` when this checkout has it,
and a pre-commit style run on one changed file (interpreter start included). Each figure
is the best of --repeat rounds (each round runs every step once, so that a burst of other
work does not land on one step only); ratios are to the floor measured in this same run, because
the machine's speed drifts between runs. Peak memory is sampled from /proc over the
process tree (PSS, so pages shared by forked workers count once).

Then the warm case (--warm-workloads, 0 for none): a repo with its rendered `deploy/`
committed, fresh clones of it with one Deployment or one namespace's settings changed,
and `render-check`, `diff`, `render -o` and `lint` timed there against a cold render of
the same run (median of up to --repeat rounds, within --warm-budget seconds), each with
its exit code checked.

Results go to bench/results/<time>-<N>.json; the previous result for the same N is
printed alongside for comparison. This is a measurement, not a test: it never fails on
a slow figure, only on a broken run (a warm step with the wrong exit code, or a warm
render whose output differs from a render from scratch, exits 1 after the report).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402

BIN = Path(sys.executable).parent
MESHRENDER = str(BIN / "meshrender")


# -- measuring a child process ------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def _memory_kb(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in kB, 0 when it is gone."""
    pss = rss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
                elif line.startswith("Rss:"):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


class TreeSampler(threading.Thread):
    """Peak memory of a process and all its descendants, sampled every few milliseconds."""

    def __init__(self, pid: int, interval: float = 0.01):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_pss = self.peak_rss = self.peak_procs = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids, todo = [], [self.pid]
            while todo:
                p = todo.pop()
                pids.append(p)
                todo += _children(p)
            pss = rss = 0
            for p in pids:
                a, b = _memory_kb(p)
                pss, rss = pss + a, rss + b
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_procs = max(self.peak_procs, len(pids))
            self.stop.wait(self.interval)


def run_timed(cmd: list[str], env: dict | None = None, stdout=subprocess.DEVNULL, sample: bool = True,
              cwd: Path | None = None, timeout: float | None = None, replace_env: bool = False) -> dict:
    """Run one child and measure it: wall and CPU seconds, peak PSS over its process tree.

    The child gets a session of its own, so that a timeout (or Ctrl-C here) kills it and
    every worker it forked, by its process group, and nothing else. `replace_env` passes
    `env` as the whole environment (the warm steps drop GIT_* and set their cache
    folders); otherwise `env` is added to this process's environment.
    """
    full_env = dict(env or {}) if replace_env else {**os.environ, **(env or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=full_env, stdout=stdout, stderr=subprocess.PIPE, cwd=cwd,
                            start_new_session=True)
    sampler = TreeSampler(proc.pid) if sample else None
    if sampler:
        sampler.start()
    timed_out, lock, reaped = threading.Event(), threading.Lock(), [False]

    def kill() -> None:
        # not once the child is reaped: its id (and group) may then belong to another process
        with lock:
            if reaped[0]:
                return
            timed_out.set()
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    try:
        err = proc.stderr.read()
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
        with lock:
            _, status, usage = os.wait4(proc.pid, 0)
            reaped[0] = True
    except BaseException:
        kill()
        proc.wait()
        raise
    finally:
        if timer:
            timer.cancel()
        if sampler:
            sampler.stop.set()
            sampler.join()
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_mb": round((sampler.peak_pss if sampler else 0) / 1024, 1),
        "peak_rss_mb": round((sampler.peak_rss if sampler else 0) / 1024, 1),
        "max_process_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "processes": sampler.peak_procs if sampler else 1,
        "returncode": proc.returncode,
        "timed_out": timed_out.is_set(),
        "stderr": err.decode(errors="replace"),
    }


def run_child(cmd: list[str], env: dict | None = None, ok_codes: tuple[int, ...] = (0,),
              stdout=subprocess.DEVNULL, sample: bool = True) -> dict:
    """`run_timed`, stopping the whole bench when the exit code is not one of `ok_codes`:
    the throughput steps measure a working render, so a failed one has no figure."""
    r = run_timed(cmd, env=env, stdout=stdout, sample=sample)
    if r["returncode"] not in ok_codes:
        raise SystemExit(f"bench: {' '.join(cmd)} exited {r['returncode']}:\n{r['stderr'][-2000:]}")
    return r


def best_of(runs: list[dict]) -> dict:
    best = min(runs, key=lambda r: r["seconds"])
    best = dict(best)
    best["runs"] = [round(r["seconds"], 3) for r in runs]
    best["peak_mb"] = max(r["peak_mb"] for r in runs)
    best["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    return best


# -- the measurements ---------------------------------------------------------------------


def lint_available() -> bool:
    out = subprocess.run([sys.executable, "-c", "import meshrender.cli as c; print('lint' in c.COMMANDS)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def same_tree(a: Path, b: Path) -> bool:
    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    return files(a) == files(b)


def compile_package() -> None:
    """Write the bytecode of meshrender's modules, as installing a package does: with an
    editable install and PYTHONDONTWRITEBYTECODE set, every run would compile them again."""
    out = subprocess.run([sys.executable, "-c", "import meshrender, os; print(os.path.dirname(meshrender.__file__))"],
                         capture_output=True, text=True, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", out.stdout.strip()], check=True)


def measure(n: int, repeat: int, work: Path) -> dict:
    compile_package()
    repo = work / "repo"
    info = generate(repo, n)
    print(f"repo: {info['workloads']} workloads, {info['files']} files, {info['documents']} documents, "
          f"{info['bytes'] / 1e6:.1f} MB", flush=True)
    results: dict = {}

    def floor(engine: str):
        def once():
            out = work / f"floor-{engine}"
            shutil.rmtree(out, ignore_errors=True)
            return run_child([sys.executable, str(HERE / "floor.py"), str(repo), str(out), "--engine", engine])
        return once

    def cold(name: str) -> dict:
        """An empty result cache for each run (run/cache.py): these steps measure a cold
        run, the cache's writes included; the warm section below measures its use."""
        folder = work / f"cache-{name}"
        shutil.rmtree(folder, ignore_errors=True)
        return {"MESHRENDER_CACHE_DIR": str(folder)}

    def render(name: str, env: dict):
        def once():
            out = work / f"out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            return run_child([MESHRENDER, "render", str(repo), "-o", str(out), "-q"], env={**env, **cold(name)})
        return once

    steps = [
        ("floor", floor("ryml")),
        ("floor_tree", floor("ryml-tree")),
        ("pyyaml_c", floor("pyyaml")),
        ("render", render("render", {})),
        ("render_1_worker", render("render_1_worker", {"MESHRENDER_JOBS": "1"})),
        ("render_reference_yaml", render("render_reference_yaml", {"MESHRENDER_YAML": "reference"})),
    ]
    if lint_available():
        steps.append(("lint", lambda: run_child([MESHRENDER, "lint", str(repo), "--format", "json"],
                                                 env=cold("lint"), ok_codes=(0, 1))))
    else:
        results["lint"] = {"available": False}
    # Round robin, not each step `repeat` times in a row: the other work on a shared
    # machine comes and goes in bursts, and a burst should not land on one step only (the
    # floor's file writes are the most sensitive to it, and every ratio divides by it).
    timings: dict[str, list[dict]] = {name: [] for name, _ in steps}
    for round_no in range(repeat):
        print(f"  round {round_no + 1}/{repeat}:", end="", flush=True)
        for name, fn in steps:
            timings[name].append(fn())
            print(f" {name} {timings[name][-1]['seconds']:.2f} s", end=",", flush=True)
        print(flush=True)
    for name, _ in steps:
        results[name] = best_of(timings[name])
    results["render"]["identical_to_1_worker"] = same_tree(work / "out-render", work / "out-render_1_worker")
    results["render"]["identical_to_reference_yaml"] = same_tree(
        work / "out-render", work / "out-render_reference_yaml")

    # pre-commit: a fresh process on one changed workload file, interpreter start included
    one = sorted((repo / "apps").rglob("workload.yaml"))[0]
    runs = 11
    pc: dict = {}
    cases = [("python_start", [sys.executable, "-c", "pass"]),
             ("render_one_file", [MESHRENDER, "render", str(one)]),
             ("render_one_file_with_settings", [MESHRENDER, "render", str(one), str(repo / "mesh")])]
    if "lint" in results and results["lint"].get("available", True):
        cases.append(("lint_one_file", [MESHRENDER, "lint", str(one)]))
    for name, cmd in cases:
        times = [run_child(cmd, sample=False, ok_codes=(0, 1))["seconds"] for _ in range(runs)]
        pc[name] = {"median_ms": round(statistics.median(times) * 1000, 1),
                    "min_ms": round(min(times) * 1000, 1)}
    pc["imports"] = import_profile(["render", str(one), str(repo / "mesh")])
    results["pre_commit"] = pc
    return {"repo": info, "results": results}


def import_profile(args: list[str], top: int = 8) -> list[dict]:
    """The slowest top-level imports (cumulative) of a meshrender run, from -X importtime."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "render", *args],
                         capture_output=True, text=True)
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cum_us, name = line[len("import time:"):].split("|")
        if not name.startswith("  "):  # one space after the bar: imported at top level
            rows.append({"module": name.strip(), "cumulative_ms": round(int(cum_us) / 1000, 1)})
    rows.sort(key=lambda r: -r["cumulative_ms"])
    return rows[:top]


# -- warm case: work in proportion to the change ------------------------------------------
#
# A GitOps repo with its rendered folder committed, then fresh clones of it in which one
# file (or one namespace's settings) changes: what a pre-commit hook or a CI job meets.
# Every timed command runs with empty MESHRENDER_CACHE_DIR and XDG_CACHE_HOME folders of
# its own, and anything an earlier command left in the clone (untracked files, new
# entries in .git) is removed first, so each one finds only what a fresh clone holds.

WARM_INPUTS = ["apps", "mesh", "namespaces"]  # the repo's inputs; deploy/ is the output
WARM_OUTPUT = "deploy"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "CronJob", "Job")
MARKER = ".meshrender-output"
# the targets of issue "work in proportion to the change"
TARGET_RATIO, TARGET_SECONDS, TARGET_CHECK_MB = 0.10, 0.5, 150.0
# what each step is, in the order of the table, and the exit codes it must give
WARM_STEPS: dict[str, tuple[tuple[int, ...], str]] = {
    "cold_render": ((0,), "render -o deploy, output folder absent, no cache"),
    "render_check_unchanged": ((0,), "render-check, fresh clone, nothing changed"),
    "diff_unchanged": ((0,), "diff --against deploy, fresh clone, nothing changed"),
    "render_check_one_file": ((1,), "render-check, fresh clone, one Deployment changed"),
    "diff_one_file": ((1,), "diff --against deploy, fresh clone, one Deployment changed"),
    "render_check_namespace": ((1,), "render-check, fresh clone, one namespace's settings changed"),
    "diff_namespace": ((1,), "diff --against deploy, fresh clone, one namespace's settings changed"),
    "render_one_file": ((0,), "render -o deploy over the committed output, one Deployment changed"),
    "render_check_after_render": ((0,), "render-check right after that render (its cache kept)"),
    "lint_first": ((0, 1), "lint --format json, fresh clone, empty cache"),
    "lint_second": ((0, 1), "the same lint again, same clone and cache folder"),
}


def _git_env() -> dict[str, str]:
    """This process's environment without GIT_* variables: run from a git hook, GIT_DIR
    or GIT_INDEX_FILE would point git (and meshrender's repository lookup) at the wrong
    repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def git(args: list[str], cwd: Path, timeout: float = 600) -> str:
    """Run git with settings that keep it from doing work of its own during the bench: no
    automatic gc (a background gc of 24,000 loose objects competes with the timed steps,
    and removes objects a local clone is copying), no hooks, no signing."""
    cmd = ["git", "-c", "gc.auto=0", "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false",
           "-c", "maintenance.auto=false", *args]
    out = subprocess.run(cmd, cwd=cwd, env=_git_env(), capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise SystemExit(f"bench: git {' '.join(args)} in {cwd} exited {out.returncode}:\n{out.stderr[-2000:]}")
    return out.stdout


def count_workloads(apps: Path) -> dict[str, int]:
    """Workload documents per namespace under `apps` (read from the text: the generator
    writes `kind:` and `  namespace:` at fixed indentation)."""
    kind_re = re.compile(rf"^kind: ({'|'.join(WORKLOAD_KINDS)})\s*$", re.M)
    ns_re = re.compile(r"^  namespace: (\S+)\s*$", re.M)
    counts: dict[str, int] = {}
    for p in apps.rglob("*.y*ml"):
        for doc in re.split(r"^---\s*$", p.read_text(encoding="utf-8"), flags=re.M):
            ns = ns_re.search(doc)
            if kind_re.search(doc) and ns:
                counts[ns.group(1)] = counts.get(ns.group(1), 0) + 1
    return counts


def pick_deployment(repo: Path) -> str:
    """The Deployment file whose replica count the one-file steps change: the middle one
    by path, so it is neither the first nor the last file a render visits."""
    found = sorted(p.relative_to(repo).as_posix() for p in (repo / "apps").rglob("*.y*ml")
                   if re.search(r"^kind: Deployment\s*$", p.read_text(encoding="utf-8"), re.M))
    if not found:
        raise SystemExit("bench: the generated repo holds no Deployment")
    return found[len(found) // 2]


def change_deployment(clone: Path, rel: str) -> str:
    """Change the replica count of the Deployment in `rel` (a change every render shows)."""
    p = clone / rel
    text, n = re.subn(r"^  replicas: (\d+)\s*$", lambda m: f"  replicas: {int(m.group(1)) + 10}",
                      p.read_text(encoding="utf-8"), count=1, flags=re.M)
    if n != 1:
        raise SystemExit(f"bench: no `replicas:` line to change in {rel}")
    p.write_text(text, encoding="utf-8")
    return f"{rel}: replicas + 10"


def pick_namespace_settings(repo: Path) -> tuple[str, str]:
    """(file, namespace) of a namespace-wide SidecarProxySettings: metadata.namespace set,
    no selector, alone in its file (so that a text edit cannot land in another document)."""
    import yaml  # PyYAML is a dependency of meshrender (its reference parser)

    for p in sorted((repo / "mesh").rglob("*.y*ml")):
        docs = [d for d in yaml.safe_load_all(p.read_text(encoding="utf-8")) if d]
        if len(docs) != 1 or docs[0].get("kind") != "SidecarProxySettings":
            continue
        meta, spec = docs[0].get("metadata") or {}, docs[0].get("spec") or {}
        if meta.get("namespace") and "selector" not in spec and isinstance(spec.get("proxy"), dict):
            return p.relative_to(repo).as_posix(), meta["namespace"]
    raise SystemExit("bench: the generated repo holds no namespace-wide SidecarProxySettings")


def change_namespace_settings(clone: Path, rel: str) -> str:
    """Set (or change) spec.proxy.concurrency in that document: no pod annotation of the
    generated repo overrides it, so every workload of the namespace renders differently."""
    import yaml

    p = clone / rel
    text = p.read_text(encoding="utf-8")
    old = (yaml.safe_load(text)["spec"]["proxy"]).get("concurrency")
    new = 3 if old != 3 else 5
    if old is None:
        text, n = re.subn(r"^  proxy:\s*$", f"  proxy:\n    concurrency: {new}", text, count=1, flags=re.M)
    else:
        text, n = re.subn(r"^    concurrency: .*$", f"    concurrency: {new}", text, count=1, flags=re.M)
    if n != 1 or yaml.safe_load(text)["spec"]["proxy"].get("concurrency") != new:
        raise SystemExit(f"bench: could not change spec.proxy.concurrency in {rel}")
    p.write_text(text, encoding="utf-8")
    return f"{rel}: spec.proxy.concurrency {old} -> {new}"


@functools.cache
def package_dir() -> Path:
    """Where the meshrender the bench runs is installed (render/ in an editable install)."""
    out = subprocess.run([sys.executable, "-c", "import meshrender, os; print(os.path.dirname(meshrender.__file__))"],
                         capture_output=True, text=True, check=True, timeout=60)
    return Path(out.stdout.strip())


def package_fingerprint() -> str:
    """A hash of meshrender's installed files (not bytecode), 15 ms. The warm steps compare
    with output committed at the start of the section; if the package changes meanwhile
    (an editable install someone is working on), output digests keyed on meshrender's own
    build no longer apply, and a step that ran on another build is marked as such."""
    root = package_dir()
    h = hashlib.blake2b(digest_size=16)
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"):
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


class Clone:
    """A fresh `git clone` of the warm repo, and a way to put it back to what the clone
    held (plus the scenario's own edits) between timed commands."""

    def __init__(self, origin: Path, path: Path):
        start = time.perf_counter()
        git(["clone", "-q", str(origin), str(path)], cwd=path.parent)
        self.seconds = time.perf_counter() - start
        self.path = path
        self.git_entries = set(os.listdir(path / ".git"))

    def scrub(self) -> list[str]:
        """Remove what the last command left: untracked and ignored files (a cache in the
        work tree) and new entries in .git (a cache there). Tracked edits stay. Returns
        what was removed, so that the report can say a command writes a cache."""
        removed = [line.split(" ", 2)[-1] for line in git(["clean", "-ffdx"], cwd=self.path).splitlines()]
        for name in sorted(set(os.listdir(self.path / ".git")) - self.git_entries):
            p = self.path / ".git" / name
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            removed.append(f".git/{name}")
        return removed

    def changed(self) -> list[str]:
        """Tracked files that differ from the commit."""
        return sorted(line[3:] for line in git(["status", "--porcelain", "--untracked-files=no"],
                                                cwd=self.path).splitlines())

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class WarmSteps:
    """The timed commands of the warm section, their runs and the failures among them."""

    def __init__(self, work: Path):
        self.work = work
        self.runs: dict[str, list[dict]] = {name: [] for name in WARM_STEPS}
        self.failures: list[str] = []
        self.notes: list[str] = []
        self.timeout = 600.0
        self.build = package_fingerprint()  # the build that renders the committed output
        self._caches = 0

    def cache_env(self) -> dict[str, str]:
        """A full environment with empty cache folders of its own: no user or earlier
        cache can be found, whatever the CLI's default location is."""
        self._caches += 1
        root = self.work / "caches" / str(self._caches)
        (root / "meshrender").mkdir(parents=True)
        (root / "xdg").mkdir()
        return {**_git_env(), "MESHRENDER_CACHE_DIR": str(root / "meshrender"), "XDG_CACHE_HOME": str(root / "xdg")}

    def fail(self, message: str) -> None:
        """Record a failure and say it at once; the run goes on (one broken step should
        not hide the figures of the others)."""
        self.failures.append(message)
        print(f"\n  FAIL: {message}", flush=True)

    def run(self, name: str, args: list[str], cwd: Path, env: dict[str, str] | None = None,
            stdout_to: Path | None = None, timeout: float | None = None) -> dict:
        """Time `meshrender ARGS` in `cwd` and check its exit code against WARM_STEPS."""
        expected = WARM_STEPS[name][0]
        out = open(stdout_to, "wb") if stdout_to else subprocess.DEVNULL  # noqa: SIM115
        build = package_fingerprint()
        try:
            r = run_timed([MESHRENDER, *args], env=env or self.cache_env(), replace_env=True, cwd=cwd,
                          stdout=out, timeout=timeout or self.timeout)
        finally:
            if stdout_to:
                out.close()
        r["same_build"] = build == package_fingerprint() == self.build
        r["ok"] = r["returncode"] in expected and not r["timed_out"]
        err = r.pop("stderr")
        if not r["ok"]:
            why = (f"timed out after {timeout or self.timeout:.0f} s" if r["timed_out"]
                   else f"exited {r['returncode']}, expected {' or '.join(map(str, expected))}")
            self.fail(f"{name}: meshrender {' '.join(args)} (in {cwd.name}) {why}\n"
                      + "\n".join("    " + line for line in err.strip().splitlines()[-12:]))
        self.runs[name].append(r)
        print(f" {name} {r['seconds']:.2f} s{'' if r['ok'] else ' FAIL'}{'' if r['same_build'] else ' [other build]'},",
              end="", flush=True)
        return r

    def scrub(self, clone: Clone, expect_changed: list[str], after: str, allow: tuple[str, ...] = ()) -> None:
        """Put the clone back between two timed commands, and check that the command did
        not change tracked files (render-check and diff only read); files in `allow` may
        differ."""
        removed = clone.scrub()
        if removed:
            self.notes.append(f"{after} left {len(removed)} untracked path(s) in the clone "
                              f"(removed before the next step): {', '.join(removed[:5])}")
        changed = set(clone.changed()) - set(allow)
        if changed != set(expect_changed):
            self.fail(f"{after} changed tracked files: {', '.join(sorted(changed - set(expect_changed))[:10])}")


def check_one_file_render(clone: Clone, source: str, written: list[str], steps: WarmSteps) -> dict:
    """Is the warm render right? With one Deployment changed, a render from scratch differs
    from the committed output (itself a render from scratch) only in that Deployment's
    output file (and the marker): so the warm render must have rewritten exactly those,
    and that file must equal what a render of the changed file alone with the settings
    folders writes into an empty folder outside the clone (0.2 s instead of a full cold
    render: a round of the warm section must fit its time budget)."""
    name = Path(source).name
    outputs = [p for p in written if Path(p).name != MARKER]
    result: dict = {"rewritten": written[:20], "identical": False}
    if len(outputs) != 1 or Path(outputs[0]).name != name:
        steps.fail(f"render_one_file: expected the warm render to rewrite one output file named {name} (and "
                   f"the marker), it rewrote {len(outputs)}: {', '.join(outputs[:5])}")
        return result
    clone.scrub()
    ref = steps.work / "reference-out"
    settings = [d for d in WARM_INPUTS if not (source + "/").startswith(d + "/")]
    r = run_timed([MESHRENDER, "render", *settings, source, "-o", str(ref), "-q"], env=steps.cache_env(),
                  replace_env=True, cwd=clone.path, timeout=steps.timeout, sample=False)
    found = sorted(ref.rglob(name)) if ref.is_dir() else []
    if r["returncode"] != 0 or len(found) != 1:
        steps.fail(f"render_one_file: the reference render of {source} exited {r['returncode']} and wrote "
                   f"{len(found)} file(s) named {name}: {r['stderr'][-1000:]}")
    else:
        result["identical"] = found[0].read_bytes() == (clone.path / outputs[0]).read_bytes()
        if not result["identical"]:
            steps.fail(f"render_one_file: {outputs[0]} differs from a render from scratch of {source}")
    shutil.rmtree(ref, ignore_errors=True)
    return result


def measure_warm(n: int, max_rounds: int, work: Path, budget: float) -> dict:
    """The warm-case steps at `n` workloads: up to `max_rounds` rounds, a further round only
    while the section's wall time stays within `budget` seconds (one round always runs)."""
    section_start = time.perf_counter()
    load_before = os.getloadavg()
    compile_package()
    steps = WarmSteps(work)
    origin = work / "warm-repo"
    origin.mkdir()
    t = time.perf_counter()
    info = generate(origin, n)
    generate_s = time.perf_counter() - t
    print(f"warm repo: {info['workloads']} workloads, {info['files']} files, {info['bytes'] / 1e6:.1f} MB "
          f"(generated in {generate_s:.1f} s)", flush=True)
    git(["init", "-q", "-b", "main"], cwd=origin)
    git(["config", "user.name", "meshrender bench"], cwd=origin)
    git(["config", "user.email", "bench@meshrender.invalid"], cwd=origin)
    git(["config", "gc.auto", "0"], cwd=origin)

    # round 1's cold render is the one whose output is committed
    print("  round 1:", end="", flush=True)
    round_start = time.perf_counter()
    steps.run("cold_render", ["render", *WARM_INPUTS, "-o", WARM_OUTPUT, "-q"], cwd=origin,
              timeout=120 + 0.03 * n)
    if not (origin / WARM_OUTPUT / MARKER).is_file():
        raise SystemExit(f"bench: the cold render wrote no {WARM_OUTPUT}/{MARKER}; the warm steps need it")
    # warm steps may take several times a cold render today; a hung one is stopped
    steps.timeout = max(60.0, 4 * steps.runs["cold_render"][0]["seconds"] + 30)
    t = time.perf_counter()
    git(["add", "--", *WARM_INPUTS, WARM_OUTPUT], cwd=origin)
    git(["commit", "-q", "-m", f"{n} workloads and their rendered output"], cwd=origin)
    commit_s = time.perf_counter() - t

    deployment = pick_deployment(origin)
    ns_file, namespace = pick_namespace_settings(origin)
    per_ns = count_workloads(origin / "apps")
    lint = lint_available()
    clone_seconds: list[float] = []
    clones: list[Clone] = []  # removed after the section (see drop)
    checks: list[dict] = []  # the warm render's output against a render from scratch
    render_changed: list[list[str]] = []  # output files each warm render rewrote
    round_seconds: list[float] = []

    def drop(clone: Clone) -> None:
        # Not removed now: deleting a clone's 24,000 files took 5-18 s each on the bench
        # machine, and on ext4 without a journal creating files right after deleting many is
        # slower (see "Where the time goes"), which would land on the next timed render.
        clones.append(clone)

    for round_no in range(1, max_rounds + 1):
        if round_no > 1:
            elapsed = time.perf_counter() - section_start
            if elapsed + round_seconds[-1] > budget:
                print(f"  (no round {round_no}: {elapsed:.0f} s spent, a round takes {round_seconds[-1]:.0f} s, "
                      f"budget {budget:.0f} s)", flush=True)
                break
            print(f"  round {round_no}:", end="", flush=True)
            round_start = time.perf_counter()

        # Clone 1: nothing changed (render-check, diff, lint twice), then one Deployment
        # changed (render-check, diff, render -o over the committed output, render-check).
        # scrub() between the commands leaves each as a fresh clone would find it.
        a = Clone(origin, work / f"clone-{round_no}-one-file")
        clone_seconds.append(a.seconds)
        steps.run("render_check_unchanged", ["render-check"], cwd=a.path)
        steps.scrub(a, [], "render_check_unchanged")
        steps.run("diff_unchanged", ["diff", *WARM_INPUTS, "--against", WARM_OUTPUT], cwd=a.path)
        steps.scrub(a, [], "diff_unchanged")
        if lint:
            env = steps.cache_env()  # kept between the two runs
            outs = [work / f"lint-{round_no}-{i}.json" for i in (1, 2)]
            first = steps.run("lint_first", ["lint", *WARM_INPUTS, "--format", "json"], cwd=a.path, env=env,
                              stdout_to=outs[0])
            second = steps.run("lint_second", ["lint", *WARM_INPUTS, "--format", "json"], cwd=a.path, env=env,
                               stdout_to=outs[1])
            if (first["returncode"], outs[0].read_bytes()) != (second["returncode"], outs[1].read_bytes()):
                steps.fail("lint_second: its report or exit code differs from lint_first's (same inputs)")
            for out in outs:
                out.unlink()
            steps.scrub(a, [], "lint")
        change = change_deployment(a.path, deployment)
        steps.run("render_check_one_file", ["render-check"], cwd=a.path)
        steps.scrub(a, [deployment], "render_check_one_file")
        steps.run("diff_one_file", ["diff", *WARM_INPUTS, "--against", WARM_OUTPUT], cwd=a.path)
        steps.scrub(a, [deployment], "diff_one_file")
        env = steps.cache_env()  # the render's cache, if it writes one, is the check's too
        steps.run("render_one_file", ["render", *WARM_INPUTS, "-o", WARM_OUTPUT, "-q"], cwd=a.path, env=env)
        steps.run("render_check_after_render", ["render-check"], cwd=a.path, env=env)
        written = [p for p in a.changed() if p != deployment]
        render_changed.append(written)
        checks.append(check_one_file_render(a, deployment, written, steps))
        drop(a)

        # Clone 2: one namespace's settings changed; in later rounds, then the cold render
        # (output folder deleted) of the unchanged inputs, which must give the committed output
        c = Clone(origin, work / f"clone-{round_no}-namespace")
        clone_seconds.append(c.seconds)
        ns_change = change_namespace_settings(c.path, ns_file)
        steps.run("render_check_namespace", ["render-check"], cwd=c.path)
        steps.scrub(c, [ns_file], "render_check_namespace")
        steps.run("diff_namespace", ["diff", *WARM_INPUTS, "--against", WARM_OUTPUT], cwd=c.path)
        steps.scrub(c, [ns_file], "diff_namespace")
        if round_no > 1:
            git(["checkout", "-q", "--", ns_file], cwd=c.path)
            shutil.rmtree(c.path / WARM_OUTPUT)
            steps.run("cold_render", ["render", *WARM_INPUTS, "-o", WARM_OUTPUT, "-q"], cwd=c.path,
                      timeout=120 + 0.03 * n)
            # the marker's digests name meshrender's own code, which may have changed since
            steps.scrub(c, [], "cold_render (a cold render in a clone must write the committed output)",
                        allow=(f"{WARM_OUTPUT}/{MARKER}",))
        drop(c)
        shutil.rmtree(work / "caches", ignore_errors=True)
        round_seconds.append(time.perf_counter() - round_start)
        print(f" ({round_seconds[-1]:.0f} s)", flush=True)

    cold = statistics.median(r["seconds"] for r in steps.runs["cold_render"])
    results: dict = {}
    for name, (expected, what) in WARM_STEPS.items():
        runs = steps.runs[name]
        if not runs:
            continue
        seconds = statistics.median(r["seconds"] for r in runs)
        results[name] = {
            "what": what,
            "seconds": seconds,
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            "peak_mb": max(r["peak_mb"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "processes": max(r["processes"] for r in runs),
            "x_cold": seconds / cold,
            "runs": [round(r["seconds"], 3) for r in runs],
            "exit_codes": [r["returncode"] for r in runs],
            "expected_exit": list(expected),
            "ok": all(r["ok"] for r in runs),
            "same_build": all(r["same_build"] for r in runs),
        }
    targets = warm_targets(results)
    section_s = time.perf_counter() - section_start
    other = [name for name, r in results.items() if not r["same_build"]]
    if other:
        steps.notes.append(f"meshrender's installed files changed during the section (someone is editing this "
                           f"checkout): {', '.join(other)} ran on a build other than the one that rendered the "
                           f"committed output, whose digests then need not apply; rerun for figures of one build")
    t = time.perf_counter()
    for clone in clones:
        clone.remove()
    cleanup_s = time.perf_counter() - t
    return {
        "workloads": n,
        "repo": info,
        "inputs": WARM_INPUTS,
        "output": WARM_OUTPUT,
        "rounds": len(round_seconds),
        "round_seconds": [round(s, 1) for s in round_seconds],
        "section_seconds": round(section_s, 1),
        "budget_seconds": budget,
        "setup_seconds": {"generate": round(generate_s, 1), "commit": round(commit_s, 1),
                          "clones": [round(s, 1) for s in clone_seconds],
                          "cleanup_after_section": round(cleanup_s, 1)},
        "load_average_before": load_before,
        "one_file": {"change": change, "output_files_rewritten": [w[:20] for w in render_changed],
                     "output_files_rewritten_count": [len(w) for w in render_changed]},
        "namespace": {"change": ns_change, "namespace": namespace, "workloads": per_ns.get(namespace, 0),
                      "total_workloads": sum(per_ns.values())},
        "render_one_file_vs_scratch": checks,
        "results": results,
        "targets": targets,
        "failures": steps.failures,
        "notes": steps.notes,
    }


def warm_targets(results: dict) -> list[dict]:
    """The issue's targets, each with the figure it is judged on and whether it is met."""
    out = []
    for name in ("render_check_one_file", "diff_one_file"):
        r = results.get(name)
        if r:
            out.append({"step": name, "target": f"<= {TARGET_RATIO:.2f}x cold and <= {TARGET_SECONDS} s wall",
                        "figure": f"{r['x_cold']:.2f}x, {r['seconds']:.2f} s",
                        "met": r["x_cold"] <= TARGET_RATIO and r["seconds"] <= TARGET_SECONDS})
    for name, r in results.items():
        if name.startswith("render_check"):
            out.append({"step": name, "target": f"peak < {TARGET_CHECK_MB:.0f} MB",
                        "figure": f"{r['peak_mb']:.0f} MB", "met": r["peak_mb"] < TARGET_CHECK_MB})
    return out


def summarize_warm(warm: dict, previous: dict | None) -> str:
    """The warm table: each step's median against the cold render of the same run."""
    prev = (previous or {}).get("warm") or {}
    prev_res = prev.get("results", {}) if prev.get("workloads") == warm["workloads"] else {}
    lines = [f"warm case: {warm['workloads']:,} workloads, {warm['rounds']} round(s), median of the rounds; "
             f"x cold = to cold_render of this run",
             f"{'step':<26} {'seconds':>8} {'x cold':>7} {'cpu s':>7} {'peak MB':>8} {'procs':>6} {'exit':>6}"
             + ("   previous" if prev_res else "")]
    for name, r in warm["results"].items():
        codes = "/".join(sorted({str(c) for c in r["exit_codes"]}))
        mark = "" if r["ok"] else f"  FAIL (expected {' or '.join(map(str, r['expected_exit']))})"
        mark += "" if r["same_build"] else "  [other build]"
        p = prev_res.get(name)
        was = f"   {p['seconds']:.2f} s, {p['x_cold']:.2f}x" if p else ""
        lines.append(f"{name:<26} {r['seconds']:>8.2f} {r['x_cold']:>7.2f} {r['cpu_seconds']:>7.2f} "
                     f"{r['peak_mb']:>8.0f} {r['processes']:>6} {codes:>6}{was}{mark}")
    ns = warm["namespace"]
    rewritten = warm["one_file"]["output_files_rewritten"][0]
    lines.append(f"one file: {warm['one_file']['change']}; the warm render rewrote "
                 f"{warm['one_file']['output_files_rewritten_count'][0]} output file(s): {', '.join(rewritten[:4])}")
    lines.append(f"namespace: {ns['change']}; {ns['namespace']} holds {ns['workloads']:,} of "
                 f"{ns['total_workloads']:,} workloads ({ns['workloads'] / max(ns['total_workloads'], 1):.1%})")
    same = warm["render_one_file_vs_scratch"]
    if same:
        lines.append("warm render output identical to a render from scratch (the file it rewrote; every "
                     f"other file untouched): {', '.join(str(c['identical']) for c in same)}")
    lines.append("targets:")
    for t in warm["targets"]:
        lines.append(f"  {t['step']:<26} {t['target']:<38} {t['figure']:<16} {'met' if t['met'] else 'MISSED'}")
    s = warm["setup_seconds"]
    lines.append(f"warm section: {warm['section_seconds']:.0f} s wall (budget {warm['budget_seconds']:.0f} s; "
                 f"generate {s['generate']:.0f} s, commit {s['commit']:.0f} s, {len(s['clones'])} clones "
                 f"{sum(s['clones']):.0f} s; rounds {', '.join(f'{x:.0f}' for x in warm['round_seconds'])} s, "
                 f"the first with the cold render and commit), then {s['cleanup_after_section']:.0f} s removing "
                 f"the clones; load average before it {warm['load_average_before'][0]:.2f}")
    lines += [f"note: {n}" for n in warm["notes"]]
    lines += [f"FAIL: {f.splitlines()[0]}" for f in warm["failures"]]
    return "\n".join(lines)


# -- report -------------------------------------------------------------------------------


def summarize(data: dict, previous: dict | None) -> str:
    n = data["repo"]["workloads"]
    res = data["results"]
    floor = res["floor"]["seconds"]
    lines = [f"{'step':<24} {'seconds':>8} {'workloads/s':>12} {'x floor':>8} {'cpu s':>7} {'peak MB':>8} {'procs':>6}"
             + ("   previous" if previous else "")]
    for name in ("floor", "floor_tree", "pyyaml_c", "render", "render_1_worker", "render_reference_yaml", "lint"):
        r = res.get(name)
        if r is None:
            continue
        if not r.get("available", True):
            lines.append(f"{name:<24} {'not available (no lint command in render/cli.py COMMANDS)'}")
            continue
        prev = ""
        if previous and name in previous["results"] and "seconds" in previous["results"][name]:
            p = previous["results"][name]
            prev = f"   {p['seconds']:.2f} s, {p['seconds'] / previous['results']['floor']['seconds']:.2f}x"
        lines.append(f"{name:<24} {r['seconds']:>8.2f} {n / r['seconds']:>12.0f} {r['seconds'] / floor:>8.2f} "
                     f"{r['cpu_seconds']:>7.2f} {r['peak_mb']:>8.0f} {r['processes']:>6}{prev}")
    lines.append(f"load average before the run: {data['meta']['load_average_before'][0]:.2f} on "
                 f"{data['meta']['cpus']} cores (other work on the machine slows the parallel steps first)")
    r = res["render"]
    lines.append(f"render output identical with 1 worker: {r['identical_to_1_worker']}, "
                 f"with the reference YAML parser: {r['identical_to_reference_yaml']}")
    pc = res["pre_commit"]
    lines.append("pre-commit (fresh process, median of 11): " + ", ".join(
        f"{k} {v['median_ms']:.0f} ms" for k, v in pc.items() if isinstance(v, dict)))
    lines.append("slowest imports: " + ", ".join(f"{i['module']} {i['cumulative_ms']:.0f} ms" for i in pc["imports"]))
    return "\n".join(lines)


def previous_result(results_dir: Path, n: int, exclude: Path) -> dict | None:
    found = sorted(p for p in results_dir.glob(f"*-{n}.json") if p != exclude)
    return json.loads(found[-1].read_text()) if found else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per step; the best is kept (default 3)")
    ap.add_argument("--results", type=Path, default=HERE / "results")
    ap.add_argument("--keep", action="store_true", help="keep the generated repo and outputs")
    ap.add_argument("--warm-workloads", type=int, default=10000,
                    help="workloads of the warm-case repo (default 10000; 0: no warm steps)")
    ap.add_argument("--warm-budget", type=float, default=180,
                    help="seconds the warm section may take: a round after the first runs only if it fits "
                         "(default 180)")
    args = ap.parse_args()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="meshrender-bench-"))
    try:
        data = measure(args.workloads, args.repeat, work)
        if args.warm_workloads > 0:
            print(flush=True)
            warm_work = work / "warm"
            warm_work.mkdir()
            data["warm"] = measure_warm(args.warm_workloads, max(args.repeat, 1), warm_work, args.warm_budget)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    data["meta"] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git.stdout.strip(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "repeat": args.repeat,
        "warm_workloads": args.warm_workloads,
    }
    for r in data["results"].values():
        if isinstance(r, dict):
            r.pop("stderr", None)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = args.results / f"{stamp}-{args.workloads}.json"
    previous = previous_result(args.results, args.workloads, path)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print()
    print(summarize(data, previous))
    if "warm" in data:
        print()
        print(summarize_warm(data["warm"], previous))
    print(f"\nwrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    if data.get("warm", {}).get("failures"):
        raise SystemExit(f"bench: {len(data['warm']['failures'])} warm step(s) failed (FAIL above)")


if __name__ == "__main__":
    main()
