"""meshrender's throughput, start-up time and memory against the YAML floor, in one run.

    python bench/run.py [--workloads 2000] [--repeat 3]     (or: make bench N=10000)

Generates a realistic GitOps repo (bench/generate.py), then times, each in a fresh child
process: the floor (bench/floor.py: the same files parsed and emitted by rapidyaml alone,
and by PyYAML's libyaml binding for reference), `meshrender render -o` (all cores, one
worker, and the reference PyYAML parser), `meshrender lint` when this checkout has it,
and a pre-commit style run on one changed file (interpreter start included). Each figure
is the best of --repeat rounds (each round runs every step once, so that a burst of other
work does not land on one step only); ratios are to the floor measured in this same run, because
the machine's speed drifts between runs. Peak memory is sampled from /proc over the
process tree (PSS, so pages shared by forked workers count once).

Results go to bench/results/<time>-<N>.json; the previous result for the same N is
printed alongside for comparison. This is a measurement, not a test: it never fails on
a slow figure, only on a broken run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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


def run_child(cmd: list[str], env: dict | None = None, ok_codes=(0,), stdout=subprocess.DEVNULL,
              sample: bool = True) -> dict:
    full_env = {**os.environ, **(env or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=full_env, stdout=stdout, stderr=subprocess.PIPE)
    sampler = TreeSampler(proc.pid) if sample else None
    if sampler:
        sampler.start()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if sampler:
        sampler.stop.set()
        sampler.join()
    if proc.returncode not in ok_codes:
        raise SystemExit(f"bench: {' '.join(cmd)} exited {proc.returncode}:\n{err.decode()[-2000:]}")
    return {
        "seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_mb": round((sampler.peak_pss if sampler else 0) / 1024, 1),
        "peak_rss_mb": round((sampler.peak_rss if sampler else 0) / 1024, 1),
        "max_process_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "processes": sampler.peak_procs if sampler else 1,
        "stderr": err.decode(errors="replace"),
    }


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

    def render(name: str, env: dict):
        def once():
            out = work / f"out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            return run_child([MESHRENDER, "render", str(repo), "-o", str(out), "-q"], env=env)
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
                                                 ok_codes=(0, 1))))
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
    args = ap.parse_args()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="meshrender-bench-"))
    try:
        data = measure(args.workloads, args.repeat, work)
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
    print(f"\nwrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
