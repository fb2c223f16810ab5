"""render, lint and explain agree on every workload of generated repositories.

Each generated repository has settings at every scope (global, namespace and workload
SidecarProxySettings), injector values (policy, never/always-inject selectors), a
ClusterProfile, and workloads of several kinds with the pod annotations that change what
the injector does. For every workload:

- injected or not, and why: render's summary, explain and lint's JSON report say the same;
- native or traditional, and why: the same three, and where render put istio-proxy;
- every effective proxy setting: explain's value is what render's pod carries, and
  explain's source is where lint points when a rule blames that setting.
"""

from __future__ import annotations

import json
import re

import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.conftest import pod_spec, run_cli

NAMESPACES = ("shop", "pay")
APPS = ("web", "api", "job")
KINDS = ("Deployment", "StatefulSet", "Job", "CronJob", "Pod")
FLAGS = ("--kube-version", "1.30")


def _settings_doc(name: str, ns: str | None, spec: dict) -> dict:
    meta = {"name": name, **({"namespace": ns} if ns else {})}
    return {"apiVersion": "meshrender.dev/v1alpha1", "kind": "SidecarProxySettings", "metadata": meta, "spec": spec}


@st.composite
def settings_spec(draw: st.DrawFn) -> dict:
    spec: dict = {}
    if draw(st.booleans()):
        spec["nativeSidecar"] = draw(st.booleans())
    proxy: dict = {}
    if draw(st.booleans()):
        proxy["concurrency"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        proxy["holdApplicationUntilProxyStarts"] = draw(st.booleans())
    if draw(st.booleans()):
        proxy["terminationDrainDuration"] = draw(st.sampled_from(["5s", "20s", "1m"]))
    if draw(st.booleans()):
        proxy["resources"] = {"requests": {"cpu": draw(st.sampled_from(["100m", "200m"]))}}
    if proxy:
        spec["proxy"] = proxy
    if draw(st.booleans()):
        spec["traffic"] = {"excludeInboundPorts": draw(st.sampled_from(["9102", "8081,8082"]))}
    return spec


@st.composite
def workload(draw: st.DrawFn, index: int) -> dict:
    kind = draw(st.sampled_from(KINDS))
    ns = draw(st.sampled_from(NAMESPACES))
    app = draw(st.sampled_from(APPS))
    annotations: dict = {}
    labels: dict = {"app": app}
    if draw(st.integers(0, 5)) == 0:
        labels["sidecar.istio.io/inject"] = draw(st.sampled_from(["true", "false"]))
    if draw(st.integers(0, 3)) == 0:
        annotations["sidecar.istio.io/nativeSidecar"] = draw(st.sampled_from(["true", "false"]))
    if draw(st.integers(0, 3)) == 0:
        pc = {}
        if draw(st.booleans()):
            pc["concurrency"] = draw(st.integers(1, 8))
        if draw(st.booleans()):
            pc["holdApplicationUntilProxyStarts"] = True
        if draw(st.booleans()):
            pc["terminationDrainDuration"] = "30s"
        annotations["proxy.istio.io/config"] = yaml.safe_dump(pc) if pc else "{}"
    if draw(st.integers(0, 3)) == 0:
        annotations["sidecar.istio.io/proxyCPU"] = draw(st.sampled_from(["150m", "300m"]))
    meta = {"labels": labels, **({"annotations": annotations} if annotations else {})}
    pod_spec = {"containers": [{"name": "app", "image": "registry.example.com/app:1.0"}]}
    if kind in ("Job", "CronJob"):
        pod_spec["restartPolicy"] = "Never"
    name = f"{app}-{index}"
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, **meta},
                "spec": pod_spec}
    template = {"metadata": meta, "spec": pod_spec}
    if kind == "CronJob":
        spec: dict = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
        api = "batch/v1"
    elif kind == "Job":
        spec, api = {"template": template}, "batch/v1"
    else:
        spec, api = {"selector": {"matchLabels": {"app": app}}, "template": template}, "apps/v1"
    return {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns}, "spec": spec}


@st.composite
def repos(draw: st.DrawFn) -> dict[str, str]:
    files: dict[str, str] = {}
    profile = {"apiVersion": "meshrender.dev/v1alpha1", "kind": "ClusterProfile", "metadata": {"name": "p"},
               "spec": {"kubernetesVersion": draw(st.sampled_from(["1.28", "1.30"])), "provider": "ack",
                        "meshVersion": "1.22", "flavor": draw(st.sampled_from(["asm", "istio"]))}}
    docs = [profile]
    if draw(st.booleans()):
        docs.append(_settings_doc("global", None, draw(settings_spec())))
    for ns in NAMESPACES:
        if draw(st.booleans()):
            docs.append(_settings_doc(f"ns-{ns}", ns, draw(settings_spec())))
    if draw(st.booleans()):
        spec = draw(settings_spec())
        spec["selector"] = {"matchLabels": {"app": draw(st.sampled_from(APPS))}}
        docs.append(_settings_doc("selected", draw(st.sampled_from(NAMESPACES)), spec))
    files["mesh/settings.yaml"] = yaml.safe_dump_all(docs, sort_keys=False)
    values: dict = {}
    if draw(st.booleans()):
        values.setdefault("global", {}).setdefault("proxy", {})["autoInject"] = draw(
            st.sampled_from(["enabled", "disabled"]))
    if draw(st.booleans()):
        values["sidecarInjectorWebhook"] = {
            draw(st.sampled_from(["neverInjectSelector", "alwaysInjectSelector"])):
                [{"matchLabels": {"app": draw(st.sampled_from(APPS))}}]}
    if values:
        files["values.yaml"] = yaml.safe_dump(values)
    workloads = [draw(workload(i)) for i in range(draw(st.integers(1, 5)))]
    files["apps/workloads.yaml"] = yaml.safe_dump_all(workloads, sort_keys=False)
    return files


