"""Istio's `sidecar` injection template, as Python.

Each branch here mirrors a branch of Istio's `injection-template.yaml`
(manifests/charts/istio-control/istio-discovery/files/) as of the release the
conformance corpus was produced with. The result is a partial Pod that the injector
lays over the user's pod with a strategic merge patch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from meshrender.inject import proxyconfig
from meshrender.inject.gotext import annotation, lookup, sprint, truthy, value_or_default
from meshrender.inject.release import Release, newest
from meshrender.inject.sidecar_cache import Slot
from meshrender.kube.quantity import canonical_resources

PROXY = "istio-proxy"
RES_ANNOTATIONS = (
    "sidecar.istio.io/proxyCPU",
    "sidecar.istio.io/proxyMemory",
    "sidecar.istio.io/proxyCPULimit",
    "sidecar.istio.io/proxyMemoryLimit",
)


@dataclass
class TemplateData:
    """The template's inputs (Istio's SidecarTemplateData)."""

    annotations: dict[str, str]
    labels: dict[str, str]
    spec: dict[str, Any]
    proxy: dict[str, Any]
    values: dict[str, Any]
    mesh: dict[str, Any]
    native: bool
    api_version: str
    kind: str
    deploy_name: str
    deploy_namespace: str
    proxy_image: str
    revision: str
    compliance_policy: str = ""
    proxy_uid: int = 1337
    proxy_gid: int = 1337
    # The mesh release whose templates these are (render/data/istio-releases.yaml).
    release: Release = field(default_factory=newest)
    # istio-init's image when values name none with a registry (Istio's ProxyInitImage,
    # from 1.31; "" before, when istio-init took the proxy's image).
    proxy_init_image: str = ""
    # Rendering once for many pods (render/inject/sidecar_cache.py): the pod's labels, spec,
    # name, namespace and kind are not known, and may be read only in the pod_* parts.
    static: bool = False

    def pod_value(self, fn: Callable[[TemplateData], Any]) -> Any:
        """A value that depends on the pod: `fn(self)`, or a slot in a static render."""
        return Slot(fn) if self.static else fn(self)

    def pod_items(self, fn: Callable[[TemplateData], list]) -> list:
        """List items that depend on the pod (`fn(self)`, a list), to add to a list."""
        return [Slot(fn, many=True)] if self.static else fn(self)

    def pod_entries(self, fn: Callable[[TemplateData], dict]) -> dict:
        """Map entries that depend on the pod (`fn(self)`, a map), to add to a map."""
        if self.static:
            slot = Slot(fn, many=True)
            return {slot: slot}
        return fn(self)

    def value(self, dotted: str, default: Any = None) -> Any:
        return lookup(self.values, dotted, default)

    def has(self, change: str) -> bool:
        """Whether the release rendered for has `change` (a name of the release table)."""
        return self.release.has(change)

    def anno(self, name: str, default: Any) -> str:
        return annotation(self.annotations, name, default)

    @property
    def interception_mode(self) -> str:
        return self.anno("sidecar.istio.io/interceptionMode", proxyconfig.interception_mode(self.proxy))

    @property
    def status_port(self) -> str:
        return self.anno("status.sidecar.istio.io/port", self.value("global.proxy.statusPort"))

    @property
    def cni(self) -> bool:
        if truthy(self.value("pilot.cni.enabled")):
            return True
        return self.has("istio-cni-legacy-values") and truthy(self.value("istio_cni.enabled"))

    @property
    def multus(self) -> bool:
        """Whether the CNI plugin is chained through Multus (the network annotation)."""
        if self.value("pilot.cni.provider") == "multus":
            return True
        if not self.has("istio-cni-legacy-values"):
            return False
        return self.value("istio_cni.provider") == "multus" or not truthy(self.value("istio_cni.chained"))

    @property
    def tproxy(self) -> bool:
        return self.interception_mode == "TPROXY"


def exclude_inbound_port(port: Any, excluded: str) -> str:
    """Istio's `excludeInboundPort`: add the status port to the excluded list once."""
    port_str = sprint(port).strip()
    if not port_str or port_str == "0":
        return excluded
    ports = excluded.split(",")
    out = []
    for p in ports:
        if p == port_str:
            return excluded
        p = p.strip()
        if p:
            out.append(p)
    out.append(port_str)
    return ",".join(out)


def append_multus_network(existing: str, network: str, namespaced: bool = True) -> str:
    """Istio's appendMultusNetwork: add `network` (namespace/name) to the pod's Multus
    networks annotation, unless it is there. A JSON list gets an object; from Istio 1.26
    (and 1.23.6, 1.24.4, 1.25.1: `namespaced`) the object splits namespace and name and
    matches on both, before it carried "namespace/name" as the name."""
    if not existing:
        return network
    i = existing.rfind("]")
    if i != -1:
        try:
            nets = json.loads(existing)
        except ValueError:
            return existing
        nets = [] if nets is None else nets
        # Go unmarshals into []map[string]any: anything else is an error, and the value is kept.
        if not isinstance(nets, list) or not all(n is None or isinstance(n, dict) for n in nets):
            return existing
        ns, _, name = network.rpartition("/")
        if not namespaced:
            ns, name = "", network
        for n in nets:
            if not n or n.get("name") != name:
                continue
            have = n.get("namespace")
            if (not namespaced) or ("" if have is None else have) == ns:
                return existing
        entry = f'{{"name": "{name}", "namespace": "{ns}"}}' if ns else f'{{"name": "{name}"}}'
        return existing[:i] + ", " + entry + existing[i:]
    if any(n.strip() == network for n in existing.split(",")):
        return existing
    return existing + ", " + network


