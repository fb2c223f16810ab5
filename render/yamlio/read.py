"""The one place that reads and writes YAML.

Everything else in meshrender works on plain Python data (dict, list, str, int, float,
bool, None), so the YAML engine can change without touching the injector or the linter.
Reading is split in two: a fast pass that turns each document into data, and a precise
pass (`locate`) that is only run when a message needs the line and column of a field.

The fast pass has two readers that give the same data. The reference reader is PyYAML
(libyaml when available) for the syntax, with Kubernetes' reading of the result: yaml.v2's
types, merge keys and keys as sigs.k8s.io/yaml turns them into JSON (goyaml.py). The fast one
(render/yamlio/fast.py: rapidyaml and orjson, about ten times faster) answers only for
documents where it can show it agrees with the reference reader, and hands every other
document, and every error, to the reference reader. It is imported once this process
has read enough YAML to pay for the import (so a pre-commit run on one file never loads
it), and never when MESHRENDER_YAML=reference or when rapidyaml or orjson is missing.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml

from meshrender.errors import InputError, Location
from meshrender.limits import (
    MAX_DEPTH,
    MAX_EXPANDED_CHARS,
    MAX_EXPANDED_NODES,
    MAX_FILE_BYTES,
    MAX_FILE_NODES,
    MAX_NODES,
    PARSE_SAFE_DEPTH,
)
from meshrender.yamlio import goyaml
from meshrender.yamlio.emit import dump as _dump

_MARKER = re.compile(r"(?:---|\.\.\.)(?:[ \t]|$)")
_BARE_MARKER = re.compile(r"---[ \t]*(?:#.*)?$")

# Tags a document may carry that have no JSON value: meshrender refuses them (yaml.v2
# would read them as plain strings or maps, which is never what their author meant).
_NON_JSON_TAGS = ("binary", "set", "omap", "pairs", "timestamp")
_Y = "tag:yaml.org,2002:"
_STR_TAG, _SEQ_TAG, _MAP_TAG, _MERGE_TAG = _Y + "str", _Y + "seq", _Y + "map", _Y + "merge"
# The tag the resolver gives every plain scalar that yaml.v2 may type (goyaml decides).
_GO_TAG = "tag:meshrender.dev,2025:go-plain"
_GO_KIND_OF_TAG = {_Y + "int": goyaml.INT, _Y + "float": goyaml.FLOAT, _Y + "bool": goyaml.BOOL,
                   _Y + "null": goyaml.NULL}
_NAME_OF_KIND = {goyaml.STR: "str", goyaml.INT: "int", goyaml.FLOAT: "float", goyaml.BOOL: "bool",
                 goyaml.NULL: "null", goyaml.MERGE: "merge"}

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
    size: int = field(default=0, repr=False, compare=False)  # nodes, as meshrender.limits counts them
    # Made when first needed, for locating many fields in one document in time linear in
    # its size: each map node's keys (id(node) -> key -> (key node, value node)), its lines.
    _keys: dict[int, dict[str, tuple[Any, Any]]] | None = field(default=None, repr=False, compare=False)
    _lines: list[str] | None = field(default=None, repr=False, compare=False)
    memo: dict[Any, Any] | None = field(default=None, repr=False, compare=False)  # for callers (provenance)

    @property
    def location(self) -> Location:
        return Location(self.source, self.line, 1)

    def lines(self) -> list[str]:
        """The document's text split into lines, made once."""
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines

    def __getstate__(self) -> dict[str, Any]:
        # What is only a cache stays in the process that made it (nodes hold marks).
        state = dict(self.__dict__)
        state.update(_nodes=None, _keys=None, _lines=None, memo=None)
        return state

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


class _DuplicateKey(yaml.constructor.ConstructorError):
    """A key written twice; `first_mark` is where it first appears."""

    def __init__(self, key: Any, mark: Any, first_mark: Any, written: str | None = None,
                 same_key: bool = True):
        super().__init__(None, None, f"duplicate key {key!r}", mark)
        self.key = key
        self.first_mark = first_mark
        self.written = written  # the key as written, when Kubernetes reads it as another text
        self.same_key = same_key  # False: two different keys yaml.v2 turns into one JSON key


