"""How `meshrender report` prints: an aligned table, JSON, markdown or CSV.

- text: per workload and resource, the proxy's and istio-init's request/limit per pod,
  the pod's effective request without the mesh, native and traditional, and what the
  mode that runs adds (× pods); then totals per namespace and overall, DaemonSets apart
  (per node); then notes.
- json: everything, per pod and × pods, limits and unbounded limits included.
- markdown: totals, then the workloads in a collapsed section, for a pull-request
  comment. Every name from the inputs is in a code span, where markdown, HTML, mentions
  and links mean nothing; `|` is escaped in tables.
- csv: one row per workload, one column per figure and resource.

Names from the inputs are untrusted: text escapes control and bidirectional characters,
CSV keeps a spreadsheet from reading a name as a formula.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from typing import Any

from meshrender import __version__
from meshrender.kube.podresources import Q, ResourceList
from meshrender.report.cost import MeshContainer, PodCost, Report, Totals, WorkloadCost, resource_order
from meshrender.settings.mode import show

NONE = "-"

# -- values -----------------------------------------------------------------------------

def q(rl: ResourceList, name: str) -> str:
    got = rl.get(name)
    return NONE if got is None else str(got)


def signed(rl: ResourceList, name: str) -> str:
    got = rl.get(name)
    if got is None:
        return NONE
    text = str(got)
    return text if got.value <= 0 else f"+{text}"


def pair(requests: ResourceList, limits: ResourceList, name: str, unbounded: set[str] = frozenset()) -> str:
    """`request/limit`, `-` for either not set (a total over containers some of which have
    no limit on `name` is no limit either)."""
    if name not in requests and name not in limits:
        return NONE
    return f"{q(requests, name)}/{NONE if name in unbounded else q(limits, name)}"


def quantities(rl: ResourceList) -> dict[str, str]:
    return {name: str(rl[name]) for name in resource_order(list(rl))}


def _times(rl: ResourceList, n: int) -> ResourceList:
    return {name: Q(v.value * n, v.fmt) for name, v in rl.items()}


_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """A string from the inputs, fit for a terminal: control and bidirectional characters
    escaped (a workload name cannot move the cursor or reverse the line)."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def cluster_line(r: Report) -> str:
    c = r.cluster
    if c is None:
        return ""
    mesh = "Istio" if c.flavor == "istio" else "ASM"
    return f"flavor {c.flavor}, Kubernetes {show(c.kube_version)}, {mesh} {show(c.mesh_version)}"


def summary(r: Report) -> str:
    n = len(r.workloads)
    namespaces = len({w.namespace for w in r.workloads})
    injected = [w for w in r.workloads if w.injected]
    native = sum(1 for w in injected if w.mode == "native")
    return (f"{n} workload{'s' if n != 1 else ''} in {namespaces} namespace{'s' if namespaces != 1 else ''}, "
            f"{len(injected)} injected ({native} native, {len(injected) - native} traditional)")


def _workload_resources(w: WorkloadCost, order: list[str]) -> list[str]:
    names: set[str] = set()
    for cost in (w.without_mesh, w.native, w.traditional):
        if cost is not None:
            names.update(cost.requests)
    for c in (w.proxy, w.init):
        if c is not None:
            names.update(c.requests)
            names.update(c.limits)
    return [r for r in order if r in names] or order[:1]


def _mode_cell(w: WorkloadCost) -> str:
    return w.mode or "not injected"


def _container_pair(c: MeshContainer | None, name: str) -> str:
    return NONE if c is None else pair(c.requests, c.limits, name)


def _pod_request(w: WorkloadCost, cost: PodCost | None, name: str) -> str:
    if not w.injected or cost is None:
        return NONE
    return q(cost.requests, name)


def _mesh_total(w: WorkloadCost, name: str) -> str:
    if not w.injected:
        return "0"
    return signed(_times(w.mesh_cost, w.pods), name)


def notes(r: Report) -> list[tuple[WorkloadCost, str]]:
    out = []
    for w in r.workloads:
        if not w.injected and w.skipped:
            out.append((w, f"not injected: {w.skipped}"))
        out += [(w, n) for n in (*w.replicas.notes, *w.notes)]
    return out


WORKLOAD_COLUMNS = ["WORKLOAD", "PODS", "MODE", "RESOURCE", "PROXY", "ISTIO-INIT", "NO MESH", "NATIVE",
                    "TRADITIONAL", "MESH COST x PODS"]
TOTAL_COLUMNS = ["NAMESPACE", "RESOURCE", "PROXY", "ISTIO-INIT", "NO MESH", "AS RENDERED", "ALL NATIVE",
                 "ALL TRADITIONAL", "MESH COST"]