def app_containers(spec: dict) -> list[str]:
    return [c.get("name") for c in spec.get("containers") or [] if c.get("name") != PROXY]


def resources(d: TemplateData) -> dict | None:
    """The `resources` block shared by istio-proxy and istio-init."""
    anns = d.annotations
    if any(a in anns for a in RES_ANNOTATIONS):
        out: dict[str, dict] = {}
        if "sidecar.istio.io/proxyCPU" in anns or "sidecar.istio.io/proxyMemory" in anns:
            req = out.setdefault("requests", {})
            if "sidecar.istio.io/proxyCPU" in anns:
                req["cpu"] = anns["sidecar.istio.io/proxyCPU"]
            if "sidecar.istio.io/proxyMemory" in anns:
                req["memory"] = anns["sidecar.istio.io/proxyMemory"]
        if "sidecar.istio.io/proxyCPULimit" in anns or "sidecar.istio.io/proxyMemoryLimit" in anns:
            lim = out.setdefault("limits", {})
            if "sidecar.istio.io/proxyCPULimit" in anns:
                lim["cpu"] = anns["sidecar.istio.io/proxyCPULimit"]
            if "sidecar.istio.io/proxyMemoryLimit" in anns:
                lim["memory"] = anns["sidecar.istio.io/proxyMemoryLimit"]
        return canonical_resources(out)  # type: ignore[return-value]
    res = d.value("global.proxy.resources")
    if truthy(res):
        return canonical_resources(_drop_nulls(res))  # type: ignore[return-value]
    return None


def _drop_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _drop_nulls(x) for k, x in v.items() if x is not None}
    return v


def canonical_labels(d: TemplateData) -> dict[str, str]:
    """`service.istio.io/canonical-name` and `-revision`, as every template derives them."""
    labels = d.labels
    name = (
        labels.get("service.istio.io/canonical-name")
        or labels.get("app.kubernetes.io/name")
        or labels.get("app")
        or d.deploy_name
    )
    return {
        "service.istio.io/canonical-name": (name[:63].strip("-_.") if d.has("canonical-name-trim-all")
                                            else name[:63].removesuffix("-")),
        "service.istio.io/canonical-revision": (
            labels.get("service.istio.io/canonical-revision")
            or labels.get("app.kubernetes.io/version")
            or labels.get("version")
            or "latest"
        ),
    }


def default_container_annotations(d: TemplateData) -> dict[str, str]:
    """kubectl's default container: the first app container, unless the user chose one."""
    apps = app_containers(d.spec)
    out: dict[str, str] = {}
    if apps:
        for key in ("kubectl.kubernetes.io/default-logs-container", "kubectl.kubernetes.io/default-container"):
            if key not in d.annotations:
                out[key] = apps[0]
    return out


def _tls_mode(d: TemplateData) -> str:
    return d.labels.get("security.istio.io/tlsMode") or "istio"


def _tunnel(d: TemplateData) -> str:
    return d.labels.get("networking.istio.io/tunnel") or "http"


def metadata(d: TemplateData) -> dict:
    meta_labels = {"security.istio.io/tlsMode": d.pod_value(_tls_mode)}
    if (d.proxy.get("proxyMetadata") or {}).get("ISTIO_META_ENABLE_HBONE") == "true":
        meta_labels["networking.istio.io/tunnel"] = d.pod_value(_tunnel)
    meta_labels.update(d.pod_entries(canonical_labels))
    anns: dict[str, str] = {"istio.io/rev": d.revision or "default"}
    anns.update(d.pod_entries(default_container_annotations))
    if d.cni:
        if d.multus:
            anns["k8s.v1.cni.cncf.io/networks"] = append_multus_network(
                d.annotations.get("k8s.v1.cni.cncf.io/networks", ""), "default/istio-cni",
                namespaced=d.has("multus-namespaced-network"),
            )
        anns["sidecar.istio.io/interceptionMode"] = d.interception_mode
        inc = d.anno("traffic.sidecar.istio.io/includeOutboundIPRanges", d.value("global.proxy.includeIPRanges"))
        if inc:
            anns["traffic.sidecar.istio.io/includeOutboundIPRanges"] = inc
        exc = d.anno("traffic.sidecar.istio.io/excludeOutboundIPRanges", d.value("global.proxy.excludeIPRanges"))
        if exc:
            anns["traffic.sidecar.istio.io/excludeOutboundIPRanges"] = exc
        inbound = d.anno("traffic.sidecar.istio.io/includeInboundPorts", d.value("global.proxy.includeInboundPorts"))
        if inbound or d.has("include-inbound-ports-always"):
            anns["traffic.sidecar.istio.io/includeInboundPorts"] = inbound
        anns["traffic.sidecar.istio.io/excludeInboundPorts"] = exclude_inbound_port(
            d.status_port,
            d.anno("traffic.sidecar.istio.io/excludeInboundPorts", d.value("global.proxy.excludeInboundPorts")),
        )
        for key, vkey in (
            ("traffic.sidecar.istio.io/includeOutboundPorts", "global.proxy.includeOutboundPorts"),
            ("traffic.sidecar.istio.io/excludeOutboundPorts", "global.proxy.excludeOutboundPorts"),
        ):
            if key in d.annotations or value_or_default(d.value(vkey), "") != "":
                anns[key] = d.anno(key, d.value(vkey))
        for key in (
            "traffic.sidecar.istio.io/kubevirtInterfaces",
            "istio.io/reroute-virtual-interfaces",
            "traffic.sidecar.istio.io/excludeInterfaces",
        ):
            if key == "istio.io/reroute-virtual-interfaces" and not d.has("reroute-virtual-interfaces"):
                continue
            if d.annotations.get(key):
                anns[key] = d.annotations[key]
    return {"labels": meta_labels, "annotations": anns}


