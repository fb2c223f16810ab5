"""The fast reader: rapidyaml parses, its JSON emitter and orjson turn the tree into data.

That is about ten times faster than PyYAML with libyaml, but rapidyaml reads YAML 1.2,
is more lenient, and its JSON output loses how a scalar was written, while Kubernetes
(and meshrender's reference reader in render/yamlio/read.py) read YAML as Go's yaml.v2
does (goyaml.py): plain `y`, `0644`, `0o17`, `1_000` or `~` are a boolean, numbers and
null there. So this reader answers only for a document where it can show that the
answer is the reference reader's, and otherwise returns UNSURE ("ask the reference
reader"). How it shows that:

- Before parsing, text the readers treat differently is sent away: tabs, CR, characters
  YAML does not allow, `%` directives, content on a `---` line, `...`, tags (`!`),
  anchors (`&`), complex keys (`? `), block scalar headers followed by text, block
  scalars at the end of text without a final newline, flow collections (`[...]`,
  `{...}`) that are not one line of simple scalars, and lines (outside block scalars)
  longer than the 1,024 characters a simple key may span in yaml.v2 and libyaml.
- After parsing, every string that Kubernetes would read as another value if written
  plain (`y`, `0644`, `08`, `.inf`, or `1.0` and `~` as keys) or that plain text cannot
  start with (`*alias`, `]x`, `@x`) is looked up in the text: written there as a plain
  scalar, the document goes to the reference reader; quoted, it is a string in both.
  Strings starting with a blank are sent away (rapidyaml reads a key indented one space
  too far after a quoted list item as " key"). Every spelling rapidyaml writes as a JSON
  number is the same number in yaml.v2; numbers are then retyped as Kubernetes' JSON step
  retypes them (`1.0` is the integer 1).
- The tree's node count must equal the data's entry count: a duplicate key collapses in
  the data, and the reference reader then reports both lines.
- Whatever rapidyaml refuses, or orjson cannot read, goes to the reference reader, which
  reports the error with its line and column. So do documents that are a lone scalar,
  empty, nested deeper than rapidyaml's emitter goes (64), or that may hold more than
  MAX_NODES nodes (meshrender.limits; the reference reader refuses them).

tests/test_yamlfast.py checks this against the reference reader on mutated manifests,
tests/test_kubectl_yaml.py both readers against kubectl. Importing this module imports
rapidyaml and orjson; yamlio treats ImportError as "no fast reader" and keeps using the
reference one.
"""

from __future__ import annotations

import os
import re
from typing import Any

import orjson
import ryml

from meshrender import limits
from meshrender.yamlio import goyaml

UNSURE = object()
# Larger documents go to the reference reader, which applies meshrender's limits: a
# document whose cheap node bound (read.node_bound) is over the limit is not parsed here
# at all (rapidyaml's tree costs memory per node before its size can be asked).
MAX_NODES = limits.MAX_NODES

# What rapidyaml types exactly as Kubernetes does (goyaml.py, after the JSON step): written
# plain, these are never strings in the data, so a string that looks like one was quoted.
_SAME = r"(?:-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]+)?|true|false|null)"
_SAME_RE = re.compile(_SAME + "$")
# Characters PyYAML does not let a plain scalar start with and rapidyaml may still read
# as one (`-?:` only before a space), or that start an alias rapidyaml leaves unresolved.
# (`[{` start a flow collection, `#` a comment, `!&` are refused in the text, `%` fails.)
_INDICATOR_FIRST = frozenset("]},@`*'\"|>")
# A string starting with a blank: quoted, or a line rapidyaml misread (a key indented one
# space past its map after a quoted list item comes out as " key").
_BLANK_FIRST = frozenset(" \t")
_LOOK_FIRST = goyaml.HINT_FIRST | _INDICATOR_FIRST | _BLANK_FIRST | frozenset("?:<")
_FIRST_WORD = re.compile(r"\S*")
_REWRITTEN = re.compile(r"[-+]?\.(?:inf|nan)$")
# A line longer than yaml.v2's (and libyaml's) 1,024-character limit on a simple key:
# rapidyaml has no such limit.
_MAX_KEY_SPAN = 1024

# Where a plain scalar starts and ends, for finding one in the text.
_BEFORE = frozenset(" \t\n[{,")
_END = r"(?=[ \t]*(?:$|\#|[,\]}]|:(?:[ \t]|$)))"
_KEY_END = r"(?=[ \t]*:(?:[ \t]|$))"

