"""Kubernetes resource quantities, parsed and printed the way the API server does.

kube-inject round-trips every pod through Go's `resource.Quantity`, so `2000m` comes out
as `"2"`, `1024Mi` as `1Gi` and `0.1` as `100m`. Rendering must do the same or the
output would differ from the injector's (and from what `kubectl get -o yaml` shows).
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

from meshrender.limits import MAX_QUANTITY_DIGITS, MAX_QUANTITY_EXPONENT

_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$")
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v // 10: k for k, v in _BINARY.items()}
_NANO = Fraction(1, 10**9)


class QuantityError(ValueError):
    """Not a Kubernetes quantity."""


def parse(value: object) -> tuple[Fraction, str]:
    """The exact value of a quantity and its format (`BinarySI`, `DecimalSI`, `DecimalExponent`)."""
    if isinstance(value, bool) or value is None:
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise QuantityError(f"{value!r} is not a quantity")
        text = repr(value)
        if "e" in text or "E" in text:
            text = format(value, "f")
    else:
        text = str(value).strip()
    m = _QUANTITY.match(text)
    if not m:
        raise QuantityError(f"{text!r} is not a quantity (expected e.g. 100m, 0.5, 128Mi, 1Gi)")
    if len(m.group(1)) > MAX_QUANTITY_DIGITS:
        raise QuantityError(f"{text[:20]}... has more than {MAX_QUANTITY_DIGITS} digits; not a usable quantity")
    number = Fraction(m.group(1))
    suffix = m.group(2) or ""
    if suffix in _BINARY:
        return number * (2 ** _BINARY[suffix]), "BinarySI"
    if suffix[:1] in ("e", "E") and len(suffix) > 1:  # 1e3; a bare E is exa (10^18)
        exponent = suffix[1:].lstrip("+-").lstrip("0")
        if len(exponent) > 4 or int(exponent or 0) > MAX_QUANTITY_EXPONENT:
            raise QuantityError(f"{text!r} is out of range (exponents up to {MAX_QUANTITY_EXPONENT})")
        return number * Fraction(10) ** int(suffix[1:]), "DecimalExponent"
    return number * Fraction(10) ** _DECIMAL[suffix], "DecimalSI"


def _round_up_nano(v: Fraction) -> Fraction:
    scaled = v / _NANO
    if scaled.denominator == 1:
        return v
    n = -((-scaled.numerator) // scaled.denominator)  # ceiling
    return Fraction(n) * _NANO


def _decimal_string(v: Fraction, exponent_style: bool) -> str:
    sign = "-" if v < 0 else ""
    v = abs(v)
    mantissa = int(v / _NANO)
    exponent = -9
    while mantissa and mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    while exponent % 3:
        mantissa *= 10
        exponent -= 1
    if exponent_style:
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    while exponent > 18:
        mantissa *= 1000
        exponent -= 3
    return f"{sign}{mantissa}{_DECIMAL_SUFFIX[exponent]}"


_CANONICAL: dict[tuple[type, object], str | QuantityError] = {}


def canonical(value: object) -> str:
    """The API server's spelling of a quantity: `canonical("2000m") == "2"`."""
    try:
        key = (type(value), value)
        got = _CANONICAL.get(key)
    except TypeError:  # unhashable: not a quantity, and parse says why
        return _canonical(value)
    if got is None:
        try:
            got = _canonical(value)
        except QuantityError as e:
            got = e
        if len(_CANONICAL) > 10_000:
            _CANONICAL.clear()
        _CANONICAL[key] = got
    if isinstance(got, QuantityError):
        raise QuantityError(str(got))
    return got


def stored(value: object) -> tuple[Fraction, str]:
    """The value the API server keeps for a quantity (rounded up to whole nano units, as
    its canonical form is) and its format: what arithmetic on resources starts from, so
    that sums are those of the values the scheduler reads back."""
    try:
        return _stored(value, type(value))
    except TypeError:  # unhashable: not a quantity, and parse says why
        v, fmt = parse(value)
        return _round_up_nano(v), fmt


@lru_cache(maxsize=4096)
def _stored(value: object, _type: type) -> tuple[Fraction, str]:
    # (the type in the key: 1, 1.0 and True are equal keys but not the same quantity)
    v, fmt = parse(value)
    return _round_up_nano(v), fmt


def _canonical(value: object) -> str:
    return spell(*parse(value))


def spell(v: Fraction, fmt: str) -> str:
    """The canonical spelling of the exact value `v` in format `fmt` (as `parse` gives
    it): how Go's resource.Quantity prints the result of Add, Sub, Mul or a max, whose
    format is that of the quantity it started from."""
    v = _round_up_nano(v)
    if v == 0:
        return "0"
    if fmt == "BinarySI" and -1024 < v < 1024:
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        if v.denominator != 1:
            return _decimal_string(v, False)
        n = abs(v.numerator)
        power = 0
        while power < 6 and n % 1024 == 0:
            n //= 1024
            power += 1
        sign = "-" if v < 0 else ""
        return f"{sign}{n}{_BINARY_SUFFIX.get(power, '')}"
    return _decimal_string(v, fmt == "DecimalExponent")


def is_quantity(value: object) -> bool:
    try:
        parse(value)
    except QuantityError:
        return False
    return True


def canonical_resources(resources: object) -> object:
    """`resources` of a container with every quantity canonical; other shapes unchanged."""
    if not isinstance(resources, dict):
        return resources
    out = {}
    for key, section in resources.items():
        if key in ("limits", "requests") and isinstance(section, dict):
            fixed = {}
            for name, q in section.items():
                try:
                    fixed[name] = canonical(q)
                except QuantityError:
                    fixed[name] = q
            out[key] = fixed
        else:
            out[key] = section
    return out


def compare(a: object, b: object) -> int:
    """-1, 0 or 1 as quantity `a` is less than, equal to or more than `b`."""
    return _compare(a, type(a), b, type(b))


@lru_cache(maxsize=4096)
def _compare(a: object, _ta: type, b: object, _tb: type) -> int:
    # (types in the key: 1 and True, 1.0 and 1 are equal keys but not the same quantity)
    va, _ = parse(a)
    vb, _ = parse(b)
    return (va > vb) - (va < vb)