def image_for(d: TemplateData, values_key: str) -> str:
    chosen = d.anno("sidecar.istio.io/proxyImage", d.value(values_key))
    if "/" in chosen:
        return chosen
    if values_key == "global.proxy_init.image" and d.has("proxy-init-image") and d.proxy_init_image:
        return d.proxy_init_image  # istio-init's own image name under the same hub and tag
    return d.proxy_image


def iptables_args(d: TemplateData) -> list[str]:
    tproxy = d.interception_mode == "TPROXY"
    anns = d.annotations
    args = [
        "istio-iptables",
        "-p", sprint(value_or_default(d.mesh.get("proxyListenPort"), "15001") or "15001"),
        "-z", sprint(value_or_default(d.mesh.get("proxyInboundListenPort"), "15006") or "15006"),
        "-u", "1337" if tproxy and d.has("tproxy-proxy-user") else sprint(d.proxy_uid or 1337),
        "-m", d.interception_mode,
        "-i", d.anno("traffic.sidecar.istio.io/includeOutboundIPRanges", d.value("global.proxy.includeIPRanges")),
        "-x", d.anno("traffic.sidecar.istio.io/excludeOutboundIPRanges", d.value("global.proxy.excludeIPRanges")),
        "-b", d.anno("traffic.sidecar.istio.io/includeInboundPorts", d.value("global.proxy.includeInboundPorts")),
        "-d",
    ]
    excluded = exclude_inbound_port(
        d.status_port,
        d.anno("traffic.sidecar.istio.io/excludeInboundPorts", d.value("global.proxy.excludeInboundPorts")),
    )
    args.append("15090,15021," + excluded if excluded else "15090,15021")
    for flag, key, vkey in (
        ("-q", "traffic.sidecar.istio.io/includeOutboundPorts", "global.proxy.includeOutboundPorts"),
        ("-o", "traffic.sidecar.istio.io/excludeOutboundPorts", "global.proxy.excludeOutboundPorts"),
    ):
        if key in anns or value_or_default(d.value(vkey), "") != "":
            args += [flag, d.anno(key, d.value(vkey))]
    reroute = "istio.io/reroute-virtual-interfaces" in anns and d.has("reroute-virtual-interfaces")
    if reroute and d.has("reroute-virtual-interfaces-precedence"):
        args += ["-k", anns["istio.io/reroute-virtual-interfaces"]]
    elif "traffic.sidecar.istio.io/kubevirtInterfaces" in anns:
        args += ["-k", anns["traffic.sidecar.istio.io/kubevirtInterfaces"]]
        if reroute:  # before the precedence fix both were passed, kubevirtInterfaces first
            args += ["-k", anns["istio.io/reroute-virtual-interfaces"]]
    elif reroute:
        args += ["-k", anns["istio.io/reroute-virtual-interfaces"]]
    if "traffic.sidecar.istio.io/excludeInterfaces" in anns:
        args += ["-c", anns["traffic.sidecar.istio.io/excludeInterfaces"]]
    args.append("--log_output_level=" + d.anno("sidecar.istio.io/agentLogLevel", d.value("global.logging.level")))
    if truthy(d.value("global.logAsJson")):
        args.append("--log_as_json")
    if d.cni:
        args += ["--run-validation", "--skip-rule-apply"]
    elif truthy(d.value("global.proxy_init.forceApplyIptables")) and d.has("force-apply-iptables"):
        args.append("--force-apply")
    if truthy(d.value("global.nativeNftables")) and d.has("native-nftables"):
        args.append("--native-nftables")
    return args


def metadata_env(d: TemplateData) -> list[dict]:
    meta = d.proxy.get("proxyMetadata") or {}
    return [env_var(k, sprint(meta[k])) for k in sorted(meta)]


