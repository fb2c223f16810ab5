"""The filesystem side of robustness: all-or-nothing output, signals, full disks, symlinks,
and proof that inputs are never opened for writing."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from meshrender.inputs import sources
from meshrender.run import output
from tests.conftest import ROOT, run_cli

DEMO = ROOT / "fixtures" / "demo"
APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app{0}, namespace: shop}}
spec:
  template:
    metadata: {{labels: {{app: app{0}}}}}
    spec:
      containers:
      - name: app
        image: nginx
"""


def make_repo(root: Path, n: int = 3) -> Path:
    for i in range(n):
        p = root / "apps" / f"app{i}.yaml"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(APP.format(i), encoding="utf-8")
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def staging_leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.fixture
def rendered(tmp_path):
    """A repo already rendered once into tmp/out: (repo, out, snapshot of out)."""
    repo = make_repo(tmp_path / "repo")
    out = tmp_path / "out"
    r = run_cli("render", str(repo), "-o", str(out))
    assert r.code == 0, r.err
    (repo / "apps" / "app0.yaml").write_text(APP.format(0).replace("nginx", "nginx:2"), encoding="utf-8")
    return repo, out, snapshot(out)


# -- write failures ------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", ["1", "2"], ids=["one-process", "workers"])
@pytest.mark.parametrize(("failing", "err", "says"), [
    ("app1.yaml", errno.ENOSPC, "No space left on device; the previous output is unchanged"),
    ("app2.yaml", errno.EACCES, "Permission denied; the previous output is unchanged"),
], ids=["disk-full", "unwritable-file"])
def test_write_failure_keeps_the_previous_output(rendered, monkeypatch, failing, err, says, jobs):
    """Also when the file is written by a forked render worker (MESHRENDER_JOBS=2)."""
    repo, out, before = rendered
    monkeypatch.setenv("MESHRENDER_JOBS", jobs)
    # every file written anew (not linked from the previous output when unchanged), so
    # that the write of app1/app2 happens, and fails
    monkeypatch.setenv("MESHRENDER_CACHE", "0")
    real = output._write_file

    def fail(dest, text):
        if dest.name == failing:
            raise OSError(err, os.strerror(err))
        real(dest, text)

    monkeypatch.setattr(output, "_write_file", fail)
    r = run_cli("render", str(repo), "-o", str(out))
    assert r.code == 2
    assert r.err.startswith(f"meshrender: {out}/apps/{failing}:1:1: error: cannot write output: {says}"), r.err
    assert snapshot(out) == before
    assert staging_leftovers(out.parent) == []


