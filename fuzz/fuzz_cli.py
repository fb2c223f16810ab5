#!/usr/bin/env python3
"""Feed generated and mutated YAML through `meshrender render`, in-process, for minutes.

Inputs start from the demo repository (fixtures/demo) and Istio's kube-inject corpus
(../shared/conformance/istio/cases), and are mutated at every level: bytes (invalid
UTF-8, control characters, tabs), lines (deleted, duplicated, re-indented, document
markers), tokens (hostile scalars: anchors, aliases, tags, huge numbers, quoted numbers)
and structure (a random field of a parsed document replaced by a value of another type,
deleted, or duplicated). Each input runs through the CLI entry point with random flags,
three in four through `meshrender render` and one in four through `meshrender lint`.

A run fails when meshrender:
  - exits with anything but 0, 1 or 2;
  - prints a traceback or an "internal error";
  - takes longer than --timeout seconds on one input (a hang);
  - exits 2 without a message of the form `FILE:LINE:COL: error: ...` naming one of the
    inputs, with a line that exists in it;
  - exits 0 with output that is not YAML (render), or reports a finding at a line that
    is not in the file (lint).

Usage (from the project root):
    .venv/bin/python fuzz/fuzz_cli.py --minutes 10            # the long run
    .venv/bin/python fuzz/fuzz_cli.py --inputs 200 --seed 7   # a fixed, short run
Findings are written to fuzz/findings/<id>/ (the input files and what went wrong).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import random
import re
import resource
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from meshrender import limits, yamlio  # noqa: E402
from meshrender.cli import main  # noqa: E402
from meshrender.errors import InputError  # noqa: E402
from meshrender.run.output import makedirs, remove_tree  # noqa: E402

CORPUS_DIRS = [ROOT / "fixtures" / "demo", ROOT.parent / "shared" / "conformance" / "istio" / "cases"]
MESSAGE = re.compile(r"^meshrender: (?P<file>.+?):(?P<line>\d+):(?P<col>\d+): error: ", re.M)
# A file or folder as a whole (missing, a folder, a FIFO): no line or column.
WHOLE = re.compile(r"^meshrender: (?P<file>[^\n]+?): error: ", re.M)
# A bad flag or environment variable has no file to point at: the message names the flag.
FLAG_MESSAGE = re.compile(r"^meshrender: error: (--[a-z-]+|[A-Z_]+): ", re.M)

SETTINGS_SEEDS = [
    """apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: global}
spec:
  nativeSidecar: true
  proxy:
    image: registry.example.com/proxyv2:1.22.2
    resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: "2", memory: 1025Mi}}
    lifecycle: {postStart: {exec: {command: [pilot-agent, wait]}}}
    holdApplicationUntilProxyStarts: true
    terminationDrainDuration: 10s
    concurrency: 2
    logLevel: warning
    proxyMetadata: {EXIT_ON_ZERO_ACTIVE_CONNECTIONS: "true"}
    readinessProbe: {initialDelaySeconds: 0, periodSeconds: 15, failureThreshold: 4}
  init:
    resources: {requests: {cpu: 16m, memory: 18Mi}, limits: {cpu: 916m, memory: 512Mi}}
  traffic:
    interceptionMode: REDIRECT
    includeOutboundIPRanges: 192.168.1.2/32
    excludeInboundPorts: 7013,7014
    includeOutboundPorts: [7015, 7016]
  dnsProxy: true
""",
    """apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: ns, namespace: default}
spec:
  selector: {matchLabels: {app: hello}, matchExpressions: [{key: tier, operator: NotIn, values: [batch]}]}
  proxy: {concurrency: 1}
""",
    """apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: prod}
spec: {kubernetesVersion: "1.30", provider: ack, meshVersion: "1.22", flavor: asm}
""",
    """apiVersion: istio.alibabacloud.com/v1beta1
kind: ASMMeshConfig
metadata: {name: default}
spec: {enableNativeSidecar: true}
""",
    """apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: iop}
spec:
  hub: docker.io/istio
  tag: 1.22.2
  values: {global: {proxy: {resources: {requests: {cpu: 10m}}, privileged: false}}}
  meshConfig: {defaultConfig: {concurrency: 2, holdApplicationUntilProxyStarts: true}}