def init_container(d: TemplateData) -> dict:
    tproxy = d.tproxy and d.has("tproxy-proxy-user")
    privileged = bool(truthy(d.value("global.proxy.privileged")))
    c: dict[str, Any] = {
        "name": "istio-validation" if d.cni else "istio-init",
        "image": image_for(d, "global.proxy_init.image"),
        "args": iptables_args(d),
    }
    pull = d.value("global.imagePullPolicy")
    if truthy(pull):
        c["imagePullPolicy"] = pull
    env = metadata_env(d)
    if env:
        c["env"] = env
    res = resources(d)
    if res is not None:
        c["resources"] = res
    sc: dict[str, Any] = {
        "allowPrivilegeEscalation": privileged,
        "privileged": privileged,
        "capabilities": {"drop": ["ALL"]},
    }
    if not d.cni:
        sc["capabilities"] = {"add": ["NET_ADMIN", "NET_RAW"], "drop": ["ALL"]}
        sc.update(readOnlyRootFilesystem=False, runAsGroup=0, runAsNonRoot=False, runAsUser=0)
    else:
        sc.update(
            readOnlyRootFilesystem=True,
            runAsGroup=1337 if tproxy else (d.proxy_gid or 1337),
            runAsUser=1337 if tproxy else (d.proxy_uid or 1337),
            runAsNonRoot=True,
        )
    seccomp = d.value("global.proxy.seccompProfile")
    if truthy(seccomp) and d.has("seccomp-profile"):
        sc["seccompProfile"] = seccomp
    c["securityContext"] = sc
    return c


def core_dump_container(d: TemplateData) -> dict:
    """The privileged init container that enables core dumps (Istio before 1.24)."""
    c: dict[str, Any] = {
        "name": "enable-core-dump",
        "args": ["-c", "sysctl -w kernel.core_pattern=/var/lib/istio/data/core.proxy && ulimit -c unlimited"],
        "command": ["/bin/sh"],
        "image": image_for(d, "global.proxy_init.image"),
    }
    pull = d.value("global.imagePullPolicy")
    if truthy(pull):
        c["imagePullPolicy"] = pull
    res = resources(d)
    if res is not None:
        c["resources"] = res
    c["securityContext"] = {
        "allowPrivilegeEscalation": True,
        "capabilities": {"add": ["SYS_ADMIN"], "drop": ["ALL"]},
        "privileged": True,
        "readOnlyRootFilesystem": False,
        "runAsGroup": 0,
        "runAsNonRoot": False,
        "runAsUser": 0,
    }
    return c


def core_dump(d: TemplateData) -> bool:
    """sidecar.istio.io/enableCoreDump (or the value), where the release still has it."""
    return d.has("core-dump-annotation") and d.anno(
        "sidecar.istio.io/enableCoreDump", d.value("global.proxy.enableCoreDump")) == "true"


def field_env(name: str, path: str) -> dict:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def resource_env(name: str, resource: str, d: TemplateData | None = None) -> dict:
    """An env from the proxy's resources. Istio 1.29 writes divisor "1"; before, the
    template named none, which the API writes as the zero quantity "0"."""
    divisor = "1" if d is None or d.has("resource-field-divisor") else "0"
    return {"name": name, "valueFrom": {"resourceFieldRef": {"divisor": divisor, "resource": resource}}}


def limit_envs(d: TemplateData) -> tuple[list[dict], list[dict]]:
    """(ISTIO_CPU_LIMIT,) and (GOMEMLIMIT, GOMAXPROCS until 1.32) as the release writes them."""
    after = [resource_env("GOMEMLIMIT", "limits.memory", d)]
    if d.has("gomaxprocs-env"):
        after.append(resource_env("GOMAXPROCS", "limits.cpu", d))
    return [resource_env("ISTIO_CPU_LIMIT", "limits.cpu", d)], after


def compliance_env(d: TemplateData) -> list[dict]:
    """COMPLIANCE_POLICY (istiod's), and from 1.31 GODEBUG for fips-140-3."""
    if not d.compliance_policy:
        return []
    env = [{"name": "COMPLIANCE_POLICY", "value": d.compliance_policy}]
    if d.compliance_policy == "fips-140-3" and d.has("fips-140-3-godebug"):
        env.append({"name": "GODEBUG", "value": "fips140=only"})
    return env


def pod_ports(spec: dict) -> str:
    out = "["
    first = True
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            out += "\n    " + ("" if first else ",") + _port_json(p)
            first = False
    return out + "\n]"


def _port_json(p: dict) -> str:
    obj: dict[str, Any] = {}
    if p.get("name"):
        obj["name"] = p["name"]
    if p.get("hostPort"):
        obj["hostPort"] = p["hostPort"]
    obj["containerPort"] = p.get("containerPort", 0)
    if p.get("protocol"):
        obj["protocol"] = p["protocol"]
    if p.get("hostIP"):
        obj["hostIP"] = p["hostIP"]
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _pod_ports_env(d: TemplateData) -> dict:
    return {"name": "ISTIO_META_POD_PORTS", "value": pod_ports(d.spec)}


def _app_containers_env(d: TemplateData) -> dict:
    return env_var("ISTIO_META_APP_CONTAINERS", ",".join(app_containers(d.spec)))


