"""Istio's `grpc-agent` injection template (files/grpc-agent.yaml).

Proxyless gRPC with the Istio agent: `istio-proxy` runs pilot-agent without Envoy
(`DISABLE_ENVOY`), serving xDS and certificates to the application over a shared
volume; each application container gets the bootstrap env and the mounts. DNS capture is
forced off (gRPC resolves `xds:///` names itself) and HTTP probes are not rewritten.

Where the chart's current template differs from older copies (readiness and metrics on
the agent's port 15020, the agent waiting for readiness on start, no JWT_POLICY env,
certificates mounted into the application), this follows the output of
`istioctl kube-inject` in Istio's injection test corpus.
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
    control_plane_env,
    default_container_annotations,
    env_var,
    field_env,
    identity_env,
    identity_mounts,
    identity_volumes,
    image_for,
    image_pull_secrets,
    metadata_env,
    owner_env,
    pod_ports,
    proxy_args,
    readiness_probe,
    resources,
    user_volumes,
)

AGENT_PORT = 15020


def _metadata(d: TemplateData) -> dict:
    # security.istio.io/tlsMode is left to the user: only they know whether the gRPC
    # application initialises mTLS.
    return {
        "labels": canonical_labels(d),
        "annotations": {
            "istio.io/rev": d.revision or "default",
            **default_container_annotations(d),
            "sidecar.istio.io/rewriteAppHTTPProbers": "false",
        },
    }


def _app_container(d: TemplateData, name: str) -> dict:
    return {
        "name": name,
        "env": [
            {"name": "GRPC_XDS_EXPERIMENTAL_SECURITY_SUPPORT", "value": "true"},
            {"name": "GRPC_XDS_BOOTSTRAP", "value": "/etc/istio/proxy/grpc-bootstrap.json"},
        ],
        "volumeMounts": [
            {"mountPath": "/var/lib/istio/data", "name": "istio-data"},
            {"mountPath": "/etc/istio/proxy", "name": "istio-xds"},
            certs_mount(d),
        ],
    }


def _env(d: TemplateData) -> list[dict]:
    env = [
        {"name": "ISTIO_META_GENERATOR", "value": "grpc"},
        {"name": "OUTPUT_CERTS", "value": "/var/lib/istio/data"},
    ]
    if (d.mesh.get("inboundTrafficPolicy") or {}).get("mode") == "LOCALHOST":
        env.append({"name": "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION", "value": "true"})
    env += control_plane_env(d)
    env += [
        {"name": "PROXY_CONFIG", "value": proxyconfig.to_json(d.proxy) + "\n"},
        {"name": "ISTIO_META_POD_PORTS", "value": pod_ports(d.spec)},
        env_var("ISTIO_META_APP_CONTAINERS", ",".join(app_containers(d.spec))),
        {"name": "ISTIO_META_CLUSTER_ID",
         "value": sprint(value_or_default(d.value("global.multiCluster.clusterName"), "Kubernetes"))},
        field_env("ISTIO_META_NODE_NAME", "spec.nodeName"),
    ]
    if truthy(d.value("global.network")):
        env.append({"name": "ISTIO_META_NETWORK", "value": sprint(d.value("global.network"))})
    env += owner_env(d, d.deploy_name)
    env += identity_env(d)
    env += metadata_env(d)
    # gRPC resolves xds:/// names itself: the agent must not capture DNS.
    env += [{"name": "ISTIO_META_DNS_CAPTURE", "value": "false"},
            {"name": "DISABLE_ENVOY", "value": "true"}]
    return env


def _volume_mounts(d: TemplateData) -> list[dict]:
    mounts = [{"name": "workload-socket", "mountPath": "/var/run/secrets/workload-spiffe-uds"}, certs_mount(d)]
    if d.value("global.pilotCertProvider") == "istiod":
        mounts.append({"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"})
    mounts.append({"mountPath": "/var/lib/istio/data", "name": "istio-data"})
    mounts.append({"mountPath": "/etc/istio/proxy", "name": "istio-xds"})
    return mounts + identity_mounts(d) + user_volumes(d, "sidecar.istio.io/userVolumeMount")


def _volumes(d: TemplateData) -> list[dict]:
    vols: list[dict] = [{"name": "workload-socket"}, certs_volume(d)]
    if "sidecar.istio.io/bootstrapOverride" in d.annotations:
        vols.append({"name": "custom-bootstrap-volume",
                     "configMap": {"name": d.annotations["sidecar.istio.io/bootstrapOverride"]}})
    vols += [
        {"emptyDir": {"medium": "Memory"}, "name": "istio-xds"},
        {"name": "istio-data", "emptyDir": {}},
    ]
    vols += identity_volumes(d, crl=False)
    vols += user_volumes(d, "sidecar.istio.io/userVolume")
    return vols


def _agent(d: TemplateData) -> dict:
    c: dict[str, Any] = {"name": PROXY, "image": image_for(d, "global.proxy.image")}
    c["ports"] = [{"containerPort": AGENT_PORT, "protocol": "TCP", "name": "mesh-metrics"}]
    c["args"] = proxy_args(d, "sidecar")
    lifecycle = d.value("global.proxy.lifecycle")
    c["lifecycle"] = lifecycle if truthy(lifecycle) else {"postStart": {"exec": {"command": [
        "pilot-agent", "wait", f"--url=http://localhost:{AGENT_PORT}/healthz/ready"]}}}
    c["env"] = _env(d)
    pull = d.value("global.imagePullPolicy")
    if truthy(pull):
        c["imagePullPolicy"] = pull
    if d.status_port != "0":
        c["readinessProbe"] = readiness_probe(d, AGENT_PORT)
    res = resources(d)
    if res is not None:
        c["resources"] = res
    c["volumeMounts"] = _volume_mounts(d)
    return c


def render(d: TemplateData) -> dict:
    """The `grpc-agent` template: a partial Pod (the agent first, then the app containers)."""
    containers = [_agent(d)] + [_app_container(d, name) for name in app_containers(d.spec)]
    spec: dict[str, Any] = {"containers": containers, "volumes": _volumes(d)}
    secrets = image_pull_secrets(d)
    if secrets:
        spec["imagePullSecrets"] = secrets
    return {"metadata": _metadata(d), "spec": spec}
