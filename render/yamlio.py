"""The one place that reads and writes YAML.

Everything else in meshrender works on plain Python data (dict, list, str, int, float,
bool, None), so the YAML engine can change without touching the injector or the linter.
Reading is split in two: a fast pass that turns each document into data, and a precise
pass (`locate`) that is only run when a message needs the line and column of a field.

The fast pass has two readers that give the same data. The reference reader is PyYAML
(libyaml when available) with Kubernetes' reading of YAML 1.1. The fast one
(render/yamlfast.py: rapidyaml and orjson, about ten times faster) answers only for
documents where it can show it agrees with the reference reader, and hands every other
document, and every error, to the reference reader. It is imported once this process
has read enough YAML to pay for the import (so a pre-commit run on one file never loads
it), and never when MESHRENDER_YAML=reference or when rapidyaml or orjson is missing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from render.errors import InputError, Location
from render.yamlemit import dump as _dump

_MARKER = re.compile(r"(?:---|\.\.\.)(?:[ \t]|$)")
_BARE_MARKER = re.compile(r"---[ \t]*(?:#.*)?$")

# Bounds that keep hostile input from exhausting time or memory.
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 200
MAX_EXPANDED_NODES = 2_000_000

# Bytes of YAML read with the reference reader before the fast one is worth importing.
FAST_AFTER_BYTES = 64 * 1024
_fast: Any = None  # the render.yamlfast module, False when not available or not wanted
_read_bytes = 0


@dataclass
class Document:
    """One YAML document of an input file, with what is needed to point back into it."""

    source: str
    index: int
    line: int
    text: str
    data: Any = None
    _nodes: Any = field(default=None, repr=False, compare=False)

    @property
    def location(self) -> Location:
        return Location(self.source, self.line, 1)

    def passthrough_text(self) -> str:
        """The document as the user wrote it, without a leading bare `---` line."""
        text = self.text
        first, _, rest = text.partition("\n")
        if _BARE_MARKER.match(first):
            text = rest
        lines = text.rstrip("\n").split("\n")
        while lines and lines[-1].startswith("..."):
            lines.pop()
        return "\n".join(lines) + "\n"


def _loader_class() -> type:
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        """SafeLoader with Kubernetes' reading of YAML: no timestamps, no duplicate keys."""

        yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML's own class attribute
            ch: [(tag, rx) for tag, rx in rs if tag != "tag:yaml.org,2002:timestamp"]
            for ch, rs in base.yaml_implicit_resolvers.items()
        }

        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                self.flatten_mapping(node)
                seen: dict[Any, Any] = {}
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=True)
                    try:
                        hash(key)
                    except TypeError:
                        raise yaml.constructor.ConstructorError(
                            None, None, "a mapping key must be a scalar", key_node.start_mark
                        ) from None
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            "while reading a mapping",
                            node.start_mark,
                            f"duplicate key {key!r} (first at line {seen[key].line + 1})",
                            key_node.start_mark,
                        )
                    seen[key] = key_node.start_mark
            return super().construct_mapping(node, deep=deep)

    Loader.add_constructor("tag:yaml.org,2002:map", Loader.construct_yaml_map)
    return Loader


_Loader = _loader_class()


