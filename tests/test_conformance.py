"""Istio's own kube-inject corpus, run through the CLI by ../shared's runner: any
regression in the istio flavor's fidelity fails the build."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CORPUS

RUNNER = CORPUS / "run.py"


@pytest.mark.skipif(not RUNNER.exists(), reason="../shared/conformance is not beside the checkout")
@pytest.mark.parametrize("tier", ["core", "builtin-templates"])
def test_conformance_tier_passes_every_case(tier, tmp_path):
    exe = Path(sys.executable).with_name("meshrender")
    proc = subprocess.run([sys.executable, str(RUNNER), "--cmd", str(exe), "--tier", tier, "-v"],
                          capture_output=True, text=True, timeout=900)
    failures = [line for line in proc.stdout.splitlines() if not line.startswith("PASS")]
    assert proc.returncode == 0, "\n".join(failures[-60:])
