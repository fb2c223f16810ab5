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


def _n(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    if len(text) > MAX_VALUE:
        text = text[: MAX_VALUE - 1] + f"…({len(text) - MAX_VALUE + 1} more chars)"
    return text


def _field(c: FieldChange, against: str, rel: str) -> str:
    where = f"  ({against}/{rel}:{c.line})" if c.line else ""
    if c.op == "added":
        return f"+ {c.path}: {_show(c.new)}"
    if c.op == "removed":
        return f"- {c.path}: {_show(c.old)}{where}"
    if c.op == "order":
        return f"~ {c.path}: {_show(c.old)} -> {_show(c.new)}{where}"
    if c.op == "type":
        return f"~ {c.path}: {_show(c.old)} -> {_show(c.new)} (type changes){where}"
    return f"~ {c.path}: {_show(c.old)} -> {_show(c.new)}{where}"


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
        return line_text(f"meshrender: {against} is up to date ({_n(report.compared_files, 'file')}, "
                         f"{_n(report.compared_documents, 'document')} compared)") + "\n"
    lines: list[str] = []
    for f in report.files:
        if f.status == ADDED:
            lines.append(f"+ {f.path}  (new file, {_n(len(f.documents), 'document')})")
        elif f.status == REMOVED:
            lines.append(f"- {f.path}  (would be removed: a render no longer writes it)")
        else:
            lines.append(f"~ {f.path}" + (f"  ({f.note})" if f.note else ""))
        if f.status == CHANGED:
            for d in f.documents:
                lines += _document(d, against, f.path)
    c = report.counts()
    lines.append(
        f"meshrender: {against} differs from a fresh render: {_n(c['files'], 'file')} "
        f"({c[CHANGED]} changed, {c[ADDED]} added, {c[REMOVED]} removed), "
        f"{_n(c['documents'], 'document')}, {_n(c['fields'], 'field')}")
    lines.append(f"meshrender: to update it, run: {refresh}")
    return lines_text(lines) + "\n"


def as_json(report: DriftReport, refresh: str) -> str:
    def change(c: FieldChange) -> dict:
        out: dict[str, Any] = {"path": c.path, "op": c.op}
        if c.op != "added":
            out["old"] = c.old
        if c.op != "removed":
            out["new"] = c.new
        if c.line:
            out["line"] = c.line
        return out

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