""",
    """apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector, namespace: istio-system}
data:
  values: |
    global:
      proxy:
        privileged: false
        statusPort: 15020
""",
    """apiVersion: networking.istio.io/v1beta1
kind: ProxyConfig
metadata: {name: pc, namespace: default}
spec: {concurrency: 3, environmentVariables: {A: b}, selector: {matchLabels: {app: hello}}}
""",
]

HOSTILE_SCALARS = [
    "", "~", "null", "[]", "{}", "[", "{", "]", "}", "*a", "&a x", "&a", "*undefined", "!!binary aGVsbG8=",
    "!!set {a, b}", "!!python/object:os.system x", "!foo bar", "1e99999999", '"1e99999999"', "1e400",
    ".nan", ".inf", "-.inf", "0x" + "f" * 40, "9" * 30, "9" * 1200, "1:30", "0777", "yes", "on", "~",
    '"8080"', "'true'", "true", "false", "-1", "2147483648", "99999", "\t", "a\tb", '"\\x00"', "|\n  x",
    ">-", "- a", "? a", ": a", "<<: *a", "@x", "`x", "%x", "#x", "'unterminated", '"unterminated',
    "x" * 300, "é", "\u202e", "\ud7ff", "10e-9", "1Ei", "128Mi", "-5s", "99999999999h", "1m30s",
    "999.1.1.1/99", "10.0.0.0/8,", "*", "1,99999", "a,b", "2E", "1e", "E", "0.000000001m", "1e-40", "+1", "-0",
    "{a: [b, {c: d}]}", "[1, [2, [3]]]",
]

HOSTILE_LINES = [
    "---", "...", "--- |", "%YAML 1.1", "%YAML 2.0", "%TAG ! tag:x,2000:", "\t", "  \t  x: y", "- x",
    "x: &anchor [1, 2]", "y: *anchor", "<<: {merged: 1}", "? complex", ": value", "kind: Pod", "kind:",
    "metadata:", "metadata: []", "spec: null", "items: 5", "containers: 3", "annotations: {1: 2}",
]


def load_corpus() -> list[str]:
    texts = []
    for d in CORPUS_DIRS:
        if d.is_dir():
            for p in sorted(d.rglob("*.yaml*")):
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    texts.append(p.read_text(encoding="utf-8"))
    return texts + SETTINGS_SEEDS


# -- mutators ----------------------------------------------------------------------------


def _other_value(rng: random.Random, old: Any) -> Any:
    choices: list[Any] = [None, True, False, 0, -1, 65536, 1.5, float("nan"), "", "x", "8080", "true",
                          "1e99", [], [1, "a"], {}, {"a": 1}, [{"name": 1}], {"name": None},
                          "a" * 200, 10**25, ["x"] * 3]
    if isinstance(old, str):
        choices += [1, old + "\t", old * 3]
    if isinstance(old, dict) and old:
        k = rng.choice(list(old))
        choices += [list(old.values()), {**old, k: [old[k]]}, {str(i): old for i in range(3)}]
    if isinstance(old, list) and old:
        choices += [old[0], old * 2, {str(i): v for i, v in enumerate(old)}, [None, *old]]
    return rng.choice(choices)


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def mutate_structure(rng: random.Random, text: str) -> str:
    """Parse, change one node's type / delete it / duplicate it, and print again."""
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError:
        return mutate_lines(rng, text)
    if not docs:
        return text
    i = rng.randrange(len(docs))
    paths = _paths(docs[i])
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        if not path:
            docs[i] = _other_value(rng, docs[i])
            break
        parent = docs[i]
        try:
            for step in path[:-1]:
                parent = parent[step]
            last = path[-1]
            action = rng.random()
            if action < 0.2 and isinstance(parent, dict):
                del parent[last]
            elif action < 0.3 and isinstance(parent, list):
                parent.insert(last, parent[last])
            else:
                parent[last] = _other_value(rng, parent[last])
        except (KeyError, IndexError, TypeError):
            continue
        paths = _paths(docs[i])
    try:
        return yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, RecursionError, ValueError):
        return text


