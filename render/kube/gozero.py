"""kube-inject's Go round trip of the objects around a pod, applied from a data table.

See render/data/go-zero-values.yaml: which zero-valued fields Go's encoding adds to or
removes from each kind. Matching this keeps our output identical to kube-inject's.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from meshrender import bundled


@cache
def _table() -> dict[str, Any]:
    return bundled.load("go-zero-values.yaml") or {}


def _add(target: dict, defaults: dict) -> None:
    for k, v in defaults.items():
        if isinstance(v, dict):
            node = target.get(k)
            if node is None:
                node = target[k] = {}
            if isinstance(node, dict):
                _add(node, v)
        elif k not in target:
            target[k] = v


def apply(obj: dict) -> None:
    """Normalise a typed object (not a List) in place."""
    rules = _table().get(obj.get("kind"))
    if not rules:
        return
    _add(obj, rules.get("add") or {})
    for path in rules.get("dropZero") or []:
        node: Any = obj
        for p in path[:-1]:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]) in (0, False, "") and path[-1] in node:
            del node[path[-1]]
