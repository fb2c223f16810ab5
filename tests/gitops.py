"""Helpers for the integration tests that run real tools (git, pre-commit, a shell).

These tests run programs, not functions: the `meshrender` of this checkout's virtualenv,
the pre-commit from PyPI, `sh`. Everything they install is cached under `.cache/` in the
checkout (ignored by Git), so after the first run they need no network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"
BIN = Path(sys.executable).parent
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "meshrender tests", "GIT_AUTHOR_EMAIL": "tests@meshrender.invalid",
    "GIT_COMMITTER_NAME": "meshrender tests", "GIT_COMMITTER_EMAIL": "tests@meshrender.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
}


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment: this venv's programs first, no user Git config, no CI leakage."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "PRE_COMMIT", "VIRTUALENV_", "ARGOCD_", "PARAM_", "KUBE_"))}
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "/usr/bin:/bin")])
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    env.update(GIT_IDENTITY)
    env.update(extra)
    return env


def git(*args: str, cwd: Path, env: dict | None = None) -> str:
    r = subprocess.run(["git", *args], cwd=cwd, env=env or base_env(), capture_output=True, text=True,
                       check=False)
    if r.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{r.stdout}{r.stderr}")
    return r.stdout


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "-b", "main", cwd=path)
    return path


def commit_all(repo: Path, message: str = "change") -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--allow-empty", "-m", message, cwd=repo)


def checkout_snapshot(dest: Path) -> Path:
    """This checkout as a Git repository at a commit: itself when clean, else a snapshot.

    pre-commit installs hooks from a commit. A clean checkout (CI) is used as it is; a
    working tree with changes is cloned and its current files (including new, untracked
    ones, which pre-commit's own snapshot leaves out) committed on top.
    """
    status = git("status", "--porcelain", "--untracked-files=all", cwd=ROOT)
    if not status.strip():
        return ROOT
    git("clone", "-q", str(ROOT), str(dest), cwd=ROOT.parent)
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT).split("\0")
    current = {f for f in listed if f and (ROOT / f).is_file()}
    for f in git("ls-files", "-z", cwd=dest).split("\0"):
        if f and f not in current:
            (dest / f).unlink()
    for f in current:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)
    commit_all(dest, "snapshot of the working tree")
    return dest


def requirements() -> list[str]:
    """What `pip install .` of this checkout needs: build backend and runtime dependencies."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [*data["build-system"]["requires"], *data["project"]["dependencies"]]


def wheelhouse() -> Path:
    """Wheels of `requirements()`, downloaded once from the package index into .cache/."""
    reqs = requirements()
    key = hashlib.sha256("\n".join([sys.version, *reqs]).encode()).hexdigest()[:16]
    house = CACHE / "wheels" / key
    done = house / ".complete"
    if not done.exists():
        house.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                            "--dest", str(house), *reqs], capture_output=True, text=True, check=False)
        if r.returncode != 0:
            raise AssertionError(f"could not download the hook's dependencies:\n{r.stderr}")
        done.write_text("\n".join(reqs) + "\n", encoding="utf-8")
    return house


def offline_pip_env(house: Path) -> dict[str, str]:
    """Environment that makes pip and virtualenv (as pre-commit runs them) use only `house`."""
    return {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(house),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
        "VIRTUALENV_OVERRIDE_APP_DATA": str(CACHE / "virtualenv"),
        "PRE_COMMIT_HOME": str(CACHE / "pre-commit"),
    }
