"""The pre-commit hooks of .pre-commit-hooks.yaml, run by the real pre-commit.

A throwaway Git repository holds the demo sources in src/ and their rendered output in
deploy/. `pre-commit try-repo <this checkout>` installs meshrender from the checkout into
a fresh hook environment (from wheels cached under .cache/, so no network after the
first run) and runs the hooks the way a user's commit would. try-repo builds that
environment anew on every call, so the scenarios share two calls: one on a repository
with a stale render (and, for lint, a broken manifest) and one after fixing both.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from meshrender.cli import COMMANDS
from tests.gitops import (
    BIN,
    ROOT,
    base_env,
    checkout_snapshot,
    commit_all,
    git,
    init_repo,
    offline_pip_env,
    wheelhouse,
)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

PRE_COMMIT = BIN / "pre-commit"
HAS_LINT = "lint" in COMMANDS
BROKEN = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: scratch, namespace: payments}
spec:
  selector: {matchLabels: {app: scratch}}
  template:
    metadata: {labels: {app: scratch}}
    spec:
      containers:
        - name: app
          image: registry.example.com/scratch:1.0
         ports: [{containerPort: 8080}]
"""


def try_repo(repo: Path, hook_repo: Path, env: dict) -> subprocess.CompletedProcess:
    hooks = [] if HAS_LINT else ["meshrender-render-check"]
    cmd = [str(PRE_COMMIT), "try-repo", str(hook_repo), *hooks, "--all-files", "--verbose", "--color", "never"]
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=600, check=False)


def hook_lines(output: str) -> dict[str, str]:
    """`{hook name: Passed|Failed}` from pre-commit's summary lines."""
    out = {}
    for line in output.splitlines():
        for status in ("Passed", "Failed"):
            if line.rstrip().endswith(status) and "..." in line:
                out[line.split("...")[0].strip()] = status
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run the hooks on a stale repository, fix it the way the hooks say, run them again."""
    if not PRE_COMMIT.exists():
        pytest.fail("pre-commit is not installed in this virtualenv (it is in the [test] extra)")
    tmp = tmp_path_factory.mktemp("precommit")
    hook_repo = checkout_snapshot(tmp / "meshrender-checkout")
    env = base_env(**offline_pip_env(wheelhouse()))
    repo = init_repo(tmp / "gitops")
    shutil.copytree(ROOT / "fixtures" / "demo", repo / "src")
    render = subprocess.run([str(BIN / "meshrender"), "render", "src", "-o", "deploy", "-q"], cwd=repo,
                            env=env, capture_output=True, text=True, check=False)
    assert render.returncode == 0, render.stderr
    commit_all(repo, "sources and their rendered output")

    # A source change committed without re-rendering, and a broken manifest outside src/.
    checkout = repo / "src" / "apps" / "payments" / "checkout.yaml"
    checkout.write_text(checkout.read_text().replace("replicas: 3", "replicas: 5"))
    (repo / "scratch").mkdir()
    (repo / "scratch" / "broken.yaml").write_text(BROKEN)
    git("add", "-A", cwd=repo, env=env)
    started = time.monotonic()
    stale = try_repo(repo, hook_repo, env)
    first = time.monotonic() - started

    # Do what the hook output says, and fix the manifest.
    refresh = next(line.strip() for line in stale.stdout.splitlines()[::-1]
                   if line.strip().startswith("meshrender render "))
    fix = subprocess.run(shlex.split(refresh), cwd=repo, env=env, capture_output=True, text=True, check=False)
    assert fix.returncode == 0, fix.stderr
    (repo / "scratch" / "broken.yaml").write_text(BROKEN.replace("         ports", "          ports"))
    git("add", "-A", cwd=repo, env=env)
    started = time.monotonic()
    fresh = try_repo(repo, hook_repo, env)
    second = time.monotonic() - started
    print(f"pre-commit try-repo: {first:.1f}s (stale), {second:.1f}s (fresh)")
    return {"stale": stale, "fresh": fresh, "refresh": refresh, "repo": repo}


def test_render_check_fails_on_stale_output_and_says_how_to_refresh(runs):
    r = runs["stale"]
    assert r.returncode == 1, r.stdout + r.stderr
    assert hook_lines(r.stdout)["meshrender rendered output is up to date"] == "Failed"
    assert "changed  deploy/apps/payments/checkout.yaml" in r.stdout
    # Only the file whose source changed is stale.
    assert "deploy/apps/payments/ledger.yaml" not in r.stdout
    assert runs["refresh"] == "meshrender render src -o deploy"


def test_render_check_passes_after_rerendering(runs):
    r = runs["fresh"]
    assert hook_lines(r.stdout)["meshrender rendered output is up to date"] == "Passed", r.stdout + r.stderr
    assert "replicas: 5" in (runs["repo"] / "deploy" / "apps" / "payments" / "checkout.yaml").read_text()


@pytest.mark.skipif(not HAS_LINT, reason="`meshrender lint` is not registered in meshrender.cli.COMMANDS yet")
def test_lint_hook_fails_on_a_broken_manifest(runs):
    r = runs["stale"]
    assert hook_lines(r.stdout)["meshrender lint"] == "Failed", r.stdout + r.stderr
    assert "scratch/broken.yaml:12:" in r.stdout


@pytest.mark.skipif(not HAS_LINT, reason="`meshrender lint` is not registered in meshrender.cli.COMMANDS yet")
def test_lint_hook_passes_on_good_manifests(runs):
    r = runs["fresh"]
    assert hook_lines(r.stdout)["meshrender lint"] == "Passed", r.stdout + r.stderr
    assert r.returncode == 0


def _readme_config(hook_repo: Path) -> str:
    """README.md's .pre-commit-config.yaml, pointed at this checkout's commit."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\n# .pre-commit-config.yaml of a GitOps repository\n", 1)[1].split("```", 1)[0]
    rev = git("rev-parse", "HEAD", cwd=hook_repo).strip()
    return block.replace("https://git.example.com/platform/meshrender", str(hook_repo)).replace("v0.1.0", rev)