def ca_address(d: TemplateData) -> str:
    """`CA_ADDR`: values.global.caAddress, else the revision's istiod."""
    ca_addr = d.value("global.caAddress")
    if truthy(ca_addr):
        return sprint(ca_addr)
    revision = d.value("revision") or ""
    return "istiod" + (f"-{revision}" if revision else "") + f".{sprint(d.value('global.istioNamespace'))}.svc:15012"


def control_plane_env(d: TemplateData) -> list[dict]:
    """The env block every proxy template starts with: CA, pod identity, node addresses."""
    return [
        {"name": "PILOT_CERT_PROVIDER", "value": sprint(d.value("global.pilotCertProvider"))},
        {"name": "CA_ADDR", "value": ca_address(d)},
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_NAMESPACE", "metadata.namespace"),
        field_env("INSTANCE_IP", "status.podIP"),
        field_env("SERVICE_ACCOUNT", "spec.serviceAccountName"),
        field_env("HOST_IP", "status.hostIP"),
    ]


def owner_env(d: TemplateData, workload: str) -> list[dict]:
    """`ISTIO_META_WORKLOAD_NAME` and `ISTIO_META_OWNER` (the owning controller)."""
    env = []
    if workload:
        env.append({"name": "ISTIO_META_WORKLOAD_NAME", "value": workload})
    if d.api_version and d.deploy_name:
        env.append({
            "name": "ISTIO_META_OWNER",
            "value": f"kubernetes://apis/{d.api_version}/namespaces/{d.deploy_namespace or 'default'}/"
                     f"{d.kind.lower()}s/{d.deploy_name}",
        })
    return env


def identity_env(d: TemplateData) -> list[dict]:
    """`ISTIO_META_MESH_ID` (mesh ID, else trust domain) and `TRUST_DOMAIN`."""
    env = []
    trust_domain = value_or_default(d.mesh.get("trustDomain"), d.value("global.trustDomain"))
    mesh_id = d.value("global.meshID")
    if truthy(mesh_id):
        env.append({"name": "ISTIO_META_MESH_ID", "value": sprint(mesh_id)})
    elif truthy(trust_domain):
        env.append({"name": "ISTIO_META_MESH_ID", "value": sprint(trust_domain)})
    if truthy(trust_domain):
        env.append({"name": "TRUST_DOMAIN", "value": sprint(trust_domain)})
    return env


def proxy_env(d: TemplateData) -> list[dict]:
    env: list[dict] = []
    if (d.mesh.get("inboundTrafficPolicy") or {}).get("mode") == "LOCALHOST":
        env.append({"name": "REWRITE_PROBE_LEGACY_LOCALHOST_DESTINATION", "value": "true"})
    env += control_plane_env(d)
    cpu, memory = limit_envs(d)
    env += cpu
    env += [
        {"name": "PROXY_CONFIG", "value": proxyconfig.to_json(d.proxy) + "\n"},
        d.pod_value(_pod_ports_env),
        d.pod_value(_app_containers_env),
    ]
    env += memory
    env += compliance_env(d)
    env += [
        {"name": "ISTIO_META_CLUSTER_ID",
         "value": sprint(value_or_default(d.value("global.multiCluster.clusterName"), "Kubernetes"))},
        field_env("ISTIO_META_NODE_NAME", "spec.nodeName"),
        {"name": "ISTIO_META_INTERCEPTION_MODE",
         "value": d.annotations.get("sidecar.istio.io/interceptionMode") or proxyconfig.interception_mode(d.proxy)},
    ]
    env += d.pod_items(_sidecar_owner_env)
    if "sidecar.istio.io/bootstrapOverride" in d.annotations:
        env.append({"name": "ISTIO_BOOTSTRAP_OVERRIDE", "value": "/etc/istio/custom-bootstrap/custom_bootstrap.json"})
    env += identity_env(d)
    if d.has("otel-resource-attributes"):
        env += d.pod_items(_otel_env)
    if d.value("global.proxy.tracer") == "datadog" and "apm.datadoghq.com/env" in d.annotations:
        try:
            dd = json.loads(d.annotations["apm.datadoghq.com/env"])
        except ValueError:
            dd = {}
        if isinstance(dd, dict):
            env += [{"name": k, "value": sprint(dd[k])} for k in sorted(dd)]
    env += metadata_env(d)
    return env


def _sidecar_owner_env(d: TemplateData) -> list[dict]:
    if d.has("workload-name-label"):
        return owner_env(d, d.labels.get("service.istio.io/workload-name") or d.deploy_name)
    return owner_env(d, d.deploy_name)


def _otel_env(d: TemplateData) -> list[dict]:
    otel = _otel_resource_attributes(d)
    return [{"name": "OTEL_RESOURCE_ATTRIBUTES", "value": otel}] if otel else []


def env_var(name: str, value: str) -> dict:
    """An EnvVar as Go writes it: an empty value is omitted."""
    return {"name": name, "value": value} if value != "" else {"name": name}


