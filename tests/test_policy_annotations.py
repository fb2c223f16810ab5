"""Mesh annotations: invalid values, unknown names, the wrong object (policies/annotations.py)."""

from __future__ import annotations

import json

import pytest

from tests.lintkit import deployment, profile, settings

# -- invalid-mesh-annotation ------------------------------------------------------------

@pytest.mark.parametrize("name,value,says", [
    ("traffic.sidecar.istio.io/excludeOutboundPorts", '"5432,99999"', "99999"),
    ("traffic.sidecar.istio.io/includeOutboundIPRanges", '"10.0.0.0/33"', "10.0.0.0/33"),
    ("sidecar.istio.io/proxyCPU", "lots", "not a quantity"),
    ("sidecar.istio.io/nativeSidecar", '"yes"', 'counts as \\"true\\"'),
    ("sidecar.istio.io/rewriteAppHTTPProbers", "maybe", "not a boolean"),
    ("sidecar.istio.io/inject", "enabled", "not injected"),
    ("sidecar.istio.io/statsFlushInterval", "5 seconds", "not a duration"),
    ("sidecar.istio.io/userVolume", "'[{\"name\": x}]'", "not valid JSON"),
    ("sidecar.istio.io/logLevel", "verbose", "not one of"),
    ("proxy.istio.io/config", "'terminationDrainDuration: soon'", "not a duration"),
    ("readiness.status.sidecar.istio.io/periodSeconds", '"-5"', "unsigned"),
])
def test_invalid_annotation_values(lint, name, value, says):
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(annotations=f"        {name}: {value}")})
    assert r.where("invalid-mesh-annotation") == [r.at("app.yaml", name)]
    assert says in json.dumps(r.of("invalid-mesh-annotation")[0]["message"])
    assert r.code == 1


def test_valid_annotations_are_not_reported(lint):
    anns = "\n".join([
        '        traffic.sidecar.istio.io/excludeOutboundPorts: "5432,6379"',
        '        traffic.sidecar.istio.io/includeOutboundIPRanges: "10.0.0.0/8"',
        '        sidecar.istio.io/proxyCPU: 200m',
        '        sidecar.istio.io/nativeSidecar: "true"',
        '        sidecar.istio.io/rewriteAppHTTPProbers: "false"',
        '        sidecar.istio.io/statsFlushInterval: 10s',
        # Istio's template ranges over a JSON object: volume name -> volume source.
        "        sidecar.istio.io/userVolume: '{\"certs\": {\"secret\": {\"secretName\": \"c\"}}}'",
        "        proxy.istio.io/config: '{concurrency: 4}'",
        '        traffic.sidecar.istio.io/includeInboundPorts: "*"',  # Istio's validator accepts it
    ])
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(annotations=anns)})
    assert r.of("invalid-mesh-annotation") == []
    assert r.code == 0


def test_invalid_setting_value_points_at_the_settings_field_once(lint):
    spec = "  traffic:\n    excludeInboundPorts: 7013,70000\n"
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings(spec, "shop", "shop"),
              "a.yaml": deployment("a"), "b.yaml": deployment("b")})
    assert r.where("invalid-mesh-annotation") == [r.at("mesh.yaml", "excludeInboundPorts")]
    assert r.of("invalid-mesh-annotation")[0]["workload"] is None
    assert "70000" in r.of("invalid-mesh-annotation")[0]["message"]


def test_settings_document_that_fails_its_schema_is_a_finding_not_exit_2(lint):
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings('  nativeSidecar: "yes"\n'), "app.yaml": deployment()})
    assert r.where("invalid-mesh-annotation") == [r.at("mesh.yaml", "nativeSidecar")]
    assert r.code == 1
    assert r.of("hold-application-ignored-in-native") == []  # the rest was still checked


