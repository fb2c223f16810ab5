"""How fast `explain` and `diff` are on a large repository, against `render` itself.

Generates a repository of N workloads (default 2000) over 20 namespaces with global,
namespace and workload settings, then times, in one process and one run:

    render -o OUT          the baseline: what CI already pays
    explain (one workload) should cost a fraction of a render (it injects one workload)
    diff, no drift         a render plus reading OUT back: close to the baseline
    diff, all drift        every workload differs: the DeepDiff cost on top

Prints seconds and the ratio to the baseline. Usage: python bench/explain_diff.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from meshrender.cli import main

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}
  namespace: ns-{ns}
spec:
  selector:
    matchLabels: {{app: app-{i}}}
  template:
    metadata:
      labels: {{app: app-{i}, tier: {tier}}}
      annotations:
        sidecar.istio.io/proxyCPU: {cpu}m
    spec:
      containers:
        - name: app
          image: registry.example.com/app:{i}
          ports: [{{containerPort: 8080, name: http}}]
          readinessProbe: {{httpGet: {{path: /ready, port: http}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: app-{i}, namespace: ns-{ns}}}
spec:
  selector: {{app: app-{i}}}
  ports: [{{port: 80, targetPort: http}}]
"""
SETTINGS = """apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {{name: ns-{ns}, namespace: ns-{ns}}}
spec:
  proxy: {{terminationDrainDuration: {drain}s}}
  traffic: {{excludeOutboundPorts: "3306"}}
---
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {{name: batch-{ns}, namespace: ns-{ns}}}
spec:
  selector: {{matchLabels: {{tier: batch}}}}
  proxy: {{resources: {{limits: {{cpu: 500m}}}}}}
"""
GLOBAL = """apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: bench}
spec: {kubernetesVersion: "1.30", provider: ack, meshVersion: "1.22"}
---
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata: {name: global}
spec:
  proxy: {concurrency: 2}
"""


def generate(root: Path, n: int, drain: int = 10) -> None:
    (root / "mesh").mkdir(parents=True, exist_ok=True)
    (root / "mesh" / "global.yaml").write_text(GLOBAL)
    (root / "mesh" / "namespaces.yaml").write_text(
        "---\n".join(SETTINGS.format(ns=ns, drain=drain) for ns in range(20)))
    for i in range(n):
        ns = i % 20
        d = root / "apps" / f"ns-{ns}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"app-{i}.yaml").write_text(DEPLOYMENT.format(
            i=i, ns=ns, tier="batch" if i % 7 == 0 else "web", cpu=100 + i % 5))


def timed(*args: str) -> tuple[float, int]:
    runner = CliRunner()
    start = time.perf_counter()
    result = runner.invoke(main, list(args), catch_exceptions=False)
    return time.perf_counter() - start, result.exit_code


def main_bench(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo, out = Path(tmp) / "repo", Path(tmp) / "out"
        generate(repo, n)
        timed("render", str(repo), "-o", str(out), "-q")  # warm imports and caches
        base, code = timed("render", str(repo), "-o", str(out), "-q")
        assert code == 0
        rows = [("render -o (baseline)", base, code)]
        target = f"ns-{(n // 2) % 20}/app-{n // 2}"
        rows.append(("explain one workload", *timed("explain", str(repo), "--workload", target)))
        rows.append(("explain --format json", *timed("explain", str(repo), "--workload", target, "--format", "json")))
        rows.append(("diff, no drift", *timed("diff", str(repo), "--against", str(out), "-q")))
        generate(repo, n, drain=11)  # every namespace setting changes: every workload drifts
        rows.append(("diff, every workload drifts", *timed("diff", str(repo), "--against", str(out), "-q")))
        print(f"{n} workloads ({2 * n} documents)")
        for name, seconds, code in rows:
            print(f"  {name:<30} {seconds:7.2f}s  {seconds / base:5.2f}x render  exit {code}")


if __name__ == "__main__":
    main_bench(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