def _write(tmp_path, files: dict[str, str]):
    root = tmp_path / "repo"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


SUMMARY = re.compile(r"^  (\S+ \S+)\s{2,}(native|traditional|skipped)\s{2,}(.*)$")


def _render_summary(err: str) -> dict[str, tuple[str, str]]:
    out = {}
    for line in err.splitlines():
        m = SUMMARY.match(line)
        if m:
            out[m.group(1)] = (m.group(2), m.group(3))
    return out


def _proxy_config(doc: dict) -> dict:
    spec = pod_spec(doc)
    for c in (spec.get("initContainers") or []) + spec.get("containers", []):
        if c["name"] == "istio-proxy":
            env = {e["name"]: e.get("value") for e in c.get("env") or []}
            return json.loads(env.get("PROXY_CONFIG") or "{}")
    return {}


def _where(source: dict | None) -> tuple | None:
    return (source["file"], source["line"], source["column"]) if source and "file" in source else None


@seed(20261206)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(files=repos())
def test_render_lint_and_explain_agree_on_every_workload(tmp_path_factory, files):
    root = _write(tmp_path_factory.mktemp("agree"), files)
    extra = ["--values", str(root / "values.yaml")] if "values.yaml" in files else []
    paths = [str(root / "mesh"), str(root / "apps")]
    out = root.parent / "out"
    rendered = run_cli("render", *paths, "-o", str(out), *FLAGS, *extra)
    assert rendered.code == 0, rendered.err
    summary = _render_summary(rendered.err)
    docs = {f"{d['kind']} {d['metadata']['namespace']}/{d['metadata']['name']}": d
            for d in yaml.safe_load_all((out / "workloads.yaml").read_text())}
    lint = run_cli("lint", *paths, "--format", "json", "--fail-on", "info", *FLAGS, *extra)
    assert lint.code in (0, 1), lint.err
    report = json.loads(lint.out)
    by_workload = {w["workload"]: w for w in report["workloads"]}
    assert set(by_workload) == set(summary) == set(docs)

    for display, (mode, reason) in summary.items():
        kind, _, ns_name = display.partition(" ")
        ex = run_cli("explain", *paths, "--workload", ns_name, "--kind", kind, "--format", "json", *FLAGS, *extra)
        assert ex.code == 0, ex.err
        explained = json.loads(ex.out)
        linted = by_workload[display]
        # injected or not, and why
        assert explained["injected"] == linted["injected"] == (mode != "skipped"), display
        if mode == "skipped":
            assert explained["skipped"] == linted["skipped"] == reason, display
            continue
        # native or traditional, and why; and where render put the proxy
        assert explained["mode"]["mode"] == linted["mode"] == mode, display
        assert explained["mode"]["reason"] == linted["reason"] == reason, display
        inits = [c["name"] for c in pod_spec(docs[display]).get("initContainers") or []]
        assert ("istio-proxy" in inits) == (mode == "native"), display
        # every setting: explain's value is the rendered pod's
        settings_ = {s["setting"]: s for s in explained["settings"]}
        pc = _proxy_config(docs[display])
        assert settings_["proxy.concurrency"]["value"] == pc.get("concurrency", 2), display
        assert settings_["proxy.holdApplicationUntilProxyStarts"]["value"] == bool(
            pc.get("holdApplicationUntilProxyStarts")) or mode == "native" or \
            settings_["proxy.holdApplicationUntilProxyStarts"]["source"]["kind"] == "flavor-default", display
        # a rule that blames a setting points where explain says it was set
        blamed = {"hold-application-ignored-in-native": "proxy.holdApplicationUntilProxyStarts",
                  "drain-settings-ignored-in-native": "proxy.terminationDrainDuration"}
        for f in report["findings"]:
            if f["workload"] != display or f["rule"] not in blamed:
                continue
            setting = settings_[blamed[f["rule"]]]
            places = [_where(setting["source"])] + [_where(o["source"]) for o in setting["overridden"]]
            assert (f["file"], f["line"], f["column"]) in places, (display, f, setting)
        if mode == "native" and kind not in ("Job", "CronJob"):
            hold = settings_["proxy.holdApplicationUntilProxyStarts"]
            user_set = hold["value"] and hold["source"]["kind"] not in ("flavor-default", "istio-default")
            fired = any(f["workload"] == display and f["rule"] == "hold-application-ignored-in-native"
                        for f in report["findings"] + report["suppressed"])
            assert fired == bool(user_set), (display, hold)
    # job-sidecar-never-exits fires exactly for the traditional, injected Jobs and CronJobs
    never_exits = {f["workload"] for f in report["findings"] if f["rule"] == "job-sidecar-never-exits"}
    expected = {d for d, (mode, _) in summary.items() if mode == "traditional" and d.split()[0] in ("Job", "CronJob")}
    assert never_exits == expected
