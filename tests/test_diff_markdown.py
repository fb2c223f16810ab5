"""`meshrender diff --format markdown`: drift as a pull-request comment."""

from __future__ import annotations

import re

from tests.conftest import ROOT

DEMO = ROOT / "fixtures" / "demo"


def _rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in re.split(r"(?<!\\)\|", x.strip())[1:-1]] for x in text.splitlines()
            if x.startswith("| `")]


def test_markdown_drift_report(cli, tmp_path):
    out = tmp_path / "deploy"
    assert cli("render", str(DEMO), "-o", str(out)).code == 0
    r = cli("diff", str(DEMO), "--against", str(out), "--format", "markdown")
    assert r.code == 0 and r.out.startswith("### :white_check_mark: meshrender diff\n")
    checkout = out / "apps" / "payments" / "checkout.yaml"
    checkout.write_text(checkout.read_text().replace("memory: 128Mi", "memory: 129Mi", 1))
    (out / "stale|old.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    r = cli("diff", str(DEMO), "--against", str(out), "--format", "markdown")
    assert r.code == 1
    assert r.out.startswith("### :warning: meshrender diff\n")
    assert "| Files | changed | added | removed | Documents | Fields |" in r.out
    rows = _rows(r.out)
    assert all(len(x) == 5 for x in rows)
    changed = next(x for x in rows if x[0] == "`apps/payments/checkout.yaml`")
    assert changed[3:] == ['`"129Mi"`', '`"128Mi"`'] and "resources.requests.memory" in changed[2]
    assert ["`stale\\|old.yaml`", "(file removed)", "(a render no longer writes it)", "", ""] in rows
    assert f"```sh\nmeshrender render {DEMO} -o {out}\n```" in r.out


def test_markdown_drift_fits_a_github_comment(cli, tmp_path):
    out = tmp_path / "deploy"
    assert cli("render", str(DEMO), "-o", str(out)).code == 0
    for i in range(600):
        (out / f"gone-{i:03d}-{'x' * 120}.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    r = cli("diff", str(DEMO), "--against", str(out), "--format", "markdown")
    assert len(r.out) < 65536
    notice = re.search(r"_(\d+) more changes not shown", r.out)
    assert notice and len(_rows(r.out)) + int(notice.group(1)) == 600
    assert r.out.rstrip().endswith("```")  # the refresh command is always there
