"""The sidecar template rendered once per configuration, not once per pod.

Most of what the `sidecar` template produces (istio-init, most of istio-proxy, the
volumes) depends only on the configuration and a few pod annotations, and is the same
for every pod that shares them. So the template runs once in a "static" mode where the
pod-dependent parts are left as slots (`TemplateData.pod_value` and friends: the pod's
ports, container names, owner, canonical labels, ...), and each pod gets that result
with its slots filled in: a few small fresh maps and lists (the containers, their env,
the metadata: what post-processing changes) holding frozen, shared subtrees (what
nothing changes; render/yamlio/frozen.py), which the emitter also writes once.

Why the reuse is exact:
- the static run cannot read the pod: its labels, spec, owner and kind are replaced by
  `POD_DEPENDENT`, which raises on any use outside a slot, and that render is then not
  cached (the pod is rendered the ordinary way);
- its annotations are read through a recorder, and a cached result is reused only for a
  pod whose annotations agree with every annotation that run read (present or not, same
  value): the template is a deterministic function, so with the same reads it takes the
  same path and produces the same result;
- the rest of its input (configuration, effective proxy config, proxy image, revision)
  is the cache key.
`inject` is the injector wrapped with the cache, which is how every pod is injected.
MESHRENDER_VERIFY_SIDECAR_CACHE=1 injects every pod both ways and fails on any difference
(the tests run with it); MESHRENDER_SIDECAR_CACHE=0 turns the cache off. A step that
changes data the cache shares between pods is a bug, and ends the run with an internal
error naming the switch, never a silent second try.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from meshrender.yamlio.frozen import SharedDataError, freeze

# Configurations x annotation variants kept; beyond it the cache starts again.
MAX_ENTRIES = 512
VERIFY = os.environ.get("MESHRENDER_VERIFY_SIDECAR_CACHE", "") not in ("", "0")
ENABLED = os.environ.get("MESHRENDER_SIDECAR_CACHE", "") != "0"


class PodDependent(Exception):
    """The static run of a template used the pod outside a slot: not cacheable."""


class Slot:
    """A pod-dependent part of a template's result: `fn(d)` gives it for pod data `d`.

    A slot with `many` stands for a run of list items (`fn` returns a list) or, as a
    key of a map, for a run of entries (`fn` returns a map), spliced in at its place.
    """

    __slots__ = ("fn", "many")

    def __init__(self, fn: Callable[[Any], Any], many: bool = False):
        self.fn = fn
        self.many = many

    def __repr__(self) -> str:
        return f"Slot({getattr(self.fn, '__name__', self.fn)!r}, many={self.many})"


class _PodDependent:
    """Stands for the pod's labels, spec, name, namespace and kind in a static run."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise PodDependent("the template reads the pod outside a slot")

    __getattr__ = __getitem__ = __contains__ = __iter__ = __len__ = __bool__ = _refuse
    __str__ = __format__ = __eq__ = __ne__ = __hash__ = __add__ = __radd__ = __lt__ = __gt__ = _refuse


POD_DEPENDENT: Any = _PodDependent()
_MISSING = object()


class _Recorder:
    """A pod's annotations that remembers every key looked up, and what it found."""

    __slots__ = ("_data", "reads")

    def __init__(self, data: dict[str, Any]):
        self._data = data
        self.reads: dict[str, Any] = {}

    def _read(self, key: str) -> Any:
        value = self._data.get(key, _MISSING)
        self.reads.setdefault(key, value)
        return value

    def __contains__(self, key: str) -> bool:
        return self._read(key) is not _MISSING

    def __getitem__(self, key: str) -> Any:
        value = self._read(key)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._read(key)
        return default if value is _MISSING else value

    def _whole(self, *args: Any, **kwargs: Any) -> Any:  # depends on every annotation
        raise PodDependent("the template reads the set of annotations")

    __iter__ = __len__ = __bool__ = keys = items = values = __eq__ = _whole


# -- compiling a static result: live nodes (copied per pod, slots filled) and frozen ones --


class _Map:
    __slots__ = ("items",)

    def __init__(self, items: tuple):
        self.items = items


