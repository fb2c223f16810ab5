"""Settings are first checked by jsonschema-rs, which may only ever say "valid" where
jsonschema (which reports the errors) says valid too."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshrender.settings import schema

pytest.importorskip("jsonschema_rs")

EXAMPLES: dict[str, dict[str, Any]] = {
    "sidecarproxysettings.json": {
        "apiVersion": "meshrender.dev/v1alpha1", "kind": "SidecarProxySettings",
        "metadata": {"name": "payments", "namespace": "payments"},
        "spec": {
            "selector": {"matchLabels": {"app": "checkout"},
                         "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]},
            "nativeSidecar": True,
            "proxy": {"image": "registry.example.com/proxyv2:1.22.2",
                      "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "2"}},
                      "lifecycle": {"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 13"]}}},
                      "holdApplicationUntilProxyStarts": True, "terminationDrainDuration": "10s",
                      "concurrency": 2, "logLevel": "warning", "componentLogLevel": "misc:error",
                      "proxyMetadata": {"EXIT_ON_ZERO_ACTIVE_CONNECTIONS": "true"},
                      "readinessProbe": {"initialDelaySeconds": 0, "periodSeconds": 15, "failureThreshold": 4}},
            "init": {"resources": {"requests": {"cpu": "16m"}, "limits": {"memory": "512Mi"}}},
            "traffic": {"interceptionMode": "REDIRECT", "includeOutboundIPRanges": "192.168.1.2/32",
                        "excludeInboundPorts": "7013,7014", "includeOutboundPorts": [7015, 7016],
                        "includeInboundPorts": "*"},
            "dnsProxy": True,
        },
    },
    "clusterprofile.json": {
        "apiVersion": "meshrender.dev/v1alpha1", "kind": "ClusterProfile", "metadata": {"name": "prod"},
        "spec": {"kubernetesVersion": "1.30", "provider": "ack", "meshVersion": "1.22", "flavor": "asm"},
    },
}

ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 70000), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", " ", "80\n", "80", "1.0", "2.0", "10s", "1µs", "1.5h", "100m", "0.5", "1e3", "1Gi",
                     "*", "a,b", "1,2", "10.0.0.1/8", "1.30", "v1.30.1", "1.30-rc", "REDIRECT", "TPROXY",
                     "warning", "off", "true", "In", "Exists", "meshrender.dev/v1alpha1"]),
    st.lists(st.sampled_from([1, "1", "80", None, True, 1.5]), max_size=3),
    st.dictionaries(st.sampled_from(["a", "cpu", "memory", "key", "values"]), st.sampled_from(["1", 1, None]),
                    max_size=2),
)


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


def mutate(doc: dict, edits: list[tuple[int, Any, bool]]) -> dict:
    doc = copy.deepcopy(doc)
    for where, value, add_key in edits:
        candidates = paths(doc)[1:]
        path = candidates[where % len(candidates)]
        parent = doc
        for p in path[:-1]:
            parent = parent[p]
        if add_key and isinstance(parent, dict):
            parent["extra" if not isinstance(value, str) else value or "x"] = value
        else:
            parent[path[-1]] = value
    return doc


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_are_valid_for_both(name):
    assert schema.surely_valid(name, EXAMPLES[name])
    assert not list(schema._validator(name).iter_errors(EXAMPLES[name]))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(EXAMPLES)), st.lists(st.tuples(st.integers(0, 10**6), ODD_VALUES, st.booleans()),
                                                    min_size=1, max_size=3))
def test_quick_validity_implies_jsonschema_validity(name, edits):
    doc = mutate(EXAMPLES[name], edits)
    if schema.surely_valid(name, doc):
        assert not list(schema._validator(name).iter_errors(doc)), doc
