"""Drift between what `render -o DIR` would write now and what DIR holds.

This is the CI check behind `meshrender diff`: committed rendered manifests that no
longer match their sources. The comparison is cheap where nothing changed and detailed
where something did: file text first; then only the documents whose text changed are
parsed; maps are walked with ==, and DeepDiff (about a hundred times slower than ==)
only sees the lists that differ.

Documents are matched by kind, namespace and name (the identity the API server uses),
not by position, so a reordered or inserted document shows up as what it is. Lists of
named items (containers, env, volumes, ports) are compared by name, so adding an init
container reports one added container instead of every following one as changed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError, Location, UsageError
from meshrender.inputs.committed import existing_files, read_committed
from meshrender.kube import fieldpath
from meshrender.yamlio import Document

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
_ORDER = ("#order",)


@dataclass
class FieldChange:
    """One field that differs: `old` is what DIR holds, `new` what a render writes."""

    path: str
    op: str  # changed | added | removed | type | order
    old: Any = None
    new: Any = None
    line: int | None = None  # in DIR's file (the nearest existing parent for added fields)


@dataclass
class DocumentDrift:
    kind: str
    namespace: str
    name: str
    status: str  # added | removed | changed | formatting
    changes: list[FieldChange] = field(default_factory=list)
    line: int | None = None  # where the document starts in DIR's file (None when added)

    @property
    def display(self) -> str:
        ident = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind or '(no kind)'} {ident or '(unnamed)'}"


@dataclass
class FileDrift:
    path: str  # relative to DIR
    status: str  # added | removed | changed
    documents: list[DocumentDrift] = field(default_factory=list)
    note: str = ""  # what changed when no document did (order, formatting, not YAML)


@dataclass
class DriftReport:
    against: str
    files: list[FileDrift] = field(default_factory=list)
    compared_files: int = 0
    compared_documents: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.files)

    def counts(self) -> dict[str, int]:
        c = Counter(f.status for f in self.files)
        docs = sum(len(f.documents) if f.status == CHANGED else 1 for f in self.files)
        fields = sum(len(d.changes) for f in self.files for d in f.documents)
        return {"files": len(self.files), ADDED: c[ADDED], REMOVED: c[REMOVED], CHANGED: c[CHANGED],
                "documents": docs, "fields": fields}


def compare(expected: dict[str, str], root: Path, against: str | None = None, unchanged: Collection[str] = (),
            unchanged_documents: int = 0, actual: dict[str, str] | None = None) -> DriftReport:
    """Compare `expected` (relative path -> text a render writes) with folder `root`.
    Files in `unchanged` (holding `unchanged_documents` in all) are known to hold what a
    render writes (an incremental check hashed them, run/incremental.py): not read."""
    report = DriftReport(against or str(root))
    shown = against or str(root)
    if actual is None:  # (an incremental check walked the folder already)
        actual = existing_files(root, shown)
    slots: list[FileDrift | int] = []  # in path order: a result, or the index of a file to compare
    pending: list[tuple[str, str, str]] = []  # (rel, DIR's text, display) of files whose text differs
    for rel in sorted(set(expected) | set(actual)):
        if rel in unchanged and rel not in expected and rel in actual:
            report.compared_files += 1
            continue
        if rel not in actual:
            docs = _parse(expected[rel], rel)
            slots.append(FileDrift(rel, ADDED, [_whole(d, ADDED) for d in docs]))
            continue
        display = f"{shown.rstrip('/')}/{rel}"
        raw = read_committed(actual[rel], display)
        if rel not in expected:
            slots.append(FileDrift(rel, REMOVED, _removed_docs(raw, display)))
            continue
        report.compared_files += 1
        text = yamlio.decode(raw, display)
        if text == expected[rel]:
            report.compared_documents += len(yamlio.split_documents(text))
            continue
        slots.append(len(pending))
        pending.append((rel, text, display))

    def one(k: int) -> tuple[FileDrift | None, int]:
        rel, text, display = pending[k]
        try:
            return _compare_file(rel, text, expected[rel], display)
        except InputError as e:
            # A merge conflict or a hand edit broke the file; a render rewrites it.
            return (FileDrift(rel, CHANGED, note=f"not valid YAML ({e}); a render rewrites it"),
                    len(yamlio.split_documents(expected[rel])))

    # The fast YAML reader is loaded when the texts to parse make it pay (before workers
    # fork), not because this process read much YAML before: one changed file is parsed
    # faster than the reader is imported.
    yamlio.expect(sum(len(text) + len(expected[rel]) for rel, text, _ in pending))
    compared = _in_workers(one, len(pending))
    for slot in slots:
        drift = slot if isinstance(slot, FileDrift) else compared[slot][0]
        if drift is not None:
            report.files.append(drift)
    report.compared_documents += sum(n for _, n in compared) + unchanged_documents
    return report


def _in_workers(fn: Any, count: int) -> list[Any]:
    """[fn(0), ..., fn(count - 1)], computed by worker processes when there are many (a
    namespace setting changes every file of the namespace: thousands of files to parse
    and compare field by field); what fn raises is raised here."""
    from meshrender.run import parallel
    from meshrender.run.driver import workers_for

    out = []
    for _, r in parallel.ordered_map(fn, count, workers_for(count)):
        if isinstance(r, parallel.Failure):
            raise r.error
        out.append(r)
    return out


def _parse(text: str, source: str) -> list[Document]:
    return yamlio.parse(text, source)


def _removed_docs(raw: bytes, display: str) -> list[DocumentDrift]:
    """The documents of a file a render would no longer write (none if it is not YAML)."""
    if not display.endswith((".yaml", ".yml")):
        return []
    try:
        return [_whole(d, REMOVED) for d in _parse(yamlio.decode(raw, display), display)]
    except InputError:
        return []


def identity(data: Any) -> tuple[str, str, str]:
    """(kind, namespace, name) of a document; empty strings where it has none."""
    if not isinstance(data, dict):
        return ("", "", "")
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    return (str(data.get("kind") or ""), str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _start(doc: Document) -> int:
    """The first line of a document's content (past its `---` and leading comments)."""
    return yamlio.locate(doc, ()).line


