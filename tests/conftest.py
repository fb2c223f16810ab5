"""Shared helpers: run the CLI in-process, write small repos, read YAML back."""

from __future__ import annotations

import os
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

# Every pod the tests inject goes through the sidecar cache and, for comparison, the plain
# template (render/inject/sidecar_cache.py): any difference fails the test that made it.
# Set before render is imported; CLI subprocesses and forked workers inherit it.
os.environ.setdefault("MESHRENDER_VERIFY_SIDECAR_CACHE", "1")
os.environ.setdefault("MESHRENDER_VERIFY_SETTINGS_MEMO", "1")
# Selector matching is indexed (render/settings/selector_index.py); the tests also try
# every selector and fail on any difference.
os.environ.setdefault("MESHRENDER_VERIFY_SELECTOR_INDEX", "1")
# Incremental checks (run/incremental.py) and the result cache compute both answers and
# fail on any difference.
os.environ.setdefault("MESHRENDER_CACHE", "verify")
# The result cache of the whole session (shared by every test, so that later tests meet
# entries earlier ones wrote, and check them); never the user's own.
os.environ.setdefault("MESHRENDER_CACHE_DIR", tempfile.mkdtemp(prefix="meshrender-test-cache-"))

from meshrender.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "conformance" / "istio"


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write `files` (relative path -> text or bytes) under `root`, making folders; `root`."""
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content, encoding="utf-8")
    return root


# The smallest workload most tests need: Deployment shop/web, one nginx container.
WEB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


@dataclass
class Run:
    code: int
    out: str
    err: str

    def docs(self) -> list:
        return [d for d in yaml.safe_load_all(self.out) if d is not None]


def run_cli(*args: str, stdin: str | None = None, env: dict | None = None) -> Run:
    runner = CliRunner()
    result = runner.invoke(main, list(args), input=stdin, env=env or {"KUBE_VERSION": None},
                           catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def repo(tmp_path):
    """Write files into a throwaway repo: repo({"a.yaml": "..."}) -> its path."""

    def make(files: dict[str, str]) -> Path:
        for rel, text in files.items():
            p = tmp_path / "repo" / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return tmp_path / "repo"

    return make


def pod_spec(doc: dict) -> dict:
    kind = doc["kind"]
    if kind == "Pod":
        return doc["spec"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def container(doc: dict, name: str, init: bool | None = None) -> dict:
    spec = pod_spec(doc)
    keys = ["initContainers"] if init else ["containers"] if init is False else ["initContainers", "containers"]
    for key in keys:
        for c in spec.get(key) or []:
            if c["name"] == name:
                return c
    raise AssertionError(f"no container {name} in {keys}")


def env_of(c: dict) -> dict:
    return {e["name"]: e.get("value") for e in c.get("env") or []}


def arg_after(args: list, flag: str):
    return args[args.index(flag) + 1] if flag in args else None


@pytest.fixture
def lint(cli, tmp_path):
    """Write a repo and lint it as JSON (tests/lintkit.py)."""
    from tests.lintkit import Lint

    return Lint(cli, tmp_path / "repo")
