"""The README's examples run as written.

Every command line of its ```sh blocks runs in a sample GitOps repository (the demo's
apps/, mesh/ and cluster/, rendered output in deploy/, the files the examples name), with
the installed `meshrender` on PATH and `kustomize build` played by `kubectl kustomize`;
each block in a fresh copy, its lines in order. A line must exit as the README says its
command exits (lint, diff and upgrade: 0 or 1; everything else: 0) and print no traceback. The YAML
blocks that are inputs (settings, ClusterProfile kinds, .meshrender.yaml, the kustomize
transformer) are given to meshrender as they stand. A new example in the README that this
test does not know how to run fails it (`SKIPPED` lists the ones that need the network).

The Argo CD and pre-commit blocks are run by tests/test_argocd_plugin.py and
tests/test_precommit_hooks.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, WEB
from tests.gitops import BIN

README = (ROOT / "README.md").read_text(encoding="utf-8")
KUBECTL = shutil.which("kubectl")
# Lines that install from the network, or need a tool this machine does not have.
SKIPPED = ("pipx install", "uv tool install", "pip install")
# A stand-in for `helm install NAME CHART --post-renderer CMD --post-renderer-args ARG...` when
# Helm is not installed: the chart's (template-free) manifests, as Helm prints them, piped
# through the post-renderer as Helm runs it (tests/test_kustomize_helm.py checks the protocol).
HELM_STAND_IN = """\
import subprocess, sys
from pathlib import Path
args = sys.argv[1:]
chart = Path(args[2])
renderer, extra = None, []
for flag, value in zip(args, args[1:]):
    if flag == "--post-renderer":
        renderer = value
    elif flag == "--post-renderer-args":
        extra.append(value)
stream = "".join(f"---\\n# Source: {chart.name}/templates/{p.name}\\n{p.read_text()}"
                 for p in sorted((chart / "templates").glob("*.yaml")))
