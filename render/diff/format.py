"""How `meshrender diff` prints drift: a CI-log report, or JSON for tools.

The text report reads like `git status` with field details: one line per file
(`~` changed, `+` added, `-` removed), one per document under it, one per field under
that, each with the line in the committed file, and a last line that says what to run.
"""

from __future__ import annotations

import json
from typing import Any

from meshrender.diff.drift import ADDED, CHANGED, REMOVED, DocumentDrift, DriftReport, FieldChange
from meshrender.safetext import line_text, lines_text

MAX_VALUE = 120
_MARK = {ADDED: "+", REMOVED: "-", CHANGED: "~", "formatting": "~"}


def plural(count: int, word: str) -> str:
    """`1 file`, `2 files`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def show_value(value: Any) -> str:
    """A field's value on one line, as JSON (so strings are quoted and types stay
    visible), cut at MAX_VALUE characters with a mark saying how much was left out."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + f"…({len(text) - MAX_VALUE + 1} more chars)"
    return text


def field_line(c: FieldChange, where: str = "") -> str:
    """One changed field: `+ path: new`, `- path: old`, `~ path: old -> new`; `where`
    (the line in the committed file) follows what is not added."""
    if c.op == "added":
        return f"+ {c.path}: {show_value(c.new)}"
    if c.op == "removed":
        return f"- {c.path}: {show_value(c.old)}{where}"
    if c.op == "type":
        return f"~ {c.path}: {show_value(c.old)} -> {show_value(c.new)} (type changes){where}"
    return f"~ {c.path}: {show_value(c.old)} -> {show_value(c.new)}{where}"


def _field(c: FieldChange, against: str, rel: str) -> str:
    return field_line(c, f"  ({against}/{rel}:{c.line})" if c.line else "")


def _document(d: DocumentDrift, against: str, rel: str) -> list[str]:
    if d.status == ADDED:
        return [f"    + {d.display}  (would be added)"]
    where = f"  ({against}/{rel}:{d.line})" if d.line else ""
    if d.status == REMOVED:
        return [f"    - {d.display}  (would be removed){where}"]
    if d.status == "formatting":
        return [f"    ~ {d.display}  (same fields; comments or formatting differ){where}"]
    lines = [f"    ~ {d.display}{where}"]
    lines += [f"        {_field(c, against, rel)}" for c in d.changes]
    return lines


def text(report: DriftReport, refresh: str) -> str:
    """The report for people: per file, document and field, then a summary line. Every
    line is escaped (meshrender.safetext): names, keys and values come from the inputs
    and from the committed files, and a CI log must not read them as commands."""
    against = report.against.rstrip("/") or "."
    if not report.drift:
        return line_text(f"meshrender: {against} is up to date ({plural(report.compared_files, 'file')}, "
                         f"{plural(report.compared_documents, 'document')} compared)") + "\n"
    lines: list[str] = []
    for f in report.files:
        if f.status == ADDED:
            lines.append(f"+ {f.path}  (new file, {plural(len(f.documents), 'document')})")
        elif f.status == REMOVED:
            lines.append(f"- {f.path}  (would be removed: a render no longer writes it)")
        else:
            lines.append(f"~ {f.path}" + (f"  ({f.note})" if f.note else ""))
        if f.status == CHANGED:
            for d in f.documents:
                lines += _document(d, against, f.path)
    c = report.counts()
    lines.append(
        f"meshrender: {against} differs from a fresh render: {plural(c['files'], 'file')} "
        f"({c[CHANGED]} changed, {c[ADDED]} added, {c[REMOVED]} removed), "
        f"{plural(c['documents'], 'document')}, {plural(c['fields'], 'field')}")
    lines.append(f"meshrender: to update it, run: {refresh}")
    return lines_text(lines) + "\n"


def change_dict(c: FieldChange) -> dict[str, Any]:
    """A changed field in JSON: path, op, old (unless added), new (unless removed), line
    (when known)."""
    out: dict[str, Any] = {"path": c.path, "op": c.op}
    if c.op != "added":
        out["old"] = c.old
    if c.op != "removed":
        out["new"] = c.new
    if c.line:
        out["line"] = c.line
    return out


