"""What a traditional sidecar breaks: Jobs that never end, init containers without network (policies/traditional.py)."""

from __future__ import annotations

import json

from tests.lintkit import deployment, job, profile

# -- job-sidecar-never-exits ------------------------------------------------------------

def test_traditional_job_points_at_the_pod_template(lint):
    r = lint({"profile.yaml": profile("1.28"), "job.yaml": job()})
    assert r.where("job-sidecar-never-exits") == [r.at("job.yaml", "metadata:", 2)]
    assert "quitquitquit" in r.of("job-sidecar-never-exits")[0]["message"]


def test_job_made_traditional_by_annotation_is_told_to_go_native(lint):
    r = lint({"profile.yaml": profile(),
              "job.yaml": job(annotations='        sidecar.istio.io/nativeSidecar: "false"')})
    assert r.where("job-sidecar-never-exits") == [r.at("job.yaml", "sidecar.istio.io/nativeSidecar")]
    assert "change pod annotation sidecar.istio.io/nativeSidecar: \\\"false\\\"" in \
        json.dumps(r.of("job-sidecar-never-exits")[0]["message"])


def test_native_jobs_and_jobs_that_stop_their_proxy_are_fine(lint):
    r = lint({"profile.yaml": profile(), "job.yaml": job()})
    assert r.of("job-sidecar-never-exits") == []
    r = lint({"profile.yaml": profile("1.28"),
              "job.yaml": job(command='[sh, -c, "run && curl -XPOST localhost:15020/quitquitquit"]')})
    assert r.of("job-sidecar-never-exits") == []


# -- init-container-without-mesh --------------------------------------------------------

INIT_BODY = """      initContainers:
        - name: fetch-config
          image: registry.example.com/fetch:1.0{sc}
      containers:
        - name: app
          image: registry.example.com/app:1.0"""


CNI_VALUES = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector, namespace: istio-system}
data:
  values: |
    istio_cni:
      enabled: true
"""


def test_init_container_under_a_traditional_sidecar_without_cni_keeps_its_network(lint):
    """Istio moves istio-init after the user's init containers in traditional mode
    (reorderPod), so they run before the redirect: nothing to report."""
    r = lint({"profile.yaml": profile("1.28"), "app.yaml": deployment(spec=INIT_BODY.format(sc=""))})
    assert r.of("init-container-without-mesh") == []


def test_init_container_under_a_traditional_sidecar_with_cni_has_no_network(lint):
    r = lint({"profile.yaml": profile("1.28"), "cni.yaml": CNI_VALUES,
              "app.yaml": deployment(spec=INIT_BODY.format(sc=""))})
    assert r.where("init-container-without-mesh") == [r.at("app.yaml", "name: fetch-config")]
    (message,) = [f["message"] for f in r.of("init-container-without-mesh")]
    assert "Istio CNI plugin" in message and "traditional istio-proxy" in message


def test_init_container_listed_before_a_native_proxy_has_no_network(lint):
    body = INIT_BODY.replace("      initContainers:", "      initContainers:\n        - name: warm-cache\n"
                                                     "          image: registry.example.com/warm:1.0").format(sc="")
    anns = '        sidecar.istio.io/init-containers-before-proxy: "fetch-config"'
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(annotations=anns, spec=body)})
    # fetch-config runs between istio-init and istio-proxy; warm-cache after the proxy
    assert r.where("init-container-without-mesh") == [r.at("app.yaml", "fetch-config", 1)]
    assert "init-containers-before-proxy" in r.of("init-container-without-mesh")[0]["message"]


def test_init_container_is_fine_as_uid_1337_in_native_mode_or_without_capture(lint):
    body = INIT_BODY.format(sc="\n          securityContext: {runAsUser: 1337}")
    r = lint({"profile.yaml": profile("1.28"), "cni.yaml": CNI_VALUES, "app.yaml": deployment(spec=body)})
    assert r.of("init-container-without-mesh") == []
    assert r.of("proxy-uid-conflict") == []  # init containers may use the proxy's UID on purpose
    r = lint({"profile.yaml": profile(), "app.yaml": deployment(spec=INIT_BODY.format(sc=""))})
    assert r.of("init-container-without-mesh") == []
    r = lint({"profile.yaml": profile("1.28"), "cni.yaml": CNI_VALUES,
              "app.yaml": deployment(annotations='        sidecar.istio.io/interceptionMode: NONE',
                                     spec=INIT_BODY.format(sc=""))})
    assert r.of("init-container-without-mesh") == []


def test_a_job_the_injector_policy_leaves_alone_is_not_reported(lint):
    """The injector config decides skips for lint as it does for render: with
    global.proxy.autoInject disabled, a Job that does not ask for injection is left alone
    (render writes it unchanged), so it cannot hang on a sidecar."""
    files = {"profile.yaml": profile("1.28"), "job.yaml": job(),
             "cm.yaml": """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector, namespace: istio-system}
data:
  values: |
    global:
      proxy:
        autoInject: disabled
"""}
    r = lint(files)
    assert r.of("job-sidecar-never-exits") == []
    (evaluated,) = r.doc["workloads"]
    assert evaluated["injected"] is False
    assert "injection policy is disabled" in evaluated["skipped"]
    r = lint({**files, "job.yaml": job(annotations='        sidecar.istio.io/inject: "true"')})
    assert [f["workload"] for f in r.of("job-sidecar-never-exits")] == ["Job shop/migrate"]
