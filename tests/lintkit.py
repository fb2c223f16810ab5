"""Writing small repositories and linting them: what the tests of each policy family share.

`lint(files, *flags)` (the fixture in tests/conftest.py) writes a repo and lints it as
JSON; `where(rule)` and `at(file, needle)` give places as (file, line, column), computed
from the text written, never hard-coded.
"""

from __future__ import annotations

import json
from pathlib import Path

ACK_130 = """
apiVersion: meshrender.dev/v1alpha1
kind: ClusterProfile
metadata: {name: prod}
spec: {kubernetesVersion: "1.30", provider: ack, meshVersion: "1.22", flavor: asm}
"""


def profile(kube: str = "1.30", provider: str = "ack", mesh: str = "1.22") -> str:
    return ACK_130.replace('"1.30"', f'"{kube}"').replace("provider: ack", f"provider: {provider}") \
        .replace('"1.22"', f'"{mesh}"')


def deployment(name: str = "web", ns: str = "shop", annotations: str = "", spec: str = "",
               kind: str = "Deployment", labels: str = "") -> str:
    """A workload whose pod template carries `annotations` / `labels` (YAML lines, 8-space indented)."""
    anns = f"\n      annotations:\n{annotations}" if annotations else ""
    extra = f"\n{labels}" if labels else ""
    body = spec or """      containers:
        - name: app
          image: registry.example.com/app:1.0
          ports:
            - containerPort: 8080"""
    return f"""apiVersion: apps/v1
kind: {kind}
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels:
        app: {name}{extra}{anns}
    spec:
{body}
"""


def job(name: str = "migrate", ns: str = "shop", annotations: str = "", command: str = "") -> str:
    anns = f"\n      annotations:\n{annotations}" if annotations else ""
    cmd = f"\n          command: {command}" if command else ""
    return f"""apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
  namespace: {ns}
spec:
  template:
    metadata:
      labels:
        app: {name}{anns}
    spec:
      restartPolicy: Never
      containers:
        - name: {name}
          image: registry.example.com/{name}:1.0{cmd}
"""


def settings(spec: str, name: str = "global", ns: str | None = None) -> str:
    meta = f"  name: {name}\n" + (f"  namespace: {ns}\n" if ns else "")
    return f"""apiVersion: meshrender.dev/v1alpha1
kind: SidecarProxySettings
metadata:
{meta}spec:
{spec}"""


class Lint:
    """Write a repo, lint it as JSON, and look findings up by rule."""

    def __init__(self, cli, root: Path):
        self.cli, self.root = cli, root

    def __call__(self, files: dict[str, str], *flags: str) -> Lint:
        for rel, text in files.items():
            p = self.root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text.lstrip("\n"), encoding="utf-8")
        r = self.cli("lint", str(self.root), "--format", "json", *flags)
        assert r.code in (0, 1), r.err
        self.code, self.doc = r.code, json.loads(r.out)
        return self

    def of(self, rule: str) -> list[dict]:
        return [f for f in self.doc["findings"] if f["rule"] == rule]

    def where(self, rule: str) -> list[tuple[str, int, int]]:
        return sorted((Path(f["file"]).relative_to(self.root).as_posix(), f["line"], f["column"])
                      for f in self.of(rule))

    def at(self, rel: str, needle: str, nth: int = 1) -> tuple[str, int, int]:
        """Where `needle` starts in a written file (the nth occurrence)."""
        text = (self.root / rel).read_text(encoding="utf-8")
        pos = -1
        for _ in range(nth):
            pos = text.index(needle, pos + 1)
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        return rel, line, col