def test_the_readme_config_passes_a_repository_as_it_is(tmp_path):
    """`pre-commit run --all-files` with the README's config on a GitOps repository that also
    holds a kustomization, a Helm chart, a GitHub workflow and .pre-commit-config.yaml
    itself: none of them is a manifest, and none of them fails a hook."""
    if not PRE_COMMIT.exists():
        pytest.fail("pre-commit is not installed in this virtualenv (it is in the [test] extra)")
    hook_repo = checkout_snapshot(tmp_path / "meshrender-checkout")
    env = base_env(**offline_pip_env(wheelhouse()))
    repo = init_repo(tmp_path / "gitops")
    for folder in ("apps", "mesh", "cluster"):
        shutil.copytree(ROOT / "fixtures" / "demo" / folder, repo / folder)
    extra = {
        "apps/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                                   "resources: [payments/checkout.yaml]\n",
        "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
        "charts/web/values.yaml": "replicaCount: 2\nimage: {repository: nginx, tag: \"1.27\"}\nkind: Deployment\n",
        ".github/workflows/ci.yaml": "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
                                    "    steps: [{run: make test}]\n",
        ".pre-commit-config.yaml": _readme_config(hook_repo),
    }
    for rel, text in extra.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")
    render = subprocess.run([str(BIN / "meshrender"), "render", "apps", "mesh", "cluster", "-o", "deploy", "-q"],
                            cwd=repo, env=env, capture_output=True, text=True, check=False)
    assert render.returncode == 0, render.stderr
    commit_all(repo, "a GitOps repository as it is")
    r = subprocess.run([str(PRE_COMMIT), "run", "--all-files", "--verbose", "--color", "never"], cwd=repo, env=env,
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert hook_lines(r.stdout) == {"meshrender lint": "Passed", "meshrender rendered output is up to date": "Passed"}
    assert "deploy/charts" not in r.stdout and not (repo / "deploy" / "charts").exists()
