"""Field paths as people read them: `spec.containers[0].image`, `annotations["a.b/c"]`.

Keys that are not plain identifiers (annotation names, label keys) are bracketed and
quoted so that the path stays unambiguous when it is copied into a jq or yq query.
"""

from __future__ import annotations

from collections.abc import Iterable


def _plain(key: str) -> bool:
    return bool(key) and all(ch.isalnum() or ch in "_-" for ch in key)


def step(key: object, first: bool = False) -> str:
    """One path step: `.key`, `[3]` or `["odd.key"]`."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"[{key}]"
    s = str(key)
    if _plain(s):
        return s if first else f".{s}"
    return '["' + s.replace("\\", "\\\\").replace('"', '\\"') + '"]'


def format_path(path: Iterable[object]) -> str:
    out = ""
    for key in path:
        out += step(key, first=not out)
    return out