def test_every_schema_error_of_a_settings_document_in_one_lint_run(lint, cli):
    """Three mistakes in one document: lint reports the three at their lines; render
    still stops on the first it meets (exit 2), as before."""
    spec = ('  nativeSidecar: "yes"\n  proxy:\n    concurrency: many\n    resourcez: {}\n'
            '    holdApplicationUntilProxyStarts: true\n  traffic:\n    interceptionMode: BOGUS\n')
    r = lint({"profile.yaml": profile(), "mesh.yaml": settings(spec), "app.yaml": deployment()})
    assert r.where("invalid-mesh-annotation") == sorted(
        [r.at("mesh.yaml", "nativeSidecar"), r.at("mesh.yaml", "concurrency"), r.at("mesh.yaml", "resourcez"),
         r.at("mesh.yaml", "interceptionMode")])
    messages = " ".join(f["message"] for f in r.of("invalid-mesh-annotation"))
    assert "did you mean resources?" in messages and '"BOGUS" is not one of' in messages
    rendered = cli("render", str(r.root))
    assert rendered.code == 2 and rendered.out == ""
    assert rendered.err.count("error:") == 1


def test_every_schema_error_inside_a_configmap_payload(lint):
    text = """apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    defaultConfig:
      concurrency: x
      holdApplicationUntilProxyStarts: maybe
"""
    r = lint({"profile.yaml": profile(), "istio.yaml": text, "app.yaml": deployment()})
    assert r.where("invalid-mesh-annotation") == [r.at("istio.yaml", "concurrency: x"),
                                                  r.at("istio.yaml", "holdApplicationUntilProxyStarts")]


# -- unknown-mesh-annotation ------------------------------------------------------------

def test_unknown_annotation_with_a_did_you_mean(lint):
    r = lint({"app.yaml": deployment(annotations="        sidecar.istio.io/proxyCpu: 500m")})
    assert r.where("unknown-mesh-annotation") == [r.at("app.yaml", "sidecar.istio.io/proxyCpu")]
    assert "did you mean sidecar.istio.io/proxyCPU?" in r.of("unknown-mesh-annotation")[0]["message"]
    r = lint({"app.yaml": deployment(annotations='        traffic.sidecar.istio.io/excludeOutboundPort: "53"')})
    assert "did you mean traffic.sidecar.istio.io/excludeOutboundPorts?" in \
        r.of("unknown-mesh-annotation")[0]["message"]


def test_unknown_rule_in_ignore_annotation_points_at_the_rule_name(lint):
    r = lint({"app.yaml": deployment(
        annotations="        meshrender.dev/ignore: proxy-uid-conflict,proxy-uid-conflcit")})
    assert r.where("unknown-mesh-annotation") == [r.at("app.yaml", "proxy-uid-conflcit")]
    assert "did you mean proxy-uid-conflict?" in r.of("unknown-mesh-annotation")[0]["message"]


def test_known_and_foreign_annotations_are_not_reported(lint):
    anns = "\n".join(["        sidecar.istio.io/proxyCPU: 500m", "        example.com/owner: team-a",
                      "        prometheus.io/scrape: \"true\"", "        meshrender.dev/ignore: '*'",
                      "        istio.io/rev: default"])  # the injector writes it
    r = lint({"app.yaml": deployment(annotations=anns)})
    assert r.of("unknown-mesh-annotation") == []


# -- mesh-annotation-on-workload-metadata -----------------------------------------------

def test_pod_annotation_on_the_deployments_metadata(lint):
    text = deployment().replace("  namespace: shop\n", "  namespace: shop\n  annotations:\n"
                                "    sidecar.istio.io/inject: \"false\"\n    networking.istio.io/exportTo: \".\"\n", 1)
    r = lint({"app.yaml": text})
    assert r.where("mesh-annotation-on-workload-metadata") == [r.at("app.yaml", "sidecar.istio.io/inject")]
    assert "spec.template.metadata.annotations" in r.of("mesh-annotation-on-workload-metadata")[0]["message"]