class _List:
    __slots__ = ("items",)

    def __init__(self, items: tuple):
        self.items = items


_LIVE = (_Map, _List, Slot)
_CONTAINER_LISTS = ("containers", "initContainers")


def _changed_later(path: tuple) -> bool:
    """Parts of a rendered sidecar that post-processing changes in place, so each pod
    gets its own: the metadata maps, the spec's lists, the containers and their env."""
    n = len(path)
    if n <= 1:
        return True
    if path[0] == "metadata":
        return n == 2
    if path[0] != "spec":
        return False
    if n == 2:
        return True
    return path[1] in _CONTAINER_LISTS and (n == 3 or (n == 4 and path[3] == "env"))


def _compile(node: Any, path: tuple) -> Any:
    if type(node) is Slot:
        return node
    if isinstance(node, dict):
        if any(type(k) is not Slot and str(k).startswith("$") for k in node):
            raise ValueError("patch directives in a template's result")  # merged with care, never shared
        items = tuple((k, v if type(k) is Slot else _compile(v, (*path, k))) for k, v in node.items())
        if _changed_later(path) or any(type(k) is Slot or type(v) in _LIVE for k, v in items):
            return _Map(items)
        return freeze(dict(items))
    if isinstance(node, list):
        items = tuple(_compile(v, (*path, i)) for i, v in enumerate(node))
        if _changed_later(path) or any(type(v) in _LIVE for v in items):
            return _List(items)
        return freeze(list(items))
    return freeze(node)


def _build(node: Any, d: Any) -> Any:
    """A pod's copy of a compiled result: live nodes fresh, frozen ones shared."""
    t = type(node)
    if t is _Map:
        out: dict = {}
        for k, v in node.items:
            if type(k) is Slot:
                out.update(k.fn(d))
            else:
                tv = type(v)
                out[k] = _build(v, d) if tv is _Map or tv is _List or tv is Slot else v
        return out
    if t is _List:
        lst: list = []
        for v in node.items:
            tv = type(v)
            if tv is Slot:
                if v.many:
                    lst.extend(v.fn(d))
                else:
                    lst.append(v.fn(d))
            elif tv is _Map or tv is _List:
                lst.append(_build(v, d))
            else:
                lst.append(v)
        return lst
    if t is Slot:
        return node.fn(d)
    return node


# -- the cache ------------------------------------------------------------------------------


