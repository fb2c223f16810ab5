"""`lint` of `render` output, with the same settings, reports nothing meshrender wrote.

A GitOps repository commits the rendered manifests and lints them in CI; every finding
there that was not already a finding of the input is about what the injector added
(its annotations, containers, ordering) and would be noise no user can act on. Each case
lints the input and the rendered output with the same options and settings, and requires
every finding of the output to be one of the input's (same rule, workload and message,
file paths aside).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import CORPUS, ROOT, run_cli

GOLDENS = ROOT / "fixtures" / "istio-goldens"


def _findings(paths: list[Path], args: list[str], *names: Path) -> set[tuple]:
    r = run_cli("lint", *map(str, paths), "--format", "json", *args)
    assert r.code in (0, 1), r.err
    doc = json.loads(r.out)
    out = set()
    for f in doc["findings"]:
        message = f["message"]
        for n in names:  # input and output name their files differently
            message = message.replace(str(n), "<dir>")
        out.add((f["rule"], f["workload"], message))
    return out


def _assert_nothing_new(inputs: list[Path], rendered: list[Path], args: list[str], *dirs: Path) -> None:
    before = _findings(inputs, args, *dirs)
    after = _findings(rendered, args, *dirs)
    assert after - before == set(), "lint reports what render wrote"


def test_demo_output_lints_like_its_input(tmp_path):
    """The example repo: render apps/ with mesh/ and cluster/, then lint the output with
    the same settings folders."""
    demo = ROOT / "fixtures" / "demo"
    out = tmp_path / "out"
    r = run_cli("render", str(demo), "-o", str(out))
    assert r.code == 0, r.err
    for settings in ("mesh", "cluster"):  # consumed by render: lint gets them as render did
        shutil.copytree(demo / settings, out / settings, dirs_exist_ok=True)
    _assert_nothing_new([demo], [out], [], demo, out)
    assert any(p.read_text().count("istio.io/rev") for p in out.rglob("*.yaml"))  # what used to be reported


@pytest.mark.parametrize("mode", ["true", "false"])
@pytest.mark.parametrize("flavor", ["asm", "istio"])
def test_demo_output_lints_clean_in_each_mode_and_flavor(tmp_path, mode, flavor):
    demo = ROOT / "fixtures" / "demo"
    args = ["--flavor", flavor, "--native-sidecars", mode]
    out = tmp_path / "out"
    r = run_cli("render", str(demo / "apps"), str(demo / "mesh"), "-o", str(out), *args)
    assert r.code == 0, r.err
    _assert_nothing_new([demo / "apps", demo / "mesh"], [out, demo / "mesh"], args, demo, out)


GOLDEN_CASES = sorted(p.name for p in GOLDENS.iterdir() if (p / "input.yaml").exists())


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_golden_outputs_lint_like_their_inputs(case, tmp_path):
    folder = GOLDENS / case
    args = ["--flavor", "istio"]
    if (folder / "values.yaml").exists():
        args += ["--values", str(folder / "values.yaml")]
    if (folder / "mesh.yaml").exists():
        args += ["--mesh-config", str(folder / "mesh.yaml")]
    spec = yaml.safe_load((folder / "case.yaml").read_text()) if (folder / "case.yaml").exists() else None
    args += [str(a) for a in (spec or {}).get("args") or []]
    _assert_nothing_new([folder / "input.yaml"], [folder / "expected.yaml"], args, folder)


def _merge(base, over):
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    return {**base, **{k: _merge(base.get(k), v) if k in base else v for k, v in over.items()}}


def _corpus_cases() -> list[dict]:
    if not (CORPUS / "cases.yaml").exists():
        return []
    spec = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
    return [{**c, "_defaults": spec.get("defaults") or {}} for c in spec["cases"]
            if c.get("tier", "core") in ("core", "builtin-templates") and "error" not in c]


CORPUS_CASES = _corpus_cases()


@pytest.mark.skipif(not CORPUS_CASES, reason="../shared/conformance is not beside the checkout")
@pytest.mark.parametrize("case", CORPUS_CASES, ids=[f"{c['golden']}-{i}" for i, c in enumerate(CORPUS_CASES)])
def test_istio_corpus_outputs_lint_like_their_inputs(case, tmp_path):
    """Every case of Istio's kube-inject corpus: its values, mesh config, native or
    traditional, templates; the output is what render writes for it."""
    defaults = case["_defaults"]
    values = _merge(defaults.get("values") or {}, case.get("values") or {})
    mesh = case.get("meshConfig") or {}
    if case.get("istioOperator"):
        iop = yaml.safe_load((CORPUS / "cases" / case["istioOperator"]).read_text(encoding="utf-8"))
        values = _merge(values, (iop.get("spec") or {}).get("values") or {})
        mesh = _merge(mesh, (iop.get("spec") or {}).get("meshConfig") or {})
    (tmp_path / "v.json").write_text(json.dumps(values))
    (tmp_path / "m.json").write_text(json.dumps(mesh))
    native = case.get("nativeSidecars", defaults.get("nativeSidecars", True))
    args = ["--flavor", "istio", "--values", str(tmp_path / "v.json"), "--mesh-config", str(tmp_path / "m.json"),
            "--native-sidecars", "true" if native else "false"]
    if case.get("compliancePolicy"):
        args += ["--compliance-policy", case["compliancePolicy"]]
    source = CORPUS / "cases" / case["input"]
    rendered = run_cli("render", *args, str(source))
    assert rendered.code == 0, rendered.err
    out = tmp_path / "out" / source.name
    out.parent.mkdir()
    out.write_text(rendered.out)
    _assert_nothing_new([source], [out], args, source.parent, out.parent)
