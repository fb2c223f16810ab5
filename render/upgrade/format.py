"""How `meshrender upgrade` prints a preview: text for a CI log, JSON for tools
(schemas/upgrade-report.json), markdown for a pull-request comment.

Every format has the same parts, in the same order: each workload that changes (its
mode, injection, and every field of the pod template with old and new values), the
defaults that differ between the releases, the other injector changes of the release
table, the lint findings that appear or disappear, and the counts. Unchanged workloads
are only counted.
"""

from __future__ import annotations

import json
from typing import Any

from meshrender import __version__
from meshrender.diff.drift import FieldChange
from meshrender.diff.format import change_dict, field_line, plural, show_value
from meshrender.inject.release import Change, Release
from meshrender.upgrade.preview import (
    APPEARS,
    CHANGED,
    DISAPPEARS,
    FAILS_AT_TARGET,
    FIXED_AT_TARGET,
    MESSAGE_CHANGES,
    MOVED,
    DefaultChange,
    FindingChange,
    Preview,
    WorkloadChange,
    source_text,
)

_FINDING_MARK = {APPEARS: "+", DISAPPEARS: "-", MESSAGE_CHANGES: "~"}
# More changed workloads than this: markdown folds each into a <details> block.
FOLD_AFTER = 3


def _label(r: Release) -> str:
    return r.label + ("" if r.given else " (assumed: no --mesh-version or ClusterProfile meshVersion)")


def _where(c: WorkloadChange) -> str:
    return f"{c.location.path}:{c.location.line}"


def _status_lines(c: WorkloadChange, p: Preview) -> list[str]:
    """What happens to the workload besides its fields: failing, injection, mode."""
    b, a = c.before, c.after
    if c.status == FAILS_AT_TARGET:
        return [f"fails at {p.target.label}: {a.error}"]
    if c.status == FIXED_AT_TARGET:
        return [f"renders at {p.target.label}; fails at {p.current.label}: {b.error}"]
    out = []
    if b.injected != a.injected:
        then = "injected" if b.injected else "not injected"
        now = "injected" if a.injected else "not injected"
        out.append(f"injection: {then} -> {now} ({a.inject_reason})")
    if c.mode_changed:
        out.append(f"mode: {b.mode} -> {a.mode} ({a.mode_reason})")
    return out


def _summary(p: Preview) -> str:
    c = p.counts()
    head = f"meshrender: {p.direction} from {p.current.label} to {p.target.label}: "
    if p.same:
        return head + (f"{p.target.label} is the release the inputs already run; no change "
                       f"({plural(c['workloads'], 'workload')})")
    parts = [f"workloads: {c['changed'] + c['failsAtTarget'] + c['fixedAtTarget']} of {c['workloads']} "
             f"change ({c['unchanged']} unchanged"
             + (f", {c['failsAtTarget']} fail at the target" if c["failsAtTarget"] else "")
             + (f", {c['fixedAtTarget']} render at the target only" if c["fixedAtTarget"] else "")
             + (f", {c['modeChanges']} change mode" if c["modeChanges"] else "") + ")",
             plural(c["fields"], "field"),
             f"lint: {c['findingsAppear']} finding{'s' if c['findingsAppear'] != 1 else ''} appear"
             f"{'s' if c['findingsAppear'] == 1 else ''}, {c['findingsDisappear']} disappear"
             f"{'s' if c['findingsDisappear'] == 1 else ''}"
             + (f", {c['findingsChange']} change" if c["findingsChange"] else ""),
             f"{plural(c['releaseChanges'], 'release change')} ({plural(c['defaults'], 'default')})"]
    return head + "; ".join(parts)


def _field(f: FieldChange) -> str:
    if f.op == MOVED:
        return f"~ {f.old} moved to {f.new}"
    return field_line(f)


def _default_line(d: DefaultChange) -> str:
    return f"{d.setting}: {d.before} -> {d.after}  ({d.source}: {d.why})"


def _finding_line(fc: FindingChange) -> str:
    f = fc.finding
    who = f" [{f.workload}]" if f.workload else ""
    if fc.status == MESSAGE_CHANGES:
        return (f"~ {f.location}: {f.severity.label} {f.rule}: {fc.previous} -> {f.message}{who}")
    return f"{_FINDING_MARK[fc.status]} {f.location}: {f.severity.label} {f.rule}: {f.message}{who}"


def _change_line(c: Change, mark: str) -> str:
    return f"{mark} {c.name}: {c.summary}  ({source_text(c)})"