def _error(message: str, node: Any) -> yaml.constructor.ConstructorError:
    return yaml.constructor.ConstructorError(None, None, message, node.start_mark)


class _Kube:
    """Composed YAML nodes to data, as Kubernetes reads them (see goyaml.py): yaml.v2's
    scalars, its merge keys, its keys made JSON keys by sigs.k8s.io/yaml.

    Merge keys (`<<`) follow yaml.v2's map decoding, which writes each entry in document
    order: a `<<` after an explicit key overrides it, an explicit key after a `<<`
    overrides the merged one, and within `<<: [*a, *b]` the first map wins. A key written
    twice in one map is refused (kubectl keeps the last, kustomize and the API server's
    strict decoding refuse it), and so are two keys that are different in yaml.v2 but the
    same JSON key (`1` and `"1"`, `y` and `true`): sigs.k8s.io/yaml keeps either one, at
    random. Aliased nodes are read once and shared (check_expansion sizes them).
    """

    def __init__(self, merges: bool = True) -> None:
        self.done: dict[int, Any] = {}
        self.keys: dict[int, dict[str, tuple[Any, Any]]] = {}  # map node -> key -> (identity, mark)
        self.merges = merges  # whether the document may merge maps (`<<`): only then are keys kept
        self.open: set[int] = set()
        self.nodes = 0  # values and keys read (an alias's target once)

    def value(self, node: Any, depth: int) -> Any:
        cls = node.__class__
        self.nodes += 1
        if cls is yaml.ScalarNode:
            tag = node.tag
            if tag == _STR_TAG:
                return node.value
            if tag == _GO_TAG:
                try:
                    return goyaml.value(node.value)
                except goyaml.NotJSON:
                    raise _error(f"`{node.value}` is a float that JSON cannot hold (NaN or infinite); "
                                 "Kubernetes refuses the document (json: unsupported value). Quote it if it "
                                 "is text", node) from None
            return self.tagged(node)
        got = self.done.get(id(node))
        if got is not None:
            return got
        if id(node) in self.open:
            raise _error("an anchor's value contains itself (an alias inside its own anchor); Kubernetes "
                         "cannot read it", node)
        if depth >= MAX_DEPTH:
            raise _TooDeep
        if node.tag not in (_SEQ_TAG, _MAP_TAG):
            self.refuse_tag(node)
        self.open.add(id(node))
        if cls is yaml.SequenceNode:
            out: Any = [self.value(child, depth + 1) for child in node.value]
        else:
            out = self.mapping(node, depth)
        self.open.discard(id(node))
        self.done[id(node)] = out
        return out

    def mapping(self, node: Any, depth: int) -> dict:
        out: dict = {}
        ids: dict[str, tuple[Any, Any]] = {}
        explicit: dict[str, Any] = {}
        self.nodes += len(node.value)  # the keys
        for key_node, value_node in node.value:
            if key_node.__class__ is yaml.ScalarNode and key_node.tag == _MERGE_TAG:
                self.merge(value_node, out, ids, depth)
                continue
            key, identity = self.key(key_node)
            seen = ids.get(key)
            if seen is not None:
                if seen[0] != identity:
                    raise _DuplicateKey(key, key_node.start_mark, seen[1], key_node.value, same_key=False)
                if key in explicit:
                    raise _DuplicateKey(key, key_node.start_mark, explicit[key],
                                        key_node.value if key_node.value != key else None)
            out[key] = self.value(value_node, depth + 1)
            ids[key] = (identity, key_node.start_mark)
            explicit[key] = key_node.start_mark
        if self.merges:
            self.keys[id(node)] = ids
        return out

    def merge(self, node: Any, out: dict, ids: dict, depth: int) -> None:
        if node.__class__ is yaml.MappingNode:
            sources = [node]
        elif node.__class__ is yaml.SequenceNode:
            sources = node.value[::-1]  # yaml.v2 steps backwards: earlier maps take precedence
        else:
            sources = [None]
        for source in sources:
            if source is None or source.__class__ is not yaml.MappingNode:
                raise _error("map merge requires map or sequence of maps as the value", source or node)
            merged = self.value(source, depth + 1)
            merged_ids = self.keys[id(source)]
            for key, value in merged.items():
                identity, mark = merged_ids[key]
                seen = ids.get(key)
                if seen is not None and seen[0] != identity:
                    raise _DuplicateKey(key, mark, seen[1], None, same_key=False)
                out[key] = value
                ids[key] = (identity, mark)

    def key(self, node: Any) -> tuple[str, Any]:
        """(JSON key, yaml.v2 identity) of a key node."""
        if node.__class__ is not yaml.ScalarNode:
            raise _error("a mapping key must be a scalar", node)
        tag = node.tag
        if tag == _STR_TAG:
            return node.value, node.value
        if tag == _GO_TAG:
            kind, value = goyaml.resolve(node.value) if node.value else (goyaml.NULL, None)
        else:
            kind, value = self.tagged_kind(node)
        try:
            return goyaml.key_text(kind, value), goyaml.key_identity(kind, value)
        except goyaml.BadKey as e:
            raise _error(f"the key `{node.value}` is {e}, which Kubernetes cannot make a JSON key of "
                         "(unsupported map key); quote it", node) from None

    def tagged_kind(self, node: Any) -> tuple[str, Any]:
        """yaml.v2's resolve(tag, value) of a scalar with an explicit standard tag."""
        want = _GO_KIND_OF_TAG.get(node.tag)
        if want is None:
            self.refuse_tag(node)
            return goyaml.STR, node.value
        text = node.value
        kind, value = goyaml.resolve(text) if text else (goyaml.NULL, None)
        if kind == want:
            return kind, value
        if want == goyaml.FLOAT and kind == goyaml.INT:
            return goyaml.FLOAT, float(value)
        raise _error(f"cannot decode !!{_NAME_OF_KIND[kind]} `{text}` as a !!{_NAME_OF_KIND[want]} "
                     "(Kubernetes refuses it)", node)

    def tagged(self, node: Any) -> Any:
        kind, value = self.tagged_kind(node)
        try:
            return goyaml.json_value(kind, value)
        except goyaml.NotJSON:
            raise _error(f"`{node.value}` is a float that JSON cannot hold (NaN or infinite); Kubernetes "
                         "refuses the document (json: unsupported value)", node) from None

    @staticmethod
    def refuse_tag(node: Any) -> None:
        tag = node.tag
        if tag.startswith(_Y) and tag[len(_Y):] in _NON_JSON_TAGS:
            raise _error(f"the tag {tag.replace(_Y, '!!')} has no JSON equivalent; Kubernetes reads "
                         "manifests as JSON, so remove the tag", node)
        if tag not in (_STR_TAG, _SEQ_TAG, _MAP_TAG):
            raise yaml.constructor.ConstructorError(
                None, None, f"could not determine a constructor for the tag {tag!r}", node.start_mark)


