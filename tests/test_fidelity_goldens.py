"""Golden tests for Istio behaviour the conformance corpus does not cover.

Each folder of fixtures/istio-goldens holds an input, the injector values (and mesh
config) it is rendered with, the expected output, and a case.yaml whose comment says
which part of Istio's template or Go code the expected output was derived from. The
comparison is byte for byte: the output must be what kube-inject's printer would write.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli

GOLDENS = ROOT / "fixtures" / "istio-goldens"
CASES = sorted(p for p in GOLDENS.iterdir() if p.is_dir())


def render_case(case: Path, source: Path) -> tuple[int, str, str]:
    spec = yaml.safe_load((case / "case.yaml").read_text(encoding="utf-8")) or {}
    args = ["render", "--flavor", "istio", *spec.get("args", [])]
    for name, flag in (("values.yaml", "--values"), ("mesh.yaml", "--mesh-config")):
        if (case / name).exists():
            args += [flag, str(case / name)]
    r = run_cli(*args, str(source))
    return r.code, r.out, r.err


def test_there_are_goldens():
    assert len(CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_renders_byte_for_byte(case):
    code, out, err = render_case(case, case / "input.yaml")
    assert code == 0, err
    assert out == (case / "expected.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_output_is_stable_under_reinjection(case):
    """Rendering the rendered output again changes nothing (Istio's re-injection)."""
    code, out, err = render_case(case, case / "expected.yaml")
    assert code == 0, err
    assert out == (case / "expected.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_says_where_in_istio_it_comes_from(case):
    text = (case / "case.yaml").read_text(encoding="utf-8")
    comment = " ".join(line for line in text.splitlines() if line.startswith("#"))
    assert "Derived from" in comment
    assert any(part in comment for part in ("template", ".go"))
