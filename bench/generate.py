"""A realistic GitOps repository of N workloads, for the benchmark.

What a platform team's repo looks like: a ClusterProfile, global, namespace and
selector-scoped SidecarProxySettings, Namespace objects, and under apps/ one folder per
namespace with Deployments (most), StatefulSets, CronJobs and Jobs, their Services and
ConfigMaps, some in one multi-document file, some split over files. Deployments are about
125 lines, with comments, block scalars, flow lists and quoted scalars, and some pod
annotations that override the settings. The output is a function of (N, seed) only.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

NAMESPACES = ["payments", "storefront", "search", "identity", "logistics", "analytics", "messaging", "platform"]
TEAMS = ["core", "growth", "infra", "data"]


def _cluster_files() -> dict[str, str]:
    files = {
        "mesh/cluster-profile.yaml": """\
# The cluster this repository deploys to (ASM 1.22 on ACK 1.30: native sidecars by default).
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata:
  name: prod-hangzhou
spec:
  kubernetesVersion: "1.30"
  provider: ack
  meshVersion: "1.22"
  flavor: asm
""",
        "mesh/sidecar-global.yaml": """\
# Mesh-wide sidecar defaults (ASM console: Sidecar Proxy Setting > Global).
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata:
  name: global
spec:
  proxy:
    resources:
      requests: {cpu: 100m, memory: 128Mi}
      limits: {cpu: "1", memory: 512Mi}
    terminationDrainDuration: 5s
    holdApplicationUntilProxyStarts: true
  init:
    resources:
      requests: {cpu: 10m, memory: 10Mi}
      limits: {cpu: 100m, memory: 50Mi}
""",
        "mesh/sidecar-selectors.yaml": """\
# Batch workloads get a small proxy wherever they run.
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata:
  name: batch
spec:
  selector:
    matchLabels:
      tier: batch
  proxy:
    resources:
      requests: {cpu: 50m, memory: 64Mi}
      limits: {cpu: 500m, memory: 256Mi}
---
# Search indexers open many connections.
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata:
  name: search-indexers
  namespace: search
spec:
  selector:
    matchExpressions:
      - {key: component, operator: In, values: [indexer, crawler]}
  proxy:
    concurrency: 4
    proxyMetadata: {EXIT_ON_ZERO_ACTIVE_CONNECTIONS: "true"}
""",
    }
    for i, ns in enumerate(NAMESPACES):
        files[f"namespaces/{ns}.yaml"] = f"""\
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
  labels:
    istio-injection: enabled
    team: {TEAMS[i % len(TEAMS)]}
"""
        if i % 2 == 0:
            files[f"mesh/sidecar-{ns}.yaml"] = f"""\
# Namespace-level settings for {ns}: they win over the global ones.
apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata:
  name: {ns}
  namespace: {ns}
spec:
  proxy:
    resources:
      requests: {{cpu: "0.2", memory: 256Mi}}
      limits: {{cpu: "2", memory: 1Gi}}
    lifecycle:
      preStop:
        exec:
          command: [/bin/sh, -c, sleep {5 + i}]
    terminationDrainDuration: {10 + i}s
  traffic:
    excludeOutboundIPRanges: 100.100.100.200/32
    excludeInboundPorts: "15020"
    excludeOutboundPorts: [5432, 6379]
  dnsProxy: {"true" if i % 4 == 0 else "false"}
