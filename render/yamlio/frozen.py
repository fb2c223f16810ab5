"""Read-only plain data, shared between pods instead of copied into each.

Most of what the sidecar template produces is the same for every pod with the same
configuration (the istio-init container, most of istio-proxy, the volumes). The injector
computes it once (render/inject/sidecar_cache.py) and puts the very same objects into
every pod. That is only safe if nothing changes them afterwards, so they are built as
`FrozenDict` and `FrozenList`: plain `dict` and `list` for every reader (isinstance,
json, the emitter, jsonschema), but every method that would change one raises
`SharedDataError` instead of silently changing every pod that shares it. Code that
needs to change such a value replaces it with a copy (`thaw`), as post-processing does.

Because they never change, the emitter can also remember the text of a frozen subtree
and write it once per configuration (render/yamlio/emit.py).
"""

from __future__ import annotations

from typing import Any, NoReturn


class SharedDataError(TypeError):
    """Something tried to change data that other pods share (a bug: copy it first)."""


def _refuse(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise SharedDataError(f"{type(self).__name__} is shared between pods and read only; "
                          "replace it with meshrender.yamlio.frozen.thaw(value) before changing it")


class FrozenDict(dict):
    """A dict that refuses to change (its values are frozen too: see `freeze`)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _refuse  # type: ignore[assignment]
    clear = pop = popitem = setdefault = update = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple:  # pickle and copy.copy: dict.__init__, not __setitem__
        return (FrozenDict, (dict(self),))

    def __copy__(self) -> dict:
        return dict(self)


class FrozenList(list):
    """A list that refuses to change (its items are frozen too: see `freeze`)."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse  # type: ignore[assignment]

    def __reduce__(self) -> tuple:
        return (FrozenList, (list(self),))

    def __copy__(self) -> list:
        return list(self)



def freeze(value: Any) -> Any:
    """A deep copy of plain data made of FrozenDict and FrozenList (scalars as they are).

    Frozen data is data, never a strategic merge patch: a map key starting with `$` (a
    patch directive) raises ValueError, so that render/inject/smp.py can take frozen
    values as they are, without looking for directives in them.
    """
    t = type(value)
    if t is FrozenDict or t is FrozenList:
        return value
    if isinstance(value, dict):
        for k in value:
            if (k if type(k) is str else str(k)).startswith("$"):
                raise ValueError(f"cannot freeze a patch directive ({k!r})")
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList([freeze(v) for v in value])
    if t is str or t is int or t is bool or t is float or value is None:
        return value
    raise TypeError(f"cannot freeze {t.__name__}: not plain data")


def thaw(value: Any) -> Any:
    """A changeable shallow copy of a frozen dict or list (its children stay shared and
    frozen); anything else as it is."""
    t = type(value)
    if t is FrozenDict:
        return dict(value)
    if t is FrozenList:
        return list(value)
    return value
