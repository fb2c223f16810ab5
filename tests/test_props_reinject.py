"""Rendering rendered output again is a fresh render (issue 13, step 5), as a property.

For generated workloads and settings, and every pair (A, B) of injection configurations
(native or traditional sidecars, asm or istio flavor): rendering the output of A again
with B gives exactly what rendering the source with B gives. The seed is fixed, so that
`make test` checks the same few hundred examples every time.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run_cli
from tests.test_props_render import OTHERS, _stream, containers, settings_docs
from tests.test_reinject import _pod_specs, keeps_old_proxy, without_kept_proxy

MODES = ("true", "false")
FLAVORS = ("asm", "istio")
CONFIGS = [("--flavor", f, "--native-sidecars", n) for f, n in itertools.product(FLAVORS, MODES)]
PAIRS = list(itertools.product(CONFIGS, CONFIGS))

# Annotations that change what injection does per pod; rewriteAppHTTPProbers decides
# whether probes are handed to the agent, the Prometheus ones are moved into it.
POD_ANNOTATIONS = st.dictionaries(
    st.sampled_from(["sidecar.istio.io/rewriteAppHTTPProbers", "prometheus.io/scrape", "prometheus.io/port",
                     "prometheus.io/path", "sidecar.istio.io/proxyCPU", "example.com/note",
                     "traffic.sidecar.istio.io/excludeInboundPorts"]),
    st.sampled_from(["true", "false", "9090", "/metrics"]), max_size=4,
).map(lambda d: {k: ({"sidecar.istio.io/proxyCPU": "200m", "traffic.sidecar.istio.io/excludeInboundPorts":
                      "8080,9090", "prometheus.io/path": "/metrics", "prometheus.io/port": "9090",
                      "example.com/note": "1.10"}.get(k, v)) for k, v in d.items()})


@st.composite
def workloads(draw, index: int) -> dict:
    kind = draw(st.sampled_from(["Pod", "Deployment", "StatefulSet", "Job", "CronJob", "Rollout", "CloneSet"]))
    names = draw(st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=5), min_size=1, max_size=3,
                          unique=True))
    spec: dict = {"containers": [draw(containers(n)) for n in names]}
    if draw(st.booleans()):
        spec["initContainers"] = [draw(containers("init" + names[0]))]
    if draw(st.booleans()):
        spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    meta: dict = {"labels": {"app": draw(st.sampled_from(["web", "api", "batch"]))}}
    annotations = draw(POD_ANNOTATIONS)
    if annotations:
        meta["annotations"] = annotations
    top: dict = {"name": f"w{index}"}
    api = {"Pod": "v1", "Job": "batch/v1", "CronJob": "batch/v1", "Rollout": "argoproj.io/v1alpha1",
           "CloneSet": "apps.kruise.io/v1alpha1"}.get(kind, "apps/v1")
    if kind == "Pod":
        return {"apiVersion": api, "kind": kind, "metadata": {**top, **meta}, "spec": spec}
    template = {"metadata": meta, "spec": spec}
    if kind == "CronJob":
        return {"apiVersion": api, "kind": kind, "metadata": top,
                "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}}
    return {"apiVersion": api, "kind": kind, "metadata": top, "spec": {"template": template}}


@st.composite
def cases(draw) -> tuple[list[dict], list[dict], tuple, tuple]:
    docs = [draw(workloads(i)) for i in range(draw(st.integers(1, 2)))]
    if draw(st.booleans()):
        docs.append(draw(OTHERS))
    before, after = draw(st.sampled_from(PAIRS))
    return docs, draw(settings_docs()), before, after


def _render(text: str, flags: tuple) -> str:
    r = run_cli("render", "-", *flags, stdin=text)
    assert r.code == 0, r.err
    return r.out


@settings(max_examples=250, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_rendering_output_again_equals_rendering_the_source(case):
    docs, settings_, before, after = case
    own = _stream(settings_) + "---\n" if settings_ else ""  # settings are read from any input, and consumed
    source = _stream(docs)
    first = _render(own + source, before)
    again = _render(own + first, after)
    fresh = _render(own + source, after)
    if keeps_old_proxy(before, after):
        assert without_kept_proxy(again) == without_kept_proxy(fresh), f"rendered with {before}, then {after}"
    elif again != fresh:
        # A hook or probe the first release handed to the agent and the second does not
        # (lifecycle hooks: Istio 1.25+) comes back with its named port as the number the
        # agent's record holds: the same port to Kubernetes (README, "Workloads").
        assert _numbered(again) == _numbered(fresh), f"rendered with {before}, then {after}"


def _numbered(text: str) -> list:
    """The documents with every probe's and hook's named port replaced by its number."""
    import yaml

    docs = list(yaml.safe_load_all(text))
    for doc in docs:
        for spec in _pod_specs(doc):
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                names = {p.get("name"): p.get("containerPort") for p in c.get("ports") or [] if p.get("name")}
                actions = [c.get(k) for k in ("readinessProbe", "livenessProbe", "startupProbe")]
                actions += list((c.get("lifecycle") or {}).values())
                for action in actions:
                    for kind in ("httpGet", "tcpSocket"):
                        target = (action or {}).get(kind)
                        if isinstance(target, dict) and target.get("port") in names:
                            target["port"] = names[target["port"]]
    return docs


def test_every_pair_of_configurations_is_drawn():
    """The strategy reaches all 16 (before, after) pairs, same-configuration ones included."""
    assert len(PAIRS) == 16 and len(set(PAIRS)) == 16
