"""How Kubernetes types a YAML scalar: Go's yaml.v2 resolver, then sigs.k8s.io/yaml's JSON.

kubectl, Argo CD, Helm and the API server read manifests with sigs.k8s.io/yaml: yaml.v2
decodes each document into Go values, which are then encoded as JSON, and the object is
decoded from that JSON. What a plain scalar means is therefore decided by yaml.v2's
`resolve` (resolve.go), not by the YAML 1.1 or 1.2 specification: `y` and `n` are
booleans, `08` is the float 8 (`0_8` too: underscores are removed before parsing),
`0o17`, `0X1F` and `0B101` are integers, `1:30` is a string, `1e400` is a string (Go's
float parser overflows), and timestamps stay strings. The JSON step then decides the
rest: an integral float is an integer once written as JSON (`1.0` and `1e3` reach the API
server as `1` and `1000`), an unsigned integer beyond int64 becomes a float, NaN and
infinities cannot be written at all (the document is refused), and map keys become
strings (`8080` -> "8080", `y` -> "true", `1.5` -> "1.5" printed as a 32-bit float, a
null key is refused).

This module is that decision, ported from yaml.v2 (v2.4, resolve.go and decode.go),
Go's strconv (ParseInt, ParseUint and ParseFloat syntax) and sigs.k8s.io/yaml's
convertToJSONableObject; the reader (read.py), the fast reader (fast.py) and the writer
(emit.py) all ask it, so the three agree with each other and with the cluster.
tests/test_kubectl_yaml.py checks it against kubectl itself.
"""

from __future__ import annotations

import math
import re
import struct
from decimal import Decimal
from typing import Any

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1

# Kinds of Go value a scalar resolves to (yaml.v2's tags).
STR, BOOL, NULL, INT, FLOAT, MERGE = "str", "bool", "null", "int", "float", "merge"

