"""`meshrender lint --fix`: the mechanical fixes of findings, applied to the user's files.

Rules attach a Fix to a hit when one change resolves it (render/lint/finding.py lists the
operations); the engine turns it into an Edit that names its document by file, first line
and a hash of its text. This module plans which edits to apply and applies them with
ruamel.yaml in round-trip mode, so that comments, key order, quoting and indentation stay
as the user wrote them.

Safety, in this order:
- A file whose YAML documents do not come back byte for byte from a round trip without
  any change is not touched at all (skipped, with the reason); each document is
  round-tripped with the indentation that reproduces it, found by trying the usual ones.
- Only the documents an edit changes are written anew; every other byte of the file stays.
- A document that changed since lint read it (its hash differs) is not edited.
- After editing, the document is read back as Kubernetes reads it (meshrender.yamlio) and
  must hold exactly the data the operations describe, with every comment line kept;
  otherwise that edit is skipped and said so.
- Files are replaced atomically (a temporary file in the same folder, renamed over the
  original, with the original's mode).
"""

from __future__ import annotations

import copy
import difflib
import io
import os
import re
import stat
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from meshrender.lint.engine import Report, _digest
from meshrender.lint.finding import Edit

# (mapping indent, sequence offset) pairs tried for a round trip, most common first:
# `- item` flush with its key, and indented by two.
_INDENTS = ((2, 0), (2, 2), (4, 0), (4, 2), (4, 4), (3, 0), (3, 1), (3, 3))
BOM = b"\xef\xbb\xbf"
_BARE_MARKER = re.compile(r"^---[ \t]*(#.*)?$")


class FixError(Exception):
    """An edit that cannot be applied as it stands (the reason is its message)."""


@dataclass
class FileFix:
    """What fixing one file did: its text before and after (None: unchanged), the edits
    applied and those skipped with their reasons, and a reason when the whole file was."""

    path: str
    before: str
    after: str | None = None
    applied: list[Edit] = field(default_factory=list)
    skipped: list[tuple[Edit, str]] = field(default_factory=list)
    refused: str | None = None
    bom: bool = False

    def diff(self) -> str:
        if self.after is None or self.after == self.before:
            return ""
        return "".join(difflib.unified_diff(self.before.splitlines(keepends=True),
                                            self.after.splitlines(keepends=True),
                                            f"a/{self.path}", f"b/{self.path}"))


# -- planning -----------------------------------------------------------------------------

def same(edit: Edit) -> tuple:
    return (edit.file, edit.line, edit.digest, edit.ops)


def plan(report: Report) -> dict[str, list[Edit]]:
    """The edits to apply, per file, in order: each distinct edit of a reported finding
    once (fixes of shared settings that would change other workloads were already taken
    off their findings: Report.held)."""
    per_file: dict[str, list[Edit]] = {}
    seen: set[tuple] = set()
    for f in report.findings:
        edit = f.fix
        if edit is None or same(edit) in seen:
            continue
        seen.add(same(edit))
        per_file.setdefault(edit.file, []).append(edit)
    return per_file


# -- round trip ---------------------------------------------------------------------------

def _yaml(mapping: int, offset: int) -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 1 << 16  # never re-wrap a long line
    y.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    return y


def _dump(y: Any, data: Any) -> str:
    out = io.StringIO()
    y.dump(data, out)
    return out.getvalue()


def _split(chunk: str) -> tuple[str, str, str]:
    """A document's text as (its `---` line, its body, its closing `...` line)."""
    prefix = ""
    first, nl, rest = chunk.partition("\n")
    if _BARE_MARKER.match(first):
        prefix, chunk = first + nl, rest
    tail = ""
    m = re.search(r"(?m)^\.\.\.[^\n]*\n?\Z", chunk)
    if m:
        chunk, tail = chunk[:m.start()], chunk[m.start():]
    return prefix, chunk, tail


