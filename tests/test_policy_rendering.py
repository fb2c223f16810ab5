"""What render would refuse, reported as findings (policies/rendering.py)."""

from __future__ import annotations

from tests.lintkit import deployment, settings

# -- render-error -----------------------------------------------------------------------

def test_unknown_injection_template_is_a_finding_at_the_annotation(lint):
    r = lint({"app.yaml": deployment(annotations="        inject.istio.io/templates: sidecar,tracing")})
    assert r.where("render-error") == [r.at("app.yaml", "inject.istio.io/templates")]
    assert r.code == 1


def test_same_scope_settings_conflict_and_broken_workload_are_findings(lint):
    r = lint({"a.yaml": settings("  proxy:\n    concurrency: 2\n", "a", "shop"),
              "b.yaml": settings("  proxy:\n    concurrency: 4\n", "b", "shop"),
              "app.yaml": deployment(),
              "broken.yaml": deployment("broken", spec="      containers: nope")})
    assert r.where("render-error") == sorted([r.at("b.yaml", "concurrency"), r.at("broken.yaml", "containers")])
    assert r.code == 1


def test_known_templates_render_fine(lint):
    r = lint({"app.yaml": deployment(annotations="        inject.istio.io/templates: sidecar")})
    assert r.of("render-error") == []
    assert r.code == 0


def test_global_settings_conflict_is_reported_and_annotations_are_still_checked(lint):
    r = lint({"a.yaml": settings("  proxy:\n    concurrency: 2\n", "a"),
              "b.yaml": settings("  proxy:\n    concurrency: 4\n", "b"),
              "app.yaml": deployment(annotations="        sidecar.istio.io/proxyCpu: \"1\"")})
    assert r.where("render-error") == [r.at("b.yaml", "concurrency")]
    assert r.where("unknown-mesh-annotation") == [r.at("app.yaml", "sidecar.istio.io/proxyCpu")]


def test_invalid_value_in_a_values_file_points_into_that_file(lint, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text('global:\n  proxy:\n    excludeIPRanges: "10.0.0.0/8,300.0.0.0/8"\n', encoding="utf-8")
    r = lint({"app.yaml": deployment()}, "--values", str(values))
    assert [(f["file"], f["line"], f["column"]) for f in r.of("invalid-mesh-annotation")] == [(str(values), 3, 5)]
    assert "300.0.0.0/8" in r.of("invalid-mesh-annotation")[0]["message"]
