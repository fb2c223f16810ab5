"""Properties of rendering, checked with hypothesis on generated workloads and settings.

- deterministic: the same input renders to the same bytes;
- idempotent: rendering the output again (with the same settings) changes nothing;
- complete: every output document reads back, and every input document is in the output,
  in order (settings meshrender consumes excepted), non-workloads unchanged;
- faithful: application containers come out as they went in, except for the documented
  probe rewrites (probes and lifecycle hooks pointed at the agent's status port, the
  original handed to the agent in ISTIO_KUBE_APP_PROBERS) and quantities in canonical form.
"""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshrender import yamlio
from meshrender.kube import quantity
from tests.conftest import pod_spec, run_cli

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=6)
PORTS = st.integers(min_value=1, max_value=65535)
CPU = st.sampled_from(["100m", "0.5", "1", "2000m", "250m", 2])
MEMORY = st.sampled_from(["128Mi", "1Gi", "1024Mi", "64M", "0.5Gi"])
PROBE_KEYS = ("readinessProbe", "livenessProbe", "startupProbe")
URLS = {"readinessProbe": "readyz", "livenessProbe": "livez", "startupProbe": "startupz",
        "preStop": "prestopz", "postStart": "poststartz"}
CONSUMED = ("SidecarProxySettings", "ClusterProfile")


@st.composite
def actions(draw, port_names: list[str], grpc: bool = True):
    port = draw(st.one_of(PORTS, st.sampled_from(port_names))) if port_names else draw(PORTS)
    kinds = ["httpGet", "tcpSocket", "exec"] + (["grpc"] if grpc else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "httpGet":
        action = {"port": port, "path": draw(st.sampled_from(["/", "/healthz", "/ready?x=1"]))}
        if draw(st.booleans()):
            action["scheme"] = draw(st.sampled_from(["HTTP", "HTTPS"]))
        if draw(st.booleans()):
            action["httpHeaders"] = [{"name": "X-Probe", "value": "1"}]
        return {"httpGet": action}
    if kind == "tcpSocket":
        return {"tcpSocket": {"port": port}}
    if kind == "grpc":
        return {"grpc": {"port": draw(PORTS)}}
    return {"exec": {"command": ["cat", "/tmp/healthy"]}}


@st.composite
def containers(draw, name: str):
    c: dict = {"name": name, "image": draw(st.sampled_from(["nginx", "registry.example.com/app:1.2"]))}
    port_names: list[str] = []
    if draw(st.booleans()):
        ports = []
        for i, p in enumerate(draw(st.lists(PORTS, min_size=1, max_size=3, unique=True))):
            entry = {"containerPort": p}
            if draw(st.booleans()):
                entry["name"] = f"p{i}-{name}"[:15]
                port_names.append(entry["name"])
            ports.append(entry)
        c["ports"] = ports
    if draw(st.booleans()):
        c["env"] = [{"name": "MODE", "value": draw(st.sampled_from(["1:30", "yes", "0777", "x"]))}]
    if draw(st.booleans()):
        c["resources"] = {"requests": {"cpu": draw(CPU), "memory": draw(MEMORY)}}
        if draw(st.booleans()):
            c["resources"]["limits"] = {"cpu": draw(CPU)}
    for key in PROBE_KEYS:
        if draw(st.booleans()):
            probe = draw(actions(port_names))
            if draw(st.booleans()):
                probe["periodSeconds"] = draw(st.integers(1, 60))
            if draw(st.booleans()):
                probe["timeoutSeconds"] = draw(st.integers(1, 10))
            c[key] = probe
    if draw(st.booleans()):
        c["lifecycle"] = {draw(st.sampled_from(["preStop", "postStart"])): draw(actions(port_names, grpc=False))}
    if draw(st.booleans()):
        c["securityContext"] = {"runAsUser": draw(st.integers(0, 65535))}
    return c


ANNOTATIONS = st.dictionaries(
    st.sampled_from(["sidecar.istio.io/rewriteAppHTTPProbers", "sidecar.istio.io/nativeSidecar",
                     "sidecar.istio.io/proxyCPU", "traffic.sidecar.istio.io/excludeInboundPorts",
                     "proxy.istio.io/config", "sidecar.istio.io/inject", "example.com/note"]),
    st.sampled_from(["true", "false"]), max_size=3,
).map(lambda d: {k: ({"sidecar.istio.io/proxyCPU": "200m", "traffic.sidecar.istio.io/excludeInboundPorts":
                      "8080,9090", "proxy.istio.io/config": "concurrency: 3",
                      "example.com/note": "1.10"}.get(k, v)) for k, v in d.items()})


@st.composite
def workloads(draw, index: int):
    kind = draw(st.sampled_from(["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
                                 "CronJob"]))
    names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
    spec: dict = {"containers": [draw(containers(n)) for n in names]}
    if draw(st.booleans()):
        spec["initContainers"] = [draw(containers("init" + names[0]))]
    meta: dict = {"labels": {"app": draw(st.sampled_from(["web", "api", "batch"]))}}
    annotations = draw(ANNOTATIONS)
    if annotations:
        meta["annotations"] = annotations
    name = f"w{index}"
    ns = draw(st.sampled_from([None, "shop", "pay"]))
    top: dict = {"name": name, **({"namespace": ns} if ns else {})}
    api = {"Pod": "v1", "Job": "batch/v1", "CronJob": "batch/v1"}.get(kind, "apps/v1")
    if kind == "Pod":
        return {"apiVersion": api, "kind": kind, "metadata": {**top, **meta}, "spec": spec}
    template = {"metadata": meta, "spec": spec}
    if kind == "CronJob":
        return {"apiVersion": api, "kind": kind, "metadata": top,
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}
    return {"apiVersion": api, "kind": kind, "metadata": top, "spec": {"template": template}}


OTHERS = st.sampled_from([
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"time": "1:30", "on": "yes"}},
    {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"deep": [{"a": [1]}]}},
])


