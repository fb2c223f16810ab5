"""How `meshrender explain` prints its answer: a table to read in seconds, or JSON.

The text puts one setting per line in aligned columns (setting, value the pod gets,
winning source, file:line), with what an annotation or a narrower setting overrode and
any caveat on an indented line below. JSON carries everything: every overridden value
with its source, composed parts, line and column.
"""

from __future__ import annotations

import json
from typing import Any

from meshrender.errors import Location
from meshrender.explain.answer import Explanation, cluster_summary
from meshrender.settings.mode import RULES
from meshrender.settings.provenance import MISSING, Effective, Origin, Step

VALUE_WIDTH = 32
_DEFAULTS = ("flavor-default", "istio-default", "injector")


def show_value(value: Any) -> str:
    if value is None or value is MISSING:
        return "(not set)"
    if value == "":
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        command = (value.get("exec") or {}).get("command") if isinstance(value.get("exec"), dict) else None
        if len(value) == 1 and isinstance(command, list):
            return "exec: " + " ".join(map(str, command))
        return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)
    if isinstance(value, list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _loc(loc: Location | None) -> str:
    return f"{loc.path}:{loc.line}" if loc else ""


def _source_text(s: Origin) -> str:
    return f"{s.name}  {_loc(s.location())}".rstrip()


def _sublines(s: Effective) -> list[str]:
    """Caveats under a row: the spelling it was set as, what it overrode (when that is news)."""
    out = []
    if s.configured is not MISSING:
        out.append(f"set as {show_value(s.configured)}; the pod gets {show_value(s.value)}")
    if s.overridden:
        first = s.overridden[0]
        same = first.value is not None and show_value(first.value) == show_value(s.value)
        if not same and (s.origin.kind in ("annotation", "container") or first.origin.kind not in _DEFAULTS):
            if first.value is None:
                out.append(f"removes the value of {_source_text(first.origin)}")
            else:
                verb = "drops" if s.value is None else "overrides"
                out.append(f"{verb} {show_value(first.value)} from {_source_text(first.origin)}")
    if s.parts and any(step.origin.kind != "flavor-default" for _, step in s.parts):
        out.append("composed: " + ", ".join(
            f"{part} {show_value(step.value)} ({step.origin.name})" for part, step in s.parts))
    out += s.notes
    return out


def _table(rows: list[tuple[str, str, str, str, list[str]]]) -> list[str]:
    w_name = max(len(r[0]) for r in rows)
    w_value = min(VALUE_WIDTH, max(len(r[1]) for r in rows))
    w_source = max(len(r[2]) for r in rows)
    lines = [f"{'SETTING':<{w_name}}  {'VALUE':<{w_value}}  {'SOURCE':<{w_source}}  LOCATION"]
    pad = " " * (w_name + 2)
    for name, value, source, where, subs in rows:
        if len(value) > w_value:
            lines.append(f"{name:<{w_name}}  {value}")
            lines.append(f"{pad}{'':<{w_value}}  {source:<{w_source}}  {where}".rstrip())
        else:
            lines.append(f"{name:<{w_name}}  {value:<{w_value}}  {source:<{w_source}}  {where}".rstrip())
        lines += [f"{pad}  ↳ {sub}" for sub in subs]
    return lines


def text(e: Explanation) -> str:
    w = e.workload
    lines = [f"{w.display}  {_loc(e.location)}".rstrip(), f"cluster  {cluster_summary(e.cluster)}"]
    m = e.mode
    if not e.injected:
        lines.append(f"not injected: {e.skipped}")
        skip = _skip_source(e)
        if skip:
            lines.append(f"         from {_source_text(skip)}")
    else:
        lines.append(f"mode     {_mode(m)} — {m.reason}")
        lines.append(f"         rule {m.rule} of 5, first match wins: {RULES[m.rule]}")
        lines += [f"         from {_source_text(s)}" for s in _mode_sources(m)]
        if m.overridden:
            first = m.overridden[0]
            lines.append(f"         overrides nativeSidecar: {show_value(first.value)} "
                         f"from {_source_text(first.origin)}")
        lines += [f"         note: {n}" for n in m.notes]
    if e.settings:
        lines.append("")
        rows = [(s.name, show_value(s.value), s.origin.name, _loc(s.origin.location()), _sublines(s))
                for s in e.settings]
        rows += [(f"other: {a.origin.name.removeprefix('annotation ')}", show_value(a.value), "annotation",
                  _loc(a.origin.location()), []) for a in e.other_annotations]
        lines += _table(rows)
    if e.notes:
        lines.append("")
        lines += [f"note: {n}" for n in e.notes]
    from meshrender.safetext import lines_text

    return lines_text(lines) + "\n"  # names and values come from the inputs: escaped


# -- JSON -----------------------------------------------------------------------------------

def _mode(m: Effective) -> str:
    return "native" if m.value else "traditional"


def _mode_sources(m: Effective) -> list[Origin]:
    """What decided the mode: the winning origin, or (auto) the versions it read."""
    if m.rule == 5:
        return m.sources
    return [m.origin]


def _skip_source(e: Explanation) -> Origin | None:
    """What opted the workload out, when a file (or the pod itself) says so."""
    d = e.decision
    if d is None or d.origin.kind in _DEFAULTS:
        return None
    return d.origin


def _source(s: Origin | None) -> dict | None:
    if s is None:
        return None
    out: dict[str, Any] = {"kind": s.kind, "name": s.name}
    if s.scope:
        out["scope"] = s.scope
    loc = s.location()
    if loc:
        out.update(file=loc.path, line=loc.line, column=loc.column)
    if s.field:
        out["field"] = s.field
    return out


def _value(v: Any) -> Any:
    return None if v is MISSING else v


def _step(step: Step) -> dict:
    return {"value": _value(step.value), "source": _source(step.origin)}


def _setting(s: Effective) -> dict:
    out: dict[str, Any] = {"setting": s.name, "value": _value(s.value), "source": _source(s.origin)}
    if s.configured is not MISSING:
        out["configured"] = s.configured
    out["overridden"] = [_step(o) for o in s.overridden]
    if s.parts:
        out["parts"] = [{"part": part, **_step(step)} for part, step in s.parts]
    if s.notes:
        out["notes"] = s.notes
    return out


def as_json(e: Explanation) -> str:
    w, c, m = e.workload, e.cluster, e.mode
    data = {
        "workload": {"kind": w.kind, "namespace": w.namespace, "name": w.name,
                     "file": e.location.path if e.location else None,
                     "line": e.location.line if e.location else None},
        "cluster": {"flavor": c.flavor, "kubernetesVersion": _version(c.kube_version),
                    "provider": c.provider, "meshVersion": _version(c.mesh_version),
                    "nativeSidecars": c.native_flag},
        "injected": e.injected,
        "skipped": e.skipped,
        "skipSource": _source(_skip_source(e)) if not e.injected else None,
        "mode": {"mode": _mode(m), "native": bool(m.value), "reason": m.reason, "rule": m.rule,
                 "ruleName": RULES[m.rule], "sources": [_source(s) for s in _mode_sources(m)],
                 "overridden": [_step(o) for o in m.overridden], "notes": m.notes},
        "settings": [_setting(s) for s in e.settings],
        "otherAnnotations": [{"annotation": a.origin.name.removeprefix("annotation "), **_step(a)}
                             for a in e.other_annotations],
        "notes": e.notes,
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def _version(v: tuple[int, int] | None) -> str | None:
    return f"{v[0]}.{v[1]}" if v else None