def mutate_lines(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        if not lines:
            lines = [""]
        i = rng.randrange(len(lines))
        op = rng.randrange(7)
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[i])
        elif op == 2:
            lines[i] = " " * rng.randint(0, 6) + lines[i].lstrip(" ")
        elif op == 3:
            lines.insert(i, rng.choice(HOSTILE_LINES))
        elif op == 4:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 5:
            lines[i] = lines[i].replace("  ", "\t", 1)
        else:
            lines[i] = lines[i] + rng.choice(["", " #x", ":", " &a", " *a", ",", "]", "}"])
    return "\n".join(lines)


def mutate_tokens(rng: random.Random, text: str) -> str:
    spans = [m for m in re.finditer(r"(?<=: )[^\n#]+|(?<=- )[^\n#]+", text)]
    for _ in range(rng.randint(1, 3)):
        if not spans:
            break
        m = rng.choice(spans)
        text = text[: m.start()] + rng.choice(HOSTILE_SCALARS) + text[m.end():]
        spans = [m for m in re.finditer(r"(?<=: )[^\n#]+|(?<=- )[^\n#]+", text)]
    return text


def mutate_bytes(rng: random.Random, text: str) -> bytes:
    data = bytearray(text.encode("utf-8"))
    for _ in range(rng.randint(1, 4)):
        if not data:
            data += b"x"
        i = rng.randrange(len(data))
        op = rng.randrange(4)
        if op == 0:
            data[i] = rng.randrange(256)
        elif op == 1:
            del data[i]
        elif op == 2:
            data.insert(i, rng.choice([0, 7, 9, 0x85, 0xC3, 0xFF, 0xFE, 0xEF, 0x1B]))
        else:
            data[i:i] = rng.choice([b"\xef\xbb\xbf", b"\r\n", b"\r", b"\xe2\x80\xa8", b"\x00"])
    return bytes(data)


INJECTOR_FIELDS = ["neverInjectSelector", "alwaysInjectSelector", "injectedAnnotations", "defaultTemplates",
                   "aliases", "templates", "policy"]


def hostile(rng: random.Random) -> str:
    """Generated attacks, small enough to be quick, large enough to hit the limits."""
    kind = rng.randrange(10)
    if kind == 6:  # a document at (or just past) the node limit, in a shape for each reader
        n = limits.MAX_NODES + rng.choice([-50, 10])
        if rng.random() < 0.5:
            return "kind: ConfigMap\nmetadata: {name: n}\nx: [" + "1," * (n - 8) + "1]\n"
        return "kind: ConfigMap\nmetadata: {name: n}\ndata:\n" + "".join(f"  k{i}: v\n" for i in range(n // 2 - 4))
    if kind == 7:  # wrong types in the injector's selectors, values or config
        value = rng.choice(["1", "[{matchLabels: x}]", "[1]", "{a: b}", "[{matchExpressions: 1}]", "x", "[[]]", "~"])
        field = rng.choice(INJECTOR_FIELDS)
        if rng.random() < 0.5:
            return ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio-sidecar-injector}\ndata:\n  config: |\n"
                    f"    {field}: {value}\n")
        return ("apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: i}\nspec:\n  values:\n"
                f"    sidecarInjectorWebhook:\n      {field}: {value}\n")
    if kind == 8:  # names that would forge log lines or drive the terminal
        name = rng.choice(["web\\n::warning title=PWN::x", "a\\e[2Jb", "\\u202eabc", "x\\r::error::y", "::add-mask::z"])
        return (f'apiVersion: v1\nkind: Pod\nmetadata: {{name: "{name}"}}\n'
                "spec: {containers: [{name: a, image: b}]}\n")
    if kind == 9:  # nothing to render
        return rng.choice(["--- ~\n", "null\n", "---\n---\n", "apiVersion: meshrender.dev/v1alpha1\n"
                           "kind: SidecarProxySettings\nmetadata: {name: s}\nspec: {}\n"])
    head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n"
    if kind == 0:
        n = rng.randint(3, 12)
        s = head + '  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        for i in range(1, n):
            s += f"  a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]\n"
        return s
    if kind == 1:
        n = rng.choice([150, 199, 200, 201, 5000, 60000])
        return "a: " + rng.choice("[{") * n + "\n"
    if kind == 2:
        n = rng.choice([150, 250, 1000])
        return "".join(" " * i + "a:\n" for i in range(n)) + " " * n + "b: 1\n"
    if kind == 3:
        s = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nx0: &a0 {k0: 1, k1: 2, k2: 3}\n"
        for i in range(1, rng.randint(3, 14)):
            s += f"x{i}: &a{i}\n  <<: [" + ", ".join([f"*a{i - 1}"] * 8) + "]\n"
        return s
    if kind == 4:
        return head + "  a: &a " + "x" * rng.choice([10, 100000]) + "\n  b: [" + ",".join(["*a"] * 800) + "]\n"
    return "---\n" * rng.randint(0, 5) + rng.choice(["", "#", "- 1", "x", "[]", "{}", "null"]) + "\n"