def _no_content(body: str) -> bool:
    """Only blank and comment lines: nothing to edit, kept as it is."""
    return all(not line.strip() or line.lstrip().startswith("#") for line in body.split("\n"))


class _Document:
    """One document's body loaded for editing, with the YAML settings that reproduce it."""

    def __init__(self, body: str):
        self.body = body
        self.yaml = None
        self.data = None
        self.indent = 2
        if body.lstrip().startswith("%"):
            raise FixError("it has YAML directives")
        for mapping, offset in _INDENTS:
            y = _yaml(mapping, offset)
            try:
                data = y.load(body)
            except Exception as e:  # ruamel refuses what yaml.v2 reads: not ours to edit
                problem = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise FixError(f"ruamel.yaml cannot read it ({problem})") from None
            try:
                if _dump(y, data) == body:
                    self.yaml, self.data, self.indent = y, data, mapping
                    return
            except Exception:
                continue
        raise FixError("a round trip through ruamel.yaml does not give it back byte for byte (its indentation, "
                       "spacing or quoting varies within the document)")

    def text(self) -> str:
        return _dump(self.yaml, self.data)


def _comment_lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip().startswith("#")]


# -- operations ---------------------------------------------------------------------------

def _walk(node: Any, path: tuple, what: str) -> Any:
    for p in path:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            raise FixError(f"{what} is no longer there") from None
    return node


def _eol_and_rest(token: Any) -> tuple[tuple[str, int] | None, str]:
    """A map entry's comment token as (its end-of-line comment line and column, the
    comment lines after it that belong to what follows)."""
    if token is None:
        return None, ""
    value = token.value
    if value.startswith("\n"):
        return None, value[1:]
    first, nl, rest = value.partition("\n")
    return (first + nl, token.column), rest


def _give_rest(cmap: Any, keys: list, index: int, rest: str) -> None:
    """Keep the full-line comments that followed a removed entry (they belong to what
    follows it): after the entry before it, else before the map's new first entry."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    if index > 0:
        entry = cmap.ca.items.setdefault(keys[index - 1], [None, None, None, None])
        if entry[2] is None:
            entry[2] = CommentToken("\n" + rest, CommentMark(0), None)
        else:
            entry[2].value = entry[2].value + ("" if entry[2].value.endswith("\n") else "\n") + rest
        return
    if len(keys) == 1:
        raise FixError("the comments after it cannot be kept")
    lines = [line for line in rest.split("\n") if line.strip()]
    tokens = [CommentToken(line.strip() + "\n", CommentMark(len(line) - len(line.lstrip())), None) for line in lines]
    if cmap.ca.comment is None:
        cmap.ca.comment = [None, tokens]
    else:
        cmap.ca.comment[1] = [*(cmap.ca.comment[1] or []), *tokens]


def _remove(cmap: Any, key: Any) -> tuple[Any, tuple[str, int] | None]:
    """Remove `key` from a CommentedMap, keeping the comment lines that belong to what
    follows; its value and its own end-of-line comment are returned."""
    keys = list(cmap.keys())
    index = keys.index(key)
    eol, rest = _eol_and_rest((cmap.ca.items.get(key) or [None, None, None, None])[2])
    value = cmap.pop(key)
    cmap.ca.items.pop(key, None)
    if rest:
        _give_rest(cmap, keys, index, rest)
    return value, eol


def _prune(root: Any, path: tuple, levels: int) -> None:
    """Remove up to `levels` maps on `path` (innermost first) that are now empty."""
    for depth in range(len(path), max(len(path) - levels, 0), -1):
        parent = _walk(root, path[:depth - 1], "the field")
        child = parent[path[depth - 1]]
        if not isinstance(child, dict) or child:
            return
        if getattr(child, "ca", None) is not None and (child.ca.comment or child.ca.items):
            return  # a comment lives in it: keep the (empty) map
        _remove(parent, path[depth - 1])


def _key_column(cmap: Any, key: Any) -> int | None:
    try:
        return int(cmap.lc.key(key)[1])
    except (AttributeError, KeyError, TypeError, IndexError):
        return None


def _set_key(cmap: Any, key: str, value: Any, eol: tuple[str, int] | None, shift: int) -> None:
    """Add `key` at the end of `cmap`, with its end-of-line comment at the same distance
    from the value as before (`shift`: how many columns the key moved right)."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    if key in cmap:
        raise FixError(f"{key} is already set there")
    cmap[key] = value
    if eol:
        text, column = eol
        cmap.ca.items[key] = [None, None, CommentToken(text, CommentMark(max(column + shift, 0)), None), None]


