"""Rendering in worker processes gives what one process gives: the same bytes, the same
summary and warnings, and the same first error, whichever worker met it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from meshrender.errors import InputError, Location
from meshrender.run import parallel
from tests.conftest import ROOT

EXE = str(Path(sys.executable).with_name("meshrender"))


def generate(root: Path, workloads: int) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from generate import generate as gen
    finally:
        sys.path.pop(0)
    gen(root, workloads)
    return root


@pytest.fixture(scope="module")
def bench_repo(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("bench") / "repo", 60)


def run(*args: str, jobs: str = "2", yaml: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MESHRENDER_JOBS": jobs}
    env.pop("KUBE_VERSION", None)
    if yaml:
        env["MESHRENDER_YAML"] = yaml
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_workers_and_readers_give_identical_output(bench_repo, tmp_path):
    outs = {}
    for name, jobs, yaml in [("one", "1", "reference"), ("two", "2", None), ("three", "3", None)]:
        out = tmp_path / name
        r = run("render", str(bench_repo), "-o", str(out), jobs=jobs, yaml=yaml)
        assert r.returncode == 0, r.stderr
        outs[name] = (tree(out), r.stderr)
    one, two, three = outs["one"], outs["two"], outs["three"]
    assert len(one[0]) > 50
    marker = ".meshrender-output"
    strip = lambda t: {k: v for k, v in t.items() if k != marker}  # noqa: E731 - it records the folder
    assert strip(one[0]) == strip(two[0]) == strip(three[0])
    # the summary lists every workload in input order, and the selector warning comes once
    assert one[1].replace(str(tmp_path / "one"), "OUT") == two[1].replace(str(tmp_path / "two"), "OUT")
    assert "search-indexers: selector matches no workload" not in two[1]  # used in a worker: counted
    streams = [run("render", str(bench_repo), jobs=j).stdout for j in ("1", "2")]
    assert streams[0] == streams[1] and streams[0].count("\n---\n") > 100


def test_a_parse_error_anywhere_comes_before_a_rendering_error(bench_repo, tmp_path):
    repo = tmp_path / "repo"
    files = sorted(f for f in bench_repo.rglob("workload.yaml") if "deploy-" in str(f))
    for f in bench_repo.rglob("*.y*ml"):
        dest = repo / f.relative_to(bench_repo)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
    early, late = files[1], files[-1]
    scrape = '        prometheus.io/scrape: "true"\n'
    (repo / early.relative_to(bench_repo)).write_text(
        early.read_text().replace(scrape, scrape + "        sidecar.istio.io/proxyCPU: lots\n"))
    (repo / late.relative_to(bench_repo)).write_text(late.read_text() + "  bad: [unclosed\n")
    out = tmp_path / "out"
    results = [run("render", str(repo), "-o", str(out), jobs=j) for j in ("1", "2")]
    assert results[0].returncode == results[1].returncode == 2
    assert results[0].stderr == results[1].stderr
    assert str(repo / late.relative_to(bench_repo)) in results[0].stderr and "invalid YAML" in results[0].stderr
    assert not out.exists()
    # without the parse error, the injection error of the earlier file is reported
    (repo / late.relative_to(bench_repo)).write_bytes(late.read_bytes())
    results = [run("render", str(repo), "-o", str(out), jobs=j) for j in ("1", "2")]
    assert results[0].returncode == 2 and results[0].stderr == results[1].stderr
    assert "proxyCPU" in results[0].stderr and str(repo / early.relative_to(bench_repo)) in results[0].stderr
    assert not out.exists() and not list(tmp_path.glob(".out.tmp-*"))


def test_a_settings_error_waits_for_parse_errors_in_later_files(bench_repo, tmp_path):
    repo = tmp_path / "repo"
    for f in bench_repo.rglob("*.y*ml"):
        dest = repo / f.relative_to(bench_repo)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(f.read_bytes())
    (repo / "mesh" / "sidecar-global.yaml").write_text(
        (repo / "mesh" / "sidecar-global.yaml").read_text().replace("concurrency", "concurency")
        .replace("holdApplicationUntilProxyStarts: true", "holdApplicationUntilProxyStarts: maybe"))
    last = sorted((repo / "apps").rglob("*.yaml"))[-1]
    last.write_text(last.read_text() + "x: {\n")
    results = [run("render", str(repo), jobs=j) for j in ("1", "2")]
    assert results[0].stderr == results[1].stderr and results[0].returncode == 2
    assert str(last) in results[0].stderr


@pytest.mark.skipif(not parallel.can_fork(), reason="workers need fork")
def test_validate_runs_in_the_workers_with_the_same_report(bench_repo, tmp_path):
    results = [run("render", str(bench_repo), "--validate", "-o", str(tmp_path / j), jobs=j) for j in ("1", "2")]
    assert results[0].returncode == results[1].returncode == 0, results[1].stderr


# -- the worker pool itself ------------------------------------------------------------


def square_or_fail(i: int) -> int:
    if i in (7, 8):
        raise InputError(f"bad input {i}", Location(f"f{i}.yaml", i, 3), field="spec")
    return i * i


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_ordered_map_yields_in_order_and_stops_at_the_first_failure(workers):
    out = []
    for i, r in parallel.ordered_map(square_or_fail, 40, workers):
        out.append((i, r))
        if isinstance(r, parallel.Failure):
            break
    assert [i for i, _ in out] == list(range(8))
    assert all(r == i * i for i, r in out[:-1])
    failure = out[-1][1]
    assert isinstance(failure.error, InputError)
    assert str(failure.error) == "f7.yaml:7:3: error: spec: bad input 7"  # location and field survive


def test_a_dead_worker_is_reported_not_waited_for():
    def die(i: int) -> int:
        if i == 5:
            os._exit(3)
        return i

    if not parallel.can_fork():
        pytest.skip("workers need fork")
    with pytest.raises(parallel.WorkerDied, match="exited with status 3"):
        list(parallel.ordered_map(die, 20, 2))


def test_an_unpicklable_error_crosses_with_its_type_name_and_message():
    class Odd(Exception):
        def __init__(self, a, b):
            super().__init__(f"{a}-{b}")

    def fail(i: int) -> int:
        raise Odd(1, 2)

    if not parallel.can_fork():
        pytest.skip("workers need fork")
    ((_, r),) = list(parallel.ordered_map(fail, 4, 2))[:1]
    assert type(r.error).__name__ == "Odd" and str(r.error) == "1-2"
    assert "Traceback" in str(r.error.__cause__)


def test_small_runs_stay_in_one_process_and_jobs_can_be_set(monkeypatch):
    from meshrender.errors import UsageError
    from meshrender.run import driver as pipeline

    monkeypatch.delenv("MESHRENDER_JOBS", raising=False)
    assert pipeline.workers_for(1, 10 * 1024 * 1024) == 1  # one file: nothing to share
    assert pipeline.workers_for(500, 20 * 1024) == 1  # little to do: forking costs more
    assert pipeline.workers_for(500, 10 * 1024 * 1024) == min(parallel.cpu_count(), 500)
    monkeypatch.setenv("MESHRENDER_JOBS", "3")
    assert pipeline.workers_for(2, 10) == 2 and pipeline.workers_for(50) == 3
    monkeypatch.setenv("MESHRENDER_JOBS", "many")
    with pytest.raises(UsageError, match="MESHRENDER_JOBS"):
        pipeline.workers_for(50)


# -- Background: one function in a worker while the caller goes on ---------------------------


def _needs_fork() -> None:
    if not parallel.can_fork() or parallel.cpu_count() < 2:
        pytest.skip("a Background worker needs fork and two cores")


def test_background_computes_in_another_process_while_the_caller_goes_on(tmp_path):
    _needs_fork()
    gate = tmp_path / "gate"

    def wait_for_caller() -> tuple[int, str]:
        while not gate.exists():  # the caller writes it after starting the worker (the
            pass  # worker sees it meanwhile; run at result(), it would run in this process)
        return os.getpid(), gate.read_text()

    with parallel.Background(wait_for_caller) as job:
        (tmp_path / "next").write_text("written meanwhile")
        os.replace(tmp_path / "next", gate)  # (whole: the worker may look at any moment)
        pid, text = job.result()
    assert pid != os.getpid() and text == "written meanwhile"


def test_background_raises_what_the_function_raised():
    _needs_fork()

    def bad_input() -> None:
        raise InputError("bad input", Location("f.yaml", 3), field="spec")

    with pytest.raises(InputError) as err:
        parallel.Background(bad_input).result()
    assert str(err.value) == "f.yaml:3:1: error: spec: bad input"  # as raised, with its location

    def bug() -> None:
        raise KeyError("missing")

    with pytest.raises(Exception) as err:
        parallel.Background(bug).result()
    assert type(err.value).__name__ == "KeyError" and "Traceback" in str(err.value.__cause__)


def test_background_inline_runs_at_result_in_this_process():
    calls = []
    job = parallel.Background(lambda: calls.append(os.getpid()) or "done", inline=True)
    assert calls == []  # nothing until asked
    assert job.result() == "done" and calls == [os.getpid()]


def test_a_background_worker_that_dies_is_reported():
    _needs_fork()
    with pytest.raises(parallel.WorkerDied, match="exited with status 5"):
        parallel.Background(lambda: os._exit(5)).result()


def test_closing_a_background_ends_its_worker():
    _needs_fork()
    import time

    job = parallel.Background(lambda: time.sleep(60))
    pid = job._reader.pid
    job.close()
    with pytest.raises(ChildProcessError):  # ended and reaped: no zombie left behind
        os.waitpid(pid, os.WNOHANG)


def test_a_background_that_cannot_fork_runs_at_result(monkeypatch):
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    job = parallel.Background(lambda: os.getpid())
    assert job.result() == os.getpid()  # (in this process: no worker could be started)
