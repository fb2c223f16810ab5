"""Proxy and istio-init requests above their limits (policies/resources.py)."""

from __future__ import annotations

from tests.lintkit import deployment, settings

# -- proxy-resources-request-exceeds-limit ----------------------------------------------

def test_request_from_namespace_settings_above_global_limit(lint):
    r = lint({"global.yaml": settings("  proxy:\n    resources:\n      limits: {cpu: \"1\", memory: 1Gi}\n"),
              "shop.yaml": settings("  proxy:\n    resources:\n      requests: {cpu: 1500m}\n", "shop", "shop"),
              "app.yaml": deployment()})
    assert r.where("proxy-resources-request-exceeds-limit") == [r.at("shop.yaml", "cpu")]
    message = r.of("proxy-resources-request-exceeds-limit")[0]["message"]
    assert "1500m" in message and "SidecarProxySettings global" in message


def test_request_above_limit_in_annotations(lint):
    anns = "        sidecar.istio.io/proxyCPU: \"3\"\n        sidecar.istio.io/proxyCPULimit: \"2\""
    r = lint({"app.yaml": deployment(annotations=anns)})
    assert r.where("proxy-resources-request-exceeds-limit") == [r.at("app.yaml", "sidecar.istio.io/proxyCPU:")]


def test_init_request_above_limit(lint):
    r = lint({"global.yaml": settings("  init:\n    resources:\n      requests: {memory: 1Gi}\n"
                                      "      limits: {memory: 512Mi}\n"), "app.yaml": deployment()})
    assert r.where("proxy-resources-request-exceeds-limit") == [r.at("global.yaml", "memory: 1Gi")]
    assert r.of("proxy-resources-request-exceeds-limit")[0]["message"].startswith("istio-init")


def test_annotations_replace_the_settings_block_so_no_conflict(lint):
    # The template takes requests and limits from annotations only once any is set.
    r = lint({"global.yaml": settings("  proxy:\n    resources:\n      limits: {cpu: \"1\"}\n"),
              "app.yaml": deployment(annotations='        sidecar.istio.io/proxyCPU: "2"')})
    assert r.of("proxy-resources-request-exceeds-limit") == []