def text(p: Preview) -> str:
    """The report for people (see the module docstring)."""
    lines = [f"meshrender {p.direction}: {_label(p.current)} -> {p.target.label}"]
    for c in p.changes:
        mark = "!" if c.status == FAILS_AT_TARGET else "+" if c.status == FIXED_AT_TARGET else "~"
        lines.append("")
        lines.append(f"{mark} {c.display}  {_where(c)}")
        lines += [f"    {s}" for s in _status_lines(c, p)]
        lines += [f"    {_field(f)}" for f in c.fields]
    if not p.same:
        if p.defaults:
            lines += ["", f"defaults changed between {p.current.label} and {p.target.label}:"]
            lines += [f"  {_default_line(d)}" for d in p.defaults]
        others = [(c, "+") for c in p.gained if c.kind != "default"] + \
                 [(c, "-") for c in p.lost if c.kind != "default"]
        if others:
            lines += ["", f"injector changes between {p.current.label} and {p.target.label} "
                          f"(+ {p.target.label} has it, - it no longer has it):"]
            lines += [f"  {_change_line(c, mark)}" for c, mark in others]
        if p.findings:
            lines += ["", "lint findings (+ appear, - disappear, ~ change):"]
            lines += [f"  {_finding_line(fc)}" for fc in p.findings]
    lines += ["", _summary(p)]
    return "\n".join(lines) + "\n"


# -- JSON -----------------------------------------------------------------------------------

def _release(r: Release) -> dict[str, Any]:
    return {"flavor": r.flavor, "version": r.label, "line": r.line, "dev": r.dev, "assumed": not r.given,
            "image": f"{r.image_hub}/proxyv2:{r.image_tag}" if r.image_known else None}


def _workload(c: WorkloadChange) -> dict[str, Any]:
    return {
        "workload": c.display, "kind": c.kind, "namespace": c.namespace, "name": c.name,
        "file": c.location.path, "line": c.location.line, "status": c.status,
        "from": c.before.to_dict(), "to": c.after.to_dict(),
        "modeChanged": c.mode_changed, "podMetadataPath": c.pod_metadata_path, "podSpecPath": c.pod_spec_path,
        "fields": [change_dict(f) for f in c.fields],
    }


def _table_change(c: Change) -> dict[str, Any]:
    src = c.data.get("source") or {}
    show = (lambda p: f"1.{p[0]}.{p[1]}" if p is not None else None)  # noqa: E731
    return {"name": c.name, "kind": c.kind, "summary": c.summary, "added": show(c.added),
            "removed": show(c.removed),
            # (a commit id of digits only reads as a number from YAML)
            "source": {"pr": src.get("pr"), "commit": None if src.get("commit") is None else str(src["commit"]),
                       "title": src.get("title")}}


def _finding(fc: FindingChange) -> dict[str, Any]:
    out = {"status": fc.status, **fc.finding.to_dict()}
    out.pop("fixable", None)
    if fc.status == MESSAGE_CHANGES:
        out["previousMessage"] = fc.previous
    return out


