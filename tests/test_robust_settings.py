"""Contradictory and ambiguous settings: what counts as a conflict, and what scope means.

The catalog (test_robust_catalog.py) covers the basic conflicts with their messages;
these tests pin down the scope rules around them: a SidecarProxySettings without a
namespace is global (also `namespace: null`), an empty namespace is an error, settings
at different scopes never conflict (the more specific wins), and two settings of one
scope conflict only for a workload they both apply to.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import container, run_cli

SPS = "apiVersion: meshrender.dev/v1alpha1\nkind: SidecarProxySettings\n"


def app(name: str, namespace: str, label: str = "web") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  template:
    metadata: {{labels: {{app: {label}}}}}
    spec:
      containers: [{{name: app, image: nginx}}]
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def proxy_cpu(doc: dict) -> str:
    return container(doc, "istio-proxy")["resources"]["requests"]["cpu"]


def test_settings_without_namespace_are_global(tmp_path):
    root = write(tmp_path / "repo", {
        "a.yaml": app("a", "shop") + "---\n" + app("b", "pay"),
        "g.yaml": SPS + "metadata: {name: g}\nspec: {proxy: {resources: {requests: {cpu: 300m}}}}\n",
    })
    r = run_cli("render", str(root))
    assert r.code == 0, r.err
    assert [proxy_cpu(d) for d in r.docs()] == ["300m", "300m"]


def test_a_blank_namespace_is_not_global(tmp_path):
    """`namespace:` with nothing after it is most often a template that rendered empty;
    reading it as global would apply the settings everywhere, so it is refused."""
    for value in ("", '""', "null", "~"):
        root = write(tmp_path / f"repo{len(value)}", {
            "a.yaml": app("a", "shop"),
            "n.yaml": SPS + f"metadata:\n  name: ns\n  namespace: {value}\nspec: {{proxy: {{concurrency: 3}}}}\n",
        })
        r = run_cli("render", str(root))
        assert r.code == 2
        assert r.err.startswith(f"meshrender: {root}/n.yaml:5:3: error: metadata.namespace: SidecarProxySettings "
                                "has an empty metadata.namespace; remove it for global scope or name the namespace")


def test_scopes_never_conflict_the_most_specific_wins(tmp_path):
    root = write(tmp_path / "repo", {
        "a.yaml": app("a", "shop") + "---\n" + app("b", "shop", "batch") + "---\n" + app("c", "pay"),
        "s.yaml": SPS + "metadata: {name: g}\nspec: {proxy: {resources: {requests: {cpu: 100m}}}}\n---\n"
                  + SPS + "metadata: {name: ns, namespace: shop}\nspec: {proxy: {resources: {requests: {cpu: 200m}}}}\n"
                  + "---\n" + SPS + "metadata: {name: w, namespace: shop}\n"
                  "spec: {selector: {matchLabels: {app: batch}}, proxy: {resources: {requests: {cpu: 50m}}}}\n",
    })
    r = run_cli("render", str(root))
    assert r.code == 0, r.err
    assert [proxy_cpu(d) for d in r.docs()] == ["200m", "50m", "100m"]


def test_two_workload_settings_conflict_only_where_both_apply(tmp_path):
    files = {
        "a.yaml": app("a", "shop", "web"),
        "w1.yaml": SPS + "metadata: {name: w1, namespace: shop}\n"
                   "spec:\n  selector: {matchLabels: {app: web}}\n  proxy: {concurrency: 1}\n",
        "w2.yaml": SPS + "metadata: {name: w2, namespace: shop}\n"
                   "spec:\n  selector: {matchExpressions: [{key: app, operator: In, values: [web]}]}\n"
                   "  proxy: {concurrency: 2}\n",
    }
    root = write(tmp_path / "repo", files)
    out = tmp_path / "out"
    r = run_cli("render", str(root), "-o", str(out))
    assert r.code == 2
    first = r.err.splitlines()[0]
    assert first.startswith(f"meshrender: {root}/w2.yaml:6:11: error: spec.proxy.concurrency: workload settings "
                            "disagree on spec.proxy.concurrency: SidecarProxySettings shop/w1 (workload) "
                            f"({root}/w1.yaml:6:11) sets 1, SidecarProxySettings shop/w2 (workload) sets 2"), first
    assert not out.exists()
    # the same two documents, for different workloads: no conflict
    (root / "w2.yaml").write_text(files["w2.yaml"].replace("values: [web]", "values: [api]"), encoding="utf-8")
    (root / "b.yaml").write_text(app("b", "shop", "api"), encoding="utf-8")
    r = run_cli("render", str(root), "-o", str(out))
    assert r.code == 0, r.err


def test_agreeing_settings_of_one_scope_are_no_conflict(tmp_path):
    root = write(tmp_path / "repo", {
        "a.yaml": app("a", "shop"),
        "s.yaml": SPS + "metadata: {name: one}\nspec: {proxy: {concurrency: 2}, dnsProxy: true}\n---\n"
                  + SPS + "metadata: {name: two}\nspec: {proxy: {concurrency: 2}}\n",
    })
    r = run_cli("render", str(root))
    assert r.code == 0, r.err


def test_conflict_keeps_the_previous_output(tmp_path):
    root = write(tmp_path / "repo", {"a.yaml": app("a", "shop")})
    out = tmp_path / "out"
    assert run_cli("render", str(root), "-o", str(out)).code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    write(root, {"p1.yaml": "apiVersion: meshrender.dev/v1alpha1\nkind: ClusterProfile\nmetadata: {name: a}\n"
                            "spec: {kubernetesVersion: \"1.30\"}\n---\n"
                            "apiVersion: meshrender.dev/v1alpha1\nkind: ClusterProfile\nmetadata: {name: b}\n"
                            "spec: {kubernetesVersion: \"1.28\"}\n"})
    r = run_cli("render", str(root), "-o", str(out))
    assert r.code == 2
    assert r.err.startswith(f"meshrender: {root}/p1.yaml:7:1: error: kind: a second ClusterProfile (b); the first, "
                            f"a, is at {root}/p1.yaml:2:1")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_two_asm_mesh_configs(tmp_path):
    amc = "apiVersion: istio.alibabacloud.com/v1beta1\nkind: ASMMeshConfig\nmetadata: {name: %s}\n" \
          "spec: {enableNativeSidecar: %s}\n"
    root = write(tmp_path / "repo", {"a.yaml": app("a", "shop"), "m1.yaml": amc % ("one", "true"),
                                     "m2.yaml": amc % ("two", "false")})
    r = run_cli("render", str(root))
    assert r.code == 2
    assert r.err.startswith(f"meshrender: {root}/m2.yaml:2:1: error: kind: a second ASMMeshConfig; the first is at "
                            f"{root}/m1.yaml:2:1")
    assert r.out == ""


def test_unmatched_selector_warns_and_still_renders(tmp_path):
    root = write(tmp_path / "repo", {
        "a.yaml": app("a", "shop"),
        "s.yaml": SPS + "metadata: {name: orphan, namespace: shop}\nspec:\n  selector:\n"
                  "    matchLabels: {app: gone}\n  proxy: {concurrency: 9}\n",
    })
    out = tmp_path / "out"
    r = run_cli("render", str(root), "-o", str(out))
    assert r.code == 0
    assert f"{root}/s.yaml:5:3: warning: SidecarProxySettings orphan: selector matches no workload" in r.err
    assert (out / "a.yaml").exists()
