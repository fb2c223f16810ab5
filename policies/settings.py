"""Settings documents that apply to nothing: a namespace without workloads, a selector
that matches none. render warns about selectors; lint reports both, with the labels and
namespaces the inputs do have when one is a near miss."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from meshrender.lint.finding import Hit
from meshrender.lint.model import LintModel, WorkloadView, doc_subject
from meshrender.lint.rules import run_rule
from meshrender.settings.collect import SidecarSettings
from meshrender.settings.provenance import Place

RULE = "settings-apply-to-no-workload"


def _seen(view: WorkloadView) -> Iterator[tuple[Any, Any]]:
    """What a near miss is looked up in: the workload's namespace and its pod labels."""
    yield ("namespace", view.namespace), None
    for key, value in view.workload.labels.items():
        yield ("label", view.namespace, str(key), str(value)), None


def _close(word: str, candidates: set[str]) -> str | None:
    found = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.75)
    return found[0] if found else None


def _selector_hint(s: SidecarSettings, labels: dict[str, set[tuple[str, str]]]) -> tuple[str, tuple]:
    """`; did you mean app: checkout?` and the matchLabels entry to change, when one is a
    near miss of a label that workloads in scope carry; else no hint and the selector."""
    pairs = set().union(*labels.values()) if s.namespace is None else labels.get(s.namespace, set())
    match = (s.selector or {}).get("matchLabels") if isinstance(s.selector, dict) else None
    for key, value in (match or {}).items() if isinstance(match, dict) else ():
        key, value = str(key), str(value)
        if (key, value) in pairs:
            continue
        values = {v for k, v in pairs if k == key}
        if values:
            near = _close(value, values)
            if near:
                return f"; did you mean {key}: {near}?", ("spec", "selector", "matchLabels", key)
            continue
        near_key = _close(key, {k for k, _ in pairs})
        if near_key:
            return f"; did you mean the label {near_key}?", ("spec", "selector", "matchLabels", key)
    return "", ("spec", "selector")


@run_rule(
    RULE, "warning",
    title="A SidecarProxySettings document applies to no workload",
    rationale="""A namespace SidecarProxySettings for a namespace that has no workload among the inputs,
    or a workload one whose spec.selector matches no workload, changes nothing: usually a misspelt
    namespace or label, or settings left behind after a workload moved. render warns about such
    selectors ("selector matches no workload"); lint reports both. Lint the folders that hold the
    workloads together with the settings (a pre-commit hook passes only changed files: give the
    workload folders in args), or silence it with meshrender.dev/ignore on the settings document.""",
    fix="""Correct metadata.namespace or the selector's labels (the message names a near miss when the
    inputs have one), or delete the document.""",
    count=_seen,
)
def settings_apply_to_no_workload(model: LintModel) -> Iterator[Hit]:
    seen = model.tallies.get(RULE, {})
    namespaces = {key[1] for key in seen if key[0] == "namespace"}
    labels: dict[str, set[tuple[str, str]]] = {}
    for key in seen:
        if key[0] == "label":
            labels.setdefault(key[1], set()).add((key[2], key[3]))
    for s in model.unused_settings:
        subject = doc_subject(s.doc, model.namespaces)
        name = f"SidecarProxySettings {s.namespace + '/' if s.namespace else ''}{s.name}"
        if s.scope == "namespace":
            near = _close(str(s.namespace), namespaces - {s.namespace})
            hint = f"; did you mean namespace {near}?" if near else ""
            yield Hit(f"{name} applies to namespace {s.namespace}, which has no workload among the inputs: it "
                      f"changes nothing{hint}", Place(s.doc, ("metadata", "namespace")), subject)
        else:
            where = f"in namespace {s.namespace}" if s.namespace else "in any namespace"
            hint, path = _selector_hint(s, labels)
            yield Hit(f"{name}: spec.selector matches no workload {where} among the inputs, so these settings "
                      f"change nothing{hint}", Place(s.doc, path), subject)
