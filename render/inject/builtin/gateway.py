"""Istio's `gateway` injection template (files/gateway-injection-template.yaml).

A gateway pod *is* the proxy: the user declares `istio-proxy` with `image: auto` and the
template fills it in to run `proxy router`. Unlike the sidecar template there is no
iptables init container, no probe rewriting of its own and no native-sidecar form; the
pod may bind low ports (the `net.ipv4.ip_unprivileged_port_start` sysctl) while the proxy
runs as the unprivileged proxy user.

Where the chart's current template differs from older copies (no JWT_POLICY env, the
CPU/memory limit envs, `istio.io/rev` as an annotation, the pod sysctl), this follows the
output of `istioctl kube-inject` in Istio's injection test corpus.
"""

from __future__ import annotations

from typing import Any

from meshrender.inject import proxyconfig
from meshrender.inject.gotext import sprint, truthy, value_or_default
from meshrender.inject.template import (
    PROXY,
    TemplateData,
    app_containers,
    canonical_labels,
    certs_mount,
    certs_volume,
    compliance_env,
    control_plane_env,
    default_container_annotations,
    env_var,
    field_env,
    identity_env,
    identity_mounts,
    identity_volumes,
    image_for,
    image_pull_secrets,
    limit_envs,
    metadata_env,
    owner_env,
    pod_ports,
    proxy_args,
    readiness_probe,
)

BOOTSTRAP = "sidecar.istio.io/bootstrapOverride"


def _default_container(d: TemplateData) -> dict[str, str]:
    if d.has("gateway-default-container-unless-set"):
        return default_container_annotations(d)
    apps = app_containers(d.spec)  # before: both, and only for exactly one app container
    if len(apps) != 1:
        return {}
    return {"kubectl.kubernetes.io/default-logs-container": apps[0], "kubectl.kubernetes.io/default-container": apps[0]}


def _metadata(d: TemplateData) -> dict:
    return {
        "labels": canonical_labels(d),
        "annotations": {"istio.io/rev": d.revision or "default", **_default_container(d)},
    }


def _bootstrap(d: TemplateData) -> bool:
    return BOOTSTRAP in d.annotations and d.has("gateway-bootstrap-override")


def _env(d: TemplateData) -> list[dict]:
    env = control_plane_env(d)
    cpu, memory = limit_envs(d)
    env += cpu
    env += [
        {"name": "PROXY_CONFIG", "value": proxyconfig.to_json(d.proxy) + "\n"},
        {"name": "ISTIO_META_POD_PORTS", "value": pod_ports(d.spec)},
        *memory,
        *compliance_env(d),
        env_var("ISTIO_META_APP_CONTAINERS", ",".join(app_containers(d.spec))),
        {"name": "ISTIO_META_CLUSTER_ID",
         "value": sprint(value_or_default(d.value("global.multiCluster.clusterName"), "Kubernetes"))},
        field_env("ISTIO_META_NODE_NAME", "spec.nodeName"),
        {"name": "ISTIO_META_INTERCEPTION_MODE", "value": proxyconfig.interception_mode(d.proxy)},
    ]
    if truthy(d.value("global.network")):
        env.append({"name": "ISTIO_META_NETWORK", "value": sprint(d.value("global.network"))})
    env += owner_env(d, d.deploy_name)
    if _bootstrap(d):
        env.append({"name": "ISTIO_BOOTSTRAP_OVERRIDE", "value": "/etc/istio/custom-bootstrap/custom_bootstrap.json"})
    env += identity_env(d)
    env += metadata_env(d)
    return env


def _volume_mounts(d: TemplateData) -> list[dict]:
    mounts = [
        {"name": "workload-socket", "mountPath": "/var/run/secrets/workload-spiffe-uds"},
        {"name": "credential-socket", "mountPath": "/var/run/secrets/credential-uds"},
        certs_mount(d),
    ]
    if d.value("global.pilotCertProvider") == "istiod":
        mounts.append({"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"})
    mounts.append({"mountPath": "/var/lib/istio/data", "name": "istio-data"})
    if _bootstrap(d):
        mounts.append({"mountPath": "/etc/istio/custom-bootstrap", "name": "custom-bootstrap-volume"})
    mounts.append({"mountPath": "/etc/istio/proxy", "name": "istio-envoy"})
    return mounts + identity_mounts(d)


def _volumes(d: TemplateData) -> list[dict]:
    socket = {"name": "workload-socket"}
    if not d.has("gateway-workload-socket-no-empty-dir"):
        socket = {"emptyDir": {}, "name": "workload-socket"}
    bootstrap = []
    if _bootstrap(d):
        bootstrap = [{"name": "custom-bootstrap-volume", "configMap": {"name": d.annotations[BOOTSTRAP]}}]
    return [
        socket,
        {"emptyDir": {}, "name": "credential-socket"},
        certs_volume(d, empty_dir=True),
        *bootstrap,
        {"emptyDir": {"medium": "Memory"}, "name": "istio-envoy"},
        {"name": "istio-data", "emptyDir": {}},
        *identity_volumes(d, crl=False),
    ]


def _image(d: TemplateData) -> str:
    if d.has("gateway-proxy-image-annotation"):
        return image_for(d, "global.proxy.image")
    # Before 1.23 only a registry in the values' image let the annotation be used.
    if "/" in sprint(d.value("global.proxy.image")):
        return d.anno("sidecar.istio.io/proxyImage", d.value("global.proxy.image"))
    return d.proxy_image


def _proxy(d: TemplateData) -> dict:
    c: dict[str, Any] = {"name": PROXY, "image": _image(d)}
    c["ports"] = [{"containerPort": 15090, "protocol": "TCP", "name": "http-envoy-prom"}]
    c["args"] = proxy_args(d, "router")
    lifecycle = d.value("global.proxy.lifecycle")
    if truthy(lifecycle):
        c["lifecycle"] = lifecycle
    c["env"] = _env(d)
    pull = d.value("global.imagePullPolicy")
    if truthy(pull):
        c["imagePullPolicy"] = pull
    c["readinessProbe"] = readiness_probe(d, 15021, annotations=False)
    c["securityContext"] = {"runAsUser": d.proxy_uid or 1337, "runAsGroup": d.proxy_gid or 1337}
    c["volumeMounts"] = _volume_mounts(d)
    return c


def render(d: TemplateData) -> dict:
    """The `gateway` template: a partial Pod."""
    spec: dict[str, Any] = {"containers": [_proxy(d)], "volumes": _volumes(d)}
    secrets = image_pull_secrets(d)
    if secrets:
        spec["imagePullSecrets"] = secrets
    custom = d.value("gateways.securityContext") if d.has("gateway-security-context-values") else None
    spec["securityContext"] = custom if truthy(custom) else {
        "sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]}
    return {"metadata": _metadata(d), "spec": spec}
