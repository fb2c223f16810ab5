"""Namespace injection labels, as istioctl analyze counts them (policies/namespaces.py)."""

from __future__ import annotations

import pytest

from tests.lintkit import deployment, profile

RULE = "namespace-multiple-injection-labels"


def namespace(name: str, labels: str) -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:\n{labels}"


BOTH = '    istio-injection: enabled\n    istio.io/rev: canary\n    team: shop\n'


def test_injection_and_revision_labels_together(lint):
    r = lint({"profile.yaml": profile(), "ns.yaml": namespace("shop", BOTH), "app.yaml": deployment()})
    assert r.where(RULE) == [r.at("ns.yaml", "istio.io/rev")]
    (f,) = r.of(RULE)
    assert "istio-injection=enabled, istio.io/rev=canary" in f["message"] and "(IST0123)" in f["message"]
    assert f["fixable"] and f["workload"] is None


@pytest.mark.parametrize("labels", [
    '    istio-injection: disabled\n    istio.io/rev: canary\n',  # deliberately out: analyze counts one
    '    istio.io/rev: canary\n',
    '    istio-injection: enabled\n',
])
def test_one_injection_label_is_fine(lint, labels):
    assert lint({"ns.yaml": namespace("shop", labels)}).of(RULE) == []


def test_revision_with_ambient_is_reported_but_not_fixed(lint):
    r = lint({"ns.yaml": namespace("shop", '    istio.io/rev: canary\n    istio.io/dataplane-mode: ambient\n')})
    (f,) = r.of(RULE)
    assert r.where(RULE) == [r.at("ns.yaml", "istio.io/dataplane-mode")]
    assert not f["fixable"]


def test_istio_system_is_not_checked(lint):
    assert lint({"ns.yaml": namespace("istio-system", BOTH)}).of(RULE) == []


def test_fix_removes_the_revision_label_istio_ignores(cli, tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "ns.yaml").write_text(namespace("shop", BOTH))
    r = cli("lint", str(root), "--fix", "--fail-on", "warning")
    assert (root / "ns.yaml").read_text() == namespace("shop", '    istio-injection: enabled\n    team: shop\n')
    assert r.code == 0 and RULE not in r.out
