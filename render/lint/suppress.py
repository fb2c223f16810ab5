"""`meshrender.dev/ignore: rule-a,rule-b`: opting a workload or a namespace out of rules.

The annotation is read from the workload's own metadata, its pod template and its
Namespace object (when the inputs hold one); `*` silences every rule. Suppressed findings
are still counted, so a summary shows how much is being ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

IGNORE = "meshrender.dev/ignore"
ALL = "*"


def parse(value: Any) -> list[str]:
    """Rule ids in an ignore annotation's value (comma or whitespace separated)."""
    if not isinstance(value, str):
        return []
    return [p for p in value.replace(",", " ").split() if p]


def ignores_of(sources: Iterable[tuple[dict[str, Any], str]]) -> dict[str, str]:
    """Rule id -> where it was ignored, from (metadata, description) pairs; first one wins."""
    out: dict[str, str] = {}
    for meta, where in sources:
        anns = meta.get("annotations") if isinstance(meta, dict) else None
        if not isinstance(anns, dict) or IGNORE not in anns:
            continue
        for rule in parse(anns[IGNORE]):
            out.setdefault(rule, f"{IGNORE} on {where}")
    return out


def suppressed_by(ignores: dict[str, str], rule: str) -> str | None:
    return ignores.get(rule) or ignores.get(ALL)