def test_output_folder_that_cannot_be_created(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(output.tempfile, "mkdtemp", denied)
    out = tmp_path / "deploy" / "out"
    r = run_cli("render", str(repo), "-o", str(out))
    assert r.code == 2
    assert r.err.startswith(f"meshrender: {out}: error: cannot create the output folder: Permission denied")
    assert not out.exists()


def test_failure_on_first_render_leaves_no_folder(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo")

    def full_disk(dest, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(output, "_write_file", full_disk)
    out = tmp_path / "out"
    r = run_cli("render", str(repo), "-o", str(out))
    assert r.code == 2 and "nothing was written" in r.err, r.err
    assert not out.exists()
    assert staging_leftovers(tmp_path) == []


def test_swap_without_atomic_exchange_also_keeps_old_output_on_failure(rendered, monkeypatch):
    """Where renameat2 is missing, the fallback (two renames) puts the old output back."""
    repo, out, before = rendered
    monkeypatch.setattr(output, "exchange", lambda a, b: False)
    real_replace = os.replace

    def second_rename_fails(src, dst):
        if Path(src).name.startswith(".out.tmp-"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", second_rename_fails)
    r = run_cli("render", str(repo), "-o", str(out))
    assert r.code == 2 and "cannot write output: Input/output error" in r.err, r.err
    assert snapshot(out) == before
    assert staging_leftovers(out.parent) == []
    monkeypatch.setattr(output.os, "replace", real_replace)
    r = run_cli("render", str(repo), "-o", str(out))
    assert r.code == 0 and b"nginx:2" in (out / "apps" / "app0.yaml").read_bytes()
    assert staging_leftovers(out.parent) == []


def test_exchange_swaps_two_folders_atomically(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a")
    (b / "x").write_text("b")
    if not output.exchange(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    assert (a / "x").read_text() == "b" and (b / "x").read_text() == "a"


def test_output_through_a_symlink_updates_the_target(tmp_path):
    repo = make_repo(tmp_path / "repo")
    real = tmp_path / "real-out"
    link = tmp_path / "out"
    assert run_cli("render", str(repo), "-o", str(real)).code == 0
    link.symlink_to(real, target_is_directory=True)
    (repo / "apps" / "app0.yaml").write_text(APP.format(0).replace("nginx", "nginx:3"), encoding="utf-8")
    r = run_cli("render", str(repo), "-o", str(link))
    assert r.code == 0, r.err
    assert link.is_symlink() and b"nginx:3" in (real / "apps" / "app0.yaml").read_bytes()


# -- signals -------------------------------------------------------------------------------

SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from meshrender.run import output
    real = output._write_file
    def slow(dest, text):
        real(dest, text)
        time.sleep(0.2)
    output._write_file = slow
    from meshrender.cli import main
    sys.argv = ["meshrender", *sys.argv[1:]]
    main()
""")


@pytest.mark.parametrize("jobs", ["1", "2"], ids=["one-process", "workers"])
@pytest.mark.parametrize(("sig", "name"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "")])
def test_signal_while_writing_keeps_the_previous_output(rendered, sig, name, jobs):
    repo, out, before = rendered
    for i in range(3, 30):
        (repo / "apps" / f"app{i}.yaml").write_text(APP.format(i), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MESHRENDER_JOBS": jobs}
    proc = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, "render", str(repo), "-o", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".out.tmp-") and any(p.rglob("*.yaml")) for p in out.parent.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the render never started writing"
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert f"interrupted{' by ' + name if name else ''}; no output was changed" in err.decode()
    assert "Traceback" not in err.decode()
    assert snapshot(out) == before
    assert staging_leftovers(out.parent) == []


# -- inputs are read, never written --------------------------------------------------------

AUDIT = textwrap.dedent("""
    import json, os, sys
    events = []
    WRITE = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    def hook(event, args):
        if event == "open" and args[0] is not None and not isinstance(args[0], int):
            mode, flags = args[1], args[2]
            writes = (mode is not None and any(c in mode for c in "wax+")) or bool(flags & WRITE)
            events.append(["open-write" if writes else "open-read", os.fsdecode(args[0])])
        elif event in ("os.rename", "os.replace", "os.remove", "os.rmdir", "os.unlink", "shutil.rmtree",
                       "os.chmod", "os.truncate", "os.utime"):
            events.append([event, *[os.fsdecode(a) for a in args if isinstance(a, (str, bytes, os.PathLike))]])
    sys.addaudithook(hook)
    from meshrender.cli import main
    sys.argv = ["meshrender", *sys.argv[1:]]
    try:
        main()
    finally:
        with open(os.environ["AUDIT_LOG"], "w") as f:
            json.dump(events, f)
""")


def test_inputs_are_never_opened_for_writing(tmp_path):
    import shutil

    repo = tmp_path / "repo"
    shutil.copytree(DEMO, repo)
    values = tmp_path / "values.yaml"
    values.write_text("global:\n  proxy:\n    privileged: false\n", encoding="utf-8")
    for p in [*repo.rglob("*"), values]:
        if p.is_file():
            p.chmod(0o444)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in [*repo.rglob("*.yaml"), values]}
    log = tmp_path / "audit.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AUDIT_LOG": str(log)}
    out = tmp_path / "out"
    for _ in range(2):  # the second run replaces an existing output
        proc = subprocess.run([sys.executable, "-c", AUDIT, "render", str(repo), "--values", str(values),
                               "-o", str(out)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr
        events = json.loads(log.read_text())
        inputs = [str(repo), str(values)]
        touching = [e for e in events if any(str(a).startswith(i) for a in e[1:] for i in inputs)]
        assert touching, "the audit saw no reads of the inputs at all"
        assert {e[0] for e in touching} == {"open-read"}, [e for e in touching if e[0] != "open-read"]
        read = {e[1] for e in touching}
        assert {str(p) for p in repo.rglob("*.yaml")} <= read
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before}
    assert after == before


# -- symlinks and special files ------------------------------------------------------------


def test_symlinks_inside_the_git_repository_are_followed(tmp_path):
    """`apps/prod/base -> ../base` is a common layout: rendering apps/prod follows it, since
    the link stays inside the repository (the Git work tree)."""
    root = tmp_path / "gitrepo"
    (root / ".git").mkdir(parents=True)
    make_repo(root / "apps" / "base", 1)
    prod = root / "apps" / "prod"
    prod.mkdir()
    (prod / "base").symlink_to("../base", target_is_directory=True)
    r = run_cli("render", str(prod))
    assert r.code == 0, r.err
    assert [d["metadata"]["name"] for d in r.docs()] == ["app0"]
    assert "warning" not in r.err


def test_symlinked_folder_outside_the_repository_is_not_followed(tmp_path):
    repo = make_repo(tmp_path / "repo", 1)
    outside = make_repo(tmp_path / "elsewhere", 2)
    (repo / "vendored").symlink_to(outside, target_is_directory=True)
    r = run_cli("render", str(repo))
    assert r.code == 0, r.err
    assert [d["metadata"]["name"] for d in r.docs()] == ["app0"]
    assert f"{repo}/vendored:1:1: warning: not following symlink to {outside}" in r.err


def test_a_symlink_named_on_the_command_line_is_read(tmp_path):
    """Only links met while walking folders are confined; a path the user typed is theirs."""
    target = make_repo(tmp_path / "elsewhere", 1) / "apps" / "app0.yaml"
    link = tmp_path / "repo" / "app.yaml"
    link.parent.mkdir()
    link.symlink_to(target)
    r = run_cli("render", str(link))
    assert r.code == 0 and r.docs()[0]["metadata"]["name"] == "app0"


def test_broken_symlink_is_skipped_with_a_warning(tmp_path):
    repo = make_repo(tmp_path / "repo", 1)
    (repo / "gone.yaml").symlink_to(repo / "missing.yaml")
    r = run_cli("render", str(repo))
    assert r.code == 0
    assert f"{repo}/gone.yaml:1:1: warning: skipping broken symlink" in r.err


def test_unreadable_folder_is_an_error_not_a_silent_skip(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo", 1)
    locked = repo / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path=".", *args):
        if isinstance(path, (str, os.PathLike)) and Path(path) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real_scandir(path, *args)

    monkeypatch.setattr(sources.os, "scandir", scandir)
    r = run_cli("render", str(repo), "-o", str(tmp_path / "out"))
    assert r.code == 2
    assert r.err.startswith(f"meshrender: {locked}: error: cannot read folder: Permission denied")
    assert not (tmp_path / "out").exists()


# -- bounded reads ---------------------------------------------------------------------------


def test_endless_stdin_is_refused_after_the_limit(monkeypatch):
    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 1000)
    r = run_cli("render", "-", stdin="# " + "x" * 5000 + "\n")
    assert r.code == 2
    assert r.err.startswith("meshrender: -:1:1: error: file is larger than 1000 bytes, the most meshrender reads")
    assert r.out == ""


def test_total_input_size_is_bounded(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo", 5)
    size = (repo / "apps" / "app0.yaml").stat().st_size
    monkeypatch.setattr(sources, "MAX_TOTAL_BYTES", size * 3 + 10)
    out = tmp_path / "out"
    r = run_cli("render", str(repo), "-o", str(out))
    assert r.code == 2
    assert r.err.startswith(f"meshrender: {repo}/apps/app3.yaml:1:1: error: the inputs together are larger than")
    assert not out.exists()
