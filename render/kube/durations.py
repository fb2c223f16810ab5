"""Durations as users write them (Go: `1m30s`, proto: `90s`) and as Istio prints them."""

from __future__ import annotations

import re
from fractions import Fraction

from meshrender.limits import MAX_DURATION_CHARS, MAX_DURATION_SECONDS

_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {
    "ns": Fraction(1, 10**9),
    "us": Fraction(1, 10**6),
    "µs": Fraction(1, 10**6),
    "μs": Fraction(1, 10**6),
    "ms": Fraction(1, 1000),
    "s": Fraction(1),
    "m": Fraction(60),
    "h": Fraction(3600),
}


class DurationError(ValueError):
    """Not a duration."""


def parse(value: object) -> Fraction:
    """Seconds in `value`: `"1m30s"`, `"90s"`, `"0.5s"`, `"500ms"`; plain numbers are seconds."""
    if isinstance(value, bool) or value is None:
        raise DurationError(f"{value!r} is not a duration")
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise DurationError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        return _bounded(Fraction(str(value)), str(value))
    text = str(value).strip()
    if len(text) > MAX_DURATION_CHARS:
        raise DurationError(f"{text[:20]}... is not a duration (longer than {MAX_DURATION_CHARS} characters)")
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body == "0":
        return Fraction(0)
    pos = 0
    total = Fraction(0)
    for m in _PART.finditer(body):
        if m.start() != pos:
            break
        total += Fraction(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(body) or not body:
        raise DurationError(f"{text!r} is not a duration (expected e.g. 5s, 1m30s, 500ms)")
    return _bounded(sign * total, text)


def _bounded(seconds: Fraction, text: str) -> Fraction:
    """Go's time.Duration, which Istio parses durations into, holds about 292 years."""
    if abs(seconds) > MAX_DURATION_SECONDS:
        raise DurationError(f"{text!r} is out of range (durations up to {MAX_DURATION_SECONDS}s, "
                            "about 292 years)")
    return seconds


def proto_string(seconds: Fraction) -> str:
    """Protobuf JSON form: `"90s"`, `"1.500s"` (0, 3, 6 or 9 fraction digits)."""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    whole = int(seconds)
    nanos = int((seconds - whole) * 10**9)
    if nanos == 0:
        return f"{sign}{whole}s"
    if nanos % 10**6 == 0:
        frac = f"{nanos // 10**6:03d}"
    elif nanos % 10**3 == 0:
        frac = f"{nanos // 10**3:06d}"
    else:
        frac = f"{nanos:09d}"
    return f"{sign}{whole}.{frac}s"


def normalize(value: object) -> str:
    return proto_string(parse(value))