def _renamed_string(old: Any, text: str) -> Any:
    """`text` in the same scalar style as `old` (quoted stays quoted)."""
    cls = type(old)
    return cls(text) if cls is not str and issubclass(cls, str) else text


def _apply_rt(root: Any, op: tuple, indent: int) -> None:
    """One operation on the round-trip tree (`indent`: the document's mapping indent)."""
    from ruamel.yaml.comments import CommentedMap

    kind, path = op[0], tuple(op[1])
    parent = _walk(root, path[:-1], "the field")
    key = path[-1]
    if not isinstance(parent, dict) or key not in parent:
        raise FixError(f"{'.'.join(map(str, path))} is no longer there")
    if kind == "rename":
        new = op[2]
        if new in parent:
            raise FixError(f"{new} is already set there")
        keys = list(parent.keys())
        index = keys.index(key)
        token = parent.ca.items.pop(key, None)
        value = parent.pop(key)
        parent.insert(index, new, value)
        if token is not None:
            parent.ca.items[new] = token
    elif kind == "delete":
        _remove(parent, key)
        _prune(root, path[:-1], op[2])
    elif kind == "move":
        target_path = tuple(op[2])
        was = _key_column(parent, key)
        value, eol = _remove(parent, key)
        node, column = root, 0
        for p in target_path:
            if isinstance(node, dict) and p not in node:
                node[p] = CommentedMap()
                column += indent
            else:
                column = _key_column(node, p) or column
                column += indent
            node = _walk(node, (p,), "the target")
        if not isinstance(node, dict):
            raise FixError("the target is not a map")
        if node:
            column = _key_column(node, next(iter(node))) or column
        _set_key(node, key, value, eol, column - was if was is not None else 0)
        _prune(root, path[:-1], op[3])
    elif kind == "replace":
        value = parent[key]
        if not isinstance(value, str) or not _item(op[2]).search(value):
            raise FixError("the value changed")
        parent[key] = _renamed_string(value, _item(op[2]).sub(op[3].replace("\\", "\\\\"), value, count=1))
    else:  # pragma: no cover - a rule declared an unknown operation
        raise FixError(f"unknown operation {kind}")


def _apply_plain(data: Any, op: tuple) -> None:
    """The same operation on plain data: what the document must read as afterwards."""
    kind, path = op[0], tuple(op[1])
    parent = _walk(data, path[:-1], "the field")
    key = path[-1]
    if kind == "rename":
        parent[op[2]] = parent.pop(key)
    elif kind == "delete":
        del parent[key]
        _prune_plain(data, path[:-1], op[2])
    elif kind == "move":
        value = parent.pop(key)
        node = data
        for p in op[2]:
            node = node.setdefault(p, {})
        node[key] = value
        _prune_plain(data, path[:-1], op[3])
    elif kind == "replace":
        parent[key] = _item(op[2]).sub(op[3].replace("\\", "\\\\"), parent[key], count=1)


def _item(word: str) -> re.Pattern[str]:
    """`word` as a whole item of a comma or space separated list."""
    return re.compile(r"(?<![^\s,])" + re.escape(word) + r"(?![^\s,])")