"""
    return files


def _pod_annotations(rng: random.Random, i: int) -> list[str]:
    out = [
        '        prometheus.io/scrape: "true"',
        f'        prometheus.io/port: "{9100 + i % 7}"',
    ]
    r = rng.random()
    if r < 0.15:
        out += ["        sidecar.istio.io/proxyCPU: 300m", "        sidecar.istio.io/proxyMemory: 384Mi"]
    elif r < 0.25:
        out += ['        traffic.sidecar.istio.io/excludeOutboundPorts: "9092,9093"']
    elif r < 0.32:
        out += [
            "        proxy.istio.io/config: |",
            "          holdApplicationUntilProxyStarts: true",
            "          terminationDrainDuration: 20s",
        ]
    elif r < 0.36:
        out += ['        sidecar.istio.io/nativeSidecar: "false"']
    return out


def _container_block(name: str, image: str, port: int, rng: random.Random, indent: str) -> list[str]:
    i = indent
    env = [
        f"{i}  env:",
        f"{i}    - name: APP_NAME",
        f"{i}      value: {name}",
        f"{i}    - name: LOG_LEVEL",
        f"{i}      value: \"{rng.choice(['info', 'debug', 'warn'])}\"",
        f"{i}    - name: HTTP_PORT",
        f'{i}      value: "{port}"',
        f"{i}    - name: POD_NAMESPACE",
        f"{i}      valueFrom:",
        f"{i}        fieldRef:",
        f"{i}          fieldPath: metadata.namespace",
        f"{i}    - name: DB_PASSWORD",
        f"{i}      valueFrom:",
        f"{i}        secretKeyRef: {{name: {name}-db, key: password}}",
        f"{i}    - name: JAVA_OPTS",
        f"{i}      value: >-",
        f"{i}        -XX:MaxRAMPercentage=75",
        f"{i}        -Dfile.encoding=UTF-8",
    ]
    return [
        f"{i}- name: {name}",
        f"{i}  image: registry.example.com/{name}:{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
        f"{i}  imagePullPolicy: IfNotPresent",
        f'{i}  command: ["/app/bin/{name}", "--config=/etc/{name}/config.yaml"]',
        f"{i}  args: [--port={port}, --metrics-port=9100]",
        f"{i}  ports:",
        f"{i}    - name: http",
        f"{i}      containerPort: {port}",
        f"{i}      protocol: TCP",
        f"{i}    - name: metrics",
        f"{i}      containerPort: 9100",
        *env,
        f"{i}  resources:",
        f"{i}    requests:",
        f"{i}      cpu: {rng.choice(['100m', '250m', '500m'])}",
        f"{i}      memory: {rng.choice(['128Mi', '256Mi', '1Gi'])}",
        f"{i}    limits:",
        f'{i}      cpu: "{rng.choice([1, 2])}"',
        f"{i}      memory: {rng.choice(['512Mi', '2Gi'])}",
        f"{i}  # Probes go through the sidecar once injected (Istio rewrites them).",
        f"{i}  readinessProbe:",
        f"{i}    httpGet:",
        f"{i}      path: /ready",
        f"{i}      port: http",
        f"{i}    periodSeconds: 10",
        f"{i}  livenessProbe:",
        f"{i}    httpGet: {{path: /healthz, port: {port}}}",
        f"{i}    initialDelaySeconds: 15",
        f"{i}  volumeMounts:",
        f"{i}    - name: config",
        f"{i}      mountPath: /etc/{name}",
        f"{i}      readOnly: true",
        f"{i}    - name: tmp",
        f"{i}      mountPath: /tmp",
        f"{i}  securityContext:",
        f"{i}    runAsNonRoot: true",
        f"{i}    allowPrivilegeEscalation: false",
        f"{i}    capabilities: {{drop: [ALL]}}",
    ]


def _pod_spec(name: str, ns: str, port: int, rng: random.Random, indent: str, batch: bool) -> list[str]:
    i = indent
    lines = [
        f"{i}serviceAccountName: {name}",
        f"{i}terminationGracePeriodSeconds: 30",
    ]
    if batch:
        lines.append(f"{i}restartPolicy: OnFailure")
    else:
        lines += [
            f"{i}affinity:",
            f"{i}  podAntiAffinity:",
            f"{i}    preferredDuringSchedulingIgnoredDuringExecution:",
            f"{i}      - weight: 100",
            f"{i}        podAffinityTerm:",
            f"{i}          topologyKey: kubernetes.io/hostname",
            f"{i}          labelSelector:",
            f"{i}            matchLabels: {{app: {name}}}",
            f"{i}tolerations:",
            f"{i}  - key: dedicated",
            f"{i}    operator: Equal",
            f'{i}    value: "{ns}"',
            f"{i}    effect: NoSchedule",
        ]
    lines += [f"{i}containers:", *_container_block(name, name, port, rng, i + "  ")]
    if not batch:
        lines += [
            f"{i}  - name: log-shipper",
            f"{i}    image: registry.example.com/tools/fluent-bit:3.0.{rng.randint(0, 9)}",
            f"{i}    args: ['-c', /fluent-bit/etc/fluent-bit.conf]",
            f"{i}    resources: {{requests: {{cpu: 20m, memory: 32Mi}}}}",
            f"{i}    volumeMounts:",
            f"{i}      - {{name: tmp, mountPath: /var/log/app}}",
        ]
    lines += [
        f"{i}volumes:",
        f"{i}  - name: config",
        f"{i}    configMap:",
        f"{i}      name: {name}-config",
        f"{i}  - name: tmp",
        f"{i}    emptyDir: {{}}",
    ]
    return lines


def _workload(kind: str, name: str, ns: str, i: int, rng: random.Random) -> str:
    port = rng.choice([8080, 8443, 3000, 9000])
    labels = [f"app: {name}", f"team: {TEAMS[i % len(TEAMS)]}", f'version: "v{1 + i % 3}"']
    batch = kind in ("CronJob", "Job")
    if batch:
        labels.append("tier: batch")
    if ns == "search" and i % 3 == 0:
        labels.append("component: indexer")
    head = [
        f"# {kind} {name}: owned by team {TEAMS[i % len(TEAMS)]}.",
        "apiVersion: " + ("apps/v1" if kind in ("Deployment", "StatefulSet") else "batch/v1"),
        f"kind: {kind}",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {ns}",
        "  labels:",
        *(f"    {lab}" for lab in labels),
        "  annotations:",
        "    example.com/owner: '" + TEAMS[i % len(TEAMS)] + "@example.com'",
        "    example.com/description: |",
        f"      {name} serves the {ns} API.",
        "      Runbook: https://runbooks.example.com/" + name,
        "spec:",
    ]
    if kind == "CronJob":
        pod_meta_indent, spec_indent = "          ", "          "
        body = [
            f'  schedule: "{i % 60} */{1 + i % 6} * * *"',
            "  concurrencyPolicy: Forbid",
            "  jobTemplate:",
            "    spec:",
            "      backoffLimit: 2",
            "      template:",
            "        metadata:",
            "          labels:",
            *(f"            {lab}" for lab in labels),
            "          annotations:",
            *(a.replace("        ", "            ", 1) for a in _pod_annotations(rng, i)),
            "        spec:",
            *_pod_spec(name, ns, port, rng, spec_indent, batch),
        ]
        del pod_meta_indent
    else:
        body = []
        if kind == "Job":
            body += ["  backoffLimit: 4"]
        else:
            body += [f"  replicas: {1 + i % 5}", "  revisionHistoryLimit: 5"]
            if kind == "StatefulSet":
                body += [f"  serviceName: {name}"]
            body += ["  selector:", "    matchLabels:", f"      app: {name}"]
        if kind == "Deployment":
            body += [
                "  strategy:",
                "    type: RollingUpdate",
                "    rollingUpdate: {maxSurge: 25%, maxUnavailable: 0}",
            ]
        body += [
            "  template:",
            "    metadata:",
            "      labels:",
            *(f"        {lab}" for lab in labels),
            "      annotations:",
            *_pod_annotations(rng, i),
            "    spec:",
            *_pod_spec(name, ns, port, rng, "      ", batch),
        ]
        if kind == "StatefulSet":
            body += [
                "  volumeClaimTemplates:",
                "    - metadata:",
                "        name: data",
                "      spec:",
                "        accessModes: [ReadWriteOnce]",
                "        resources:",
                "          requests:",
                "            storage: 20Gi",
            ]
    return "\n".join(head + body) + "\n"


def _service(name: str, ns: str) -> str:
    return f"""\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}}}
