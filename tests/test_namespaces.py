"""Who is injected, as the cluster decides, when the inputs say how it decides: Namespace
labels (istio-injection, istio.io/rev, ambient), the pod label sidecar.istio.io/inject,
the injector's MutatingWebhookConfigurations (revision tags). Without a mesh label on the
namespace, the rendered-manifests pattern: meshrender injects, the cluster does not."""

from __future__ import annotations

import json

import yaml

from tests.conftest import pod_spec


def ns(labels: str = "") -> str:
    return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels: {{{labels}}}\n"


def app(name: str = "web", labels: str = "") -> str:
    extra = f", {labels}" if labels else ""
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}{extra}}}}}
    spec: {{containers: [{{name: {name}, image: nginx}}]}}
"""


def injected(out: str) -> dict[str, bool]:
    out_docs = [d for d in yaml.safe_load_all(out) if d and d["kind"] == "Deployment"]
    return {d["metadata"]["name"]: any(c["name"] == "istio-proxy" for key in ("containers", "initContainers")
                                       for c in pod_spec(d).get(key) or []) for d in out_docs}


def test_a_namespace_labelled_disabled_is_not_injected_and_says_why(cli, repo):
    root = repo({"ns.yaml": ns("istio-injection: disabled"), "app.yaml": app()})
    r = cli("render", str(root), "-o", str(root.parent / "out"))
    assert r.code == 0, r.err
    assert "Deployment shop/web  skipped      namespace shop is labelled istio-injection=disabled" in r.err
    r = cli("render", str(root))
    assert injected(r.out) == {"web": False}
    e = json.loads(cli("explain", str(root), "--workload", "shop/web", "--format", "json").out)
    assert e["injected"] is False and e["skipped"] == "namespace shop is labelled istio-injection=disabled"
    assert e["skipSource"]["kind"] == "Namespace" and e["skipSource"]["line"] == 5


def test_ambient_namespaces_are_not_injected(cli, repo):
    root = repo({"ns.yaml": ns("istio.io/dataplane-mode: ambient"), "app.yaml": app()})
    r = cli("render", str(root))
    assert injected(r.out) == {"web": False}
    assert "ambient mode" in r.err


def test_enabled_namespaces_are_injected_unless_the_pod_opts_out(cli, repo):
    root = repo({"ns.yaml": ns("istio-injection: enabled"), "a.yaml": app("web"),
                 "b.yaml": app("tool", 'sidecar.istio.io/inject: "false"')})
    assert injected(cli("render", str(root)).out) == {"web": True, "tool": False}


def test_unlabelled_namespaces_are_the_rendered_manifests_pattern(cli, repo):
    root = repo({"ns.yaml": ns(""), "app.yaml": app()})
    assert injected(cli("render", str(root)).out) == {"web": True}


def test_revision_tags_of_the_injector_webhooks_among_the_inputs(cli, repo):
    tag = """\
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-revision-tag-prod}
webhooks:
  - name: rev.namespace.sidecar-injector.istio.io
    namespaceSelector:
      matchExpressions:
        - {key: istio.io/rev, operator: In, values: [prod]}
        - {key: istio-injection, operator: DoesNotExist}
    objectSelector:
      matchExpressions:
        - {key: sidecar.istio.io/inject, operator: NotIn, values: ["false"]}
"""
    root = repo({"ns.yaml": ns("istio.io/rev: prod"), "app.yaml": app(), "hooks.yaml": tag})
    assert injected(cli("render", str(root)).out) == {"web": True}
    root = repo({"ns.yaml": ns("istio.io/rev: canary")})
    r = cli("render", str(root))
    assert injected(r.out) == {"web": False}
    assert "istio.io/rev=canary, which selects no injector webhook" in r.err


def test_istio_injection_wins_over_a_revision_label_on_the_same_namespace(cli, repo):
    # The revision webhooks skip namespaces labelled istio-injection; the default control
    # plane's webhook selects it (istioctl analyze IST0123 warns about the pair).
    root = repo({"ns.yaml": ns("istio-injection: enabled, istio.io/rev: canary"), "a.yaml": app("web")})
    assert injected(cli("render", str(root)).out) == {"web": True}
    # Only the revision label: that revision's webhook injects it.
    root = repo({"ns.yaml": ns("istio.io/rev: canary"), "a.yaml": app("web")})
    assert injected(cli("render", str(root)).out) == {"web": True}