def _prune_plain(data: Any, path: tuple, levels: int) -> None:
    for depth in range(len(path), max(len(path) - levels, 0), -1):
        parent = _walk(data, path[:depth - 1], "the field")
        if parent[path[depth - 1]] != {}:
            return
        del parent[path[depth - 1]]


# -- files --------------------------------------------------------------------------------

def fix_text(path: str, text: str, edits: list[Edit]) -> FileFix:
    """Apply `edits` to the text of one file (nothing is written)."""
    from meshrender.yamlio import parse, split_documents

    result = FileFix(path, text)
    crlf = "\r\n" in text
    if crlf:
        if text.count("\n") != text.count("\r\n"):
            result.refused = "not touched: it mixes CRLF and LF line ends"
            return result
        text = text.replace("\r\n", "\n")
    chunks = split_documents(text)
    by_line = {line: i for i, (line, _) in enumerate(chunks)}
    loaded: dict[int, tuple[str, _Document, str]] = {}
    try:
        for i, (_, chunk) in enumerate(chunks):
            prefix, body, tail = _split(chunk)
            if not _no_content(body):
                loaded[i] = (prefix, _Document(body), tail)
    except FixError as e:
        result.refused = f"not touched: {e}"
        return result
    new_chunks = [c for _, c in chunks]
    for edit in edits:
        i = by_line.get(edit.line)
        if i is None or _digest(chunks[i][1]) != edit.digest or i not in loaded:
            result.skipped.append((edit, "the document changed since it was read"))
            continue
        prefix, doc, tail = loaded[i]
        try:
            original = parse(prefix + doc.text() + tail, path)
            expected = copy.deepcopy(original[0].data) if original else None
            for op in edit.ops:
                _apply_rt(doc.data, op, doc.indent)
                _apply_plain(expected, op)
            body = doc.text()
            got = parse(prefix + body + tail, path)
            if not got or got[0].data != expected:
                raise FixError("the edited document would not read back as intended")
            if Counter(_comment_lines(doc.body)) - Counter(_comment_lines(body)):
                raise FixError("a comment would be lost")
        except FixError as e:
            doc.data = doc.yaml.load(doc.body)  # as before this edit
            result.skipped.append((edit, str(e)))
            continue
        except Exception as e:  # an input meshrender read but this edit cannot handle
            doc.data = doc.yaml.load(doc.body)
            result.skipped.append((edit, f"cannot apply it ({type(e).__name__}: {e})"))
            continue
        doc.body = body
        new_chunks[i] = prefix + body + tail
        result.applied.append(edit)
    if result.applied:
        after = "".join(new_chunks)
        result.after = after.replace("\n", "\r\n") if crlf else after
    return result


def write_atomic(path: str, text: str, bom: bool = False) -> None:
    """Replace `path` with `text` all at once, keeping its mode (and its UTF-8 byte order
    mark, if it had one): a temporary file in the same folder, flushed, then renamed over
    the original."""
    folder = os.path.dirname(os.path.abspath(path))
    mode = stat.S_IMODE(os.stat(path).st_mode)
    fd, tmp = tempfile.mkstemp(prefix=".meshrender-fix-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write((BOM if bom else b"") + text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fix_files(report: Report) -> list[FileFix]:
    """Work out every file's fixes (nothing is written): per file, what changed and what
    was skipped."""
    from meshrender.inputs.sources import read_bytes

    per_file = plan(report)
    out = []
    for path in sorted(per_file):
        try:
            raw = read_bytes(path, _as_path(path))
            bom = raw.startswith(BOM)
            text = raw[len(BOM):].decode("utf-8") if bom else raw.decode("utf-8")
        except Exception as e:
            result = FileFix(path, "")
            result.refused = f"not touched: cannot read it again ({e})"
            out.append(result)
            continue
        result = fix_text(path, text, per_file[path])
        result.bom = bom
        out.append(result)
    return out


def _as_path(path: str) -> Any:
    from pathlib import Path

    return Path(path)
