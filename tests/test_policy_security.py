"""The proxy's UID (policies/security.py)."""

from __future__ import annotations

from tests.lintkit import deployment

# -- proxy-uid-conflict -----------------------------------------------------------------

def test_app_container_running_as_the_proxy_uid(lint):
    body = """      containers:
        - name: app
          image: registry.example.com/app:1.0
          securityContext:
            runAsUser: 1337"""
    r = lint({"app.yaml": deployment(spec=body)})
    assert r.where("proxy-uid-conflict") == [r.at("app.yaml", "runAsUser")]


def test_pod_level_uid_inherited_by_containers(lint):
    body = """      securityContext:
        runAsUser: 1337
      containers:
        - name: app
          image: registry.example.com/app:1.0
        - name: worker
          image: registry.example.com/worker:1.0
          securityContext: {runAsUser: 1000}"""
    r = lint({"app.yaml": deployment(spec=body)})
    assert r.where("proxy-uid-conflict") == [r.at("app.yaml", "runAsUser")]
    assert "container app" in r.of("proxy-uid-conflict")[0]["message"]


def test_other_uids_and_uninjected_pods_are_fine(lint):
    body = "      containers:\n        - name: app\n          image: a:1\n          securityContext: {runAsUser: 1000}"
    assert lint({"app.yaml": deployment(spec=body)}).of("proxy-uid-conflict") == []
    body = "      containers:\n        - name: app\n          image: a:1\n          securityContext: {runAsUser: 1337}"
    r = lint({"app.yaml": deployment(annotations='        sidecar.istio.io/inject: "false"', spec=body)})
    assert r.of("proxy-uid-conflict") == []
