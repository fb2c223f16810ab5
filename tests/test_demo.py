"""The bundled example repo renders to the checked-in expected output, byte for byte."""

from tests.conftest import ROOT

DEMO = ROOT / "fixtures" / "demo"
EXPECTED = ROOT / "fixtures" / "demo-expected"


def test_demo_renders_to_expected(cli, tmp_path):
    out = tmp_path / "out"
    r = cli("render", str(DEMO), "-o", str(out))
    assert r.code == 0, r.err
    got = {p.relative_to(out).as_posix(): p.read_text() for p in out.rglob("*.yaml")}
    want = {p.relative_to(EXPECTED).as_posix(): p.read_text() for p in EXPECTED.rglob("*.yaml")}
    assert sorted(got) == sorted(want)
    for rel in want:
        assert got[rel] == want[rel], f"{rel} differs; re-render with `make render OUT=fixtures/demo-expected`"


def test_demo_summary_names_every_workload_and_mode(cli, tmp_path):
    r = cli("render", str(DEMO), "-o", str(tmp_path / "out"))
    for line in ("Deployment payments/checkout", "StatefulSet payments/ledger", "CronJob payments/reconcile",
                 "Job storefront/migrate-catalog", "Deployment storefront/web"):
        assert line in r.err
    assert "native" in r.err