spec:
  selector:
    app: {name}
  ports:
    - name: http   # named so the mesh detects the protocol
      port: 80
      targetPort: http
"""


def _configmap(name: str, ns: str) -> str:
    return f"""\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}-config
  namespace: {ns}
data:
  config.yaml: |
    server:
      port: 8080
      timeout: 30s
    features: [search, "reviews"]
  LOG_FORMAT: json
  RETRIES: "3"
"""


def generate(root: Path, workloads: int, seed: int = 7) -> dict[str, int]:
    """Write the repository under `root`; returns counts of what was written."""
    rng = random.Random(seed)
    files = _cluster_files()
    kinds = ["Deployment"] * 85 + ["StatefulSet"] * 7 + ["CronJob"] * 5 + ["Job"] * 3
    documents = sum(t.count("\nkind: ") + t.startswith("kind: ") for t in files.values())
    for i in range(workloads):
        ns = NAMESPACES[i % len(NAMESPACES)]
        kind = kinds[rng.randrange(len(kinds))]
        name = f"{kind.lower()[:6]}-{i:05d}"
        w = _workload(kind, name, ns, i, rng)
        layout = i % 3
        if layout == 0:  # one file: workload, Service, ConfigMap
            files[f"apps/{ns}/{name}.yaml"] = "---\n".join([w, _service(name, ns), _configmap(name, ns)])
            documents += 3
        elif layout == 1:  # a folder per app, one document per file
            files[f"apps/{ns}/{name}/workload.yaml"] = w
            files[f"apps/{ns}/{name}/service.yml"] = _service(name, ns)
            documents += 2
        else:  # the workload alone
            files[f"apps/{ns}/{name}.yaml"] = "---\n" + w
            documents += 1
    total = 0
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        total += len(text.encode())
    return {"workloads": workloads, "files": len(files), "documents": documents, "bytes": total}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("root", type=Path)
    ap.add_argument("--workloads", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    print(generate(args.root, args.workloads, args.seed))


if __name__ == "__main__":
    main()