def make_case(rng: random.Random, corpus: list[str]) -> tuple[dict[str, bytes], list[str]]:
    """Files (name -> bytes) and extra CLI flags for one run."""
    files: dict[str, bytes] = {}
    for n in range(rng.choice([1, 1, 2, 3])):
        base = rng.choice(corpus)
        if rng.random() < 0.15:
            base = base + "\n---\n" + rng.choice(corpus)
        r = rng.random()
        if r < 0.55:
            data = mutate_structure(rng, base).encode("utf-8")
        elif r < 0.68:
            data = mutate_lines(rng, base).encode("utf-8")
        elif r < 0.82:
            data = mutate_tokens(rng, base).encode("utf-8")
        elif r < 0.92:
            data = mutate_bytes(rng, base)
        else:
            data = hostile(rng).encode("utf-8")
        files[f"f{n}.yaml"] = data
    if rng.random() < 0.5:
        files["settings.yaml"] = rng.choice(SETTINGS_SEEDS).encode("utf-8")
    flags: list[str] = []
    if rng.random() < 0.5:
        flags += ["--flavor", rng.choice(["asm", "istio"])]
    if rng.random() < 0.3:
        flags += ["--native-sidecars", rng.choice(["true", "false", "auto"])]
    if rng.random() < 0.3:
        flags += ["--kube-version", rng.choice(["1.30", "1.33", "v1.29.1", "x"])]
    return files, flags


# -- hostile repositories -----------------------------------------------------------------
# Beside the files: a token outside the repository, a .git folder holding it, and shapes
# of the file system a repository can carry (symlinks out of it, into .git, to devices
# and loops; FIFOs; deep folders; hostile names); for diff and render-check, a committed
# output folder whose marker and files may be hostile too. A run must not print the token.

TOKEN = "ghs_FuzzToken0ThatMustNeverBePrinted"
FS_SHAPES = ["link-out", "link-dev-zero", "link-git", "link-loop", "fifo", "deep", "evil-name", "link-into-output"]
MARKER_PATHS = ["[.]", "[../repo]", "[../../token]", "[/etc/passwd]", "[../repo/.git/config]", "[../repo/pipe.yaml]",
                "[../repo/zero.yaml]", "[\"../repo\\e[2J\"]", "{a: b}", "[]"]


