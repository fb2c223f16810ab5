"""Kubernetes label selectors (metav1.LabelSelector) on plain data."""

from __future__ import annotations

from typing import Any

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def matches(selector: Any, labels: dict[str, str], empty: bool = True) -> bool:
    """Whether `labels` satisfy `selector`.

    `empty` is the answer for a selector with no terms: Kubernetes' LabelSelectorAsSelector
    makes that match everything, while Istio's injector skips such selectors (match
    nothing). A malformed selector or an unknown operator matches nothing.
    """
    if not selector:
        return empty
    if not isinstance(selector, dict):
        return False
    match = selector.get("matchLabels") or {}
    exprs = selector.get("matchExpressions") or []
    if not isinstance(match, dict) or not isinstance(exprs, list):
        return False  # malformed (the schemas refuse it first where meshrender reads selectors)
    if not match and not exprs:
        return empty
    if any(labels.get(k) != str(v) for k, v in match.items()):
        return False
    for e in exprs:
        if not isinstance(e, dict) or e.get("operator") not in OPERATORS:
            return False
        key, op = e.get("key"), e["operator"]
        values = [str(v) for v in e.get("values") or []]
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True