def _hashable(value: Any) -> Any:
    """Plain data as a hashable key that tells 1, 1.0 and True apart, and keeps order."""
    t = type(value)
    if isinstance(value, dict):
        return ("{", tuple((_hashable(k), _hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("[", tuple(_hashable(v) for v in value))
    if t is float:  # by spelling: nan is equal to itself, -0.0 is not 0.0
        return ("float", repr(value))
    return (t.__name__, value)


def _typed(value: Any) -> tuple:
    """An annotation value as a key that tells "1", 1, 1.0 and True apart."""
    return (type(value), value)


def strict(value: Any) -> Any:
    """Plain data as a comparable value that tells apart what the emitter would (key
    order, 1 / 1.0 / True): two pods are the same output exactly when these are equal."""
    return _hashable(value)


class _Variants:
    """The cached results of one configuration, by the annotations each run read."""

    __slots__ = ("keep", "shapes")

    def __init__(self, keep: tuple):
        self.keep = keep  # what the key holds by id, kept alive so the ids stay unique
        self.shapes: dict[tuple[str, ...], dict[tuple, Any]] = {}


class SidecarCache:
    def __init__(self) -> None:
        self._by_config: dict[tuple, _Variants] = {}
        self._size = 0
        self.hits = self.misses = self.uncacheable = 0

    def clear(self) -> None:
        self._by_config.clear()
        self._size = 0

    def render(self, fn: Callable[[Any, Any], dict], d: Any, cfg: Any) -> dict:
        """`fn(d, cfg)`, from the cache when a pod with the same reads was rendered."""
        proxy = None if d.proxy is cfg.proxy else _hashable(d.proxy)
        key = (id(fn), id(cfg), id(d.values), id(d.mesh), proxy, d.proxy_image, d.proxy_init_image, d.revision,
               d.native, d.compliance_policy, d.proxy_uid, d.proxy_gid, id(d.release))
        variants = self._by_config.get(key)
        annotations = d.annotations
        try:
            if variants is not None:
                for names, table in variants.shapes.items():
                    entry = table.get(tuple(_typed(annotations.get(k, _MISSING)) for k in names), _MISSING)
                    if entry is not _MISSING:
                        if entry is None:
                            self.uncacheable += 1
                            return fn(d, cfg)
                        self.hits += 1
                        return _build(entry, d)
        except TypeError:  # an annotation value that is not hashable: nothing to look up
            return fn(d, cfg)
        self.misses += 1
        recorder = _Recorder(annotations)
        static = dataclasses.replace(
            d, annotations=recorder, labels=POD_DEPENDENT, spec=POD_DEPENDENT, api_version=POD_DEPENDENT,
            kind=POD_DEPENDENT, deploy_name=POD_DEPENDENT, deploy_namespace=POD_DEPENDENT, static=True)
        entry: Any
        try:
            entry = _compile(fn(static, cfg), ())
        except Exception:
            # PodDependent; patch directives (`$` keys: merged with care, never shared); or an
            # error, which the ordinary render below raises as it would without the cache
            # (a static run cannot tell which of two errors a pod would meet first).
            entry = None
        if variants is None:
            if self._size >= MAX_ENTRIES:
                self.clear()
            variants = self._by_config[key] = _Variants((fn, cfg, d.values, d.mesh))
        names = tuple(recorder.reads)
        try:
            variants.shapes.setdefault(names, {})[tuple(_typed(v) for v in recorder.reads.values())] = entry
            self._size += 1
        except TypeError:
            pass
        return fn(d, cfg) if entry is None else _build(entry, d)


CACHE = SidecarCache()



class CacheInconsistency(RuntimeError):
    """The cached sidecar and the plain one differ, or a step changed shared data: a bug."""


def inject(pod: Any, cfg: Any) -> None:
    """Inject `pod` in place (render/inject/injector.py), the sidecar template rendered
    through the cache unless it is off; in verify mode both ways, compared."""
    from meshrender.inject import injector

    if VERIFY:
        _inject_verified(pod, cfg)
    elif not ENABLED:
        injector.inject(pod, cfg)
    else:
        try:
            injector.inject(pod, cfg, CACHE.render)
        except SharedDataError as e:
            raise CacheInconsistency(f"the sidecar template cache saw shared data changed ({e}); this is a "
                                     "meshrender bug: please report it, and set MESHRENDER_SIDECAR_CACHE=0 "
                                     "to render without the cache meanwhile") from e


def _inject_verified(pod: Any, cfg: Any) -> None:
    """Inject `pod` with the cache, and a copy without; fail on any difference."""
    from meshrender import yamlio
    from meshrender.inject import injector
    from meshrender.yamlio import plain

    twin = dataclasses.replace(pod, metadata=plain.deepcopy(pod.metadata), spec=plain.deepcopy(pod.spec))
    expected: Exception | None = None
    try:
        injector.inject(twin, cfg)
    except Exception as e:
        expected = e
    try:
        injector.inject(pod, cfg, CACHE.render)
    except Exception as e:
        if expected is None or type(e) is not type(expected) or str(e) != str(expected):
            raise CacheInconsistency(f"the sidecar cache changed the outcome of {pod.deploy_name}: "
                                     f"{e!r} instead of {expected!r}") from e
        raise
    if expected is not None:
        raise CacheInconsistency(f"the sidecar cache changed the outcome of {pod.deploy_name}: "
                                 f"no error instead of {expected!r}") from expected
    for part in ("metadata", "spec"):
        got, want = getattr(pod, part), getattr(twin, part)
        if strict(got) != strict(want):
            raise CacheInconsistency(f"the sidecar cache changed the {part} of {pod.deploy_name}:\n"
                                     f"{yamlio.dump(got)}\n!=\n{yamlio.dump(want)}")
