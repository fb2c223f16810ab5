"""The native-or-traditional decision, end to end, against the contract's table.

Hypothesis generates every combination of the inputs the table reads (pod annotation,
SidecarProxySettings at global / namespace / workload scope, ASMMeshConfig, the
--native-sidecars flag, the ClusterProfile's versions and provider, the flavor), renders
through the CLI, and compares where istio-proxy ended up with an oracle written from
/work/shared/CONTRACT.md ("Native or traditional"), not from render/settings/mode.py:

  first match wins: the annotation ("true"/"false"); nativeSidecar of the most specific
  SidecarProxySettings; ASMMeshConfig.spec.enableNativeSidecar; --native-sidecars
  true|false; then auto: asm native on Kubernetes 1.30+ on ACK / ACK Serverless / ACS
  (1.29+ community) with ASM 1.22+; istio native on Kubernetes 1.33+ with Istio 1.27+;
  unknown versions: traditional.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshrender import yamlio
from tests.conftest import pod_spec, run_cli

TRISTATE = st.sampled_from([None, True, False])
VERSIONS = st.sampled_from([None, "1.28", "1.29", "1.30", "1.32", "1.33", "v1.34.1"])
MESH = st.sampled_from([None, "1.22", "1.26", "1.27", "1.28"])  # older: exit 2 (test_releases.py)


def _v(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    major, minor = text.lstrip("v").split(".")[:2]
    return int(major), int(minor)


def oracle(c: dict) -> bool:
    if c["annotation"] is not None:
        return c["annotation"] == "true"
    for scope in ("workload", "namespace", "global"):
        if c[scope] is not None:
            return c[scope]
    if c["asm"] is not None:
        return c["asm"]
    if c["flag"] != "auto":
        return c["flag"] == "true"
    kube, mesh = _v(c["kube"]), _v(c["mesh"])
    if kube is None or mesh is None:
        return False
    if c["flavor"] == "istio":
        return kube >= (1, 33) and mesh >= (1, 27)
    min_kube = (1, 29) if c["provider"] == "community" else (1, 30)
    return kube >= min_kube and mesh >= (1, 22)


CASES = st.fixed_dictionaries({
    "annotation": st.sampled_from([None, "true", "false"]),
    "workload": TRISTATE, "namespace": TRISTATE, "global": TRISTATE, "asm": TRISTATE,
    "flag": st.sampled_from(["auto", "true", "false"]),
    "kube": VERSIONS, "mesh": MESH,
    "provider": st.sampled_from([None, "ack", "ack-serverless", "acs", "community"]),
    "flavor": st.sampled_from(["asm", "istio"]),
    "kube_from_flag": st.booleans(),
})


def _sps(name: str, native: bool, namespace: str | None = None, selector: bool = False) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    spec: dict = {"nativeSidecar": native}
    if selector:
        spec["selector"] = {"matchLabels": {"app": "web"}}
    return {"apiVersion": "meshrender.dev/v1alpha1", "kind": "SidecarProxySettings", "metadata": meta,
            "spec": spec}


def documents(c: dict) -> tuple[list[dict], list[str]]:
    template_meta: dict = {"labels": {"app": "web"}}
    if c["annotation"] is not None:
        template_meta["annotations"] = {"sidecar.istio.io/nativeSidecar": c["annotation"]}
    docs: list[dict] = [{
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"template": {"metadata": template_meta,
                              "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
    }]
    if c["global"] is not None:
        docs.append(_sps("everyone", c["global"]))
    if c["namespace"] is not None:
        docs.append(_sps("shop", c["namespace"], namespace="shop"))
    if c["workload"] is not None:
        docs.append(_sps("web", c["workload"], namespace="shop", selector=True))
    if c["asm"] is not None:
        docs.append({"apiVersion": "istio.alibabacloud.com/v1beta1", "kind": "ASMMeshConfig",
                     "metadata": {"name": "default"}, "spec": {"enableNativeSidecar": c["asm"]}})
    profile = {k: v for k, v in (("meshVersion", c["mesh"]), ("provider", c["provider"]),
                                 ("flavor", c["flavor"])) if v is not None}
    flags = ["--native-sidecars", c["flag"]]
    if c["kube"] is not None:
        if c["kube_from_flag"]:
            flags += ["--kube-version", c["kube"]]
        else:
            profile["kubernetesVersion"] = c["kube"]
    if c["flavor"] == "asm" and c["mesh"] not in (None, "1.22"):
        # meshrender knows ASM 1.22's image only: later versions need it named.
        image = f"registry-cn-hangzhou-vpc.ack.aliyuncs.com/acs/proxyv2:v{c['mesh']}.1.1-g0-aliyun"
        docs.append({"apiVersion": "meshrender.dev/v1alpha1", "kind": "SidecarProxySettings",
                     "metadata": {"name": "image"}, "spec": {"proxy": {"image": image}}})
    docs.append({"apiVersion": "meshrender.dev/v1alpha1", "kind": "ClusterProfile", "metadata": {"name": "c"},
                 "spec": profile})
    return docs, flags


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(c=CASES)
def test_mode_matches_the_contract_table(c):
    docs, flags = documents(c)
    r = run_cli("render", "-", *flags, stdin=yamlio.dump_stream(yamlio.dump(d, sort_keys=False) for d in docs))
    assert r.code == 0, r.err
    (deployment,) = [d for d in r.docs() if d["kind"] == "Deployment"]
    spec = pod_spec(deployment)
    in_init = [x for x in spec.get("initContainers") or [] if x["name"] == "istio-proxy"]
    in_main = [x for x in spec["containers"] if x["name"] == "istio-proxy"]
    assert len(in_init) + len(in_main) == 1
    native = bool(in_init)
    if native:
        assert in_init[0].get("restartPolicy") == "Always"
    assert native is oracle(c), f"expected {'native' if oracle(c) else 'traditional'}: {c}"