def hostile_fs(rng: random.Random, work: Path, repo: Path) -> list[str]:
    """Add a few file-system shapes to `repo` (the token, next to the folder `work` that
    holds the repository and its output, and .git are always there); the names of the
    shapes added."""
    (work.parent / "token").write_text(TOKEN + "\n")
    (repo / ".git").mkdir(exist_ok=True)
    (repo / ".git" / "config").write_text(f"[http]\n\textraheader = {TOKEN}\nkind: Secret\n")
    shapes = rng.sample(FS_SHAPES, rng.randint(0, 2))
    for shape in shapes:
        with contextlib.suppress(OSError):
            if shape == "link-out":
                (repo / "leak.yaml").symlink_to(work.parent / "token")
            elif shape == "link-dev-zero":
                (repo / "zero.yaml").symlink_to("/dev/zero")
            elif shape == "link-git":
                (repo / "git.yaml").symlink_to(".git/config")
            elif shape == "link-loop":
                (repo / "loop").symlink_to(repo, target_is_directory=True)
            elif shape == "fifo":
                os.mkfifo(repo / "pipe.yaml")
            elif shape == "deep":
                deep = repo / Path(*["d"] * rng.choice([50, 400, 1200]))
                makedirs(deep)
                (deep / "x.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\n")
            elif shape == "evil-name":
                name = rng.choice(["::warning file=x::pwn.yaml", "a\x1b[2Jb.yaml", "c\nmeshrender: ok.yaml"])
                body = rng.choice(["kind: [\n", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: e}\n"])
                (repo / name).write_text(body)
            elif shape == "link-into-output":
                (repo / "prev").symlink_to(work / "out", target_is_directory=True)
    return shapes


def committed_output(rng: random.Random, work: Path, repo: Path) -> Path:
    """A previous `render -o` of the repository (or of nothing), then made hostile: a marker
    naming paths out of the repository, a file replaced by a symlink or a FIFO."""
    out = work / "out"
    runner = CliRunner()
    cwd = os.getcwd()
    try:
        os.chdir(work)
        runner.invoke(main, ["render", "repo", "-o", "out", "-q", "--allow-empty"],
                      env={"KUBE_VERSION": None, "ARGOCD_APP_NAMESPACE": None}, catch_exceptions=True)
    finally:
        os.chdir(cwd)
    out.mkdir(exist_ok=True)
    r = rng.random()
    with contextlib.suppress(OSError):
        if r < 0.3:
            (out / ".meshrender-output").write_text(f"version: 1\nrender:\n  paths: {rng.choice(MARKER_PATHS)}\n")
        elif r < 0.4:
            (out / ".meshrender-output").unlink(missing_ok=True)
            (out / ".meshrender-output").symlink_to(rng.choice(["/dev/zero", str(work.parent / "token")]))
        elif r < 0.5:
            (out / "zero.yaml").symlink_to("/dev/zero")
        elif r < 0.6:
            os.mkfifo(out / "fifo.yaml")
    return out


# -- running and judging -----------------------------------------------------------------


class Hang(BaseException):
    """One input ran longer than the timeout."""


@dataclass
class Outcome:
    code: int | None
    err: str
    out: str
    seconds: float
    problem: str | None = None


def _alarm(signum: int, frame: Any) -> None:
    raise Hang


def run_case(files: dict[str, bytes], flags: list[str], workdir: Path, timeout: float,
             use_output: bool, use_stdin: bool, command: str = "render", rng: random.Random | None = None
             ) -> Outcome:
    """Run `meshrender COMMAND` on `files` in-process and judge the outcome; with `rng`, in
    a repository with hostile file-system shapes (hostile_fs, committed_output)."""
    if command != "render":
        use_output = False
    repo = workdir / "repo"
    remove_tree(workdir)
    repo.mkdir(parents=True)
    for name, data in files.items():
        (repo / name).write_bytes(data)
    out_dir = workdir / "out"
    if rng is not None:
        hostile_fs(rng, workdir, repo)
        if command in ("diff", "render-check"):
            committed_output(rng, workdir, repo)
    stdin = None
    if command == "render-check":
        args = [command]
    elif use_stdin and len(files) == 1:
        stdin = next(iter(files.values()))
        args = [command, "-", *flags]
    else:
        args = [command, "repo", *flags]
    if command == "diff":
        args += ["--against", "out"]
    if use_output:
        args += ["-o", "out"]
    runner = CliRunner()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    start = time.monotonic()
    cwd = os.getcwd()
    try:
        os.chdir(workdir)  # the repository and its output are `repo` and `out` (render-check finds `out`)
        result = runner.invoke(main, args, input=stdin, env={"KUBE_VERSION": None, "ARGOCD_APP_NAMESPACE": None},
                               catch_exceptions=True)
    except Hang:
        return Outcome(None, "", "", time.monotonic() - start, f"hang: no answer within {timeout}s")
    finally:
        os.chdir(cwd)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    seconds = time.monotonic() - start
    if isinstance(result.exception, Hang):
        return Outcome(None, "", "", seconds, f"hang: no answer within {timeout}s")
    outcome = Outcome(result.exit_code, result.stderr, result.stdout, seconds)
    outcome.problem = judge(outcome, result, files, repo, out_dir if use_output else None, stdin is not None,
                            command)
    return outcome


def _lines(data: bytes) -> int:
    return data.count(b"\n") + 1


def _input_lines(name: str, files: dict[str, bytes], repo: Path, stdin: bool) -> int | str | None:
    """How many lines the input a message names has (None: a file the run may name but
    whose lines are not known here, such as one of a hostile shape), or what is wrong."""
    if stdin and name == "-":
        return _lines(next(iter(files.values())))
    work = repo.parent
    p = Path(name.split(" (data.")[0])
    p = p if p.is_absolute() else work / p
    if p == repo or p == work / "out":
        return 1  # the whole input or output folder
    if p.parent == repo and p.name in files:
        return _lines(files[p.name])
    if "\\" in name or p.is_relative_to(work):
        return None  # an escaped hostile name, a shape's file, the committed output or its marker
    return f"message names {name}, which is neither an input nor in the repository"


FINDING = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (error|warning|info) ", re.M)


def _raw(text: str, command: str, stream: str) -> str | None:
    """What in an output a terminal or a CI log would obey: a line starting with `::` (a
    GitHub Actions workflow command), an escape or a direction override."""
    for ln in text.splitlines():
        if ln.lstrip().startswith("::"):
            return f"a line of {stream} starts a workflow command: {ln[:80]!r}"
    if "\x1b" in text:
        return f"an escape sequence in {stream}"
    if "\u202e" in text and not (command == "render" and stream == "stdout"):  # YAML output may hold it
        return f"a direction override in {stream}"
    return None


def judge(o: Outcome, result: Any, files: dict[str, bytes], repo: Path, out_dir: Path | None,
          stdin: bool, command: str = "render") -> str | None:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return f"uncaught {type(result.exception).__name__}: {result.exception}"
    if o.code not in (0, 1, 2):
        return f"exit status {o.code}"
    text = o.err + o.out
    if "Traceback" in text:
        return "traceback"
    if "meshrender bug" in text:
        return "unhandled input: " + next(ln for ln in o.err.splitlines() if "meshrender bug" in ln)
    if "internal error" in text:
        return "internal error: " + next(ln for ln in o.err.splitlines() if "internal error" in ln)
    if TOKEN in text:
        return "the token outside the repository (or in .git) was printed"
    for stream, content in (("stderr", o.err), ("stdout", o.out)):
        raw = _raw(content, command, stream)
        if raw:
            return raw
    if o.code == 2:
        m = MESSAGE.search(o.err)
        if not m and FLAG_MESSAGE.search(o.err):
            return None
        whole = WHOLE.search(o.err) if not m else None
        if not m and not whole:
            return "exit 2 without a FILE:LINE:COL: error: (or FILE: error:) message"
        name = (m or whole).group("file")
        count = _input_lines(name, files, repo, stdin)
        if isinstance(count, str):
            return count
        if m and count is not None and not 1 <= int(m.group("line")) <= count:
            return f"message names line {m.group('line')}, but {name} has {count} lines"
        if out_dir is not None and out_dir.exists():
            return "exit 2 but the output folder was written"
        return None
    if command == "lint":  # exit 0 or 1: every finding names a line of an input
        for f in FINDING.finditer(o.out):
            count = _input_lines(f.group("file"), files, repo, stdin)
            if isinstance(count, str):
                return "lint finding: " + count
            if count is not None and not 1 <= int(f.group("line")) <= count:
                return f"lint finding names line {f.group('line')}, but {f.group('file')} has {count} lines"
        return None
    if command != "render":
        return None
    # exit 0: stdout (or the output folder) must read back as YAML, with meshrender's own
    # bounded reader (passed-through documents may hold anchors that expand in others)
    streams = [o.out] if out_dir is None else [p.read_text(encoding="utf-8") for p in _yaml_files(out_dir)]
    for s in streams:
        try:
            yamlio.parse(s, "output")
        except InputError as e:
            return f"exit 0 but the output does not read back: {e}"
    return None


def _yaml_files(root: Path) -> list[Path]:
    """The YAML files under `root`, without recursion (an output can be 1,200 folders deep)."""
    out, stack = [], [root]
    while stack:
        here = stack.pop()
        for e in os.scandir(here):
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
            elif e.name.endswith(".yaml"):
                out.append(Path(e.path))
    return out


def _signature(problem: str) -> str:
    return re.sub(r"\d+", "N", problem)[:160]


@dataclass
class Stats:
    inputs: int = 0
    codes: collections.Counter = field(default_factory=collections.Counter)
    findings: dict[str, dict] = field(default_factory=dict)
    slowest: float = 0.0
    messages: collections.Counter = field(default_factory=collections.Counter)
    commands: collections.Counter = field(default_factory=collections.Counter)


# What runs each input, and how often: render, lint, diff against a committed output, and
# the pre-commit hook (render-check) on a repository holding one. A share of the inputs
# (and every diff and render-check) are in a repository with hostile file-system shapes.
COMMANDS = ["render", "lint", "diff", "render-check"]
WEIGHTS = [55, 20, 15, 10]
HOSTILE_REPO_SHARE = 0.35


def fuzz(seconds: float | None = None, inputs: int | None = None, seed: int = 0, timeout: float = 10.0,
         findings_dir: Path | None = None, verbose: bool = False, lint: bool = True) -> Stats:
    """Run generated cases (a quarter through `lint`, if `lint`) until the time or count is up."""
    rng = random.Random(seed)
    corpus = load_corpus()
    stats = Stats()
    deadline = time.monotonic() + seconds if seconds else None
    work = Path(tempfile.mkdtemp(prefix="meshrender-fuzz-"))
    try:
        while True:
            if inputs is not None and stats.inputs >= inputs:
                break
            if deadline is not None and time.monotonic() > deadline:
                break
            files, flags = make_case(rng, corpus)
            command = rng.choices(COMMANDS, WEIGHTS)[0] if lint else "render"
            shapes = rng if rng.random() < HOSTILE_REPO_SHARE or command in ("diff", "render-check") else None
            o = run_case(files, flags, work / "case", timeout, rng.random() < 0.3, rng.random() < 0.2, command,
                         shapes)
            stats.commands[command] += 1
            stats.inputs += 1
            stats.codes[o.code] += 1
            stats.slowest = max(stats.slowest, o.seconds)
            m = MESSAGE.search(o.err)
            if m:
                stats.messages[_signature(o.err[m.end():].splitlines()[0])] += 1
            if o.problem:
                sig = _signature(o.problem)
                if sig not in stats.findings:
                    stats.findings[sig] = {"problem": o.problem, "flags": flags, "stderr": o.err[-2000:]}
                    if findings_dir is not None:
                        _save(findings_dir, sig, files, flags, o)
                    if verbose:
                        print(f"FINDING: {o.problem}", file=sys.stderr)
    finally:
        remove_tree(work)
    return stats


def _save(root: Path, sig: str, files: dict[str, bytes], flags: list[str], o: Outcome) -> None:
    d = root / hashlib.sha1(sig.encode()).hexdigest()[:10]
    d.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (d / name).write_bytes(data)
    (d / "finding.json").write_text(json.dumps({"problem": o.problem, "flags": flags, "exit": o.code,
                                                "stderr": o.err[-4000:]}, indent=2))


def main_cli() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, help="run for this long")
    ap.add_argument("--inputs", type=int, help="run this many inputs")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds one input may take")
    ap.add_argument("--memory-gb", type=float, default=4.0, help="address-space limit for this process")
    ap.add_argument("--findings", type=Path, default=ROOT / "fuzz" / "findings")
    args = ap.parse_args()
    if args.minutes is None and args.inputs is None:
        args.inputs = 200
    limit = int(args.memory_gb * 1024**3)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ.pop("MESHRENDER_DEBUG", None)
    start = time.monotonic()
    stats = fuzz(seconds=args.minutes * 60 if args.minutes else None, inputs=args.inputs, seed=args.seed,
                 timeout=args.timeout, findings_dir=args.findings, verbose=True)
    took = time.monotonic() - start
    print(f"seed {args.seed}: {stats.inputs} inputs in {took:.0f}s ({stats.inputs / max(took, 1e-9):.1f}/s); "
          f"exit codes {dict(sorted(stats.codes.items(), key=str))}; slowest input {stats.slowest:.2f}s")
    print(f"commands {dict(stats.commands.most_common())}")
    print(f"{len(stats.messages)} distinct error messages; most common:")
    for msg, n in stats.messages.most_common(15):
        print(f"  {n:6d}  {msg}")
    if stats.findings:
        print(f"{len(stats.findings)} FINDINGS (saved under {args.findings}):")
        for f in stats.findings.values():
            print(f"  - {f['problem']}")
        return 1
    print("no findings")
    return 0


if __name__ == "__main__":
    sys.exit(main_cli())
