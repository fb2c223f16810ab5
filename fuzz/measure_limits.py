#!/usr/bin/env python3
"""Time and peak memory of meshrender on hostile and maximal inputs, against a baseline.

Each input runs `meshrender render` in its own process (so peak RSS is that run's own);
the baseline is the bundled demo repository, measured in the same run. The numbers in
docs/bad-input.md ("Limits") come from this script:

    .venv/bin/python fuzz/measure_limits.py            # all inputs
    .venv/bin/python fuzz/measure_limits.py --quick    # skip the largest files
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from meshrender import limits  # noqa: E402

EXE = Path(sys.executable).with_name("meshrender")


def configmap_file(size: int) -> str:
    head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n"
    line = "  key{}: value-{}-abcdefghijklmnopqrstuvwxyz\n"
    parts, total, i = [head], len(head), 0
    while True:
        item = line.format(i, i)
        if total + len(item) > size:
            break
        parts.append(item)
        total += len(item)
        i += 1
    return "".join(parts)


def many_documents(size: int) -> str:
    doc = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{}}}\ndata: {{a: b}}\n"
    parts, total, i = [], 0, 0
    while total < size:
        item = doc.format(i)
        parts.append(item)
        total += len(item)
        i += 1
    return "".join(parts)


def laughs() -> str:
    s = "kind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    return s + "".join(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))


def merge_bomb() -> str:
    s = "kind: ConfigMap\nmetadata: {name: m}\nx0: &a0 {k0: 1, k1: 2, k2: 3}\n"
    return s + "".join(f"x{i}: &a{i}\n  <<: [" + ", ".join([f"*a{i - 1}"] * 8) + "]\n" for i in range(1, 30))


def string_bomb() -> str:
    return ("kind: ConfigMap\nmetadata: {name: s}\ndata:\n  a: &a " + "x" * 1_000_000 + "\n  b: ["
            + ", ".join(["*a"] * 100_000) + "]\n")


def workloads(n: int) -> str:
    doc = """---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app{0}, namespace: ns{1}}}
spec:
  template:
    metadata: {{labels: {{app: app{0}}}}}
    spec:
      containers:
      - name: app
        image: nginx
        ports: [{{containerPort: 8080}}]
        readinessProbe: {{httpGet: {{port: 8080, path: /ready}}}}
"""
    return "".join(doc.format(i, i % 10) for i in range(n))


def run(path: Path) -> tuple[float, float, int, str]:
    start = time.monotonic()
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen([str(EXE), "render", "-q", str(path)], stdout=devnull, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    seconds = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, code, err.strip().splitlines()[-1] if err.strip() else ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    big = limits.MAX_FILE_BYTES - 1024
    inputs: list[tuple[str, object]] = [
        ("baseline: demo repository", ROOT / "fixtures" / "demo"),
        ("1,000 Deployments (one file)", lambda: workloads(1000)),
        ("billion laughs (10^9 nodes)", laughs),
        ("merge-key bomb (8^29 merges)", merge_bomb),
        ("1 MB string aliased 100,000 times", string_bomb),
        ("100,000 nested brackets", lambda: "a: " + "[" * 100_000 + "\n"),
        ("2,000 nested block mappings", lambda: "".join(" " * i + "a:\n" for i in range(2000))),
        ("integer of 5,000 digits", lambda: "kind: ConfigMap\nmetadata: {name: n}\nx: " + "9" * 5000 + "\n"),
        (f"file of {limits.MAX_FILE_BYTES // limits.MiB + 1} MiB (over the limit)",
         lambda: "# " + "x" * (limits.MAX_FILE_BYTES + limits.MiB) + "\n"),
    ]
    if not args.quick:
        inputs += [
            (f"ConfigMap of {big // limits.MiB} MiB (largest file allowed)", lambda: configmap_file(big)),
            (f"{big // limits.MiB} MiB of small documents", lambda: many_documents(big)),
        ]
    print(f"{'input':48} {'exit':>4} {'time':>8} {'peak RSS':>10}  message")
    base = None
    with tempfile.TemporaryDirectory() as d:
        for name, make in inputs:
            if isinstance(make, Path):
                path = make
            else:
                path = Path(d) / "input.yaml"
                path.write_text(make(), encoding="utf-8")
            seconds, rss, code, msg = run(path)
            if base is None:
                base = (seconds, rss)
            ratio = f"({seconds / base[0]:.1f}x, {rss / base[1]:.1f}x)"
            print(f"{name:48} {code:>4} {seconds:7.2f}s {rss:8.0f}MB  {ratio} {msg[-90:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
