"""Wrong types anywhere in any settings kind or injector values: exit 2 with file, line and
field in render, a finding in lint; never an internal error.

`neverInjectSelector: 1` in injector values ended in `internal error: TypeError` (and lint
said 0 errors), and so did 32 of the 6,144 wrong-type variants of the settings kinds.
The variants here are generated: a realistic document of every settings kind (including
the istio-sidecar-injector ConfigMap's data.config, data.values and the istio ConfigMap's
data.mesh, an IstioOperator, and --values / --mesh-config files), and for each of its
fields, at every depth, each of sixteen values of the wrong type (numbers, booleans,
strings, lists, maps, null, a selector whose matchLabels is a string, ...): 5,136
variants. tests/test_robust_schemas.py checks the exact position of one wrong value per
schema field; this checks that no value, in no field, escapes as a crash, and that render
and lint agree. The suite runs one value per field, rotating through the sixteen so each
is used, for every other field; MESHRENDER_ALL_VARIANTS=1 runs all 5,136 (four minutes).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, run_cli

_spec = importlib.util.spec_from_file_location("fuzz_cli_seeds", ROOT / "fuzz" / "fuzz_cli.py")
_fuzz = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_cli_seeds"] = _fuzz
_spec.loader.exec_module(_fuzz)

WRONG: list[Any] = [1, -1, 1.5, True, "x", "", [], ["x"], [1], [[]], {}, {"x": 1}, {"x": "y"}, [{"x": "y"}],
                    [{"matchLabels": "x"}], None]
INJECTOR_CONFIG = {
    "policy": "enabled", "neverInjectSelector": [{"matchLabels": {"a": "c"}}],
    "alwaysInjectSelector": [{"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]}],
    "injectedAnnotations": {"a": "b"}, "defaultTemplates": ["sidecar"], "aliases": {"x": ["sidecar"]},
    "templates": {"custom": "metadata: {labels: {x: y}}\n"}}
VALUES = {
    "sidecarInjectorWebhook": {"neverInjectSelector": [{"matchLabels": {"a": "c"}}],
                               "alwaysInjectSelector": [{"matchLabels": {"a": "b"}}],
                               "injectedAnnotations": {"a": "b"}, "defaultTemplates": ["sidecar"],
                               "rewriteAppHTTPProbe": True, "templates": {"t": "x: y"}},
    "global": {"proxy": {"autoInject": "enabled", "resources": {"requests": {"cpu": "10m"}}, "statusPort": 15020,
                         "lifecycle": {"preStop": {"exec": {"command": ["a"]}}},
                         "holdApplicationUntilProxyStarts": True, "includeIPRanges": "*",
                         "excludeInboundPorts": "1,2", "logLevel": "info", "concurrency": 2,
                         "readinessInitialDelaySeconds": 1},
               "proxy_init": {"resources": {"limits": {"cpu": "1"}}}, "hub": "h", "tag": "t",
               "imagePullPolicy": "Always", "imagePullSecrets": ["s"], "meshID": "m", "network": "net1",
               "logAsJson": False},
    "revision": "r", "istio_cni": {"enabled": False}}
MESH = {"defaultConfig": {"concurrency": 2, "holdApplicationUntilProxyStarts": True, "proxyMetadata": {"A": "b"},
                          "terminationDrainDuration": "5s", "image": {"imageType": "distroless"},
                          "tracing": {"sampling": 1}},
        "rootNamespace": "istio-system", "defaultProviders": {"tracing": ["x"]}}
POD = ("apiVersion: v1\nkind: Pod\nmetadata: {name: web, labels: {app: hello, a: b}}\nspec:\n  containers: "
       "[{name: web, image: nginx, ports: [{containerPort: 80}], readinessProbe: {httpGet: {port: 80}}}]\n")


def _configmap(name: str, key: str, payload: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "istio-system"},
            "data": {key: yaml.safe_dump(payload, sort_keys=False)}}


SEEDS: list[tuple[str, Any]] = [*(("document", yaml.safe_load(s)) for s in _fuzz.SETTINGS_SEEDS),
                                ("data.config", _configmap("istio-sidecar-injector", "config", INJECTOR_CONFIG)),
                                ("data.values", _configmap("istio-sidecar-injector", "values", VALUES)),
                                ("data.mesh", _configmap("istio", "mesh", MESH)),
                                ("--values", VALUES), ("--mesh-config", MESH),
                                ("document", {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
                                              "metadata": {"name": "i"}, "spec": {"values": VALUES, "meshConfig": MESH,
                                                                                   "hub": "h", "tag": "t"}})]


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _set(data: Any, path: tuple, value: Any) -> None:
    for step in path[:-1]:
        data = data[step]
    data[path[-1]] = value


def variants() -> list[tuple[str, tuple, Any, Any]]:
    """(where, field path, wrong value, the document or values with it) for every field."""
    out = []
    for where, seed in SEEDS:
        if where.startswith("data."):
            key = where.split(".")[1]
            inner = yaml.safe_load(seed["data"][key])
            for path in _paths(inner)[1:]:
                for wrong in WRONG:
                    changed = copy.deepcopy(inner)
                    _set(changed, path, wrong)
                    doc = copy.deepcopy(seed)
                    doc["data"][key] = yaml.safe_dump(changed, sort_keys=False)
                    out.append((where, path, wrong, doc))
            continue
        for path in _paths(seed)[1:]:
            if path[:1] in (("apiVersion",), ("kind",)):
                continue
            for wrong in WRONG:
                doc = copy.deepcopy(seed)
                _set(doc, path, wrong)
                out.append((where, path, wrong, doc))
    return out


ALL = variants()
if os.environ.get("MESHRENDER_ALL_VARIANTS") in (None, "", "0"):
    # every other field, one wrong value each, rotating through WRONG so that every value is used
    CASES = [v for i, v in enumerate(ALL) if (i // len(WRONG)) % 2 == 0
             and (i // len(WRONG) // 2) % len(WRONG) == i % len(WRONG)]
else:
    CASES = ALL

LOCATED = re.compile(r"^meshrender: (?P<file>[^\n]+?):(?P<line>\d+):(?P<col>\d+): error: ", re.M)


def test_the_generator_covers_every_kind_and_value():
    assert len(ALL) > 5_000
    assert {w for w, *_ in CASES} == {w for w, _ in SEEDS}
    assert len({repr(v) for _, _, v, _ in CASES}) == len(WRONG)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("wrong-types")
    (root / "repo").mkdir()
    (root / "repo" / "pod.yaml").write_text(POD, encoding="utf-8")
    return root


@pytest.mark.parametrize(("where", "path", "wrong", "doc"), CASES,
                         ids=[f"{w}:{'.'.join(map(str, p))}={v!r}" for w, p, v, _ in CASES])
def test_a_wrong_type_is_located_in_render_and_found_by_lint(repo, where, path, wrong, doc):
    text = yaml.safe_dump(doc, sort_keys=False)
    settings, args = repo / "repo" / "settings.yaml", []
    if where.startswith("--"):
        settings = repo / "values.yaml"
        args = [where, str(settings)]
    settings.write_text(text, encoding="utf-8")
    try:
        r = run_cli("render", str(repo / "repo"), *args)
        lint = run_cli("lint", str(repo / "repo"), *args, "--format", "json")
    finally:
        settings.unlink()
    for what, run in (("render", r), ("lint", lint)):
        assert run.code in (0, 1, 2), (what, run.err)
        assert "internal error" not in run.err and "meshrender bug" not in run.err, (what, run.err, text)
    assert r.code in (0, 2)
    if r.code == 2:
        m = LOCATED.match(r.err)
        assert m and Path(m.group("file")) in (settings, repo / "repo" / "pod.yaml"), r.err
        assert lint.code in (1, 2), f"render refused it, lint found nothing:\n{r.err}"
        if lint.code == 2:  # a flag's file, or a whole-run error: the same message
            assert lint.err == r.err
    else:
        assert lint.code in (0, 1), lint.err