# yaml.v2's resolveMap: the spellings looked up before any parsing.
_WORDS: dict[str, tuple[str, Any]] = {}
for _kind, _value, _spellings in (
    (BOOL, True, ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")),
    (BOOL, False, ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")),
    (NULL, None, ("", "~", "null", "Null", "NULL")),
    (FLOAT, math.nan, (".nan", ".NaN", ".NAN")),
    (FLOAT, math.inf, (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")),
    (FLOAT, -math.inf, ("-.inf", "-.Inf", "-.INF")),
    (MERGE, "<<", ("<<",)),
):
    for _s in _spellings:
        _WORDS[_s] = (_kind, _value)

# yaml.v2's resolveTable: the first character decides whether a scalar may be typed at all.
HINT_FIRST = frozenset("+-0123456789yYnNtTfFoO~.")
_SIGN_OR_DIGIT = frozenset("+-0123456789")

# yaml.v2's yamlStyleFloat, applied after underscores are removed.
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
# What Go's ParseFloat accepts of a scalar starting with "." (underscores only between digits).
_DOT_FLOAT = re.compile(r"\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9](?:_?[0-9])*)?")
_DIGITS = {2: re.compile("[01]*"), 8: re.compile("[0-7]*"), 10: re.compile("[0-9]*"),
           16: re.compile("[0-9a-fA-F]*")}
# More digits than any 64-bit value has in that base: out of range (and int() stays cheap).
_MAX_DIGITS = {2: 64, 8: 22, 10: 20, 16: 16}


def _parse_uint(s: str, base: int = 0) -> int | None:
    """Go's strconv.ParseUint(s, base, 64) (without underscores), None on any error."""
    if not s:
        return None
    if base == 0:
        base = 10
        if s[0] == "0":
            if len(s) >= 3 and s[1] in "bBoOxX":
                base = {"b": 2, "o": 8, "x": 16}[s[1].lower()]
                s = s[2:]
            else:
                base, s = 8, s[1:]
    if not _DIGITS[base].fullmatch(s):
        return None
    if len(s.lstrip("0")) > _MAX_DIGITS[base]:
        return None
    value = int(s, base) if s else 0
    return value if value <= UINT64_MAX else None


def _parse_int(s: str, base: int = 0) -> int | None:
    """Go's strconv.ParseInt(s, base, 64) (without underscores), None on any error."""
    if not s:
        return None
    neg = s[0] == "-"
    if s[0] in "+-":
        s = s[1:]
    u = _parse_uint(s, base)
    if u is None or u > (2**63 if neg else INT64_MAX):
        return None
    return -u if neg else u


def _parse_float(s: str) -> float | None:
    """float(s) for text already known to be of float syntax; None where Go's ParseFloat
    reports a range error (it overflows to an infinity)."""
    f = float(s)
    return None if math.isinf(f) else f


def resolve(s: str) -> tuple[str, Any]:
    """(kind, Go value) of plain scalar `s`, as yaml.v2's resolve with no tag gives them.

    Integers are Python ints (beyond INT64_MAX they are Go's uint64), floats Python floats.
    """
    word = _WORDS.get(s)
    if word is not None:
        return word
    first = s[0]
    if first == ".":
        if _DOT_FLOAT.fullmatch(s):
            f = _parse_float(s.replace("_", ""))
            if f is not None:
                return FLOAT, f
        return STR, s
    if first not in _SIGN_OR_DIGIT:
        return STR, s  # hint 'M' (only the words above are typed) or no hint at all
    # Timestamps (YYYY-...) would come first, and stay strings: none parses as a number.
    plain = s.replace("_", "")
    i = _parse_int(plain)
    if i is not None:
        return INT, i
    u = _parse_uint(plain)
    if u is not None:
        return INT, u
    if _YAML_STYLE_FLOAT.fullmatch(plain):
        f = _parse_float(plain)
        if f is not None:
            return FLOAT, f
    if plain.startswith("0b"):
        i = _parse_int(plain[2:], 2)
        if i is not None:
            return INT, i
        u = _parse_uint(plain[2:], 2)
        if u is not None:
            return INT, u
    elif plain.startswith("-0b"):
        i = _parse_int("-" + plain[3:], 2)
        if i is not None:
            return INT, i
    return STR, s


class NotJSON(ValueError):
    """A value sigs.k8s.io/yaml cannot write as JSON: Kubernetes refuses the document."""


def json_value(kind: str, value: Any) -> Any:
    """The value after the JSON step (integral floats and big integers are retyped)."""
    if kind == INT:
        return value if value <= INT64_MAX else float(value)
    if kind == FLOAT:
        if not math.isfinite(value):
            raise NotJSON("NaN and infinities have no JSON spelling")
        if value.is_integer() and abs(value) < 1e21:
            # Go writes it without a fraction, in its shortest digits padded with zeros
            # (2**62 is written 4611686018427388000), and that is read back as an int64
            # when it fits.
            whole = int(value) if abs(value) < 2**53 else int(Decimal(repr(value)))
            if INT64_MIN <= whole <= INT64_MAX:
                return whole
        return value
    return value


_VALUES: dict[str, Any] = {}
_FAILED = object()


def value(s: str) -> Any:
    """What Kubernetes reads for plain scalar `s` written as a value; NotJSON if nothing."""
    got = _VALUES.get(s)
    if got is None:
        if not s or s[0] in HINT_FIRST:
            try:
                got = json_value(*resolve(s)) if s else None
            except NotJSON:
                got = _FAILED
        else:
            got = s
        if len(_VALUES) > 50_000:
            _VALUES.clear()
        if got is not None:
            _VALUES[s] = got
    if got is _FAILED:
        raise NotJSON(s)
    return got


def reads_as_itself(s: str) -> bool:
    """Whether `s`, written as a plain scalar (value or key), is read back as the string `s`."""
    if s and s[0] not in HINT_FIRST:
        return s != "<<"
    try:
        return value(s) == s and type(value(s)) is str and s != "<<"
    except NotJSON:
        return False


def float32_text(f: float) -> str:
    """Go's strconv.FormatFloat(f, 'g', -1, 32), as sigs.k8s.io/yaml prints a float key."""
    if math.isnan(f):
        return ".nan"
    try:
        f32 = struct.unpack("f", struct.pack("f", f))[0]
    except OverflowError:
        f32 = math.copysign(math.inf, f)
    if math.isinf(f32):
        return ".inf" if f32 > 0 else "-.inf"
    if f32 == 0:
        return "-0" if math.copysign(1, f32) < 0 else "0"
    sign = "-" if f32 < 0 else ""
    a = abs(f32)
    for precision in range(1, 10):  # the shortest digits that give the same float32 back
        text = f"{a:.{precision - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == a:
            break
    mantissa, _, exp_text = text.partition("e")
    digits = mantissa.replace(".", "").rstrip("0") or "0"
    exp = int(exp_text)
    if exp < -4 or exp >= 6:  # %e (Go: "if precision was the shortest possible, use 6")
        rest = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{rest}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    point = exp + 1
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


class BadKey(ValueError):
    """A map key sigs.k8s.io/yaml cannot turn into a JSON key: Kubernetes refuses it."""


def key_text(kind: str, value: Any) -> str:
    """The JSON key sigs.k8s.io/yaml makes of a map key that yaml.v2 resolved to `value`."""
    if kind in (STR, MERGE):
        return value
    if kind == BOOL:
        return "true" if value else "false"
    if kind == INT:
        if value > INT64_MAX:
            raise BadKey("an unsigned 64-bit integer")
        return str(value)
    if kind == FLOAT:
        return float32_text(value)
    raise BadKey("null")


def key_identity(kind: str, value: Any) -> Any:
    """What makes two keys the same key in yaml.v2's map (a Go interface{} compares type
    and value: the int 1, the float 1.0 and the string "1" are three keys)."""
    return value if kind == STR else (kind, value)