def _whole(doc: Document, status: str) -> DocumentDrift:
    kind, ns, name = identity(doc.data)
    return DocumentDrift(kind, ns, name, status, line=_start(doc) if status == REMOVED else None)


def _keyed(docs: list[Document]) -> dict[tuple, Document]:
    """Documents by identity; repeated identities are told apart by occurrence."""
    seen: Counter = Counter()
    out = {}
    for d in docs:
        ident = identity(d.data)
        out[(*ident, seen[ident])] = d
        seen[ident] += 1
    return out


def _body(chunk: str) -> str:
    """A document's text without its `---` line and surrounding blank lines."""
    first, _, rest = chunk.partition("\n")
    return (rest if first.startswith("---") and not first[3:].strip() else chunk).strip()


def _unmatched(chunks: list[tuple[int, str]], others: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Chunks whose text appears no more often on the other side (those need a parse)."""
    left = Counter(_body(c) for _, c in others)
    out = []
    for line, chunk in chunks:
        body = _body(chunk)
        if left[body] > 0:
            left[body] -= 1
        else:
            out.append((line, chunk))
    return out


def _parse_chunks(chunks: list[tuple[int, str]], source: str, whole: str) -> list[Document]:
    """Documents of some chunks of a file, with line numbers of the whole file."""
    docs = []
    for first, chunk in chunks:
        try:
            parsed = yamlio.parse(chunk, source, load_fast=False)  # (compare decided: yamlio.expect)
        except InputError:
            yamlio.parse(whole, source, load_fast=False)  # the same error, located in the whole file
            raise
        for d in parsed:
            d.line += first - 1
            docs.append(d)
    return docs


def _compare_file(rel: str, old_text: str, new_text: str, display: str) -> tuple[FileDrift | None, int]:
    """A file whose text differs: which documents and fields, and how many documents were
    compared. Only documents whose text changed are parsed; in a large rendered file
    usually most are byte-identical."""
    old_chunks, new_chunks = yamlio.split_documents(old_text), yamlio.split_documents(new_text)
    compared = len(new_chunks)
    old_docs = _parse_chunks(_unmatched(old_chunks, new_chunks), display, old_text)
    new_docs = _parse_chunks(_unmatched(new_chunks, old_chunks), rel, new_text)
    old, new = _keyed(old_docs), _keyed(new_docs)
    out = FileDrift(rel, CHANGED)
    for key, nd in new.items():
        od = old.get(key)
        kind, ns, name = key[:3]
        if od is None:
            out.documents.append(_whole(nd, ADDED))
        elif od.data != nd.data:
            out.documents.append(DocumentDrift(kind, ns, name, CHANGED, field_changes(od, nd.data), _start(od)))
        else:
            out.documents.append(DocumentDrift(kind, ns, name, "formatting", line=_start(od)))
    out.documents += [_whole(od, REMOVED) for key, od in old.items() if key not in new]
    if out.documents:
        return out, compared
    if [_body(c) for _, c in old_chunks] != [_body(c) for _, c in new_chunks]:
        out.note = "documents are in a different order"
    else:
        out.note = "only document separators or blank lines differ"
    return out, compared


# -- fields -----------------------------------------------------------------------------

def _named(items: list) -> bool:
    names = [i.get("name") for i in items if isinstance(i, dict)]
    return (len(names) == len(items) > 0 and all(isinstance(n, str) for n in names)
            and len(set(names)) == len(names))


def _by_name(value: Any) -> Any:
    """Lists of uniquely named maps as maps keyed by ("#", name), plus their order."""
    if isinstance(value, dict):
        return {k: _by_name(v) for k, v in value.items()}
    if isinstance(value, list):
        if _named(value):
            out: dict = {("#", i["name"]): _by_name(i) for i in value}
            out[_ORDER] = [i["name"] for i in value]
            return out
        return [_by_name(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Undo `_by_name` for showing a value."""
    if isinstance(value, dict):
        if _ORDER in value:
            return [_plain(value[("#", n)]) for n in value[_ORDER]]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _real_path(data: Any, path: list) -> tuple[str, list]:
    """The display path (`containers[istio-proxy].image`) and the real key path in `data`."""
    shown = ""
    real: list = []
    node = data
    for step in path:
        if step == _ORDER:  # the order of a named list, inside a list DeepDiff walked (a List's items)
            shown += " (order)"
            node = None
            continue
        if isinstance(step, tuple):
            name = step[1]
            shown += f"[{name}]"
            idx = None
            if isinstance(node, list):
                idx = next((i for i, c in enumerate(node) if isinstance(c, dict) and c.get("name") == name), None)
            if idx is None:
                node = None
            else:
                real.append(idx)
                node = node[idx]
            continue
        shown += fieldpath.step(step, first=not shown)
        if node is not None:
            real.append(step)
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                node = None
    return shown, real


_OPS = {
    "values_changed": "changed",
    "type_changes": "type",
    "dictionary_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_added": "added",
    "iterable_item_removed": "removed",
}


def _differences(a: Any, b: Any, path: list, out: list[tuple[str, list, Any, Any]]) -> None:
    """(op, path, old, new) for each difference, descending with == through maps.

    Maps (named lists included, see `_by_name`) are walked here, so DeepDiff only sees
    the lists that differ (args, ports): a rendered pod is hundreds of fields, and
    handing DeepDiff a whole document costs tens of milliseconds.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                out.append(("removed", [*path, key], a[key], None))
            elif a[key] != b[key]:
                if key == _ORDER:
                    out.append(("order", [*path, key], a[key], b[key]))
                else:
                    _differences(a[key], b[key], [*path, key], out)
        out.extend(("added", [*path, key], None, b[key]) for key in b if key not in a)
    elif isinstance(a, list) and isinstance(b, list):
        from deepdiff import DeepDiff  # (30 ms of imports: only when lists differ)
        from deepdiff.helper import notpresent

        for report_type, levels in DeepDiff(a, b, view="tree").items():
            op = _OPS.get(report_type, report_type)
            for level in levels:
                t1 = None if level.t1 is notpresent else level.t1
                t2 = None if level.t2 is notpresent else level.t2
                out.append((op, [*path, *level.path(output_format="list")], t1, t2))
    elif type(a) is not type(b):
        out.append(("type", path, a, b))
    else:
        out.append(("changed", path, a, b))


def compare_data(old: Any, new: Any) -> list[tuple[FieldChange, list]]:
    """Every field that differs between two documents (or any two trees of plain data),
    in the order of `old` then `new`: each FieldChange (without a line) with the key path
    in `old` that it is about (for an added field, the deepest part of it `old` has).
    Named list items are keyed by name (`containers[istio-proxy].env[GOMAXPROCS]`); a
    list whose named items only moved reports its new order as one `order` change."""
    a, b = _by_name(old), _by_name(new)
    found: list[tuple[str, list, Any, Any]] = []
    _differences(a, b, [], found)
    out: dict[str, tuple[FieldChange, list]] = {}
    for op, path, t1, t2 in found:
        if path and path[-1] == _ORDER:
            shown, real = _real_path(old, path[:-1])
            before, after = t1, t2
            if [n for n in before if n in after] != [n for n in after if n in before]:
                out[shown + " (order)"] = (FieldChange(shown + " (order)", "order", before, after), real)
            continue  # items only added or removed: reported as such
        source = new if op == "added" else old
        shown, real = _real_path(source, path)
        at = real if op != "added" else _existing_prefix(old, path)
        out[shown] = (FieldChange(shown, op, _plain(t1), _plain(t2)), at)
    return list(out.values())


def field_changes(old_doc: Document, new: Any) -> list[FieldChange]:
    """Every field that differs between DIR's document and the rendered one, with its
    line in DIR's file."""
    out = []
    for change, at in compare_data(old_doc.data, new):
        change.line = yamlio.locate(old_doc, at).line
        out.append(change)
    return sorted(out, key=lambda c: (c.line or 0, c.path))


def _existing_prefix(old: Any, path: list) -> list:
    """The real path of the deepest part of `path` that exists in DIR's document."""
    _, real = _real_path(old, path)
    node = old
    out: list = []
    for step in real:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
        out.append(step)
    return out


def rendered_tree(outputs: list[tuple[Any, list[str]]]) -> dict[str, str]:
    """What `render -o` writes for a render's outputs: relative path -> file text."""
    return {f.rel: yamlio.dump_stream(texts) for f, texts in outputs if texts}


def check_against(root: Path, inputs: list[str]) -> None:
    """Refuse a DIR that is missing, or inside the inputs (it would be read as input)."""
    if not root.exists():
        raise UsageError(f"--against {root}: no such folder; create it with "
                         f"`meshrender render ... -o {root}` first")
    if not root.is_dir():
        raise UsageError(f"--against {root}: not a folder")
    from meshrender.run.output import symlink_into

    target = root.resolve()
    for arg in inputs:
        src = Path(arg).resolve() if arg != "-" else None
        if src is not None and src.is_dir() and target.is_relative_to(src):
            raise UsageError(f"--against {root} is inside the input folder {arg}: its rendered files "
                             "would be read as inputs. Keep rendered output outside the sources")
        link = symlink_into(target, Path(arg)) if src is not None and src.is_dir() else None
        if link is not None:
            raise UsageError(f"--against {root} is reached from the input folder {arg} through the symlink {link}: "
                             "its rendered files would be read as inputs. Remove the link",
                             Location.whole(link))