# Text the two readers treat differently. Characters outside PyYAML's printable set,
# tabs, CR, BOM, and NEL / LS / PS (line breaks for PyYAML, not for rapidyaml):
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\n"  # what needs no closer look
_REFUSE_CHAR_CLASS = (
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_refuse_char: re.Pattern | None = None  # compiled on first use: 6 ms, for text that is not ASCII
# directives, content after `---`, `...` markers;
_REFUSE_LINE = re.compile(r"^(?:%|---[ \t]+[^\s#]|\.\.\.)", re.M)
# tags, anchors and complex keys (`? key`);
_PROPERTY = re.compile(r"(?:^|[\s\[{,])(?:[!&]|\?(?:[ \t]|$))", re.M)
# Flow collections (`[a, b]`, `{cpu: 1, memory: 1Gi}`) are where rapidyaml is most
# lenient (` #`, `a:b`, text after the closing bracket), so each one must be a
# one-line collection of simple scalars, possibly nested: innermost collections are
# replaced by `x` until the rest of the line is `x` and perhaps a comment.
_FLOW_QUOTED = r"""(?:"[^"\\\n]*"|'[^'\n]*')"""
_FLOW_PLAIN = r"""(?:[^\s,\[\]{}\#:"'&*!|>%@`?-]|-[^\s,\[\]{}\#:])[^,\[\]{}\#:\n]*"""
_FLOW_SCALAR = f"(?:{_FLOW_QUOTED}|{_FLOW_PLAIN})"
_FLOW_PAIR = f"(?:{_FLOW_QUOTED}:[ \\t]*|{_FLOW_PLAIN}:[ \\t]+){_FLOW_SCALAR}"
_FLOW_INNER = re.compile(
    rf"\[[ \t]*(?:{_FLOW_SCALAR}(?:[ \t]*,[ \t]*{_FLOW_SCALAR})*)?[ \t]*\]"
    rf"|\{{[ \t]*(?:{_FLOW_PAIR}(?:[ \t]*,[ \t]*{_FLOW_PAIR})*)?[ \t]*\}}")
_FLOW_DONE = re.compile(r"x(?:[ \t]+(?:\#.*)?)?$")
# What may follow `|` or `>` on a block scalar's header line.
_HEADER_REST = re.compile(r"(?:[1-9][-+]?|[-+][1-9]?)?(?:[ \t]+(?:\#.*)?)?$")
_DEDENT: dict[int, re.Pattern] = {}
_FLOWS_SEEN: dict[str, bool] = {}  # the same flow lines recur across a repo
_LEAD = re.compile(r"[ ]*(?:-[ ]+)*")

_CACHE: dict[str, int] = {}
_KEYS_OK: set[str] = set()
_DEVNULL: int | None = None
_JSON_BUF = bytearray(64 * 1024)
# What a string of the data is suspected of: written plain as a value (VALUE) or as a key
# (KEY) it would not be this string, or (REJECT) the document goes to the reference reader.
VALUE, KEY, REJECT = 1, 2, 4


def _plain_in(text: str, s: str, end: str) -> bool:
    """Whether `s` is written somewhere in `text` as a whole plain scalar."""
    for m in re.finditer(re.escape(s) + end, text, re.M):
        i = m.start()
        if i == 0 or text[i - 1] in _BEFORE:
            return True
    return False


def _suspect(s: str) -> int:
    """VALUE | KEY: written plain as a value / as a key, `s` would not read as this
    string in Kubernetes; REJECT: the document is not for the fast reader."""
    got = _CACHE.get(s)
    if got is None:
        c = s[0]
        if c in _BLANK_FIRST:
            got = REJECT
        elif c in _INDICATOR_FIRST or (c in "-?:" and (len(s) == 1 or s[1] in " \t")):
            got = VALUE | KEY
        elif c in goyaml.HINT_FIRST or s == "<<":
            got = 0
            if not goyaml.reads_as_itself(s) and not _SAME_RE.match(s):
                got |= VALUE
            try:
                if s == "<<" or goyaml.key_text(*goyaml.resolve(s)) != s:
                    got |= KEY
            except goyaml.BadKey:
                got |= KEY
        else:
            got = 0
        if len(_CACHE) > 20_000:
            _CACHE.clear()
        _CACHE[s] = got
    return got


def _checked(data: Any, nodes: int, text: str) -> int | None:
    """Whether `data` is what the reference reader makes of `text` (see module doc): the
    number of map keys in it, None when not. Numbers are retyped in place as Kubernetes'
    JSON step retypes them."""
    entries = 0
    map_keys = 0
    values: list[str] = []
    keys: list[str] = []
    retype = False
    stack = [data]
    look = _LOOK_FIRST
    keys_ok = _KEYS_OK
    seen = _CACHE
    while stack:
        node = stack.pop()
        if type(node) is dict:
            entries += len(node)
            map_keys += len(node)
            if not keys_ok.issuperset(node):  # (most keys were seen before: one C loop)
                for k in node:
                    if k not in keys_ok:
                        if not k:
                            return None
                        got = _suspect(k)
                        if got & (KEY | REJECT):
                            if got & REJECT:
                                return None
                            keys.append(k)
                        else:
                            keys_ok.add(k)
            items = node.values()
        else:
            entries += len(node)
            items = node
        for v in items:
            t = type(v)
            if t is str:
                if v and v[0] in look:
                    got = seen.get(v)  # (_suspect's cache, looked up here: once per string)
                    if got is None:
                        got = _suspect(v)
                    if got & (VALUE | REJECT):
                        if got & REJECT:
                            return None
                        values.append(v)
            elif t is dict or t is list:
                stack.append(v)
            elif t is float or (t is int and v > goyaml.INT64_MAX):
                retype = True
    if entries != nodes:
        return None
    for k in keys:
        if _plain_in(text, k, _KEY_END):
            return None
    for v in values:
        if _REWRITTEN.match(v):
            return None
        if v[0] in goyaml.HINT_FIRST or v == "<<":
            if _plain_in(text, v, _END):
                return None
        elif _plain_in(text, _FIRST_WORD.match(v).group(), ""):  # a plain scalar may fold lines
            return None
    if retype:
        _retype(data)
    return map_keys


def _retype(data: Any) -> None:
    """Floats and unsigned 64-bit integers as Kubernetes' JSON step leaves them (`1.0` is
    the integer 1, 2**63 a float): rapidyaml and orjson read the same number as yaml.v2
    for every spelling rapidyaml writes as a JSON number."""
    stack = [data]
    while stack:
        node = stack.pop()
        pairs = node.items() if type(node) is dict else enumerate(node)
        for k, v in pairs:
            t = type(v)
            if t is float:
                node[k] = goyaml.json_value(goyaml.FLOAT, v)
            elif t is int:
                node[k] = goyaml.json_value(goyaml.INT, v)
            elif t is dict or t is list:
                stack.append(v)


def _positions(text: str, chars: str) -> list[int]:
    """Offsets of every occurrence of any of `chars` (str.find is much faster than re)."""
    out = []
    for ch in chars:
        i = text.find(ch)
        while i >= 0:
            out.append(i)
            i = text.find(ch, i + 1)
    out.sort()
    return out


def _dedent_at_most(column: int) -> re.Pattern:
    """A line with content indented `column` spaces or less (where a block scalar ends)."""
    rx = _DEDENT.get(column)
    if rx is None:
        rx = _DEDENT[column] = re.compile(rf"^ {{0,{column}}}[^ \n]", re.M)
    return rx


def _block_scalars(text: str) -> list[tuple[int, int]] | None:
    """(start, end) offsets of block scalar contents (text, not YAML syntax), or None when
    a `|` / `>` where a block scalar would start is followed by more than a comment."""
    spans: list[tuple[int, int]] = []
    skip = 0
    for i in _positions(text, "|>"):
        if i < skip or (i and text[i - 1] not in " \n"):
            continue
        line_start = text.rfind("\n", 0, i) + 1
        before = text[line_start:i].rstrip(" ")
        if before and before[-1] not in ":-":
            continue  # inside a scalar (`a | b`)
        eol = text.find("\n", i)
        if eol < 0:
            eol = len(text)
        if not _HEADER_REST.match(text, i + 1, eol):
            return None
        # Content is indented past its parent: the key (`key: |`), the dash (`- |`), or
        # for a header alone on its line, conservatively, past the header's column - 1.
        lead = _LEAD.match(before).end()
        if lead < len(before):
            column = lead
        elif "-" in before:
            column = before.rfind("-")
        else:
            column = i - line_start - 1
        start = eol + 1
        end = _dedent_at_most(column).search(text, start) if column >= 0 else None
        pos = end.start() if end else len(text)
        if pos > start:
            spans.append((start, pos))
            skip = pos
    return spans


def _flows_ok(text: str, spans: list[tuple[int, int]]) -> bool:
    done = 0
    for i in _positions(text, "[{"):
        if i < done or (i and text[i - 1] not in _BEFORE):
            continue
        if spans and any(a <= i < b for a, b in spans):
            continue
        eol = text.find("\n", i)
        if eol < 0:
            eol = len(text)
        line = text[i:eol]
        ok = _FLOWS_SEEN.get(line)
        if ok is None:
            seg, n = _FLOW_INNER.subn("x", line)
            while n:
                seg, n = _FLOW_INNER.subn("x", seg)
            ok = bool(_FLOW_DONE.match(seg))
            if len(_FLOWS_SEEN) > 10_000:
                _FLOWS_SEEN.clear()
            _FLOWS_SEEN[line] = ok
        if not ok:
            return False
        done = eol
    return True


def _refuse_char_re() -> re.Pattern:
    global _refuse_char
    if _refuse_char is None:
        _refuse_char = re.compile(_REFUSE_CHAR_CLASS)
    return _refuse_char


def _refused(text: str, raw: bytes) -> bool:
    """Text where the two readers may disagree in ways the data does not show."""
    if raw.translate(None, _PRINTABLE_ASCII) and _refuse_char_re().search(text):
        return True
    # (_REFUSE_LINE matches at a line's start only; `---` and a tab is refused above)
    if (text.startswith(("%", "--- ", "...")) or "\n%" in text or "\n--- " in text or "\n..." in text) \
            and _REFUSE_LINE.search(text):
        return True
    if ("!" in text or "&" in text or "?" in text) and _PROPERTY.search(text):
        return True
    spans: list[tuple[int, int]] | None = []
    if "|" in text or ">" in text:
        # (rapidyaml ends a block scalar at the end of input with a line break; PyYAML not)
        spans = _block_scalars(text) if text.endswith("\n") else None
        if spans is None:
            return True
    if len(text) > _MAX_KEY_SPAN and _long_line(text, spans):
        return True
    return ("[" in text or "{" in text) and not _flows_ok(text, spans)


def _long_line(text: str, spans: list[tuple[int, int]]) -> bool:
    """Whether a line outside block scalars is longer than a simple key may span."""
    if max(map(len, text.split("\n"))) <= _MAX_KEY_SPAN:
        return False
    at = 0
    for line in text.split("\n"):
        if len(line) > _MAX_KEY_SPAN and not any(a <= at < b for a, b in spans):
            return True
        at += len(line) + 1
    return False


def _emit_json(tree: Any, node: int) -> memoryview | None:
    """The JSON of `node`, in a buffer reused from call to call. (emit_json_malloc leaks
    its buffer: 5 KB a document, 100 MB over 10,000 workloads.)"""
    global _JSON_BUF
    failed, size = ryml.emit_json_to_substr(tree, node, _JSON_BUF)
    if failed:
        _JSON_BUF = bytearray(max(size, 2 * len(_JSON_BUF)))
        failed, size = ryml.emit_json_to_substr(tree, node, _JSON_BUF)
    if failed or not size:
        return None
    return memoryview(_JSON_BUF)[:size]


def _quiet() -> int:
    """Silence fd 2 (rapidyaml prints its parse errors there before raising); returns
    the saved descriptor for _restore."""
    global _DEVNULL
    if _DEVNULL is None:
        _DEVNULL = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    os.dup2(_DEVNULL, 2)
    return saved


def _restore(saved: int) -> None:
    os.dup2(saved, 2)
    os.close(saved)


def load(text: str) -> Any:
    """The data of one YAML document, or UNSURE when the reference reader must decide."""
    return load_all([text])[0]


def load_all(texts: list[str]) -> list[Any]:
    """load() of each document (of a file), rapidyaml's error printing silenced once."""
    return [data for data, _ in load_all_counted(texts)]


def load_all_counted(texts: list[str]) -> list[tuple[Any, int]]:
    """(load()'s answer, the document's nodes as meshrender.limits counts them: maps, lists,
    scalars and keys) for each document."""
    saved = _quiet()
    try:
        return [_load(t) for t in texts]
    finally:
        _restore(saved)


def _load(text: str) -> tuple[Any, int]:
    from meshrender.yamlio.read import node_bound

    if node_bound(text) > MAX_NODES:
        return UNSURE, 0
    raw = text.encode()
    if _refused(text, raw):
        return UNSURE, 0
    try:
        tree = ryml.parse_in_arena(raw)
        if tree.size() > MAX_NODES:
            return UNSURE, 0
        root = tree.root_id()
        node, extra = root, 1
        if tree.is_stream(root):
            if tree.num_children(root) != 1:
                return UNSURE, 0
            node, extra = tree.first_child(root), 2
        out = _emit_json(tree, node)
    except Exception:  # rapidyaml refuses: the reference reader says where and why
        return UNSURE, 0
    if out is None:
        return UNSURE, 0
    try:
        data = orjson.loads(out)
    except orjson.JSONDecodeError:
        return UNSURE, 0
    # Only maps and lists: a document that is a lone scalar goes to the reference reader.
    if type(data) is dict or type(data) is list:
        values = tree.size() - extra  # a map entry is one node of rapidyaml's tree: its value
        keys = _checked(data, values, text)
        if keys is not None:
            return data, values + keys + 1
    return UNSURE, 0