def _otel_resource_attributes(d: TemplateData) -> str:
    """OpenTelemetry semantic-convention attributes, when a provider asks for them."""
    wanted = any(
        isinstance(p, dict) and isinstance(p.get("opentelemetry"), dict)
        and p["opentelemetry"].get("serviceAttributeEnrichment") == "OTEL_SEMANTIC_CONVENTIONS"
        for p in d.mesh.get("extensionProviders") or []
    )
    if not wanted:
        return ""
    ns = d.deploy_namespace or "default"
    version = (d.labels.get("service.istio.io/canonical-revision")
               or d.labels.get("app.kubernetes.io/version") or d.labels.get("version") or "latest")
    apps = app_containers(d.spec)
    container = apps[0] if apps else PROXY
    return f"service.namespace={ns},service.version={version},service.instance.id={ns}.$(POD_NAME).{container}"


def _lifecycle(d: TemplateData, hold: bool) -> dict | None:
    configured = d.value("global.proxy.lifecycle")
    if truthy(configured):
        return configured
    if hold:
        return {"postStart": {"exec": {"command": ["pilot-agent", "wait"]}}}
    if d.native:
        return {
            "preStop": {
                "exec": {
                    "command": ["pilot-agent", "request", f"--debug-port={d.status_port}", "POST", "drain"]
                }
            }
        }
    return None


def _int_or_str(s: str) -> Any:
    try:
        return int(s)
    except ValueError:
        return s


def readiness_probe(d: TemplateData, port: int, annotations: bool = True) -> dict:
    """The proxy's readiness probe; the `readiness.status.sidecar.istio.io/*` annotations
    override the values when `annotations` (the gateway template reads values only)."""

    def setting(name: str, key: str) -> Any:
        value = d.value(f"global.proxy.{key}")
        if annotations:
            return _int_or_str(d.anno(f"readiness.status.sidecar.istio.io/{name}", value))
        return _int_or_str(sprint(value))

    probe = {
        "httpGet": {"path": "/healthz/ready", "port": port},
        "initialDelaySeconds": setting("initialDelaySeconds", "readinessInitialDelaySeconds"),
        "periodSeconds": setting("periodSeconds", "readinessPeriodSeconds"),
        "timeoutSeconds": 3,
        "failureThreshold": setting("failureThreshold", "readinessFailureThreshold"),
    }
    return {k: v for k, v in probe.items() if v not in (0, "0")}


def proxy_args(d: TemplateData, role: str) -> list[str]:
    """`pilot-agent proxy <role>` and the log settings every proxy template passes."""
    args = [
        "proxy", role, "--domain",
        f"$(POD_NAMESPACE).svc.{sprint(d.value('global.proxy.clusterDomain'))}",
        "--proxyLogLevel=" + d.anno("sidecar.istio.io/logLevel", d.value("global.proxy.logLevel")),
        "--proxyComponentLogLevel="
        + d.anno("sidecar.istio.io/componentLogLevel", d.value("global.proxy.componentLogLevel")),
        "--log_output_level=" + d.anno("sidecar.istio.io/agentLogLevel", d.value("global.logging.level")),
    ]
    if truthy(d.value("global.sts.servicePort")):
        args.append(f"--stsPort={sprint(d.value('global.sts.servicePort'))}")
    if truthy(d.value("global.logAsJson")):
        args.append("--log_as_json")
    return args


def proxy_container(d: TemplateData, hold: bool) -> dict:
    c: dict[str, Any] = {"name": PROXY, "image": image_for(d, "global.proxy.image")}
    if d.native:
        c["restartPolicy"] = "Always"
    c["ports"] = [{"containerPort": 15090, "protocol": "TCP", "name": "http-envoy-prom"}]
    args = proxy_args(d, "sidecar")
    if truthy(d.value("global.proxy.outlierLogPath")) and d.has("outlier-log-path"):
        args.append(f"--outlierLogPath={d.value('global.proxy.outlierLogPath')}")
    c["args"] = args
    lifecycle = _lifecycle(d, hold)
    if lifecycle is not None:
        c["lifecycle"] = lifecycle
    c["env"] = proxy_env(d)
    pull = d.value("global.imagePullPolicy")
    if truthy(pull):
        c["imagePullPolicy"] = pull
    if d.status_port != "0":
        c["readinessProbe"] = readiness_probe(d, 15021)
        if truthy(d.value("global.proxy.startupProbe.enabled")):
            c["startupProbe"] = {
                "httpGet": {"path": "/healthz/ready", "port": 15021},
                "periodSeconds": 1,
                "timeoutSeconds": 3,
                "failureThreshold": d.value("global.proxy.startupProbe.failureThreshold"),
            }
    c["securityContext"] = _proxy_security_context(d)
    res = resources(d)
    if res is not None:
        c["resources"] = res
    c["volumeMounts"] = _volume_mounts(d)
    return c


