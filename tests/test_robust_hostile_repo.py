"""A hostile repository cannot read, exhaust or mislead (issue 15).

meshrender runs as an Argo CD plugin on whatever a branch holds and as a pre-commit hook
and CI job on pull requests, so a repository's content is untrusted. Each test builds a
repository the way an attacker would and checks the exit status, the message, the bound
on time and memory (every run in its own process under RLIMIT_AS = the Argo CD sidecar's
512 Mi, meshrender.limits.PROCESS_MEMORY) and, where a run could leak, that it opened
nothing outside the repository and the output and wrote nothing outside the output
(tests/sandbox.py: strace when it works here, else a Python audit hook). The sections
follow the issue's list: containment, bounded work, nothing empty or raw, clean failures.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from meshrender import limits
from tests import sandbox
from tests.conftest import ROOT, run_cli, write_files

SECRET = "ghs_Hostile0Repo1Token2Never3Printed"
WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
"""
POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {app: x}}\nspec: {containers: [{name: a, image: b}]}\n"
BUDGET_MB = limits.PROCESS_MEMORY / limits.MiB


write = write_files


@pytest.fixture
def world(tmp_path):
    """A Git work tree `repo` (its .git/config holds a token, as actions/checkout leaves
    it) with sources in apps/ rendered into deploy/, a token file next to it, and a TMPDIR
    of its own; the current folder is the repository's root."""
    repo = write(tmp_path / "repo", {"apps/web.yaml": WEB, ".git/config": f"[http]\n\textraheader = {SECRET}\n"})
    (tmp_path / "token").write_text(f"{SECRET}\n")
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        assert run_cli("render", "apps", "-o", "deploy", "-q").code == 0
        yield repo, tmp
    finally:
        os.chdir(cwd)


def hostile_run(args: list[str], repo: Path, tmp: Path, **kw) -> sandbox.Proc:
    """meshrender in the repository's root, audited, within the memory budget."""
    p = sandbox.run(args, repo, audit=True, tmpdir=tmp, **kw)
    assert p.code is not None, f"no answer within the time limit: {args}"
    assert "Traceback" not in p.err and "internal error" not in p.err, p.err[-2000:]
    assert SECRET not in p.out + p.err
    return p


def contained(p: sandbox.Proc, repo: Path, tmp: Path, writes: list[Path] = ()) -> None:
    """Nothing outside the repository read, nothing in its .git, nothing written but `writes`."""
    assert p.touched, f"the {p.auditor} saw nothing at all"
    assert p.outside([repo, tmp], [tmp, *writes]) == []
    git = str(repo / ".git")
    assert [t for t in p.touched if t[1] == git or t[1].startswith(git + "/")] == []


# -- 1. containment ------------------------------------------------------------------------


MARKER_HEAD = "version: 1\nrender:\n"


@pytest.mark.parametrize(("paths", "says"), [
    (["../../../../../../../../etc/passwd"], "it leads outside the repository"),
    (["../../token"], "it leads outside the repository"),
    (["../.git/config"], "it leads into the repository's .git folder"),
    (["/etc/passwd"], "is an absolute path"),
    (["../apps/link.yaml"], "it leads outside the repository"),  # a symlink in the repository to the token
], ids=["etc-passwd", "token-file", "git-config", "absolute", "symlink-to-token"])
def test_marker_names_only_paths_inside_its_repository(world, paths, says):
    repo, tmp = world
    (repo / "apps" / "link.yaml").symlink_to(repo.parent / "token")
    (repo / "deploy" / ".meshrender-output").write_text(MARKER_HEAD + f"  paths: {paths}\n")
    p = hostile_run(["render-check"], repo, tmp)
    assert p.code == 2
    assert p.err.startswith("meshrender: deploy/.meshrender-output:3:11: error: render.paths[0]: "), p.err
    assert says in p.err
    assert "root:" not in p.out + p.err
    contained(p, repo, tmp)
    assert not any(path.endswith(("/etc/passwd", "/token")) for _, path in p.touched)


@pytest.mark.parametrize(("text", "where", "says"), [
    ("  paths: [../apps]\n  output: /etc\n", "4:3", "render.output: unknown option 'output'"),
    ("  paths: [../apps]\n  flavor: \"asm\\e[2J\"\n", "4:3", "render.flavor: holds a control character"),
    ("  paths: [../apps]\n  flavor: envoy\n", "4:3", "render.flavor: 'envoy' is not one of asm, istio"),
    ("  paths: [../apps]\n  values: [{a: b}]\n", "4:12", "render.values[0]: must be a path"),
], ids=["unknown-option", "escape-in-value", "not-a-choice", "not-a-path"])
def test_marker_holds_only_the_options_meshrender_records(world, text, where, says):
    repo, tmp = world
    (repo / "deploy" / ".meshrender-output").write_text(MARKER_HEAD + text)
    p = hostile_run(["render-check"], repo, tmp)
    assert p.code == 2
    assert p.err.startswith(f"meshrender: deploy/.meshrender-output:{where}: error: {says}"), p.err