def _loader_class() -> type:
    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc, valid-type]
        """PyYAML's parser and composer, with yaml.v2's resolution and decoding (_Kube)."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            # Called for every node without an explicit tag: plain scalars that yaml.v2
            # may type get _GO_TAG, every other scalar is a string.
            if kind is yaml.ScalarNode:
                if implicit[0]:
                    if not value or value[0] in goyaml.HINT_FIRST:
                        return _GO_TAG
                    if value == "<<":
                        return _MERGE_TAG
                return _STR_TAG
            return _SEQ_TAG if kind is yaml.SequenceNode else _MAP_TAG

        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self.merges = not isinstance(stream, str) or "<<" in stream

        def construct_document(self, node: Any) -> Any:
            kube = _Kube(self.merges)
            data = kube.value(node, 0)
            self.nodes = kube.nodes
            return data

    return Loader


_Loader = _loader_class()


def decode(raw: bytes, source: str) -> str:
    """Bytes to text, refusing what is not UTF-8 with the line where it breaks; CR LF line
    endings become LF, as kubectl reads them."""
    if len(raw) > MAX_FILE_BYTES:
        raise InputError(
            f"file is {len(raw)} bytes; meshrender reads files up to {MAX_FILE_BYTES} bytes",
            Location(source),
        )
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(
            f"not UTF-8: byte 0x{raw[e.start]:02x} cannot be decoded", Location(source, line, col)
        ) from None
    # kubectl reads a file line by line (apimachinery's YAMLReader over bufio's ReadLine),
    # which ends a line at LF or CR LF: a file with Windows or mixed line endings is cut
    # into documents at its `---` lines like any other. A lone CR is left to the parser.
    return text.replace("\r\n", "\n") if "\r" in text else text


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


class _TooDeep(Exception):
    """A document nests deeper than MAX_DEPTH (the caller finds where)."""


def _check_expansion(data: Any, source: str, line: int) -> int:
    """Refuse anchors that expand explosively, and nesting deeper than any manifest needs;
    the document's nodes (values and keys), each alias counted in full.

    Aliases load as shared objects, so a "billion laughs" document is small in memory
    until something walks it; the expanded size (nodes, and characters of scalars, since
    one long string can be aliased a million times) is computed here, with shared nodes
    counted once per reference, before anything else touches the data.
    """
    if not isinstance(data, (dict, list)):
        return 1
    sizes: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(data, 0, False)]
    where = Location(source, line, 1)
    while stack:
        node, depth, done = stack.pop()
        if depth >= MAX_DEPTH:
            raise _TooDeep
        children = node.values() if isinstance(node, dict) else node
        if done:
            nodes, chars = 1 + (len(node) if isinstance(node, dict) else 0), 0  # the node, its keys
            for c in children:
                if isinstance(c, (dict, list)):
                    n, ch = sizes[id(c)]
                    nodes, chars = nodes + n, chars + ch
                else:
                    nodes += 1
                    if isinstance(c, str):
                        chars += len(c)
            if nodes > MAX_EXPANDED_NODES:
                raise InputError(
                    f"document expands to more than {MAX_EXPANDED_NODES} nodes through anchors "
                    "and aliases (an alias expansion bomb?)", where)
            if chars > MAX_EXPANDED_CHARS:
                raise InputError(
                    f"document expands to more than {MAX_EXPANDED_CHARS} characters through anchors "
                    "and aliases (an alias expansion bomb?)", where)
            sizes[id(node)] = (nodes, chars)
            open_nodes.discard(id(node))
            continue
        if id(node) in sizes:
            continue
        open_nodes.add(id(node))
        stack.append((node, depth, True))
        for c in children:
            if isinstance(c, (dict, list)) and id(c) not in sizes:
                if id(c) in open_nodes:
                    raise InputError("document refers to itself through an alias", where)
                stack.append((c, depth + 1, False))
    return sizes[id(data)][0]


def _nesting_bound(chunk: str) -> int:
    """A cheap upper bound on how deep `chunk` can nest, without parsing it.

    Each flow level needs a `[` or `{`; each two block levels need one more column of
    indentation (a block sequence may sit at its parent key's column), so the longest
    line bounds block nesting.
    """
    if len(chunk) < PARSE_SAFE_DEPTH:
        return len(chunk)
    flows = chunk.count("[") + chunk.count("{")
    if flows >= PARSE_SAFE_DEPTH:
        return flows
    return flows + 2 * (max(map(len, chunk.split("\n"))) + 1)


# Characters one of which stands next to every node of a document (see node_bound).
_NODE_INDICATORS = (":", "-", ",", "[", "{", "?")


def node_bound(chunk: str) -> int:
    """A cheap upper bound on the nodes of `chunk` (maps, lists, scalars, keys, aliases),
    without parsing it. Every node but the document's root comes with an indicator (`:`,
    `-`, `,`, `?`, `[`, `{`) and no indicator brings more than two: `a: b` is a key and a
    value for one `:`; `- a: b` a map, its key and its value for `-` and `:`; `[a, b]` a
    list and two items for `[` and `,`; `{a, b}` a map, two keys and two nulls for `{` and
    `,`; `[:, :]` a list and two maps of an empty key and value for `[`, two `:` and a `,`.
    Where indicators also sit inside scalars or comments (URLs, `a-b`) it is only looser."""
    if 2 * len(chunk) + 1 <= MAX_NODES:
        return 2 * len(chunk) + 1
    return 2 * sum(chunk.count(c) for c in _NODE_INDICATORS) + 1


def _too_many_nodes(where: Location) -> InputError:
    return InputError(f"document has more than {MAX_NODES:,} nodes (maps, lists and values); meshrender reads "
                      f"at most {MAX_NODES:,} in one document (see docs/bad-input.md, Limits); split it", where)


def _check_before_parse(chunk: str, source: str, first_line: int) -> None:
    """Refuse, before anything composes it, a document that nests deeper than MAX_DEPTH
    (the recursive C composer would overflow the process stack past some 20,000 levels) or
    holds more than MAX_NODES nodes (a node tree costs about 500 bytes a node). Both are
    found in one pass over the C parser's events, which cost no memory, and only for a
    document whose cheap bounds (_nesting_bound, node_bound) exceed the limits."""
    deep = _nesting_bound(chunk) >= PARSE_SAFE_DEPTH
    if not deep and node_bound(chunk) <= MAX_NODES:
        return
    try:
        where = _depth_crossing(chunk, source, first_line, count_nodes=True)
    except yaml.YAMLError:
        if not deep:
            return  # a syntax error before the limit: the parse that follows reports it
        where = _too_deep_at(chunk, source, first_line)
    if where is not None:
        raise _too_deep(where)


def _too_deep_at(chunk: str, source: str, first_line: int) -> Location | None:
    """Where `chunk` first nests deeper than MAX_DEPTH, from the parser's event stream.

    The C parser's events come from a loop with its own stack, so this is safe on input
    that would overflow the recursive composer; None if it does not nest that deep.
    """
    try:
        return _depth_crossing(chunk, source, first_line)
    except yaml.YAMLError as e:
        # The parser may stop before it has produced the event that crosses MAX_DEPTH: it
        # reads ahead (a `[` may start a key, so `[[[[...` is scanned to its end) and
        # libyaml has a nesting limit of its own in some versions (1,000 levels since
        # PyYAML 6.0.4's). What it read before it stopped holds every level up to there:
        # parsing only that much finds the crossing wherever the parser's own limit lies,
        # so the message is meshrender's whichever parser and version sits below.
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        if mark is not None and 0 < mark.index < len(chunk):
            try:
                found = _depth_crossing(chunk[:mark.index], source, first_line)
            except yaml.YAMLError:
                found = None
            if found is not None:
                return found
        raise _yaml_error(e, source, first_line, chunk) from None


def _depth_crossing(chunk: str, source: str, first_line: int, count_nodes: bool = False) -> Location | None:
    """Where the event stream of `chunk` first opens a collection deeper than MAX_DEPTH;
    with `count_nodes`, InputError where it passes MAX_NODES nodes, if that comes first."""
    depth = nodes = 0
    for event in yaml.parse(chunk, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        cls = event.__class__
        if cls is yaml.ScalarEvent or cls is yaml.AliasEvent:
            nodes += 1
        elif cls is yaml.MappingStartEvent or cls is yaml.SequenceStartEvent:
            nodes += 1
            depth += 1
            if depth > MAX_DEPTH:
                return _mark_location(source, first_line, event.start_mark, chunk)
        elif cls is yaml.MappingEndEvent or cls is yaml.SequenceEndEvent:
            depth -= 1
            continue
        else:
            continue
        if count_nodes and nodes > MAX_NODES:
            raise _too_many_nodes(_mark_location(source, first_line, event.start_mark, chunk))
    return None


def _too_deep(where: Location) -> InputError:
    return InputError(f"document nests deeper than {MAX_DEPTH} levels; meshrender reads at most "
                      f"{MAX_DEPTH}", where)


_ODD_BREAKS = re.compile("[\r\x85\u2028\u2029]")


@lru_cache(maxsize=64)
def _has_odd_breaks(text: str) -> bool:
    """YAML also breaks lines at CR, NEL, LS and PS; editors and CI logs count only LF."""
    return _ODD_BREAKS.search(text) is not None


def _mark_location(source: str, first_line: int, mark: Any, chunk: str | None = None) -> Location:
    if mark is None:
        return Location(source, first_line, 1)
    if chunk is not None and mark.index >= len(chunk) - 1:
        # At the end of the text (an unclosed bracket or quote) the parser points past the
        # last line, where there is nothing to see: the place to edit is the end of the last
        # line with content, which is also the line kubectl names ("yaml: line 9: did not
        # find expected ',' or ']'", yaml.v2 counting that mark's line from 0).
        end = len(chunk.rstrip())
        if mark.index >= end:
            line = chunk.count("\n", 0, end)
            col = end - (chunk.rfind("\n", 0, end) + 1)
            return Location(source, first_line + line, col + 1)
    if chunk is not None and _has_odd_breaks(chunk) and 0 <= mark.index <= len(chunk):
        line = chunk.count("\n", 0, mark.index)
        col = mark.index - (chunk.rfind("\n", 0, mark.index) + 1)
        return Location(source, first_line + line, col + 1)
    return Location(source, first_line + mark.line, mark.column + 1)


_TAB = re.compile(r"\btabs?\b")


def _reader_error(e: Any, source: str, first_line: int, chunk: str) -> InputError:
    """A character YAML does not allow (control characters); the parser counts bytes."""
    before = chunk.encode("utf-8")[: e.position].decode("utf-8", "ignore")
    line = first_line + before.count("\n")
    col = len(before) - (before.rfind("\n") + 1) + 1
    ch = e.character
    code = ord(ch) if isinstance(ch, str) else ch if isinstance(ch, int) else None
    if code is None:
        return InputError(f"invalid YAML: {e.reason}", Location(source, line, col))
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return InputError(f"invalid YAML: character U+{code:04X} is not allowed in YAML ({e.reason}); "
                      f"write it as the escape \"{escape}\" inside a double-quoted string",
                      Location(source, line, col))


def _yaml_error(e: yaml.YAMLError, source: str, first_line: int, chunk: str = "") -> InputError:
    if isinstance(e, yaml.reader.ReaderError):
        return _reader_error(e, source, first_line, chunk)
    if isinstance(e, _DuplicateKey):
        first = _mark_location(source, first_line, e.first_mark, chunk)
        where = _mark_location(source, first_line, e.problem_mark, chunk)
        if not e.same_key:
            return InputError(f"invalid YAML: two keys that Kubernetes reads as the same key {e.key!r} (the other "
                              f"at line {first.line}); sigs.k8s.io/yaml keeps either one at random: keep one",
                              where)
        written = f", as Kubernetes reads `{e.written}`" if e.written is not None else ""
        return InputError(f"invalid YAML: duplicate key {e.key!r}{written} (first at line {first.line}); keep one "
                          "(Kubernetes tools disagree on which one wins)", where)
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    if _tab_at(chunk, mark):
        return InputError("invalid YAML: a tab character where YAML expects indentation or content; "
                          "YAML allows only spaces for indentation", _mark_location(source, first_line, mark, chunk))
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    message = f"invalid YAML: {problem}" + (f" ({context})" if context else "")
    if _TAB.search(problem):
        message += "; YAML allows only spaces for indentation"
    return InputError(message, _mark_location(source, first_line, mark, chunk or None))


def _tab_at(chunk: str, mark: Any) -> bool:
    """True if the parser stopped at a tab (it then says only "cannot start any token")."""
    if mark is None or not chunk or not 0 <= mark.index < len(chunk):
        return False
    return chunk[mark.index] == "\t"


def fast_reader(load: bool = True) -> Any:
    """The fast reader module, or None; `load=False` only says whether it is loaded."""
    global _fast
    if _fast is None and load:
        _fast = False
        if os.environ.get("MESHRENDER_YAML", "") != "reference":
            try:
                from meshrender.yamlio import fast as yamlfast
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


def _load(chunk: str, source: str, first_line: int, fast: Any, answer: tuple[Any, int] | None = None
          ) -> tuple[Any, int]:
    """One document's data (None for an empty one) and its nodes as meshrender.limits counts
    them (values and keys, each alias in full), or InputError with its location; `answer`
    is the fast reader's when it was asked already."""
    if fast:
        if answer is None:
            answer = fast.load_all_counted([chunk])[0] if _fast_safe(chunk) else (fast.UNSURE, 0)
        if answer[0] is not fast.UNSURE:
            return answer
    _check_before_parse(chunk, source, first_line)
    loader = _Loader(chunk)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as e:
        # Too deep comes first, whatever the parser met (its own nesting limit, in some
        # versions, or a later syntax error): the same input gets the same message.
        if _nesting_bound(chunk) > MAX_DEPTH:
            where = _too_deep_at(chunk, source, first_line)
            if where is not None:
                raise _too_deep(where) from None
        raise _yaml_error(e, source, first_line, chunk) from None
    except (RecursionError, _TooDeep):
        raise _too_deep(_too_deep_at(chunk, source, first_line) or Location(source, first_line, 1)) from None
    finally:
        loader.dispose()
    nodes = getattr(loader, "nodes", 0)
    if data is not None:
        nodes = _check_loaded(data, chunk, source, first_line) or nodes
    return data, nodes