def workload_rows(r: Report, name: Callable[[str], str]) -> list[list[str]]:
    order = r.resources()
    rows = []
    for w in r.workloads:
        for k, res in enumerate(_workload_resources(w, order)):
            head = [name(w.display), w.replicas.show(), _mode_cell(w)] if k == 0 else ["", "", ""]
            rows.append([*head, name(res), _container_pair(w.proxy, res), _container_pair(w.init, res),
                         q(w.without_mesh.requests, res), _pod_request(w, w.native, res),
                         _pod_request(w, w.traditional, res), _mesh_total(w, res)])
    return rows


def total_rows(r: Report, name: Callable[[str], str], everyone: str) -> list[list[str]]:
    groups: list[tuple[str, Totals]] = []
    for ns, fixed, per_node in r.groups():
        groups += [(name(ns), fixed), (f"{name(ns)} (per node)", per_node)]
    fixed, per_node = r.overall()
    groups += [(everyone, fixed), (f"{everyone} (per node)", per_node)]
    rows = []
    for label, t in groups:
        if not t.workloads:
            continue
        for k, res in enumerate(t.resources() or r.resources()[:1]):
            rows.append([label if k == 0 else "", name(res), pair(t.proxy_requests, t.proxy_limits, res,
                                                                   t.proxy_unbounded),
                         pair(t.init_requests, t.init_limits, res, t.init_unbounded),
                         q(t.without_mesh, res), q(t.rendered, res),
                         q(t.native, res), q(t.traditional, res), signed(t.mesh_cost, res)])
    return rows


# -- text -------------------------------------------------------------------------------

def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in [header, *rows]]


def text(r: Report) -> str:
    lines = [f"meshrender report: {summary(r)}" + (f"; {cluster_line(r)}" if r.cluster else "")]
    if not r.workloads:
        return "\n".join([*lines, "no workloads"]) + "\n"
    lines += ["PROXY and ISTIO-INIT: request/limit per pod; NO MESH, NATIVE, TRADITIONAL: the pod's effective "
              "request (KEP-753),", "MODE says which of the two runs, the other is what it would ask for in the "
              "other mode;", "MESH COST: what the mode that runs adds to the pod's request, times the pods "
              "(per node for DaemonSets)", ""]
    lines += _table(WORKLOAD_COLUMNS, workload_rows(r, safe))
    lines += ["", "Totals (requests and limits times pods; AS RENDERED: each workload in the mode that runs):", ""]
    lines += _table(TOTAL_COLUMNS, total_rows(r, safe, "all namespaces"))
    found = notes(r)
    if found:
        lines += ["", "Notes:"] + [f"  {safe(w.display)}: {safe(n)}" for w, n in found]
    return "\n".join(lines) + "\n"


# -- json -------------------------------------------------------------------------------

def _pod_json(cost: PodCost | None, n: int = 1) -> dict[str, Any] | None:
    if cost is None:
        return None
    return {"requests": quantities(_times(cost.requests, n)), "limits": quantities(_times(cost.limits, n)),
            "unboundedLimits": cost.unbounded}


def _container_json(c: MeshContainer | None, n: int = 1) -> dict[str, Any] | None:
    if c is None:
        return None
    return {"container": c.name, "requests": quantities(_times(c.requests, n)),
            "limits": quantities(_times(c.limits, n))}


def _figures(w: WorkloadCost, n: int) -> dict[str, Any]:
    return {
        "proxy": _container_json(w.proxy, n),
        "init": _container_json(w.init, n),
        "withoutMesh": _pod_json(w.without_mesh, n),
        "native": _pod_json(w.native, n) if w.injected else None,
        "traditional": _pod_json(w.traditional, n) if w.injected else None,
        "meshCost": quantities(_times(w.mesh_cost, n)),
    }


def workload_json(w: WorkloadCost) -> dict[str, Any]:
    loc = w.location
    return {
        "kind": w.kind, "namespace": w.namespace, "name": w.name,
        "file": loc.path, "line": loc.line, "column": loc.column,
        "injected": w.injected, "skipped": w.skipped,
        "mode": w.mode, "modeReason": w.mode_reason,
        "otherMode": None if w.mode is None else ("traditional" if w.mode == "native" else "native"),
        "replicas": {"count": w.replicas.count, "perNode": w.replicas.per_node, "source": w.replicas.source},
        "perPod": _figures(w, 1),
        "total": _figures(w, w.pods) if not w.replicas.per_node else None,
        "notes": [*w.replicas.notes, *w.notes],
    }


def totals_json(t: Totals) -> dict[str, Any]:
    return {
        "workloads": t.workloads,
        "proxy": {"requests": quantities(t.proxy_requests), "limits": quantities(t.proxy_limits),
                  "unboundedLimits": resource_order(t.proxy_unbounded)},
        "init": {"requests": quantities(t.init_requests), "limits": quantities(t.init_limits),
                 "unboundedLimits": resource_order(t.init_unbounded)},
        "withoutMesh": quantities(t.without_mesh),
        "asRendered": quantities(t.rendered),
        "native": quantities(t.native),
        "traditional": quantities(t.traditional),
        "meshCost": quantities(t.mesh_cost),
    }


