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
    not_manifests = result.run.skipped if result.run is not None else []
    if not_manifests:
        shown = ", ".join(not_manifests[:3]) + (f" and {len(not_manifests) - 3} more" if len(not_manifests) > 3 else "")
        lines.append(f"  skipped {len(not_manifests)} file{'s' if len(not_manifests) != 1 else ''} that hold no "
                     f"Kubernetes manifest (kustomizations and their patches, values files, ...): {shown}")
    resolver = result.run.resolver if result.run is not None else None
    if resolver is not None:
        release = resolver.release
        lines.append(f"  mesh: {release.label}" + ("" if release.given else
                     " (assumed: no --mesh-version or ClusterProfile meshVersion)"))
    width = max((len(w.display) for w in result.workloads), default=0)
    for w in result.workloads:
        if w.injected:
            lines.append(f"  {w.display:<{width}}  {w.mode:<11}  {w.reason}")
        else:
            lines.append(f"  {w.display:<{width}}  {'skipped':<11}  {w.skipped}")
    if skipped and not injected:
        lines.append("  (no workload was injected)")
    return lines_text(lines)