def test_pod_annotations_in_the_template_are_fine(lint):
    r = lint({"app.yaml": deployment(annotations='        sidecar.istio.io/inject: "true"')})
    assert r.of("mesh-annotation-on-workload-metadata") == []


# -- deprecated-mesh-annotation ---------------------------------------------------------

DEPRECATED = "deprecated-mesh-annotation"


def test_deprecated_annotation_with_its_release_and_replacement(lint):
    r = lint({"profile.yaml": profile(mesh="1.26"),
              "app.yaml": deployment(annotations='        traffic.sidecar.istio.io/kubevirtInterfaces: "net1"')})
    assert r.where(DEPRECATED) == [r.at("app.yaml", "traffic.sidecar.istio.io/kubevirtInterfaces")]
    (f,) = r.of(DEPRECATED)
    assert "deprecated since Istio 1.25" in f["message"] and "istio.io/reroute-virtual-interfaces" in f["message"]
    assert f["severity"] == "info" and f["fixable"]


def test_not_deprecated_yet_in_the_clusters_mesh_version(lint):
    r = lint({"profile.yaml": profile(mesh="1.24"),
              "app.yaml": deployment(annotations='        traffic.sidecar.istio.io/kubevirtInterfaces: "net1"')})
    assert r.of(DEPRECATED) == []


def test_removed_annotation_is_said_to_do_nothing(lint):
    r = lint({"profile.yaml": profile(mesh="1.24"),
              "app.yaml": deployment(annotations='        sidecar.istio.io/controlPlaneAuthPolicy: NONE')})
    assert "was removed in Istio 1.24: the mesh ignores it" in r.of(DEPRECATED)[0]["message"]


def test_inject_annotation_is_deprecated_unless_the_label_is_there_too(lint):
    r = lint({"app.yaml": deployment(annotations='        sidecar.istio.io/inject: "true"')})
    assert "use the pod label sidecar.istio.io/inject" in r.of(DEPRECATED)[0]["message"]
    both = deployment(annotations='        sidecar.istio.io/inject: "true"',
                      labels='        sidecar.istio.io/inject: "true"')
    assert lint({"app.yaml": both}).of(DEPRECATED) == []


def test_fix_moves_the_inject_annotation_to_a_label_and_renames_replaced_ones(cli, tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "profile.yaml").write_text(profile(mesh="1.26"))
    anns = ('        sidecar.istio.io/inject: "true"\n'
            '        traffic.sidecar.istio.io/kubevirtInterfaces: "net1"')
    (root / "app.yaml").write_text(deployment(annotations=anns))
    (root / "maybe.yaml").write_text(deployment("maybe", annotations='        sidecar.istio.io/inject: "yes"'))
    r = cli("lint", str(root), "--fix", "--format", "json")
    assert (root / "app.yaml").read_text() == deployment(
        annotations='        istio.io/reroute-virtual-interfaces: "net1"',
        labels='        sidecar.istio.io/inject: "true"')
    # "yes" means true for the annotation but is no value the label selectors match: not mechanical
    assert "sidecar.istio.io/inject: \"yes\"" in (root / "maybe.yaml").read_text()
    left = [f["workload"] for f in json.loads(r.out)["findings"] if f["rule"] == DEPRECATED]
    assert left == ["Deployment shop/maybe"]


def test_istio_checks_apply_from_the_release_that_has_them(lint):
    # ValidateInterfaceNames arrived in Istio 1.30: before, the injector takes any value.
    bad = '        traffic.sidecar.istio.io/excludeInterfaces: "eth0,not an interface!"'
    old = lint({"profile.yaml": profile(mesh="1.29"), "app.yaml": deployment(annotations=bad)})
    assert [f for f in old.of("invalid-mesh-annotation") if "excludeInterfaces" in f["message"]] == []
    new = lint({"profile.yaml": profile(mesh="1.30"), "app.yaml": deployment(annotations=bad)})
    assert new.where("invalid-mesh-annotation") == [new.at("app.yaml", "traffic.sidecar.istio.io/excludeInterfaces")]