def test_marker_of_a_newer_format_is_refused(world):
    repo, _ = world
    (repo / "deploy" / ".meshrender-output").write_text("version: 2\nrender:\n  paths: [../apps]\n")
    r = run_cli("render-check")
    assert r.code == 2
    assert "deploy/.meshrender-output:1:1: error: version: this marker has format version 2" in r.err


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "too-large"])
def test_marker_is_read_as_a_bounded_regular_file(world, kind):
    repo, tmp = world
    marker = repo / "deploy" / ".meshrender-output"
    marker.unlink()
    if kind == "dev-zero":
        marker.symlink_to("/dev/zero")
        says = "deploy/.meshrender-output: error: is a symlink"
    elif kind == "fifo":
        os.mkfifo(marker)
        says = "deploy/.meshrender-output: error: not a regular file (a FIFO, socket or device)"
    else:
        marker.write_bytes(b"# " + b"x" * (limits.MAX_FILE_BYTES + 10) + b"\n")
        says = "deploy/.meshrender-output:1:1: error: file is larger than 16 MiB"
    p = hostile_run(["render-check"], repo, tmp, timeout=60)
    assert p.code == 2 and p.err.startswith(f"meshrender: {says}"), p.err
    assert p.seconds < 30 and p.peak_mb < BUDGET_MB
    contained(p, repo, tmp)


def test_marker_naming_a_fifo_in_the_repository_does_not_hang(world):
    repo, tmp = world
    os.mkfifo(repo / "apps" / "pipe.yaml")
    (repo / "deploy" / ".meshrender-output").write_text(MARKER_HEAD + "  paths: [../apps/pipe.yaml]\n")
    p = hostile_run(["render-check"], repo, tmp, timeout=60)
    assert p.code == 2
    assert p.err.startswith("meshrender: apps/pipe.yaml: error: not a regular file"), p.err
    assert p.seconds < 30


@pytest.mark.parametrize("command", ["diff", "render-check"])
@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "too-large"])
def test_committed_output_is_read_as_bounded_regular_files(world, command, kind):
    repo, tmp = world
    bad = repo / "deploy" / "a.yaml"
    if kind == "dev-zero":
        bad.symlink_to("/dev/zero")
        says = "deploy/a.yaml: error: is a symlink"
    elif kind == "fifo":
        os.mkfifo(bad)
        says = "deploy/a.yaml: error: not a regular file"
    else:
        (repo / "deploy" / "web.yaml").write_bytes(b"# " + b"x" * (limits.MAX_FILE_BYTES + 10) + b"\n")
        says = "deploy/web.yaml:1:1: error: file is larger than 16 MiB"
    args = ["diff", "apps", "--against", "deploy"] if command == "diff" else ["render-check"]
    p = hostile_run(args, repo, tmp, timeout=60)
    assert p.code == 2 and p.err.startswith(f"meshrender: {says}"), p.err
    assert p.seconds < 30 and p.peak_mb < BUDGET_MB
    contained(p, repo, tmp)


def test_symlinks_into_git_are_not_followed(world):
    repo, tmp = world
    write(repo, {".git/leak.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leak}\n"
                                   f"data: {{t: {SECRET}}}\n"})
    (repo / "apps" / "leak.yaml").symlink_to("../.git/leak.yaml")
    (repo / "apps" / "git").symlink_to("../.git", target_is_directory=True)
    p = hostile_run(["render", "apps"], repo, tmp)
    assert p.code == 0, p.err
    assert "apps/leak.yaml:1:1: warning: not following symlink to" in p.err
    assert "it leads into the repository's .git folder" in p.err
    contained(p, repo, tmp)


@pytest.mark.parametrize("exists", [True, False], ids=["output-exists", "first-run"])
def test_symlink_to_the_output_folder_is_refused(world, exists):
    """`apps/prev -> ../deploy` made each run nest another copy of the output."""
    repo, _ = world
    if not exists:
        shutil.rmtree(repo / "deploy")
    (repo / "apps" / "prev").symlink_to("../deploy", target_is_directory=True)
    for _ in range(2):
        r = run_cli("render", "apps", "-o", "deploy", "-q")
        assert r.code == 2
        assert r.err.startswith("meshrender: apps/prev: error: output folder deploy is reached from the input "
                                "folder apps through the symlink apps/prev"), r.err
    assert not (repo / "deploy" / "prev").exists()
    r = run_cli("diff", "apps", "--against", "deploy") if exists else None
    assert r is None or (r.code == 2 and "through the symlink apps/prev" in r.err)