def decode(raw: bytes, source: str) -> str:
    """Bytes to text, refusing what is not UTF-8 with the line where it breaks."""
    if len(raw) > MAX_FILE_BYTES:
        raise InputError(
            f"file is {len(raw)} bytes; meshrender reads files up to {MAX_FILE_BYTES} bytes",
            Location(source),
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(
            f"not UTF-8: byte 0x{raw[e.start]:02x} cannot be decoded", Location(source, line, col)
        ) from None


def split_documents(text: str) -> list[tuple[int, str]]:
    """Cut a YAML stream into (first line, text) per document, at `---` / `...` lines.

    A line that starts with a document marker always ends the document before it (YAML
    forbids such lines inside content), so cutting on them is exact and needs no parse.
    Each piece keeps its last line break: a block scalar that ends a document (`|`
    before a `---`) keeps its final newline, as in the whole stream.
    """
    if "\n%" in text or text.startswith("%"):
        return _split_with_directives(text)
    chunks: list[tuple[int, str]] = []
    start = 0
    line = 1
    for at, marker in _marker_lines(text):
        if marker == "---":
            cut = at
            if cut > start:
                chunks.append((line, text[start:cut]))
                line += text.count("\n", start, cut)
                start = cut
        else:  # "..." ends the current document, marker line included
            cut = text.find("\n", at)
            cut = len(text) if cut < 0 else cut + 1
            chunks.append((line, text[start:cut]))
            line += text.count("\n", start, cut)
            start = cut
    if start < len(text) or not chunks:
        chunks.append((line, text[start:]))
    return chunks


def _marker_lines(text: str) -> list[tuple[int, str]]:
    """(offset, "---" or "...") of each line that is a document marker, in order.
    (str.find: a regex scanning every position costs more than the parse it saves.)"""
    found = []
    for marker in ("---", "..."):
        starts = [0] if text.startswith(marker) else []
        i = text.find("\n" + marker)
        while i >= 0:
            starts.append(i + 1)
            i = text.find("\n" + marker, i + 4)
        for at in starts:
            end = at + 3
            if end == len(text) or text[end] in " \t\n":
                found.append((at, marker))
    found.sort()
    return found


def _split_with_directives(text: str) -> list[tuple[int, str]]:
    """split_documents for streams with `%` directive lines, which belong to the next document."""
    chunks: list[tuple[int, str]] = []
    lines = text.split("\n")
    last = len(lines) - 1

    def piece(a: int, b: int) -> str:
        return "\n".join(lines[a:b]) + ("\n" if b <= last else "")

    start = 0
    pending_directives = False
    for i, line in enumerate(lines):
        if not line or line[0] not in "-.%":
            continue
        if line.startswith("%") and i >= start:
            pending_directives = True
            continue
        if not _MARKER.match(line):
            continue
        if line.startswith("---"):
            cut = i
            if pending_directives:
                while cut > start and lines[cut - 1].startswith("%"):
                    cut -= 1
            if cut > start:
                chunks.append((start + 1, piece(start, cut)))
            start = cut
            pending_directives = False
        else:
            chunks.append((start + 1, piece(start, i + 1)))
            start = i + 1
    if start < len(lines):
        chunks.append((start + 1, piece(start, len(lines))))
    return chunks


def _check_shape(data: Any, source: str, line: int) -> None:
    """Refuse nesting deeper than any manifest needs, and anchors that expand explosively.

    Aliases load as shared objects, so a "billion laughs" document is small in memory
    until something walks it; the expanded size is computed here, with shared nodes
    counted once per reference, before anything else touches the data.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(data, 0, False)]
    total_limit = MAX_EXPANDED_NODES
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(
                f"document nests deeper than {MAX_DEPTH} levels", Location(source, line, 1)
            )
        children = node.values() if isinstance(node, dict) else node
        if done:
            size = 1
            for c in children:
                if isinstance(c, (dict, list)):
                    size += sizes[id(c)]
                else:
                    size += 1
            if size > total_limit:
                raise InputError(
                    f"document expands to more than {total_limit} nodes through anchors "
                    "and aliases (an alias expansion bomb?)",
                    Location(source, line, 1),
                )
            sizes[id(node)] = size
            open_nodes.discard(id(node))
            continue
        if id(node) in sizes:
            continue
        open_nodes.add(id(node))
        stack.append((node, depth, True))
        for c in children:
            if isinstance(c, (dict, list)) and id(c) not in sizes:
                if id(c) in open_nodes:
                    raise InputError(
                        "document refers to itself through an alias", Location(source, line, 1)
                    )
                stack.append((c, depth + 1, False))


def _mark_location(source: str, first_line: int, mark: Any) -> Location:
    if mark is None:
        return Location(source, first_line, 1)
    return Location(source, first_line + mark.line, mark.column + 1)


def _yaml_error(e: yaml.YAMLError, source: str, first_line: int) -> InputError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if "\t" in problem or "tab" in problem:
        message += "; YAML does not allow tabs for indentation"
    return InputError(message, _mark_location(source, first_line, mark))


def fast_reader(load: bool = True) -> Any:
    """The fast reader module, or None; `load=False` only says whether it is loaded."""
    global _fast
    if _fast is None and load:
        _fast = False
        if os.environ.get("MESHRENDER_YAML", "") != "reference":
            try:
                from render import yamlfast
            except ImportError:
                pass
            else:
                _fast = yamlfast
    return _fast or None


def expect(total_bytes: int) -> None:
    """Say how much YAML is about to be read, so the fast reader is loaded now if it pays
    (before forking workers, which then share it) and not at all for a small input."""
    if total_bytes >= FAST_AFTER_BYTES:
        fast_reader()


def _reader(text: str) -> Any:
    global _read_bytes
    fast = _fast
    if fast is None:
        _read_bytes += len(text)
        if _read_bytes >= FAST_AFTER_BYTES:
            fast = fast_reader()
    return fast


def _load(chunk: str, source: str, first_line: int, fast: Any, data: Any = None) -> Any:
    """One document's data (None for an empty one), or InputError with its location;
    `data` is the fast reader's answer when it was asked already."""
    if fast:
        if data is None:
            data = fast.load(chunk)
        if data is not fast.UNSURE:
            return data
    try:
        data = yaml.load(chunk, Loader=_Loader)
    except yaml.YAMLError as e:
        raise _yaml_error(e, source, first_line) from None
    except RecursionError:
        raise InputError(
            f"document nests deeper than {MAX_DEPTH} levels", Location(source, first_line, 1)
        ) from None
    if data is not None:
        _check_shape(data, source, first_line)
    return data


def parse(text: str, source: str) -> list[Document]:
    """All non-empty documents of a stream, as data, in order."""
    fast = _reader(text)
    chunks = split_documents(text)
    answers = fast.load_all([chunk for _, chunk in chunks]) if fast else [None] * len(chunks)
    docs: list[Document] = []
    for (first_line, chunk), answer in zip(chunks, answers, strict=True):
        data = _load(chunk, source, first_line, fast, answer)
        if data is not None:
            docs.append(Document(source, len(docs), first_line, chunk, data))
    return docs


# Text with nothing in it but comments, blank lines, markers and directives.
_NO_CONTENT = re.compile(r"(?:(?:[ \t]*|---[ \t]*|\.\.\.[ \t]*)(?:#[^\n]*)?(?:\n|$)|%[^\n]*(?:\n|$))*")


def parse_some(text: str, source: str, wanted: Callable[[str], bool]) -> tuple[list[Document], int]:
    """The documents of a stream whose text `wanted` accepts, as parse() gives them, and
    the number of documents; the others are not parsed (so not checked either). A
    document whose whole content is a null (`~`) counts as one here."""
    fast = _fast  # the few documents wanted do not make it worth loading the fast reader
    docs: list[Document] = []
    index = 0
    for first_line, chunk in split_documents(text):
        if wanted(chunk):
            data = _load(chunk, source, first_line, fast)
            if data is not None:
                docs.append(Document(source, index, first_line, chunk, data))
                index += 1
        elif _NO_CONTENT.fullmatch(chunk) is None:
            index += 1
    return docs, index


def _compose(doc: Document) -> Any:
    if doc._nodes is None:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        doc._nodes = yaml.compose(doc.text, Loader=loader)
    return doc._nodes


def locate(doc: Document, path: Sequence[str | int]) -> Location:
    """Line and column of the field at `path` in `doc`, or of its nearest existing parent.

    For a mapping key this is the key itself, which is where an editor should jump.
    """
    try:
        node = _compose(doc)
    except yaml.YAMLError:
        return doc.location
    mark = node.start_mark if node is not None else None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == step or (
                    isinstance(step, int) and key_node.value == str(step)
                ):
                    mark, node = key_node.start_mark, value_node
                    break
            else:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if 0 <= step < len(node.value):
                node = node.value[step]
                mark = node.start_mark
            else:
                break
        else:
            break
    return _mark_location(doc.source, doc.line, mark)


def dump(data: Any, sort_keys: bool = True) -> str:
    """Serialise plain data as one YAML document, the way kube-inject prints objects."""
    return _dump(data, sort_keys=sort_keys)


def dump_stream(texts: Iterable[str]) -> str:
    """Join serialised documents into one stream with `---` separators."""
    parts = []
    for t in texts:
        if parts and not t.startswith("---"):
            parts.append("---\n")
        parts.append(t)
    return "".join(parts)


def load_plain(text: str, source: str) -> Any:
    """A single small document (values files, annotation payloads) as data."""
    docs = parse(text, source)
    if not docs:
        return None
    if len(docs) > 1:
        raise InputError(f"expected one YAML document, found {len(docs)}", docs[1].location)
    return docs[0].data
