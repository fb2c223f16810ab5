"""A block-style YAML emitter for plain data, written for Kubernetes manifests.

Why our own: PyYAML's and ruamel's emitters are too slow for thousands of manifests, and
neither writes what `istioctl kube-inject` (Go's yaml.v2) writes. This one does: block
mappings, sequences not indented under their key, literal blocks for multi-line strings,
double quotes for strings that would otherwise read as another type (`"15001"`, `"true"`,
and whatever Go's yaml.v2 types: `"08"`, `"0_8"`, `"y"`; see goyaml.py),
single quotes for strings that only need protecting (`'*'`). Output is deterministic.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from meshrender.yamlio import goyaml
from meshrender.yamlio.frozen import FrozenDict, FrozenList

# Strings that a YAML 1.1 or 1.2 reader would not read back as a string when plain.
_NON_STRING = re.compile(
    r"""^(?:
        [yYnN]|[Yy]es|YES|[Nn]o|NO|[Tt]rue|TRUE|[Ff]alse|FALSE|[Oo]n|ON|[Oo]ff|OFF
      | ~|[Nn]ull|NULL
      | [-+]?0b[0-1_]+
      | [-+]?0o?[0-7_]+
      | [-+]?0x[0-9a-fA-F_]+
      | [-+]?(?:0|[1-9][0-9_]*)(?::[0-5]?[0-9])*
      | [-+]?(?:[0-9][0-9_]*)?\.[0-9_]*(?:[eE][-+]?[0-9]+)?
      | [-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+
      | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
      | [-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)
      | [0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9].*)?
      | <<|=
    )$""",
    re.X,
)
_INDICATORS = set("-?:,[]{}#&*!|>'\"%@`")
# Characters YAML can only carry inside double quotes.
_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\ufffe\uffff\u2028\u2029]")
_CACHE: dict[str, str] = {}
_LITERAL = "\0literal"
# The text of frozen subtrees (render/yamlio/frozen.py: shared by many pods, never changed), by
# (id, indentation, first line's lead, sort): written once, then copied as one string.
# Each entry keeps its subtree alive, so that its id is not reused.
_FROZEN: dict[tuple, tuple[Any, str]] = {}
_FROZEN_MAX = 20_000


def _plain_ok(s: str) -> bool:
    if s[0] in " \t" or s[-1] in " \t:" or "\n" in s:
        return False
    first = s[0]
    if first in _INDICATORS and (first not in "-?:" or len(s) == 1 or s[1] in " \t"):
        return False
    if ": " in s or " #" in s or ":\t" in s or "\t#" in s or "\t" in s:
        return False
    if s.startswith(("---", "...")):
        return False
    return not _typed(s)


def _typed(s: str) -> bool:
    """Whether plain `s` would be read as something else than this string: by Kubernetes
    (Go's yaml.v2: `08`, `0_8`, `0X1F`, `y`), or by a YAML 1.1 or 1.2 reader (`1:30`, `0o17`)."""
    return bool(_NON_STRING.match(s)) or not goyaml.reads_as_itself(s)


def _double(s: str) -> str:
    out = json.dumps(s, ensure_ascii=False)
    return _SPECIAL.sub(lambda m: f"\\u{ord(m.group()):04x}", out)


def _literal_ok(s: str) -> bool:
    if _SPECIAL.search(s) or s.endswith(" ") or " \n" in s or "\t\n" in s:
        return False
    if "::" in s and any(line.lstrip().startswith("::") for line in s.split("\n")):
        # A line that starts with `::` is a GitHub Actions workflow command when the
        # output reaches a CI log: such a string is written double-quoted (the same data).
        return False
    return "\r" not in s


def format_scalar_string(s: str) -> str:
    """The inline form of a string, or `_LITERAL` when it goes in a literal block."""
    got = _CACHE.get(s)
    if got is not None:
        return got
    if s == "":
        out = '""'
    elif "\n" in s:
        out = _LITERAL if _literal_ok(s) else _double(s)
    elif _SPECIAL.search(s):
        out = _double(s)
    elif _plain_ok(s):
        out = s
    elif s.strip() == s and _typed(s):
        out = '"' + s + '"' if '"' not in s and "\\" not in s else _double(s)
    else:
        out = "'" + s.replace("'", "''") + "'"
    if len(_CACHE) > 20_000:
        _CACHE.clear()
    _CACHE[s] = out
    return out


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        text = repr(v)
        if "e" in text and "." not in text:  # YAML 1.1 readers need the dot: 1.0e-05
            mantissa, _, exp = text.partition("e")
            text = f"{mantissa}.0e{exp}"
        return text
    s = format_scalar_string(str(v))
    return _double(str(v)) if s is _LITERAL else s


def _literal_lines(s: str, indent: str) -> tuple[str, list[str]]:
    if s.endswith("\n\n") or s == "\n":
        chomp = "+"
    elif s.endswith("\n"):
        chomp = ""
    else:
        chomp = "-"
    header = "|" + ("2" if s[0] in " \n" else "") + chomp
    body = s[:-1] if s.endswith("\n") else s
    lines = [indent + line if line else "" for line in body.split("\n")]
    return header, lines


def _key_text(k: Any) -> str:
    key = format_scalar_string(k) if isinstance(k, str) else _scalar(k)
    return _double(k) if key is _LITERAL else key


def _mapping(d: dict, ind: str, out: list[str], sort: bool, lead: str) -> None:
    """Append the lines of non-empty map `d` at indentation `ind`; the first line starts
    with `lead` instead (a sequence item's `- `)."""
    cache = _CACHE
    append = out.append
    keys: Any = d
    if sort:  # (inline: this runs for every map of every document)
        try:
            keys = sorted(d)
        except TypeError:  # mixed key types
            keys = sorted(d, key=str)
        else:
            if keys and type(keys[0]) is not str:  # numbers or booleans: order as text
                keys = sorted(d, key=str)
    for k in keys:
        v = d[k]
        key = cache.get(k) if type(k) is str else None
        if key is None or key is _LITERAL:
            key = _key_text(k)
        t = type(v)
        if t is FrozenDict or t is FrozenList:
            if v:
                append(f"{lead}{key}:")
                append(_frozen(v, ind + "  " if t is FrozenDict else ind, sort, ind + "  " if t is FrozenDict else ind))
            else:
                append(f"{lead}{key}: {{}}" if t is FrozenDict else f"{lead}{key}: []")
            lead = ind
            continue
        if t is not str and t is not dict and t is not list and t is not int:  # subclasses, scalars
            t = dict if isinstance(v, dict) else list if isinstance(v, list) else str if isinstance(v, str) else None
        if t is str:
            s = cache.get(v) or format_scalar_string(v)
            if s is _LITERAL:
                header, lines = _literal_lines(v, ind + "  ")
                append(f"{lead}{key}: {header}")
                out.extend(lines)
            else:
                append(f"{lead}{key}: {s}")
        elif t is dict:
            if v:
                append(f"{lead}{key}:")
                _mapping(v, ind + "  ", out, sort, ind + "  ")
            else:
                append(f"{lead}{key}: {{}}")
        elif t is list:
            if v:
                append(f"{lead}{key}:")
                _sequence(v, ind, out, sort, ind)
            else:
                append(f"{lead}{key}: []")
        elif t is int:
            append(f"{lead}{key}: {v}")
        else:
            append(f"{lead}{key}: {_scalar(v)}")
        lead = ind


def _sequence(lst: list, ind: str, out: list[str], sort: bool, lead: str) -> None:
    """Append the lines of non-empty list `lst` at indentation `ind` (first line: `lead`)."""
    cache = _CACHE
    append = out.append
    child = ind + "  "
    for item in lst:
        dash = lead + "- "
        t = type(item)
        if (t is FrozenDict or t is FrozenList) and item:
            append(_frozen(item, child, sort, dash))
            lead = ind
            continue
        if t is not str and t is not dict and t is not list:  # subclasses, scalars
            t = dict if isinstance(item, dict) else list if isinstance(item, list) else (
                str if isinstance(item, str) else None)
        if t is dict and item:
            _mapping(item, child, out, sort, dash)
        elif t is str:
            s = cache.get(item) or format_scalar_string(item)
            if s is _LITERAL:
                header, lines = _literal_lines(item, child)
                append(dash + header)
                out.extend(lines)
            else:
                append(dash + s)
        elif t is list and item:
            _sequence(item, child, out, sort, dash)
        elif t is dict:
            append(dash + "{}")
        elif t is list:
            append(dash + "[]")
        else:
            append(dash + _scalar(item))
        lead = ind


def _frozen(v: Any, ind: str, sort: bool, lead: str) -> str:
    """The lines of non-empty frozen `v` (as _mapping or _sequence write them), as one string."""
    key = (id(v), ind, lead, sort)
    got = _FROZEN.get(key)
    if got is not None:
        return got[1]
    lines: list[str] = []
    if isinstance(v, dict):
        _mapping(v, ind, lines, sort, lead)
    else:
        _sequence(v, ind, lines, sort, lead)
    text = "\n".join(lines)
    if len(_FROZEN) >= _FROZEN_MAX:
        _FROZEN.clear()
    _FROZEN[key] = (v, text)
    return text


def dump(data: Any, sort_keys: bool = True) -> str:
    """One YAML document (no `---`), ending with a newline."""
    out: list[str] = []
    if isinstance(data, dict) and data:
        _mapping(data, "", out, sort_keys, "")
    elif isinstance(data, list) and data:
        _sequence(data, "", out, sort_keys, "")
    elif isinstance(data, dict):
        return "{}\n"
    elif isinstance(data, list):
        return "[]\n"
    elif isinstance(data, str) and format_scalar_string(data) is _LITERAL:
        header, lines = _literal_lines(data, "  ")
        out.append(header)
        out.extend(lines)
    else:
        out.append(_scalar(data))
    out.append("")
    return "\n".join(out)
