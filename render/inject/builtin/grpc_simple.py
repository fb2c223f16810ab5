"""Istio's `grpc-simple` injection template (files/grpc-simple.yaml).

Proxyless gRPC without an agent: an init container writes an xDS bootstrap file that
points the application's gRPC library at istiod, and every container gets the env and
mount to find it. Nothing else is injected: no proxy, no iptables, no certificates.
"""

from __future__ import annotations

from meshrender.inject.gotext import sprint
from meshrender.inject.template import TemplateData, field_env

BOOTSTRAP_VOLUME = "grpc-io-proxyless-bootstrap"
BOOTSTRAP_DIR = "/var/lib/grpc/data/"
# The shell script is the template's, verbatim: it is what the init container runs.
BOOTSTRAP_SCRIPT = """NODE_ID="sidecar~${INSTANCE_IP}~${POD_NAME}.${POD_NAMESPACE}~cluster.local"
SERVER_URI="dns:///istiod.${ISTIO_NAMESPACE}.svc:15010"
echo '
{
  "xds_servers": [
    {
      "server_uri": "'${SERVER_URI}'",
      "channel_creds": [{"type": "insecure"}],
      "server_features" : ["xds_v3"]
    }
  ],
  "node": {
    "id": "'${NODE_ID}'",
    "metadata": {
      "GENERATOR": "grpc"
    }
  }
}' > /var/lib/grpc/data/bootstrap.json"""


def _init_container(d: TemplateData) -> dict:
    return {
        "name": "grpc-bootstrap-init",
        "image": "busybox:1.28",
        "volumeMounts": [{"mountPath": BOOTSTRAP_DIR, "name": BOOTSTRAP_VOLUME}],
        "env": [
            field_env("INSTANCE_IP", "status.podIP"),
            field_env("POD_NAME", "metadata.name"),
            field_env("POD_NAMESPACE", "metadata.namespace"),
            # A block scalar in the template: the value keeps its trailing newline.
            {"name": "ISTIO_NAMESPACE", "value": sprint(d.value("global.istioNamespace")) + "\n"},
        ],
        "command": ["sh", "-c", BOOTSTRAP_SCRIPT],
    }


def _app_container(name: str) -> dict:
    return {
        "name": name,
        "env": [
            {"name": "GRPC_XDS_BOOTSTRAP", "value": BOOTSTRAP_DIR + "bootstrap.json"},
            {"name": "GRPC_GO_LOG_VERBOSITY_LEVEL", "value": "99"},
            {"name": "GRPC_GO_LOG_SEVERITY_LEVEL", "value": "info"},
        ],
        "volumeMounts": [{"mountPath": BOOTSTRAP_DIR, "name": BOOTSTRAP_VOLUME}],
    }


def render(d: TemplateData) -> dict:
    """The `grpc-simple` template: a partial Pod."""
    containers = [_app_container(c.get("name")) for c in d.spec.get("containers") or []]
    return {
        "metadata": {"annotations": {"sidecar.istio.io/rewriteAppHTTPProbers": "false"}},
        "spec": {
            "initContainers": [_init_container(d)],
            "containers": containers,
            "volumes": [{"name": BOOTSTRAP_VOLUME, "emptyDir": {}}],
        },
    }
