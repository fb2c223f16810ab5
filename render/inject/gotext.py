"""How Go's template engine would print and test values, for the few places it shows.

Istio's template reads values through `fmt.Sprint` and tests them with Go's truthiness;
the same inputs must give the same strings here (`15020`, `true`, `<nil>`).
"""

from __future__ import annotations

from typing import Any


def sprint(value: Any) -> str:
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)


def truthy(value: Any) -> bool:
    """Go template truth: false, 0, nil, and empty strings, maps and lists are false."""
    if value is None or value is False:
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0
    if isinstance(value, (str, dict, list, tuple)):
        return len(value) > 0
    return True


def lookup(tree: Any, dotted: str, default: Any = None) -> Any:
    """`tree.a.b.c` as the template's `.Values.a.b.c` reads it (missing is `default`)."""
    node = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def value_or_default(value: Any, default: Any) -> Any:
    """Istio's `valueOrDefault`: empty string and nil fall back to the default."""
    return default if value is None or value == "" else value


def annotation(annotations: dict[str, str], name: str, default: Any) -> str:
    """Istio's `annotation` helper: the annotation if set (even empty), else the default."""
    if name in annotations:
        return annotations[name]
    return sprint(default)