def _check_loaded(data: Any, chunk: str, source: str, first_line: int) -> int | None:
    """Alias expansion of a document the reference reader loaded (its depth was checked
    as it was read; the fast reader answers only for documents without anchors): its
    nodes with every alias counted in full, None when it has no anchors."""
    if "&" not in chunk:
        return None
    try:
        return _check_expansion(data, source, first_line)
    except _TooDeep:
        raise _too_deep(_too_deep_at(chunk, source, first_line) or Location(source, first_line, 1)) from None


def _fast_answers(fast: Any, chunks: list[tuple[int, str]]) -> list[tuple[Any, int]]:
    """The fast reader's answers, UNSURE for documents it must not be given (_fast_safe)."""
    safe = [_fast_safe(chunk) for _, chunk in chunks]
    given = iter(fast.load_all_counted([chunk for (_, chunk), ok in zip(chunks, safe, strict=True) if ok]))
    return [next(given) if ok else (fast.UNSURE, 0) for ok in safe]


def _fast_safe(chunk: str) -> bool:
    """Whether a document may go to the fast (C++) reader: not if it could nest deep enough
    to exhaust a recursive parser's stack (see _nesting_bound)."""
    return _nesting_bound(chunk) < PARSE_SAFE_DEPTH


def parse(text: str, source: str, *, load_fast: bool = True) -> list[Document]:
    """All non-empty documents of a stream, as data, in order; InputError for a stream of
    more than MAX_FILE_NODES nodes (a file's documents are held in memory together).
    `load_fast=False`: the caller decided (with expect) whether the fast reader pays; it
    is used if loaded, and not loaded for this text."""
    fast = _reader(text) if load_fast else (_fast or None)
    chunks = split_documents(text)
    answers: list[Any] = _fast_answers(fast, chunks) if fast else [None] * len(chunks)
    docs: list[Document] = []
    total = 0
    for (first_line, chunk), answer in zip(chunks, answers, strict=True):
        data, nodes = _load(chunk, source, first_line, fast, answer)
        total += nodes
        if total > MAX_FILE_NODES:
            raise InputError(f"file has more than {MAX_FILE_NODES:,} nodes (maps, lists and values, every alias "
                             f"counted in full); meshrender reads at most {MAX_FILE_NODES:,} from one file (see "
                             "docs/bad-input.md, Limits); split it", Location(source, first_line, 1))
        if data is not None:
            docs.append(Document(source, len(docs), first_line, chunk, data, size=nodes))
    return docs