@st.composite
def settings_docs(draw):
    docs = []
    if draw(st.booleans()):
        spec: dict = {}
        if draw(st.booleans()):
            spec["proxy"] = {"concurrency": draw(st.integers(0, 8)),
                             "resources": {"requests": {"cpu": draw(CPU), "memory": draw(MEMORY)}}}
        if draw(st.booleans()):
            spec["nativeSidecar"] = draw(st.booleans())
        if draw(st.booleans()):
            spec["traffic"] = {"excludeOutboundPorts": "7011,7012"}
        docs.append({"apiVersion": "meshrender.dev/v1alpha1", "kind": "SidecarProxySettings",
                     "metadata": {"name": "global"}, "spec": spec})
    if draw(st.booleans()):
        docs.append({"apiVersion": "meshrender.dev/v1alpha1", "kind": "SidecarProxySettings",
                     "metadata": {"name": "shop", "namespace": "shop"},
                     "spec": {"proxy": {"terminationDrainDuration": "10s"}, "dnsProxy": draw(st.booleans())}})
    if draw(st.booleans()):
        docs.append({"apiVersion": "meshrender.dev/v1alpha1", "kind": "SidecarProxySettings",
                     "metadata": {"name": "batch"},
                     "spec": {"selector": {"matchLabels": {"app": "batch"}}, "proxy": {"concurrency": 1}}})
    if draw(st.booleans()):
        docs.append({"apiVersion": "meshrender.dev/v1alpha1", "kind": "ClusterProfile",
                     "metadata": {"name": "c"},
                     "spec": {"kubernetesVersion": draw(st.sampled_from(["1.28", "1.30", "1.33"])),
                              # (ASM, the default flavor: the releases with a known image)
                              "meshVersion": draw(st.sampled_from(["1.22", "1.22.2", "1.22.2.35"])),
                              "region": draw(st.sampled_from(["cn-hangzhou", "cn-beijing"])),
                              "provider": draw(st.sampled_from(["ack", "community"]))}})
    return docs


@st.composite
def repos(draw):
    n = draw(st.integers(1, 3))
    docs = [draw(workloads(i)) for i in range(n)]
    if draw(st.booleans()):
        docs.insert(draw(st.integers(0, len(docs))), draw(OTHERS))
    flags = []
    if draw(st.booleans()):
        flags += ["--flavor", draw(st.sampled_from(["asm", "istio"]))]
    if draw(st.booleans()):
        flags += ["--native-sidecars", draw(st.sampled_from(["true", "false"]))]
    return docs, draw(settings_docs()), flags


def _stream(docs: list) -> str:
    # meshrender's writer, not PyYAML's: PyYAML writes the string "n" plain, which Kubernetes
    # (and so meshrender) reads as the boolean false.
    return yamlio.dump_stream(yamlio.dump(d, sort_keys=False) for d in docs)


def _render(tmp, inputs: dict[str, str], flags: list[str]):
    repo = tmp / "repo"
    repo.mkdir(exist_ok=True)
    for p in repo.iterdir():
        p.unlink()
    for name, text in inputs.items():
        (repo / name).write_text(text, encoding="utf-8")
    return run_cli("render", str(repo), *flags)