sys.exit(subprocess.run([renderer, *extra], input=stream, text=True).returncode)
"""


def blocks(lang: str) -> list[tuple[int, str]]:
    """(line number, text) of every fenced block of `lang` in the README."""
    out, lines = [], README.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == f"```{lang}":
            start, body = i + 1, []
            i += 1
            while lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            out.append((start + 1, "\n".join(body) + "\n"))
        i += 1
    return out


def commands(block: str) -> list[str]:
    """The command lines of a shell block: continuations joined, trailing comments off."""
    joined = block.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def expected(line: str) -> set[int]:
    if re.match(r"meshrender (lint|diff|upgrade)\b", line):
        return {0, 1}  # findings / drift / changes, as documented
    return {0}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """A GitOps repository with everything the README's examples name."""
    root = tmp_path_factory.mktemp("readme") / "sample"
    demo = ROOT / "fixtures" / "demo"
    shutil.copytree(demo / "apps", root / "apps")
    shutil.copytree(demo / "mesh", root / "mesh")
    shutil.copytree(demo / "cluster", root / "cluster")
    shutil.copytree(demo, root / "fixtures" / "demo")
    for name in ("deployment.yaml", "app.yaml"):
        (root / name).write_text(WEB)
    (root / "values.yaml").write_text("global:\n  proxy:\n    logLevel: info\n")
    (root / "mesh.yaml").write_text("defaultConfig:\n  concurrency: 2\n")
    (root / "base").mkdir()
    (root / "base" / "web.yaml").write_text(WEB.replace("name: web,", "name: web-base,"))
    (root / "base" / "kustomization.yaml").write_text("resources: [web.yaml]\n")
    (root / "overlays" / "prod").mkdir(parents=True)
    (root / "overlays" / "prod" / "kustomization.yaml").write_text("resources: [../../base]\n")
    (root / "chart" / "templates").mkdir(parents=True)
    (root / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (root / "chart" / "templates" / "deployment.yaml").write_text(WEB)
    r = run(root, "meshrender render apps mesh cluster -o deploy")
    assert r.returncode == 0, r.stderr
    return root


def _env(tmp: Path) -> dict[str, str]:
    shims = tmp / "shims"
    shims.mkdir(exist_ok=True)
    if KUBECTL is not None:
        shim = shims / "kustomize"
        shim.write_text(f'#!/bin/sh\n[ "$1" = build ] && shift\nexec "{KUBECTL}" kustomize "$@"\n')
        shim.chmod(0o755)
    if shutil.which("helm") is None:
        shim = shims / "helm"
        shim.write_text(f"#!{sys.executable}\n{HELM_STAND_IN}")
        shim.chmod(0o755)
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{shims}{os.pathsep}{os.environ['PATH']}", "KUBE_VERSION": ""}


def run(cwd: Path, line: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=cwd, env=_env(cwd.parent),
                          capture_output=True, text=True, timeout=300, check=False)


def _make(line: str, repo: Path) -> str:
    """`make TARGET REPO=... OUT=...` as run in this checkout, on the sample's folders."""
    def absolute(m: re.Match) -> str:
        value = m.group(2).strip('"')
        return f'{m.group(1)}="' + " ".join(str(repo / p) for p in value.split()) + '"'

    line = re.sub(r'\b(REPO|OUT)=("[^"]*"|\S+)', absolute, line)
    return f"make --no-print-directory -C {ROOT} {line.removeprefix('make ')}"


SHELL_BLOCKS = [(n, b) for n, b in blocks("sh") if not b.startswith(("make render   #",))]


@pytest.mark.parametrize("start,block", SHELL_BLOCKS, ids=[f"README.md:{n}" for n, _ in SHELL_BLOCKS])
def test_shell_examples_run_as_written(start, block, sample, tmp_path):
    repo = tmp_path / "sample"
    shutil.copytree(sample, repo, symlinks=True)
    ran = 0
    for line in commands(block):
        if line.startswith(SKIPPED):
            continue
        if line.startswith("kustomize ") and KUBECTL is None:
            continue
        shown = line
        if line.startswith("make "):
            line = _make(line, repo)
        r = run(repo, line)
        assert r.returncode in expected(shown), f"README.md:{start}: `{shown}` exited {r.returncode}:\n{r.stderr}"
        assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
        ran += 1
    assert ran, f"README.md:{start}: no line of this block could run here"


def test_the_quick_start_commands_are_the_makefiles():
    (_, block), = [(n, b) for n, b in blocks("sh") if b.startswith("make render")]
    targets = re.findall(r"^(\w+):", (ROOT / "Makefile").read_text(), re.M)
    assert [c.split()[1] for c in commands(block)] == ["render", "test"]
    assert {"render", "test"} <= set(targets)


def _yaml_block(first_line: str) -> str:
    found = [b for _, b in blocks("yaml") if b.startswith(first_line)]
    assert found, f"README.md has no ```yaml block starting with {first_line!r}"
    return found[0]


def test_settings_and_profile_examples_render(sample, tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "settings.yaml").write_text(_yaml_block("apiVersion: meshrender.dev/v1alpha1\nkind: SidecarProxySettings"))
    (repo / "app.yaml").write_text(WEB.replace("namespace: shop", "namespace: payments"))
    r = run(repo, "meshrender render . -o ../out")
    assert r.returncode == 0, r.stderr
    assert "Deployment payments/web  native" in r.stderr  # the example's nativeSidecar: true


def test_workload_kinds_example_injects_a_knative_service(tmp_path):
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "profile.yaml").write_text(_yaml_block("apiVersion: meshrender.dev/v1alpha1\nkind: ClusterProfile\n"
                                                   "metadata: {name: prod}\nspec:\n  workloadKinds:"))
    (repo / "ksvc.yaml").write_text("apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: hello}\n"
                                    "spec:\n  template:\n    spec:\n      containers: [{name: hello, image: hello}]\n")
    r = run(repo, "meshrender render .")
    assert r.returncode == 0, r.stderr
    assert "istio-proxy" in r.stdout


def test_repository_configuration_example_is_accepted(sample, tmp_path):
    repo = tmp_path / "sample"
    shutil.copytree(sample, repo, symlinks=True)
    (repo / ".meshrender.yaml").write_text(_yaml_block("# .meshrender.yaml"))
    (repo / "mesh" / "values.yaml").write_text("global:\n  proxy:\n    logLevel: info\n")
    r = run(repo, "meshrender render apps mesh -o out")
    assert r.returncode == 0, r.stderr
    r = run(repo, "meshrender lint apps mesh --format json")
    assert r.returncode in (0, 1), r.stderr


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kustomize_transformer_example_under_kubectl_kustomize(sample, tmp_path):
    block = _yaml_block("# kustomization.yaml")
    kustomization, injector = block.split("---\n")
    app = tmp_path / "clusters" / "prod"
    app.mkdir(parents=True)
    shutil.copytree(sample / "mesh", tmp_path / "mesh")
    (app / "kustomization.yaml").write_text(kustomization)
    (app / "injector.yaml").write_text(injector)
    (app / "deployment.yaml").write_text(WEB)
    home = tmp_path / "plugins" / "meshrender.dev" / "v1alpha1" / "sidecarinjector"
    home.mkdir(parents=True)
    shutil.copy2(ROOT / "kustomize" / "SidecarInjector", home / "SidecarInjector")
    env = {**os.environ, "KUSTOMIZE_PLUGIN_HOME": str(tmp_path / "plugins"), "MESHRENDER": str(BIN / "meshrender")}
    r = subprocess.run([KUBECTL, "kustomize", "--enable-alpha-plugins", str(app)], env=env, capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "istio-proxy" in r.stdout