# Text with nothing in it but comments, blank lines, markers and directives.
_NO_CONTENT = re.compile(r"(?:(?:[ \t]*|---[ \t]*|\.\.\.[ \t]*)(?:#[^\n]*)?(?:\n|$)|%[^\n]*(?:\n|$))*")


def parse_some(text: str, source: str, wanted: Callable[[str], bool],
               each: Callable[[Document], None] | None = None) -> tuple[list[Document], int]:
    """The documents of a stream whose text `wanted` accepts, as parse() gives them, and
    the number of documents; the others are not parsed (so not checked either). A
    document whose whole content is a null (`~`) counts as one here. `each(doc)` sees
    each document as it is read, and may raise to stop (a budget on what is kept)."""
    fast = _fast  # the few documents wanted do not make it worth loading the fast reader
    docs: list[Document] = []
    index = 0
    for first_line, chunk in split_documents(text):
        if wanted(chunk):
            data, nodes = _load(chunk, source, first_line, fast)
            if data is not None:
                doc = Document(source, index, first_line, chunk, data, size=nodes)
                if each is not None:
                    each(doc)
                docs.append(doc)
                index += 1
        elif _NO_CONTENT.fullmatch(chunk) is None:
            index += 1
    return docs, index


class _Locating(getattr(yaml, "CBaseLoader", yaml.BaseLoader)):  # type: ignore[misc]
    """Composes a document's node tree for its positions only (libyaml's, where built):
    no scalar's tag is resolved, since nothing here reads tags (the nodes' kinds, values
    and marks do not depend on them), and resolving each scalar's tag by regex took a
    third of `meshrender diff`'s time where many files changed."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        return ""


def _compose(doc: Document) -> Any:
    if doc._nodes is None:
        doc._nodes = yaml.compose(doc.text, Loader=_Locating)
    return doc._nodes


def _entry(doc: Document, node: Any, step: Any) -> tuple[Any, Any] | None:
    """(key node, value node) of the entry `step` of map node `node` (an int step matches
    the key written as that number), from an index of the map's keys made once per map:
    locating each of 40,000 annotations must not walk the map each time."""
    index = doc._keys
    if index is None:
        index = doc._keys = {}
    keys = index.get(id(node))
    if keys is None:
        keys = {}
        for k, v in node.value:
            text = k.value
            if isinstance(text, str) and text not in keys:
                keys[text] = (k, v)
        index[id(node)] = keys
    return keys.get(step if isinstance(step, str) else str(step))


def _walk_nodes(doc: Document, path: Sequence[str | int]) -> tuple[Any, Any, Any, bool]:
    """(node, its key node or None, the last mark found, whether the whole path exists)
    of the deepest part of `path` in `doc`'s node tree."""
    node = _compose(doc)
    mark = node.start_mark if node is not None else None
    key_node = None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            entry = _entry(doc, node, step)
            if entry is None:
                return node, key_node, mark, False
            key_node, node = entry
            mark = key_node.start_mark
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            key_node, node = None, node.value[step]
            mark = node.start_mark
        else:
            return node, key_node, mark, False
    return node, key_node, mark, True