# -- 2. bounded work -----------------------------------------------------------------------


def flow_sequence(size: int) -> str:
    head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nx: ["
    return head + "1," * ((size - len(head) - 3) // 2) + "1]\n"


def test_a_large_flow_sequence_is_refused_within_the_budget(tmp_path):
    """One 16 MiB file `x: [1,1,...]` took 3.1 GB and 49 s: the node limit applied only to
    documents with anchors. Four of them (in worker processes) took 6.2 GB."""
    repo = write(tmp_path / "repo", {f"f{i}.yaml": flow_sequence(limits.MAX_FILE_BYTES - 1024) for i in range(4)})
    for files, jobs in ((["f0.yaml"], "1"), (["."], "2")):
        p = sandbox.run(["render", *files], repo, env={"MESHRENDER_JOBS": jobs}, timeout=120)
        assert p.code == 2, p.err[-2000:]
        assert p.err.startswith("meshrender: f0.yaml:4:"), p.err
        assert "document has more than 250,000 nodes (maps, lists and values)" in p.err
        assert p.seconds < 60 and p.peak_mb < BUDGET_MB


def test_the_node_limit_applies_to_documents_without_anchors(cli, tmp_path):
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n" + "".join(
        f"  k{i}: v\n" for i in range(limits.MAX_NODES // 2))
    (tmp_path / "a.yaml").write_text(doc)
    r = cli("render", str(tmp_path / "a.yaml"))
    assert r.code == 2
    assert f"{tmp_path / 'a.yaml'}:" in r.err and "document has more than 250,000 nodes" in r.err


def _docs_of(body: str, n: int) -> str:
    return "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n{body}" for i in range(n))


def test_file_node_workload_and_settings_limits(cli, tmp_path):
    keys = limits.MAX_NODES // 2 - 20  # block maps: each document just within its limit, for the fast reader
    cases = {
        "nodes.yaml": (_docs_of("data:\n" + "".join(f"  k{i}: v\n" for i in range(keys)),
                                limits.MAX_FILE_NODES // (2 * keys) + 1), "file has more than 2,000,000 nodes"),
        "pods.yaml": ("".join(f"---\n{{apiVersion: v1, kind: Pod, metadata: {{name: p{i}}}, "
                              f"spec: {{containers: [{{name: a}}]}}}}\n"
                              for i in range(limits.MAX_FILE_WORKLOADS + 1)), "file holds more than 5,000 workloads"),
        "settings.yaml": ("".join(f"---\napiVersion: meshrender.dev/v1alpha1\nkind: SidecarProxySettings\n"
                                  f"metadata: {{name: s{i}, namespace: ns1}}\n"
                                  f"spec: {{selector: {{matchLabels: {{a: '{i}'}}}}}}\n"
                                  for i in range(limits.MAX_SETTINGS_DOCUMENTS + 1)),
                          "the inputs hold more settings than meshrender reads in one run"),
    }
    for name, (text, says) in cases.items():
        (tmp_path / name).write_text(text)
        r = cli("render", str(tmp_path / name))
        assert r.code == 2, (name, r.err[-500:])
        assert r.err.startswith(f"meshrender: {tmp_path / name}:") and says in r.err, r.err[-500:]


def worst_shapes() -> dict[str, str]:
    """Inputs at the limits that cost the most memory per byte (measured): the numbers in
    docs/bad-input.md come from fuzz/measure_limits.py, which uses the same shapes."""
    sys.path.insert(0, str(ROOT / "fuzz"))
    try:
        import measure_limits
    finally:
        sys.path.pop(0)
    return {name: make() for name, make in measure_limits.WORST.items()}


@pytest.mark.parametrize("shape", ["empty maps at the file's node limit", "pods at the file's workload limit",
                                   "settings at the run's limit, each selecting a pod"])
def test_worst_shapes_at_the_limits_stay_within_the_budget(tmp_path, shape):
    """With one process (as in the Argo CD sidecar), each worst shape renders in the memory
    budget (RLIMIT_AS: the run fails if it needs more) and the documented time."""
    repo = write(tmp_path / "repo", {"input.yaml": worst_shapes()[shape]})
    p = sandbox.run(["render", "-q", "."], repo, env={"MESHRENDER_JOBS": "1"}, timeout=300,
                    stdout=subprocess.DEVNULL)
    assert p.code == 0, p.err[-2000:]
    assert p.peak_mb < BUDGET_MB and p.seconds < 240, (p.peak_mb, p.seconds)


def test_a_container_memory_limit_caps_the_workers(monkeypatch):
    from meshrender.run import driver

    monkeypatch.delenv("MESHRENDER_JOBS", raising=False)
    monkeypatch.setattr(driver.parallel, "cpu_count", lambda: 8)
    monkeypatch.setenv("MESHRENDER_MEMORY_LIMIT", str(512 * limits.MiB))  # the Argo CD sidecar
    assert driver.workers_for(1000, 64 * limits.MiB) == 1
    monkeypatch.setenv("MESHRENDER_MEMORY_LIMIT", str(2 * 1024 * limits.MiB))
    assert driver.workers_for(1000, 64 * limits.MiB) == 4
    monkeypatch.delenv("MESHRENDER_MEMORY_LIMIT")
    monkeypatch.setattr(driver, "CGROUP_MEMORY_FILES", ())
    assert driver.workers_for(1000, 64 * limits.MiB) == 8


def annotated_pod(n: int) -> str:
    annotations = "".join(f"    sidecar.istio.io/unknown{i}: \"x\"\n" for i in range(n))
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n{annotations}"
            "spec:\n  containers: [{name: a, image: b}]\n")


def test_locating_findings_is_linear(tmp_path):
    """lint of one Pod with 40,000 unknown annotations took 103 s: each finding was located
    by walking the document again. Four times the findings now take about four times as
    long, not sixteen, and 40,000 take seconds."""
    times = {}
    for n in (10_000, 40_000):
        write(tmp_path, {f"p{n}.yaml": annotated_pod(n)})
        p = sandbox.run(["lint", f"p{n}.yaml"], tmp_path, timeout=120)
        assert p.code == 0 and p.err.strip().endswith(f"0 errors, {n} warnings, 0 info; 0 suppressed "
                                                        "(1 workload in 1 file)"), p.err[-500:]
        assert p.out.count("\n") == n
        times[n] = p.seconds
    assert times[40_000] < 8 * times[10_000] and times[40_000] < 40, times


def test_each_map_is_indexed_once_however_many_fields_are_located(monkeypatch):
    from meshrender import yamlio
    from meshrender.yamlio import read

    built = []
    real = read._entry

    def counting(doc, node, step):
        if doc._keys is None or id(node) not in doc._keys:
            built.append(id(node))
        return real(doc, node, step)

    monkeypatch.setattr(read, "_entry", counting)
    doc = yamlio.parse(annotated_pod(2_000), "p.yaml")[0]
    for i in range(2_000):
        assert yamlio.locate(doc, ("metadata", "annotations", f"sidecar.istio.io/unknown{i}")).line == 6 + i
    assert len(built) == 3  # the document's map, metadata's and annotations': each once


def test_selectors_are_matched_through_an_index(monkeypatch, tmp_path):
    """render of 6,000 selector settings by 6,000 pods took 60 s: every pod tried every
    selector. Now each pod tries the few filed under its labels (and gets the same answer
    as the scan, which the test suite also computes: MESHRENDER_VERIFY_SELECTOR_INDEX)."""
    from meshrender.kube import selectors
    from meshrender.settings import selector_index

    n = 600
    sps = "".join(f"---\napiVersion: meshrender.dev/v1alpha1\nkind: SidecarProxySettings\nmetadata: {{name: s{i}, "
                  f"namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: a{i}}}}}\n  proxy: {{concurrency: "
                  f"{i % 4 + 3}}}\n" for i in range(n))
    pods = "".join(f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}, namespace: shop, labels: {{app: a{i}, "
                   f"tier: web}}}}\nspec: {{containers: [{{name: a, image: b}}]}}\n" for i in range(n))
    write(tmp_path, {"settings.yaml": sps, "pods.yaml": pods})
    calls = []
    real = selectors.matches
    monkeypatch.setattr(selector_index, "VERIFY", False)
    # (counted where settings are matched: the webhooks' own selectors, a few per pod, are not these)
    monkeypatch.setattr(selector_index, "selectors",
                        SimpleNamespace(matches=lambda *a, **k: calls.append(1) or real(*a, **k)))
    r = run_cli("render", str(tmp_path), env={"MESHRENDER_JOBS": "1", "KUBE_VERSION": None})
    assert r.code == 0, r.err
    concurrency = [json.loads(e["value"])["concurrency"] for d in r.docs() for c in d["spec"]["containers"]
                   if c["name"] == "istio-proxy" for e in c["env"] if e["name"] == "PROXY_CONFIG"]
    assert concurrency == [i % 4 + 3 for i in range(n)]
    assert len(calls) <= 2 * n, len(calls)  # the scan: n * n


def test_the_selector_index_answers_as_the_scan_does():
    import random

    from meshrender.settings.selector_index import SelectorIndex

    rng = random.Random(15)
    keys, values = ["app", "tier", "v"], ["a", "b", "c", 1]

    def selector():
        sel: dict = {}
        if rng.random() < 0.7:
            sel["matchLabels"] = {rng.choice(keys): rng.choice(values) for _ in range(rng.randint(0, 2))}
        if rng.random() < 0.5:
            sel["matchExpressions"] = [{"key": rng.choice(keys), "operator": rng.choice(
                ["In", "NotIn", "Exists", "DoesNotExist", "Bogus"]), "values": rng.sample(values, 2)}]
        return rng.choice([sel, sel, sel, {}, None, "x", {"matchLabels": "x"}])

    for _ in range(200):
        items = [(rng.choice([None, "ns1", "ns2"]), selector(), object()) for _ in range(30)]
        for empty in (True, False):
            index = SelectorIndex(items, empty=empty)
            for _ in range(20):
                ns = rng.choice(["ns1", "ns2"])
                labels = {k: str(rng.choice(values)) for k in keys if rng.random() < 0.6}
                from meshrender.kube import selectors

                scan = [x for n, s, x in items if (n is None or n == ns) and selectors.matches(s, labels, empty=empty)]
                assert index.matching(ns, labels) == scan


# -- 3. nothing empty, nothing raw -----------------------------------------------------------


@pytest.mark.parametrize(("inputs", "stdin"), [
    (["-"], "null\n"),
    (["e/only-null.yaml"], None),
    (["e/settings.yaml"], None),
], ids=["stdin-null", "file-of-a-null-document", "settings-only"])
def test_an_empty_render_is_exit_2_with_or_without_output(world, inputs, stdin):
    repo, _ = world
    write(repo, {"e/only-null.yaml": "--- ~\n", "e/settings.yaml": "apiVersion: meshrender.dev/v1alpha1\n"
                 "kind: SidecarProxySettings\nmetadata: {name: s}\nspec: {proxy: {concurrency: 2}}\n"})
    before = sorted(p.name for p in (repo / "deploy").iterdir())
    for extra in ([], ["-o", "deploy"]):
        r = run_cli("render", *inputs, *extra, stdin=stdin)
        assert r.code == 2 and r.out == "", r.err
        assert r.err.startswith(f"meshrender: {inputs[0]}: error: the render has no documents to output"), r.err
        assert "Pass --allow-empty if an empty render is what you want" in r.err
        assert sorted(p.name for p in (repo / "deploy").iterdir()) == before
    r = run_cli("render", *inputs, "-o", "empty", "--allow-empty", stdin=stdin)
    assert r.code == 0, r.err
    assert [p.name for p in (repo / "empty").iterdir()] == [".meshrender-output"]
    r = run_cli("render", *inputs, "--fail-empty", stdin=stdin)  # the old flag: still accepted
    assert r.code == 2 and "the render has no documents to output" in r.err


NAME = "web\n::warning title=PWN::x\x1b[2J\u202e"


_OWN_COMMAND = re.compile(r"::(error|warning|notice) file=[^,:]*,line=\d+,col=\d+,title=[a-z-]+::")


def _forged(text: str) -> list[str]:
    """Lines a CI log would read as a workflow command that meshrender did not write (its
    own are lint's github format: `::warning file=F,line=L,col=C,title=RULE::`), and escape
    sequences or direction overrides anywhere."""
    bad = [ln for ln in text.splitlines() if ln.lstrip().startswith("::") and not _OWN_COMMAND.match(ln)]
    return bad + [c for c in ("\x1b", "\u202e") if c in text]


def test_untrusted_names_cannot_forge_log_lines(world):
    repo, _ = world
    evil = f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {yaml.safe_dump(NAME).strip()}}}\n" \
           "spec: {containers: [{name: a, image: b}]}\n"
    write(repo, {"apps/evil.yaml": evil})
    write(repo, {"deploy/evil.yaml": evil.replace("image: b", "image: c")})  # drift, shown field by field
    outputs = {
        "diff": run_cli("diff", "apps", "--against", "deploy"),
        "render-check": run_cli("render-check"),
        "render -o": run_cli("render", "apps", "-o", "out"),
        "lint text": run_cli("lint", "apps", "--fail-on", "info"),
        "lint github": run_cli("lint", "apps", "--format", "github", "--fail-on", "info"),
        "explain": run_cli("explain", "apps", "--workload", "web"),  # lists the candidates, names escaped
    }
    assert "PWN" in outputs["diff"].out, outputs["diff"].out
    # render's own YAML on stdout (a workflow step may print it): the name is written
    # double-quoted, not as a literal block whose second line starts with `::` (fuzz
    # finding, seed 20261206); the data is the same
    plain = run_cli("render", "apps/evil.yaml", "--flavor", "asm", "--native-sidecars", "true")
    assert plain.code == 0 and [ln for ln in plain.out.splitlines() if ln.lstrip().startswith("::")] == []
    assert yaml.safe_load(plain.out)["metadata"]["name"] == NAME
    for what, r in outputs.items():
        assert _forged(r.out + r.err) == [], (what, r.out + r.err)
    # file names are untrusted too: one that starts a lint line with `::` is written ./::...
    write(repo, {"::warning file=x::pwn\x1b[31m.yaml": "kind: [\n"})
    for r in (run_cli("lint", "."), run_cli("render", ".")):
        assert r.code == 2 and _forged(r.out + r.err) == []
        assert "::warning file=x::pwn\\x1b[31m.yaml:1:8: error: invalid YAML" in r.err, r.err


# -- 4. clean failures ---------------------------------------------------------------------

SLOW_SWAP = textwrap.dedent("""
    import os, sys, time
    from meshrender.run import output
    # the removal of the previous copy, just after the swap (shutil.rmtree before issue 15)
    owner, name = (output, "remove_tree") if hasattr(output, "remove_tree") else (output.shutil, "rmtree")
    real = getattr(owner, name)
    def slow(path, *args, **kwargs):
        if ".tmp-" in os.fspath(path) and os.path.exists(os.environ["SWAP_FLAG"] + ".armed"):
            open(os.environ["SWAP_FLAG"], "w").close()
            time.sleep(2)
        real(path, *args, **kwargs)
    setattr(owner, name, slow)
    from meshrender.cli import main
    sys.argv = ["meshrender", *sys.argv[1:]]
    main()
""")
SLOW_WRITE = textwrap.dedent("""
    import sys, time
    from meshrender.run import output
    real = output._write_file
    def slow(dest, text):
        real(dest, text)
        time.sleep(0.3)
    output._write_file = slow
    from meshrender.cli import main
    sys.argv = ["meshrender", *sys.argv[1:]]
    main()
""")


def _script(script: str, args: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-P", "-c", script, *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_after_the_swap_finishes_and_says_so(world, tmp_path, sig):
    """SIGTERM right after the swap exited 143 with no message and left the old output in
    .deploy.tmp-*: the removal of the old copy now runs to its end, then the run says so."""
    repo, _ = world
    (repo / "apps" / "web.yaml").write_text(WEB.replace("nginx", "nginx:2"))
    flag = tmp_path / "swapped"
    Path(str(flag) + ".armed").touch()
    proc = _script(SLOW_SWAP, ["render", "apps", "-o", "deploy"], repo, {"SWAP_FLAG": str(flag)})
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    name = "" if sig == signal.SIGINT else f" by {sig.name}"
    assert proc.returncode == 2, err
    assert err.decode().strip().endswith(f"meshrender: interrupted{name} after the new output was swapped in; "
                                         "deploy holds the complete new output and the previous copy was removed")
    assert b"nginx:2" in (repo / "deploy" / "web.yaml").read_bytes()
    assert _leftovers(repo) == []


def test_leftovers_of_a_killed_run_are_removed_by_the_next(world):
    repo, _ = world
    for i in range(8):
        (repo / "apps" / f"app{i}.yaml").write_text(WEB.replace("name: web", f"name: app{i}"))
    proc = _script(SLOW_WRITE, ["render", "apps", "-o", "deploy"], repo, {"MESHRENDER_JOBS": "1"})
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".deploy.tmp-") and any(p.glob("*.yaml")) for p in repo.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.kill()
    proc.communicate()
    killed = _leftovers(repo)
    assert len(killed) == 1
    # a staging folder a concurrent run is using (it holds a lock on it) is left alone
    busy = repo / ".deploy.tmp-busy"
    busy.mkdir()
    (busy / ".meshrender-output").touch()
    fd = os.open(busy, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_SH)
    foreign = repo / ".deploy.tmp-notmine"  # named like one, but meshrender did not make it
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    try:
        r = run_cli("render", "apps", "-o", "deploy")
        assert r.code == 0, r.err
        assert "meshrender: removed 1 staging folder(s) that an interrupted run left next to deploy" in r.err
        assert _leftovers(repo) == [".deploy.tmp-busy", ".deploy.tmp-notmine"]
    finally:
        os.close(fd)
    assert run_cli("render", "apps", "-o", "deploy", "-q").code == 0
    assert _leftovers(repo) == [".deploy.tmp-notmine"]


@pytest.mark.parametrize("mode", [0o775, 0o750, 0o700])
def test_the_output_folder_keeps_its_mode(world, mode):
    repo, _ = world
    (repo / "deploy").chmod(mode)
    (repo / "apps" / "web.yaml").write_text(WEB.replace("nginx", "nginx:2"))
    assert run_cli("render", "apps", "-o", "deploy", "-q").code == 0
    assert stat.S_IMODE((repo / "deploy").stat().st_mode) == mode
    assert b"nginx:2" in (repo / "deploy" / "web.yaml").read_bytes()


def test_a_new_output_folder_gets_the_umask_mode(tmp_path):
    write(tmp_path, {"apps/web.yaml": WEB})
    old = os.umask(0o022)
    try:
        assert run_cli("render", str(tmp_path / "apps"), "-o", str(tmp_path / "out"), "-q").code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755


@pytest.mark.parametrize("which", ["output", "subfolder"])
def test_an_output_folder_the_user_cannot_write_is_an_error(tmp_path, monkeypatch, which):
    """An output folder the user could not write was swapped in with exit 0 and its old
    copy left behind (its files could not be removed). Run as root, permissions do not
    apply: the test then has os.access say what it says for another user."""
    write(tmp_path, {"apps/web.yaml": WEB})
    monkeypatch.chdir(tmp_path)
    assert run_cli("render", "apps", "-o", "deploy", "-q").code == 0
    write(tmp_path, {"deploy/sub/x.yaml": WEB, "apps/web.yaml": WEB.replace("nginx", "nginx:2")})
    locked = tmp_path / "deploy" if which == "output" else tmp_path / "deploy" / "sub"
    locked.chmod(0o555)
    if os.geteuid() == 0:
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == locked and mode & os.W_OK
                            else real_access(p, mode, **k))
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    try:
        r = run_cli("render", "apps", "-o", "deploy")
    finally:
        locked.chmod(0o755)
    assert r.code == 2, r.err
    shown = "deploy" if which == "output" else "deploy/sub"
    assert r.err.startswith(f"meshrender: deploy: error: cannot replace the output folder: {shown} is not writable "
                            "by this user (mode 0555), so its previous copy could not be removed"), r.err
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before
    assert b"nginx:2" not in (tmp_path / "deploy" / "web.yaml").read_bytes()


SELECTOR_CASES = {
    "never: 1": "neverInjectSelector: 1",
    "always: matchLabels is not a map": "alwaysInjectSelector: [{matchLabels: x}]",
}


@pytest.mark.parametrize("value", list(SELECTOR_CASES), ids=list(SELECTOR_CASES))
@pytest.mark.parametrize("where", ["values file", "injector values", "injector config", "IstioOperator"])
def test_wrong_types_in_injector_selectors_are_located(tmp_path, where, value):
    """`neverInjectSelector: 1` gave `internal error: TypeError` and lint said 0 errors."""
    field = SELECTOR_CASES[value]
    key, _, rest = field.partition(": ")
    if where == "values file":
        files, args = {"pod.yaml": POD}, ["--values", str(tmp_path / "v.yaml")]
        write(tmp_path, {"v.yaml": f"sidecarInjectorWebhook:\n  {field}\n"})
        expect = (tmp_path / "v.yaml", 2, 3, f"sidecarInjectorWebhook.{key}")
    elif where == "IstioOperator":
        files = {"pod.yaml": POD, "iop.yaml": "apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\n"
                 f"metadata: {{name: i}}\nspec:\n  values:\n    sidecarInjectorWebhook:\n      {field}\n"}
        args, expect = [], (tmp_path / "repo" / "iop.yaml", 7, 7, f"spec.values.sidecarInjectorWebhook.{key}")
    else:
        data_key = "values" if where == "injector values" else "config"
        inner = f"sidecarInjectorWebhook:\n  {field}\n" if data_key == "values" else f"{field}\n"
        files = {"pod.yaml": POD, "cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-sidecar-injector}"
                 f"\ndata:\n  {data_key}: |\n" + textwrap.indent(inner, "    ")}
        line, col = (7, 7) if data_key == "values" else (6, 5)
        prefix = "sidecarInjectorWebhook." if data_key == "values" else ""
        args, expect = [], (tmp_path / "repo" / "cm.yaml", line, col, f"data.{data_key}.{prefix}{key}")
    repo = write(tmp_path / "repo", files)
    if rest.startswith("[{"):
        expect = (*expect[:2], expect[2] + len(key) + 4, expect[3] + "[0].matchLabels")  # `KEY: [{matchLabels`
    path, line, col, dotted = expect
    r = run_cli("render", str(repo), *args)
    assert r.code == 2, r.err
    assert r.err.startswith(f"meshrender: {path}:{line}:{col}: error: {dotted}: "), r.err
    lint = run_cli("lint", str(repo), *args, "--format", "json")
    if where == "values file":  # a flag's file is usage, as in render
        assert lint.code == 2 and lint.err == r.err
    else:
        found = [f for f in yaml.safe_load(lint.out)["findings"] if dotted in f["message"]]
        assert lint.code == 1 and found, lint.out  # settings that fail their schema: invalid-mesh-annotation
        assert (found[0]["rule"], found[0]["file"], found[0]["line"], found[0]["column"]) == (
            "invalid-mesh-annotation", str(path), line, col)


def _deep(root: Path, levels: int) -> Path:
    from meshrender.run.output import makedirs

    here = root / Path(*["d"] * levels)
    makedirs(here)  # (Path.mkdir(parents=True) recurses once a level)
    return here


def test_a_folder_tree_1500_levels_deep(tmp_path):
    """A 1,500-level folder tree gave RecursionError."""
    from meshrender.run.output import remove_tree

    repo = tmp_path / "repo"
    try:
        deep = _deep(repo / "apps", 1_500)
        (deep / "web.yaml").write_text(WEB)
        for args in (["render", "apps"], ["lint", "apps"], ["render", "apps", "-o", "deploy"],
                     ["diff", "apps", "--against", "deploy"], ["render-check"]):
            p = sandbox.run(args, repo, timeout=120)
            assert p.code in (0, 1) and "internal error" not in p.err and "Recursion" not in p.err, \
                (args, p.err[-500:])
        assert (repo / "deploy" / Path(*["d"] * 1_500) / "web.yaml").exists()
    finally:
        remove_tree(repo)  # even when failing: pytest's own cleanup of old runs would recurse, and crash


def test_full_disks_and_closed_pipes_get_a_sentence(tmp_path):
    """stdout to /dev/full or a closed stdout were internal errors."""
    many = "".join("---\n" + WEB.replace("name: web", f"name: web{i}") for i in range(300))
    write(tmp_path, {"apps/many.yaml": many})
    with open("/dev/full", "wb") as full:
        for command in (["render", "apps"], ["lint", "apps", "--format", "json"], ["explain", "apps", "--workload",
                                                                                  "web1"]):
            p = sandbox.run(command, tmp_path, stdout=full.fileno())
            assert p.code == 2 and p.err.strip() == ("meshrender: error: cannot write to standard output: No space "
                                                     "left on device; the output is incomplete"), p.err
    closed = subprocess.run(f"{shlex_join([sys.executable, '-P', '-m', 'meshrender', 'render', 'apps'])} >&-",
                            shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert closed.returncode == 2 and closed.stderr.strip() == (
        "meshrender: error: standard output is closed, so the output cannot be printed; redirect it to a file, "
        "or write a folder with -o"), closed.stderr
    piped = subprocess.run(f"{shlex_join([sys.executable, '-P', '-m', 'meshrender', 'render', 'apps'])} | head -c 1",
                           shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                           executable="/bin/bash")
    assert piped.stderr.strip() == ("meshrender: error: standard output was closed before all of the output was "
                                    "written (the command reading it stopped early); the output is incomplete")


def shlex_join(args: list[str]) -> str:
    import shlex

    return shlex.join(args)


NINE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: x
data:
  a: b
  c: d
  e: f
x: [1, 2
"""


def test_an_unclosed_flow_sequence_is_reported_where_kubectl_reports_it(cli, tmp_path):
    (tmp_path / "nine.yaml").write_text(NINE)
    r = cli("render", str(tmp_path / "nine.yaml"))
    assert r.err.startswith(f"meshrender: {tmp_path / 'nine.yaml'}:9:9: error: invalid YAML: did not find expected "
                            "',' or ']'"), r.err
    kubectl = shutil.which("kubectl")
    if kubectl:
        k = subprocess.run([kubectl, "create", "--dry-run=client", "-o", "yaml", "-f", str(tmp_path / "nine.yaml")],
                           capture_output=True, text=True, timeout=60)
        assert "yaml: line 9: did not find expected ',' or ']'" in k.stderr


def test_missing_files_and_folders_get_no_made_up_position(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    r = run_cli("render", "nope.yaml")
    assert r.err == "meshrender: nope.yaml: error: no such file or folder\n"
    r = run_cli("render", "empty")
    assert r.err.startswith("meshrender: empty: error: no YAML documents in the inputs"), r.err
    r = run_cli("render", ".")
    assert r.err.startswith("meshrender: .: error: no YAML documents in the inputs"), r.err
    (tmp_path / "ok.yaml").write_text(POD)
    r = run_cli("render", "--values", "gone.yaml", "ok.yaml")
    assert r.err.startswith("meshrender: gone.yaml: error: cannot read: No such file or directory"), r.err