def _proxy_security_context(d: TemplateData) -> dict:
    mode = d.interception_mode
    writable = core_dump(d)
    if (d.proxy.get("proxyMetadata") or {}).get("IPTABLES_TRACE_LOGGING") == "true" and mode == "TPROXY":
        return {
            "allowPrivilegeEscalation": True,
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
            "privileged": True,
            "readOnlyRootFilesystem": not writable,
            "runAsGroup": d.proxy_gid or 1337,
            "runAsNonRoot": False,
            "runAsUser": 0,
        }
    privileged = bool(truthy(d.value("global.proxy.privileged")))
    net_bind = d.anno("sidecar.istio.io/capNetBindService", d.value("global.proxy.capNetBindService")) == "true"
    caps: dict[str, list[str]] = {}
    add = []
    if mode == "TPROXY":
        add.append("NET_ADMIN")
    if net_bind:
        add.append("NET_BIND_SERVICE")
    if add:
        caps["add"] = add
    caps["drop"] = ["ALL"]
    sc: dict[str, Any] = {
        "allowPrivilegeEscalation": privileged,
        "capabilities": caps,
        "privileged": privileged,
        "readOnlyRootFilesystem": not writable,
        "runAsGroup": d.proxy_gid or 1337,
    }
    if mode == "TPROXY" or net_bind:
        sc.update(runAsNonRoot=False, runAsUser=0)
        if d.has("tproxy-proxy-user"):
            sc["runAsGroup"] = 1337
    else:
        sc.update(runAsNonRoot=True, runAsUser=d.proxy_uid or 1337)
    seccomp = d.value("global.proxy.seccompProfile")
    if truthy(seccomp) and d.has("seccomp-profile"):
        sc["seccompProfile"] = seccomp
    return sc


def user_volumes(d: TemplateData, annotation_name: str) -> list[dict]:
    raw = d.annotations.get(annotation_name)
    if raw is None:
        return []
    try:
        parsed = json.loads(raw)
    except ValueError:
        return []
    if not isinstance(parsed, dict):
        return []
    out = []
    for name in sorted(parsed):
        spec = parsed[name] if isinstance(parsed[name], dict) else {}
        out.append({"name": name, **spec})
    return out


def certs_mount(d: TemplateData) -> dict:
    """Where the workload certificates are mounted (GKE's CSI driver, else an emptyDir)."""
    if d.value("global.caName") == "GkeWorkloadCertificate":
        return {"name": "gke-workload-certificate",
                "mountPath": "/var/run/secrets/workload-spiffe-credentials", "readOnly": True}
    return {"name": "workload-certs", "mountPath": "/var/run/secrets/workload-spiffe-credentials"}


def certs_volume(d: TemplateData, empty_dir: bool = False) -> dict:
    """The workload certificates volume; `empty_dir` spells out `emptyDir: {}` (the
    gateway template does, the others leave the volume source empty)."""
    if d.value("global.caName") == "GkeWorkloadCertificate":
        return {"name": "gke-workload-certificate",
                "csi": {"driver": "workloadcertificates.security.cloud.google.com"}}
    return {"emptyDir": {}, "name": "workload-certs"} if empty_dir else {"name": "workload-certs"}


def identity_mounts(d: TemplateData) -> list[dict]:
    """The istiod token, legacy mTLS certs and pod info mounts every proxy template ends with."""
    mounts = []
    if d.value("global.jwtPolicy") == "third-party-jwt":
        mounts.append({"mountPath": "/var/run/secrets/tokens", "name": "istio-token"})
    if truthy(d.value("global.mountMtlsCerts")):
        mounts.append({"mountPath": "/etc/certs/", "name": "istio-certs", "readOnly": True})
    mounts.append({"name": "istio-podinfo", "mountPath": "/etc/istio/pod"})
    return mounts


def _volume_mounts(d: TemplateData) -> list[dict]:
    mounts = [
        {"name": "workload-socket", "mountPath": "/var/run/secrets/workload-spiffe-uds"},
        {"name": "credential-socket", "mountPath": "/var/run/secrets/credential-uds"},
        certs_mount(d),
    ]
    if d.value("global.pilotCertProvider") == "istiod":
        mounts.append({"mountPath": "/var/run/secrets/istio", "name": "istiod-ca-cert"})
        if d.has("istio-ca-crl"):
            mounts.append({"mountPath": "/var/run/secrets/istio/crl", "name": "istio-ca-crl"})
    if d.value("global.pilotCertProvider") == "kubernetes" and d.has("kube-ca-cert"):
        mounts.append({"mountPath": "/var/run/secrets/istio/kubernetes", "name": "kube-ca-cert"})
    mounts.append({"mountPath": "/var/lib/istio/data", "name": "istio-data"})
    if "sidecar.istio.io/bootstrapOverride" in d.annotations:
        mounts.append({"mountPath": "/etc/istio/custom-bootstrap", "name": "custom-bootstrap-volume"})
    mounts.append({"mountPath": "/etc/istio/proxy", "name": "istio-envoy"})
    mounts += identity_mounts(d)
    mounts += user_volumes(d, "sidecar.istio.io/userVolumeMount")
    return mounts