def _first_render(case, tmp_path_factory):
    """(input documents, input files, flags, work folder, first render) for one example."""
    docs, settings_, flags = case
    tmp = tmp_path_factory.mktemp("props")
    inputs = {"apps.yaml": _stream(docs)}
    if settings_:
        inputs["settings.yaml"] = _stream(settings_)
    first = _render(tmp, inputs, flags)
    assert first.code == 0, first.err
    return docs, inputs, flags, tmp, first


PROPS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


@PROPS
@given(case=repos())
def test_deterministic_idempotent_and_complete(case, tmp_path_factory):
    docs, inputs, flags, tmp, first = _first_render(case, tmp_path_factory)
    second = _render(tmp, inputs, flags)
    assert second.out == first.out, "rendering is not deterministic"

    again = _render(tmp, {**inputs, "apps.yaml": first.out}, flags)
    assert again.code == 0, again.err
    assert again.out == first.out, "rendering the output again changed it"

    out = [d.data for d in yamlio.parse(first.out, "output")]
    assert [(d["kind"], d["metadata"]["name"]) for d in out] == [(d["kind"], d["metadata"]["name"]) for d in docs]
    for before, after in zip(docs, out, strict=True):
        if before["kind"] in ("Service", "ConfigMap", "Widget"):
            assert after == before


def _pod_meta(doc: dict) -> dict:
    if doc["kind"] == "Pod":
        return doc["metadata"]
    if doc["kind"] == "CronJob":  # the pod template, as the webhook sees the pod
        return doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"]
    return doc["spec"]["template"]["metadata"]


def _canonical(resources: dict) -> dict:
    return {k: {n: quantity.canonical(q) for n, q in v.items()} for k, v in resources.items()}


def _probers(spec: dict) -> dict:
    for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if c["name"] == "istio-proxy":
            for e in c.get("env") or []:
                if e["name"] == "ISTIO_KUBE_APP_PROBERS":
                    return json.loads(e["value"])
    return {}


def _check_rewrite(before: dict | None, after: dict | None, url: str, probers: dict, port_names: dict) -> None:
    """`after` is `before`, or `before` pointed at the agent as Istio documents it."""
    if after == before:
        return
    assert before is not None and after is not None, (before, after)
    action = next(k for k in ("httpGet", "tcpSocket", "grpc") if k in before)
    assert set(after) == (set(before) - {action}) | {"httpGet"}, (before, after)
    for k in set(before) - {action}:
        assert after[k] == before[k], (k, before, after)
    got = after["httpGet"]
    assert got["path"] == url and isinstance(got["port"], int), after
    if action == "httpGet":
        rest = {k: v for k, v in before["httpGet"].items() if k not in ("path", "port", "scheme")}
        assert {k: v for k, v in got.items() if k not in ("path", "port", "scheme")} == rest
        assert got.get("scheme", "HTTP") == "HTTP"
    original = dict(before[action])
    if isinstance(original.get("port"), str):
        original["port"] = port_names.get(original["port"], original["port"])
    assert url in probers and probers[url][action] == original, (url, probers, before)


@PROPS
@given(case=repos())
def test_app_containers_change_only_by_documented_rewrites(case, tmp_path_factory):
    docs, _, _, _, r = _first_render(case, tmp_path_factory)
    out = [d.data for d in yamlio.parse(r.out, "output")]
    for before_doc, after_doc in zip(docs, out, strict=True):
        if before_doc["kind"] in ("Service", "ConfigMap", "Widget"):
            continue
        before_spec, after_spec = pod_spec(before_doc), pod_spec(after_doc)
        if "sidecar.istio.io/status" not in (_pod_meta(after_doc).get("annotations") or {}):
            assert after_doc == before_doc, "a workload that was not injected changed"
            continue
        probers = _probers(after_spec)
        for key in ("containers", "initContainers"):
            for c in before_spec.get(key) or []:
                got = next(x for x in after_spec.get(key) or [] if x["name"] == c["name"])
                port_names = {p["name"]: p["containerPort"] for p in c.get("ports") or [] if "name" in p}
                want, have = copy.deepcopy(c), copy.deepcopy(got)
                if "resources" in want:
                    assert _canonical(have.pop("resources")) == _canonical(want.pop("resources"))
                for probe in PROBE_KEYS:
                    _check_rewrite(want.pop(probe, None), have.pop(probe, None),
                                   f"/app-health/{c['name']}/{URLS[probe]}", probers, port_names)
                for hook in ("preStop", "postStart"):
                    _check_rewrite((want.get("lifecycle") or {}).pop(hook, None),
                                   (have.get("lifecycle") or {}).pop(hook, None),
                                   f"/app-lifecycle/{c['name']}/{URLS[hook]}", probers, port_names)
                assert have == want, f"container {c['name']} changed beyond the probe rewrites"