def locate(doc: Document, path: Sequence[str | int]) -> Location:
    """Line and column of the field at `path` in `doc`, or of its nearest existing parent.

    For a mapping key this is the key itself, which is where an editor should jump. The
    document is composed once and each map indexed once, so locating every field of a
    document costs time linear in its size, whatever the number of fields asked for.
    """
    try:
        _, _, mark, _ = _walk_nodes(doc, path)
    except yaml.YAMLError:
        return doc.location
    return _mark_location(doc.source, doc.line, mark, doc.text)


def scalar_text(doc: Document, path: Sequence[str | int], key: bool = False) -> str | None:
    """The text the user wrote for the scalar at `path` (its key, with `key`), for messages
    that must quote it back exactly: `version: 1.10` reads as 1.1, `inject: yes` as true."""
    try:
        node, key_node, _, found = _walk_nodes(doc, path)
    except yaml.YAMLError:
        return None
    if not found:
        return None
    target = key_node if key else node
    return target.value if isinstance(target, yaml.ScalarNode) else None


def literal_block_start(doc: Document, path: Sequence[str | int]) -> tuple[int, int] | None:
    """(file line of its first line of text, its indentation) of the literal block scalar
    (`key: |`) at `path`; None for a scalar of any other style, or no scalar there.

    ConfigMaps (`data.mesh`, `data.values`) and the `proxy.istio.io/config` annotation hold
    YAML inside a string; in a literal block each line of that YAML is a line of the file,
    so messages can point at the field inside the block rather than at the key.
    """
    try:
        node, _, _, found = _walk_nodes(doc, path)
    except yaml.YAMLError:
        return None
    if not found or not isinstance(node, yaml.ScalarNode) or node.style != "|":
        return None
    first = node.start_mark.line + 1  # the text starts on the line after the `|`
    body = next((ln for ln in itertools.islice(doc.lines(), first, None) if ln.strip()), "")
    return doc.line + first, len(body) - len(body.lstrip(" "))


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
