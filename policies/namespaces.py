"""Namespace objects among the inputs: their injection labels, as `istioctl analyze` reads them."""

from __future__ import annotations

from collections.abc import Iterator

from meshrender.lint.finding import Fix, Hit
from meshrender.lint.model import LintModel, doc_subject
from meshrender.lint.rules import run_rule
from meshrender.settings.provenance import Place

INJECTION = "istio-injection"
REVISION = "istio.io/rev"
DATAPLANE = "istio.io/dataplane-mode"
ROOT_NAMESPACE = "istio-system"  # analyze skips it: the control plane's own namespace


def injection_labels(labels: dict) -> list[str]:
    """The labels IST0123 counts, in its order: istio-injection (any value); istio.io/rev
    and istio.io/dataplane-mode only when istio-injection is absent or "enabled" (with
    "disabled", the namespace is deliberately out of sidecar injection)."""
    found = [INJECTION] if INJECTION in labels else []
    if INJECTION not in labels or str(labels[INJECTION]) == "enabled":
        found += [k for k in (REVISION, DATAPLANE) if k in labels]
    return found


@run_rule(
    "namespace-multiple-injection-labels", "warning",
    title="A namespace has more than one injection label",
    rationale="""A Namespace labelled for injection in two ways (istio-injection=enabled and istio.io/rev,
    or either of them and istio.io/dataplane-mode) leaves which control plane injects its pods, and
    whether sidecar or ambient mode applies, to the order of webhook selectors: Istio's revision
    webhooks skip namespaces that have istio-injection, so the istio.io/rev label silently does
    nothing, which a canary upgrade by revision then gets wrong. `istioctl analyze` reports it as
    IST0123 (NamespaceMultipleInjectionLabels, istio/istio
    pkg/config/analysis/analyzers/injection/injection.go), with the same counting: istio.io/rev and
    istio.io/dataplane-mode count only next to istio-injection=enabled or without it; the
    istio-system namespace is not checked.""",
    fix="""Keep one injection label: istio.io/rev=REVISION for revision-based upgrades, or
    istio-injection=enabled for the default revision; istio.io/dataplane-mode=ambient only for
    ambient namespaces.""",
    autofix="""removes istio.io/rev from a namespace that also has istio-injection=enabled (and no
    istio.io/dataplane-mode): Istio's revision webhooks ignore it there, so nothing changes in the
    cluster""",
)
def namespace_multiple_injection_labels(model: LintModel) -> Iterator[Hit]:
    for name in sorted(model.namespaces):
        if name == ROOT_NAMESPACE:
            continue
        doc = model.namespaces[name]
        meta = doc.data.get("metadata") if isinstance(doc.data.get("metadata"), dict) else {}
        labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
        found = injection_labels(labels)
        if len(found) < 2:
            continue
        shown = ", ".join(f"{k}={labels[k]}" for k in found)
        fix = None
        if found == [INJECTION, REVISION]:
            advice = (f"the revision webhooks skip namespaces labelled {INJECTION}, so {REVISION}="
                      f"{labels[REVISION]} does nothing: remove it, or replace {INJECTION} with it for a "
                      "revision-based upgrade")
            fix = Fix(f"remove the label {REVISION} from Namespace {name}", doc,
                      (("delete", ("metadata", "labels", REVISION), 1),))
        else:
            advice = "which applies depends on the webhooks' selectors; keep the one this namespace should use"
        anchor = Place(doc, ("metadata", "labels", found[1]))
        yield Hit(f"Namespace {name} has more than one injection label ({shown}) (IST0123); {advice}",
                  anchor, doc_subject(doc, model.namespaces), fix)
