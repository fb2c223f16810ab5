#!/usr/bin/env python3
"""Time and peak memory of meshrender on hostile and maximal inputs, against a baseline.

Each input runs `meshrender render` in its own process, with one process for the run
(MESHRENDER_JOBS=1, as in the Argo CD sidecar), so peak RSS is that run's own; the
baseline is the bundled demo repository, measured in the same run. The numbers in
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


def configmap_file(size: int) -> str:  # (over the node limit now: one document of ~700,000 nodes)
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


def _near_limit_docs(item: str, per_item: int, head: str = "apiVersion: v1\nkind: ConfigMap\n") -> str:
    """Documents each just under MAX_NODES nodes of `item`, as many as the file's node limit
    allows: the most nodes one file may hold, in the shape of `item`."""
    per_doc = (limits.MAX_NODES - 50) // per_item
    docs = (limits.MAX_FILE_NODES - 100) // (per_doc * per_item + 10)
    body = "x: [" + ",".join([item] * per_doc) + "]\n"
    return "".join(f"---\n{head}metadata: {{name: c{i}}}\n{body}" for i in range(docs))


def tiny_pods(n: int) -> str:
    return "".join(f"---\n{{apiVersion: v1, kind: Pod, metadata: {{name: p{i}}}, "
                   f"spec: {{containers: [{{name: a}}]}}}}\n" for i in range(n))


def selected_pods(n: int, pods: int | None = None) -> str:
    """n SidecarProxySettings, each selecting one pod, and `pods` (default n) such pods: all
    distinct configurations."""
    sps = "".join(f"---\napiVersion: meshrender.dev/v1alpha1\nkind: SidecarProxySettings\nmetadata: {{name: s{i}, "
                  f"namespace: shop}}\nspec:\n  selector: {{matchLabels: {{app: a{i}}}}}\n  proxy: {{concurrency: "
                  f"{i % 8 + 1}}}\n" for i in range(n))
    pods = "".join(f"---\n{{apiVersion: v1, kind: Pod, metadata: {{name: p{i}, namespace: shop, labels: "
                   f"{{app: a{i}}}}}, spec: {{containers: [{{name: a, image: b}}]}}}}\n" for i in range(pods or n))
    return sps + pods


def aliased_pods() -> str:
    """Pods whose containers are one container aliased many times: each within the
    expansion limit, the file at its node limit counting every alias in full."""
    env = ", ".join(f"{{name: E{i}, value: v}}" for i in range(200))
    per_pod = 40
    pods = (limits.MAX_FILE_NODES - 1000) // (per_pod * (200 * 5 + 10))
    return "".join(f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers:\n"
                   f"  - &c {{name: app, image: nginx, env: [{env}]}}\n"
                   + "".join(f"  - {{<<: *c, name: c{j}}}\n" for j in range(per_pod - 1)) for i in range(pods))


# The worst shapes at the limits, by what they cost (tests/test_robust_hostile_repo.py runs
# some of them under the memory budget; all are in docs/bad-input.md, Limits).
WORST = {
    "empty maps at the file's node limit": lambda: _near_limit_docs("{}", 1),
    "one-line integer lists at the file's node limit": lambda: _near_limit_docs("1", 1),
    "small flow maps at the file's node limit": lambda: _near_limit_docs("{a: b}", 3),
    "pods at the file's workload limit": lambda: tiny_pods(limits.MAX_FILE_WORKLOADS),
    "settings at the run's limit, each selecting a pod": lambda: selected_pods(limits.MAX_SETTINGS_DOCUMENTS,
                                                                                limits.MAX_FILE_WORKLOADS),
    "aliased containers at the file's node limit": aliased_pods,
}


def run(path: Path, jobs: str | None = None) -> tuple[float, float, int, str]:
    start = time.monotonic()
    env = {**os.environ, **({"MESHRENDER_JOBS": jobs} if jobs else {})}
    with open(os.devnull, "wb") as devnull:
        proc = subprocess.Popen([str(EXE), "render", "-q", str(path)], stdout=devnull, stderr=subprocess.PIPE,
                                env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    seconds = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, code, err.strip().splitlines()[-1] if err.strip() else ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the inputs at the limits")
    ap.add_argument("--only", help="measure only inputs whose name contains this")
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
        ("integer of 5,000 digits", lambda: "kind: ConfigMap\nmetadata: {name: big}\nx: " + "9" * 5000 + "\n"),
        (f"file of {limits.MAX_FILE_BYTES // limits.MiB + 1} MiB (over the limit)",
         lambda: "# " + "x" * (limits.MAX_FILE_BYTES + limits.MiB) + "\n"),
        (f"{big // limits.MiB} MiB of `x: [1,1,...]` (over the node limit)",
         lambda: "kind: ConfigMap\nmetadata: {name: x}\nx: [" + "1," * (big // 2 - 40) + "1]\n"),
    ]
    if not args.quick:
        inputs += [
            (f"ConfigMap of {big // limits.MiB} MiB (one string)",
             lambda: "kind: ConfigMap\nmetadata: {name: c}\ndata:\n  a: " + "x" * (big - 60) + "\n"),
            (f"{big // limits.MiB} MiB of small documents", lambda: many_documents(big)),
            *WORST.items(),
        ]
    if args.only:
        inputs = [i for i in inputs if args.only in i[0] or i[0].startswith("baseline")]
    print(f"{'input':56} {'exit':>4} {'time':>8} {'peak RSS':>10}  message")
    base = None
    with tempfile.TemporaryDirectory() as d:
        for name, make in inputs:
            if isinstance(make, Path):
                path = make
            else:
                path = Path(d) / "input.yaml"
                path.write_text(make(), encoding="utf-8")
            seconds, rss, code, msg = run(path, jobs="1")
            if base is None:
                base = (seconds, rss)
            ratio = f"({seconds / base[0]:.1f}x, {rss / base[1]:.1f}x)"
            print(f"{name:56} {code:>4} {seconds:7.2f}s {rss:8.0f}MB  {ratio} {msg[-90:]}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
