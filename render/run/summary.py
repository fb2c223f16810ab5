"""The short report `render -o` prints: what was read, what was injected, in which mode."""

from __future__ import annotations

from typing import Any


def summarize(result: Any, output: str | None) -> str:
    """The summary; every line escaped (workload names come from the inputs)."""
    from meshrender.safetext import lines_text

    injected = [w for w in result.workloads if w.injected]
    skipped = [w for w in result.workloads if not w.injected]
    lines = [
        f"meshrender: read {result.documents} documents "
        f"({result.consumed} settings consumed), injected {len(injected)} of "
        f"{len(result.workloads)} workloads"
        + (f" into {output}" if output else ""),
    ]
    width = max((len(w.display) for w in result.workloads), default=0)
    for w in result.workloads:
        if w.injected:
            lines.append(f"  {w.display:<{width}}  {w.mode:<11}  {w.reason}")
        else:
            lines.append(f"  {w.display:<{width}}  {'skipped':<11}  {w.skipped}")
    if skipped and not injected:
        lines.append("  (no workload was injected)")
    return lines_text(lines)