def as_json(report: DriftReport, refresh: str) -> str:
    change = change_dict

    def doc(d: DocumentDrift) -> dict:
        out: dict[str, Any] = {"kind": d.kind, "namespace": d.namespace, "name": d.name, "status": d.status}
        if d.line:
            out["line"] = d.line
        if d.changes:
            out["changes"] = [change(c) for c in d.changes]
        return out

    data = {
        "against": report.against,
        "drift": report.drift,
        "summary": {**report.counts(), "compared_files": report.compared_files,
                    "compared_documents": report.compared_documents},
        "files": [
            {"path": f.path, "status": f.status, **({"note": f.note} if f.note else {}),
             "documents": [doc(d) for d in f.documents]}
            for f in report.files
        ],
        "refresh": refresh if report.drift else None,
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


def markdown(report: DriftReport, refresh: str) -> str:
    """A pull-request comment: a summary table, then each file, document and field that
    would change (escaped, cut to fit GitHub's comment limit), then the command to run."""
    from meshrender import markdown as md

    against = report.against.rstrip("/") or "."
    out = md.Budget()
    if not report.drift:
        out.force("### :white_check_mark: meshrender diff")
        out.force("")
        out.force(f"{md.code(against)} is up to date ({plural(report.compared_files, 'file')}, "
                  f"{plural(report.compared_documents, 'document')} compared).")
        return out.render()
    c = report.counts()
    out.force("### :warning: meshrender diff")
    out.force("")
    out.force(f"{md.code(against)} differs from a fresh render.")
    out.force("")
    out.force("| Files | changed | added | removed | Documents | Fields |")
    out.force("| ---: | ---: | ---: | ---: | ---: | ---: |")
    out.force(f"| {c['files']} | {c[CHANGED]} | {c[ADDED]} | {c[REMOVED]} | {c['documents']} | {c['fields']} |")
    tail = ["", "Refresh it with:", "", md.fenced(refresh, "sh")]
    reserve = sum(len(x) + 1 for x in tail) + 300
    out.force("")
    out.force("| File | Document | Field | Committed | Rendered |")
    out.force("| --- | --- | --- | --- | --- |")
    rows = 0
    total = 0
    for f in report.files:
        where = md.code(f.path)
        entries: list[tuple[str, str, str, str]] = []
        if f.status == ADDED:
            entries.append(("(new file)", f"({plural(len(f.documents), 'document')})", "", ""))
        elif f.status == REMOVED:
            entries.append(("(file removed)", "(a render no longer writes it)", "", ""))
        else:
            for d in f.documents:
                line = f" (line {d.line})" if d.line else ""
                if d.status in (ADDED, REMOVED):
                    entries.append((d.display, f"(document {'added' if d.status == ADDED else 'removed'})", "", ""))
                elif d.status == "formatting":
                    entries.append((d.display + line, "(comments or formatting)", "", ""))
                else:
                    for ch in d.changes:
                        at = f" (line {ch.line})" if ch.line else ""
                        old = "" if ch.op == "added" else show_value(ch.old)
                        new = "" if ch.op == "removed" else show_value(ch.new)
                        entries.append((d.display, ch.path + at, old, new))
        for doc, field, old, new in entries:
            total += 1
            shown = md.code(field) if field and not field.startswith("(") else md.cell(field)
            before, after = (md.code(old) if old else ""), (md.code(new) if new else "")
            row = f"| {where} | {md.cell(doc)} | {shown} | {before} | {after} |"
            if out.add(row, reserve=reserve):
                rows += 1
    if rows < total:
        out.force("")
        out.force(f"_{total - rows} more change{'s' if total - rows != 1 else ''} not shown: this comment stays under "
                  f"GitHub's {md.GITHUB_COMMENT_LIMIT:,}-character limit. Run `meshrender diff` for all of them._")
    for line in tail:
        out.force(line)
    return out.render()