def as_json(p: Preview) -> str:
    """One document, described by schemas/upgrade-report.json."""
    doc = {
        "tool": {"name": "meshrender", "version": __version__},
        "from": _release(p.current),
        "to": _release(p.target),
        "direction": p.direction,
        "sameRelease": p.same,
        "changed": p.changed,
        "summary": p.counts(),
        "workloads": [_workload(c) for c in p.changes],
        "defaults": [{"setting": d.setting, "name": d.name or None, "from": d.before, "to": d.after,
                      "why": d.why, "source": d.source} for d in p.defaults],
        "releaseChanges": {"gained": [_table_change(c) for c in p.gained],
                           "lost": [_table_change(c) for c in p.lost]},
        "findings": [_finding(fc) for fc in p.findings],
        "warnings": p.warnings,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


# -- markdown -------------------------------------------------------------------------------

def _workload_block(c: WorkloadChange, p: Preview, fold: bool) -> list[str]:
    from meshrender import markdown as md

    title = f"{md.code(c.display)} {md.code(_where(c))}"
    notes = _status_lines(c, p)
    what = plural(len(c.fields), "field") if c.status == CHANGED else (
        "fails at the target" if c.status == FAILS_AT_TARGET else "renders at the target only")
    out = [f"<details><summary>{title}: {md.text(what)}</summary>", ""] if fold else [f"#### {title}", ""]
    out += [f"- {md.cell(n)}" for n in notes]
    if notes:
        out.append("")
    if c.fields:
        out += [f"| Field | {md.text(p.current.label)} | {md.text(p.target.label)} |", "| --- | --- | --- |"]
        for f in c.fields:
            if f.op == MOVED:
                out.append(f"| {md.code(f.path)} | | moved to {md.code(f.new)} |")
                continue
            old = "" if f.op == "added" else md.code(show_value(f.old))
            new = "" if f.op == "removed" else md.code(show_value(f.new))
            out.append(f"| {md.code(f.path)} | {old} | {new} |")
        out.append("")
    if fold:
        out += ["</details>", ""]
    return out


def markdown(p: Preview) -> str:
    """A pull-request comment: the counts, each workload that changes (folded when there
    are many), defaults, lint findings, the release table's other changes (folded); cut,
    with a line saying so, to stay under GitHub's comment limit."""
    from meshrender import markdown as md

    out = md.Budget()
    c = p.counts()
    icon = ":warning:" if p.changed else ":white_check_mark:"
    out.force(f"### {icon} meshrender {p.direction}: {md.text(p.current.label)} → {md.text(p.target.label)}")
    out.force("")
    if p.same:
        out.force(md.text(_summary(p).removeprefix("meshrender: ")) + ".")
        return out.render()
    out.force("| Workloads | changed | fail at target | render at target only | unchanged | Fields "
              "| Findings appear | disappear |")
    out.force("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    out.force(f"| {c['workloads']} | {c['changed']} | {c['failsAtTarget']} | {c['fixedAtTarget']} | "
              f"{c['unchanged']} | {c['fields']} | {c['findingsAppear']} | {c['findingsDisappear']} |")
    out.force("")
    reserve = 400
    left_out = 0
    fold = len(p.changes) > FOLD_AFTER
    for w in p.changes:
        left_out += _add_block(out, _workload_block(w, p, fold), reserve)
    if p.defaults:
        block = [f"#### Defaults changed between {md.text(p.current.label)} and {md.text(p.target.label)}", "",
                 "| Setting | Before | After | Why |", "| --- | --- | --- | --- |"]
        block += [f"| {md.code(d.setting)} | {md.code(d.before)} | {md.code(d.after)} | "
                  f"{md.cell(d.why)} ({md.text(d.source)}) |" for d in p.defaults]
        block.append("")
        left_out += _add_block(out, block, reserve)
    if p.findings:
        block = ["#### Lint findings", "", "| | Rule | Where | Workload | Message |", "| --- | --- | --- | --- | --- |"]
        for fc in p.findings:
            f = fc.finding
            message = f"{fc.previous} → {f.message}" if fc.status == MESSAGE_CHANGES else f.message
            word = {APPEARS: "appears", DISAPPEARS: "disappears", MESSAGE_CHANGES: "changes"}[fc.status]
            block.append(f"| {word} | {md.code(f.rule)} ({f.severity.label}) | {md.code(str(f.location))} | "
                         f"{md.cell(f.workload or '')} | {md.cell(message)} |")
        block.append("")
        left_out += _add_block(out, block, reserve)
    others = [(ch, "+") for ch in p.gained if ch.kind != "default"] + \
             [(ch, "−") for ch in p.lost if ch.kind != "default"]
    if others:
        block = [f"<details><summary>{len(others)} injector changes between {md.text(p.current.label)} and "
                 f"{md.text(p.target.label)} (render/data/istio-releases.yaml)</summary>", ""]
        block += [f"- {mark} {md.code(ch.name)}: {md.cell(ch.summary)} ({md.text(source_text(ch))})"
                  for ch, mark in others]
        block += ["", "</details>", ""]
        left_out += _add_block(out, block, reserve)
    if left_out:
        out.force(f"_{left_out} more section{'s' if left_out != 1 else ''} not shown: this comment stays under "
                  f"GitHub's {md.GITHUB_COMMENT_LIMIT:,}-character limit. Run `meshrender upgrade` for all of them._")
        out.force("")
    out.force(md.text(_summary(p).removeprefix("meshrender: ")) + ".")
    return out.render()


def _add_block(out: Any, block: list[str], reserve: int) -> int:
    """Add a whole block if it fits (a <details> or a table is never cut in two); 1 if not."""
    if out.full or out.used + sum(len(x) + 1 for x in block) + reserve > out.limit:
        out.full = True
        return 1
    for line in block:
        out.force(line)
    return 0


FORMATS = {"text": text, "json": as_json, "markdown": markdown}