def volumes(d: TemplateData) -> list[dict]:
    vols: list[dict] = [{"name": "workload-socket"}, {"name": "credential-socket"}, certs_volume(d)]
    if "sidecar.istio.io/bootstrapOverride" in d.annotations:
        vols.append({"name": "custom-bootstrap-volume",
                     "configMap": {"name": d.annotations["sidecar.istio.io/bootstrapOverride"]}})
    vols.append({"emptyDir": {"medium": "Memory"}, "name": "istio-envoy"})
    vols.append({"name": "istio-data", "emptyDir": {}})
    vols += identity_volumes(d, crl=True)
    vols += user_volumes(d, "sidecar.istio.io/userVolume")
    return vols


def identity_volumes(d: TemplateData, crl: bool) -> list[dict]:
    """Pod info, the istiod token, the CA root (and CRL) and legacy mTLS certs: the
    volumes every proxy template ends with, in the templates' order."""
    vols: list[dict] = [{
        "name": "istio-podinfo",
        "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
        ]},
    }]
    if d.value("global.jwtPolicy") == "third-party-jwt":
        vols.append({"name": "istio-token", "projected": {"sources": [{"serviceAccountToken": {
            "path": "istio-token", "expirationSeconds": 43200,
            "audience": sprint(d.value("global.sds.token.aud")),
        }}]}})
    if d.value("global.pilotCertProvider") == "istiod":
        vols.append(ca_root_volume(d, indent_bug=crl))
        if crl and d.has("istio-ca-crl"):
            crl_name = "istio-ca-crl"
            if d.has("crl-configmap-name"):
                crl_name = sprint(value_or_default(d.value("pilot.crlConfigMapName"), "istio-ca-crl"))
            vols.append({"name": "istio-ca-crl", "configMap": {"name": crl_name, "optional": True}})
    if crl and d.value("global.pilotCertProvider") == "kubernetes" and d.has("kube-ca-cert"):
        vols.append({"name": "kube-ca-cert", "configMap": {"name": "kube-root-ca.crt"}})
    if truthy(d.value("global.mountMtlsCerts")):
        vols.append(d.pod_value(_mtls_certs_volume))
    return vols


def ca_root_volume(d: TemplateData, indent_bug: bool = False) -> dict:
    """istiod-ca-cert: the CA root ConfigMap, or (from 1.26, with the
    ENABLE_CLUSTER_TRUST_BUNDLE_API istiod env) a projected ClusterTrustBundle.

    `indent_bug`: the sidecar template of 1.26.0-1.26.2 put the bundle's name and path
    beside an empty clusterTrustBundle, which leaves one empty projected source."""
    bundle = d.value("global.trustBundleName") if d.has("trust-bundle-name") else None
    env = d.value("pilot.env")
    if d.has("cluster-trust-bundle") and isinstance(env, dict) and env.get("ENABLE_CLUSTER_TRUST_BUNDLE_API") is True:
        if indent_bug and not d.has("cluster-trust-bundle-indent-fix"):
            return {"name": "istiod-ca-cert", "projected": {"sources": [{}]}}
        name = f"istio.io:istiod-ca:{sprint(bundle) if truthy(bundle) else 'root-cert'}"
        return {"name": "istiod-ca-cert", "projected": {"sources": [
            {"clusterTrustBundle": {"name": name, "path": "root-cert.pem"}}]}}
    return {"name": "istiod-ca-cert", "configMap": {"name": sprint(bundle) if truthy(bundle) else "istio-ca-root-cert"}}


def _mtls_certs_volume(d: TemplateData) -> dict:
    sa = d.spec.get("serviceAccountName") or ""
    return {"name": "istio-certs", "secret": {"optional": True, "secretName": f"istio.{sa}" if sa else "istio.default"}}


def image_pull_secrets(d: TemplateData) -> list[dict] | None:
    """values.global.imagePullSecrets as the pod's `imagePullSecrets` (names or objects)."""
    secrets = d.value("global.imagePullSecrets")
    if not truthy(secrets) or not isinstance(secrets, list):
        return None
    return [s if isinstance(s, dict) else {"name": sprint(s)} for s in secrets]


def render_sidecar(d: TemplateData) -> dict:
    """The `sidecar` template: a partial Pod with metadata and spec."""
    hold = (
        proxyconfig.hold_application(d.proxy)
        or truthy(d.value("global.proxy.holdApplicationUntilProxyStarts"))
    ) and not d.native
    mode = d.interception_mode
    spec: dict[str, Any] = {}
    if mode == "NONE" and not d.native and d.has("empty-init-containers"):
        spec["initContainers"] = []
    else:
        inits = []
        if mode != "NONE":
            inits.append(init_container(d))
        if core_dump(d):
            inits.append(core_dump_container(d))
        # Before 1.26 an empty list was written as `initContainers:` (null), which the
        # strategic merge reads as "delete the pod's init containers".
        spec["initContainers"] = inits if inits or d.native else None
    proxy = proxy_container(d, hold)
    if d.native:
        spec["initContainers"].append(proxy)
    else:
        spec["containers"] = [proxy]
    spec["volumes"] = volumes(d)
    secrets = image_pull_secrets(d)
    if secrets:
        spec["imagePullSecrets"] = secrets
    return {"metadata": metadata(d), "spec": spec}