def as_json(r: Report) -> str:
    c = r.cluster
    fixed, per_node = r.overall()
    doc = {
        "tool": {"name": "meshrender", "version": __version__},
        "cluster": None if c is None else {
            "flavor": c.flavor, "kubernetesVersion": show(c.kube_version) if c.kube_version else None,
            "meshVersion": show(c.mesh_version) if c.mesh_version else None, "provider": c.provider},
        "podLevelResources": r.pod_level_resources,
        "workloads": [workload_json(w) for w in r.workloads],
        "namespaces": [{"namespace": ns, "total": totals_json(f), "perNode": totals_json(p)}
                       for ns, f, p in r.groups()],
        "total": totals_json(fixed),
        "perNode": totals_json(per_node),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# -- markdown ---------------------------------------------------------------------------

def code(value: str, table: bool = True) -> str:
    """`value` as a markdown code span: nothing in it is markup, HTML, a link or a mention.
    Control characters are escaped (a newline would end the table row); in a table `|` is
    escaped, which GitHub's tables honour inside code spans too."""
    text = safe(value)
    if table:
        text = text.replace("|", "\\|")
    if not text:
        return "` `"
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (run + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return out


def markdown(r: Report) -> str:
    lines = ["### meshrender report: what the mesh costs", "",
             f"{summary(r)}" + (f"; {cluster_line(r)}" if r.cluster else "") + ".", ""]
    if not r.workloads:
        return "\n".join([*lines, "No workloads."]) + "\n"
    lines += ["Requests (and limits of the proxy and istio-init) times pods; *as rendered*: each workload in the "
              "mode that runs; *mesh cost*: what that adds to the pods' effective requests.", ""]
    lines += _md_table([h.capitalize() if h != "ISTIO-INIT" else "istio-init" for h in TOTAL_COLUMNS],
                       total_rows(r, code, "**all namespaces**"))
    lines += ["", f"<details><summary>Per workload ({len(r.workloads)})</summary>", "",
              "Proxy and istio-init: request/limit per pod; no mesh, native, traditional: the pod's effective "
              "request (KEP-753), in the mode that runs and as it would be in the other; mesh cost: what the "
              "mode that runs adds, times the pods.", ""]
    lines += _md_table([h.capitalize() if h != "ISTIO-INIT" else "istio-init" for h in WORKLOAD_COLUMNS],
                       workload_rows(r, code))
    lines += ["", "</details>"]
    found = notes(r)
    if found:
        lines += ["", "Notes:", ""] + [f"- {code(w.display, False)}: {code(n, False)}" for w, n in found]
    return "\n".join(lines) + "\n"


# -- csv --------------------------------------------------------------------------------

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A text cell from the inputs: one a spreadsheet would run as a formula gets a `'`."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


CSV_FIELDS = ["namespace", "kind", "name", "file", "line", "injected", "mode", "mode_reason", "pods", "per_node",
              "notes"]
CSV_FIGURES = ["proxy_request", "proxy_limit", "init_request", "init_limit", "pod_request_no_mesh",
               "pod_request_native", "pod_request_traditional", "pod_limit_no_mesh", "pod_limit_native",
               "pod_limit_traditional", "mesh_cost_total"]


def _csv_figures(w: WorkloadCost, res: str) -> list[str]:
    def get(rl: ResourceList | None) -> str:
        return "" if rl is None or res not in rl else str(rl[res])

    native = w.native if w.injected else None
    traditional = w.traditional if w.injected else None
    return [
        get(w.proxy.requests if w.proxy else None), get(w.proxy.limits if w.proxy else None),
        get(w.init.requests if w.init else None), get(w.init.limits if w.init else None),
        get(w.without_mesh.requests), get(native.requests if native else None),
        get(traditional.requests if traditional else None),
        get(w.without_mesh.limits), get(native.limits if native else None),
        get(traditional.limits if traditional else None),
        get(_times(w.mesh_cost, w.pods)) if w.injected else "",
    ]


def as_csv(r: Report) -> str:
    resources = r.resources() or ["cpu", "memory"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CSV_FIELDS, *(f"{f}_{res}" for res in resources for f in CSV_FIGURES)])
    for w in r.workloads:
        note = "; ".join([*([f"not injected: {w.skipped}"] if not w.injected and w.skipped else []),
                          *w.replicas.notes, *w.notes])
        row = [cell(w.namespace), cell(w.kind), cell(w.name), cell(w.location.path), w.location.line,
               str(w.injected).lower(), w.mode or "", cell(w.mode_reason), "" if w.replicas.per_node else w.pods,
               str(w.replicas.per_node).lower(), cell(note)]
        for res in resources:
            row += _csv_figures(w, res)
        writer.writerow(row)
    return out.getvalue()


FORMATS: dict[str, Callable[[Report], str]] = {"text": text, "json": as_json, "markdown": markdown, "csv": as_csv}
