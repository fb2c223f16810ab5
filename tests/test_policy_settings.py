"""Settings documents that apply to no workload (policies/settings.py)."""

from __future__ import annotations

from tests.lintkit import deployment, profile, settings

RULE = "settings-apply-to-no-workload"
SELECTED = "  selector:\n    matchLabels: {app: chekout}\n  proxy:\n    concurrency: 2\n"


def test_namespace_settings_for_a_namespace_without_workloads(lint):
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings("  proxy:\n    concurrency: 2\n", "shp", "shp"),
              "app.yaml": deployment(ns="shop")})
    assert r.where(RULE) == [r.at("mesh.yaml", "namespace: shp")]
    (message,) = [f["message"] for f in r.of(RULE)]
    assert "namespace shp, which has no workload" in message and "did you mean namespace shop?" in message
    assert r.code == 0  # a warning


def test_selector_that_matches_nothing_with_a_near_miss(lint, cli):
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings(SELECTED, "checkout", "shop"),
              "app.yaml": deployment("checkout", ns="shop")})
    assert r.where(RULE) == [r.at("mesh.yaml", "app: chekout")]
    assert "did you mean app: checkout?" in r.of(RULE)[0]["message"]
    # render says the same as a warning (its long-standing "selector matches no workload")
    assert "selector matches no workload" in cli("render", str(r.root)).err


def test_settings_that_apply_are_not_reported(lint):
    files = {"profile.yaml": profile(), "ns.yaml": settings("  proxy:\n    concurrency: 2\n", "shop", "shop"),
             "sel.yaml": settings(SELECTED.replace("chekout", "checkout"), "checkout", "shop"),
             "global.yaml": settings("  proxy:\n    concurrency: 1\n"),
             "app.yaml": deployment("checkout", ns="shop")}
    assert lint(files).of(RULE) == []


def test_a_selector_in_another_namespace_does_not_count(lint):
    """A namespaced selector only selects workloads of its namespace."""
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings(SELECTED.replace("chekout", "web"), "web", "other"),
              "web.yaml": deployment("web", ns="shop"), "o.yaml": deployment("api", ns="other")})
    assert "in namespace other" in r.of(RULE)[0]["message"]


def test_the_settings_document_can_opt_out(lint):
    text = settings("  proxy:\n    concurrency: 2\n", "old", "gone").replace(
        "  namespace: gone\n", "  namespace: gone\n  annotations: {meshrender.dev/ignore: " + RULE + "}\n")
    r = lint({"profile.yaml": profile(), "mesh.yaml": text, "app.yaml": deployment()})
    assert r.of(RULE) == [] and r.doc["summary"]["suppressed"] == 1
