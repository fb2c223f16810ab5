"""The example CI jobs of examples/, run step by step in a throwaway GitOps repository.

Each `run` step (GitHub Actions) or `script` line (GitLab CI) runs as the CI runner runs
it, in a Git repository with sources in apps/, mesh/, cluster/ and the rendered manifests
committed in deploy/. Steps that set up the runner (checkout, Python, pip install) are
what this test environment already is, and are skipped.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from meshrender.cli import COMMANDS
from tests.gitops import BIN, ROOT, base_env, commit_all, init_repo

pytestmark = pytest.mark.skipif(shutil.which("git") is None or shutil.which("bash") is None,
                                reason="needs git and bash")

SOURCES = ["apps", "mesh", "cluster"]


def github_steps() -> list[tuple[str, str, dict]]:
    wf = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    (job,) = wf["jobs"].values()
    steps = []
    for i, step in enumerate(job["steps"]):
        if "run" in step:
            steps.append((step.get("name", f"step {i}"), step["run"], job.get("env") or {}))
    return steps


def gitlab_steps() -> list[tuple[str, str, dict]]:
    ci = yaml.safe_load((ROOT / "examples" / "gitlab-ci.yml").read_text())
    job = ci["meshrender"]
    return [(line, line, job.get("variables") or {}) for line in [*job["before_script"], *job["script"]]]


EXAMPLES = {"github": github_steps, "gitlab": gitlab_steps}


def _setup_step(script: str) -> bool:
    return bool(re.search(r"\bpip install\b|\bapt-get\b", script))


def _missing_command(script: str) -> str | None:
    for sub in re.findall(r"\bmeshrender\s+([a-z][a-z-]*)", script):
        if sub not in COMMANDS:
            return sub
    return None


def run_job(example: str, repo: Path) -> tuple[int, str, list[str]]:
    """Run the job's steps in `repo`; returns the exit status, the log, and skipped steps."""
    log, skipped = [], []
    for name, script, variables in EXAMPLES[example]():
        if _setup_step(script):
            continue
        missing = _missing_command(script)
        if missing:
            skipped.append(f"{name} (needs `meshrender {missing}`)")
            continue
        env = base_env(CI="true", RUNNER_TEMP=str(repo.parent), CI_PROJECT_DIR=str(repo),
                       **{k: str(v) for k, v in variables.items()})
        r = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=repo,
                           env=env, capture_output=True, text=True, timeout=120, check=False)
        log.append(f"$ {name}\n{r.stdout}{r.stderr}")
        if r.returncode != 0:
            return r.returncode, "\n".join(log), skipped
    return 0, "\n".join(log), skipped


@pytest.fixture
def gitops(tmp_path) -> Path:
    """Sources and their committed render, as the examples expect them."""
    repo = init_repo(tmp_path / "gitops")
    for name in SOURCES:
        shutil.copytree(ROOT / "fixtures" / "demo" / name, repo / name)
    r = subprocess.run([str(BIN / "meshrender"), "render", *SOURCES, "-o", "deploy", "-q"], cwd=repo,
                       env=base_env(), capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    commit_all(repo, "sources and rendered manifests")
    return repo


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_job_passes_when_deploy_is_up_to_date(gitops, example):
    code, log, skipped = run_job(example, gitops)
    assert code == 0, log
    assert "meshrender render" not in " ".join(skipped)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_job_fails_when_deploy_is_stale(gitops, example):
    web = gitops / "apps" / "storefront" / "web.yaml"
    web.write_text(web.read_text().replace("replicas: 2", "replicas: 6"))
    commit_all(gitops, "scale web without re-rendering")
    code, log, _ = run_job(example, gitops)
    assert code != 0, log
    assert "deploy/storefront/web.yaml" in log


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_job_fails_on_output_the_api_server_would_refuse(gitops, example):
    profile = gitops / "cluster" / "profile.yaml"
    profile.write_text(profile.read_text().replace('kubernetesVersion: "1.30"', 'kubernetesVersion: "1.27"'))
    settings = gitops / "mesh" / "sidecar-global.yaml"
    settings.write_text(settings.read_text().replace("spec:\n", "spec:\n  nativeSidecar: true\n", 1))
    subprocess.run([str(BIN / "meshrender"), "render", *SOURCES, "-o", "deploy", "-q"], cwd=gitops,
                   env=base_env(), capture_output=True, check=False)
    commit_all(gitops, "native sidecars on a 1.27 cluster")
    code, log, _ = run_job(example, gitops)
    assert code != 0, log
    assert "1.27" in log


# -- the Makefile targets the README shows ------------------------------------------------

MAKE_TARGETS = {"render": "render", "lint": "lint", "diff": "diff"}


@pytest.mark.skipif(shutil.which("make") is None or BIN != ROOT / ".venv" / "bin",
                    reason="needs make and this checkout's .venv")
@pytest.mark.parametrize("target", sorted(MAKE_TARGETS))
def test_make_targets_take_repo_and_out(gitops, target):
    if MAKE_TARGETS[target] not in COMMANDS:
        pytest.skip(f"`meshrender {MAKE_TARGETS[target]}` is not registered in meshrender.cli.COMMANDS yet")
    out = gitops.parent / "make-out"
    if target == "diff":  # compare with a render of the same sources: no drift
        subprocess.run([str(BIN / "meshrender"), "render", str(gitops / "apps"), "-o", str(out), "-q"],
                       env=base_env(), check=True)
    # -o: take the virtualenv as installed (no pip run from inside the tests).
    r = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", target,
                        f"REPO={gitops / 'apps'}", f"OUT={out}"],
                       cwd=ROOT, env=base_env(), capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    if target == "render":
        assert (out / "storefront" / "web.yaml").is_file()
        assert "istio-proxy" in (out / "payments" / "checkout.yaml").read_text()
