"""Kubernetes strategic merge patch, for Pods, on plain data.

The injector lays its rendered template over the user's pod with a strategic merge patch,
exactly as Istio does (`strategicpatch.StrategicMergePatch` with the Pod schema). Which
lists merge by which key, and the order the merged items come out in, decide what the
injected pod looks like, so both follow apimachinery's rules:

- maps merge recursively; a `null` in the patch deletes the key;
- lists with a merge key (containers by `name`, ports by `containerPort`, ...) merge
  item by item; items only in the patch come first, in patch order, then the items only
  in the original, each placed after the patch items that precede it in the original;
- every other list is replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from meshrender.yamlio import plain
from meshrender.yamlio.frozen import FrozenDict, FrozenList

# Merge keys of the Pod schema's `patchStrategy: merge` lists, by path from the Pod.
# A path segment "*" stands for the items of a list.
_CONTAINER_LISTS = {
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "resizePolicy": None,
}
_POD_SPEC_LISTS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "schedulingGates": "name",
}


def _merge_key(path: tuple[str, ...]) -> str | None:
    """The merge key of the list at `path` (relative to the pod), or None to replace it."""
    if len(path) == 2 and path[0] == "spec":
        return _POD_SPEC_LISTS.get(path[1])
    if (
        len(path) == 3
        and path[0] == "spec"
        and path[1] in ("containers", "initContainers", "ephemeralContainers")
    ):
        return _CONTAINER_LISTS.get(path[2])
    if path == ("metadata", "ownerReferences"):
        return "uid"
    if len(path) == 4 and path[-1] == "claims" and path[-2] == "resources":
        return "name"
    return None


def merge_pod(original: dict, patch: dict, share: bool = False) -> dict:
    """`patch` laid over `original` (a Pod as data); neither argument is modified.

    The result copies what it takes from `patch`, unless `share` is set: then the result
    holds parts of `patch` itself (cheaper), and must be read only.
    """
    return _merge_map(original, patch, (), _shared if share else _strip_directives)


def _merge_map(original: dict, patch: dict, path: tuple[str, ...], take: Callable[[Any], Any]) -> dict:
    out = dict(original)
    for key, pv in patch.items():
        if key == "$patch":
            if pv == "replace":
                return {k: plain.deepcopy(v) for k, v in patch.items() if k != "$patch"}
            if pv == "delete":
                return {}
            continue
        if pv is None:
            out.pop(key, None)
            continue
        ov = original.get(key)
        sub = (*path, key)
        if isinstance(pv, dict) and isinstance(ov, dict):
            out[key] = _merge_map(ov, pv, sub, take)
        elif isinstance(pv, list) and isinstance(ov, list):
            mk = _merge_key(sub)
            out[key] = _merge_list(ov, pv, sub, mk, take) if mk else take(pv)
        else:
            out[key] = take(pv)
    return out


def _shared(value: Any) -> Any:
    """`value` itself when it holds no patch directives, else a copy without them."""
    t = type(value)
    if t is str or t is int or t is bool or value is None or t is float or t is FrozenDict or t is FrozenList:
        return value
    if (t is dict or t is list) and not _has_directives(value):
        return value
    return _strip_directives(value)


def _has_directives(value: Any) -> bool:
    """Whether plain data holds a `$` key anywhere (anything else than plain data: yes;
    frozen data never does: see render/yamlio/frozen.py)."""
    t = type(value)
    if t is dict:
        for k, x in value.items():
            if (k if type(k) is str else str(k)).startswith("$"):
                return True
            tx = type(x)
            if (tx is dict or tx is list) and _has_directives(x):
                return True
        return False
    if t is list:
        for x in value:
            tx = type(x)
            if (tx is dict or tx is list) and _has_directives(x):
                return True
        return False
    return True


def _strip_directives(value: Any) -> Any:
    """A copy of `value` without patch directives (`$` keys, `$patch: delete` items).
    Frozen data holds none and never changes: it is taken as it is, not copied."""
    t = type(value)
    if t is FrozenDict or t is FrozenList:
        return value
    if isinstance(value, dict):
        return _strip_map(value)
    if isinstance(value, list):
        return _strip_list(value)
    return plain.deepcopy(value)


def _strip_map(value: dict) -> dict:
    out = {}
    for k, v in value.items():
        if (k if type(k) is str else str(k)).startswith("$"):
            continue
        t = type(v)
        if t is str or t is int or t is bool or v is None or t is float:
            out[k] = v
        elif t is dict:
            out[k] = _strip_map(v)
        elif t is list:
            out[k] = _strip_list(v)
        else:
            out[k] = _strip_directives(v)
    return out


def _strip_list(value: list) -> list:
    out = []
    for v in value:
        t = type(v)
        if t is str or t is int or t is bool or v is None or t is float:
            out.append(v)
        elif t is dict:
            if v.get("$patch") != "delete":
                out.append(_strip_map(v))
        elif t is list:
            out.append(_strip_list(v))
        else:
            out.append(_strip_directives(v))
    return out


def _key_of(item: Any, mk: str) -> Any:
    return item.get(mk) if isinstance(item, dict) else None


def _merge_list(original: list, patch: list, path: tuple[str, ...], mk: str, take: Callable[[Any], Any]) -> list:
    if not patch:
        return list(original)
    if not all(isinstance(i, dict) for i in patch):
        # Lists of scalars with a merge strategy: union, original first.
        out = list(original)
        for v in patch:
            if v not in out:
                out.append(v)
        return out
    deleted = {
        _key_of(i, mk) for i in patch if isinstance(i, dict) and i.get("$patch") == "delete"
    }
    patch = [i for i in patch if i.get("$patch") != "delete"]
    original = [i for i in original if _key_of(i, mk) not in deleted]
    by_key = {}
    for idx, item in enumerate(original):
        by_key.setdefault(_key_of(item, mk), idx)
    merged = list(original)
    patch_keys = []
    for item in patch:
        k = _key_of(item, mk)
        patch_keys.append(k)
        if k in by_key and isinstance(merged[by_key[k]], dict):
            merged[by_key[k]] = _merge_map(merged[by_key[k]], item, path, take)
        else:
            by_key[k] = len(merged)
            merged.append(take(item))
    # Order: patch items in patch order, server-only items woven in by their original order.
    patch_set = set(patch_keys)
    patch_items = []
    seen = set()
    for k in patch_keys:
        if k in seen:
            continue
        seen.add(k)
        patch_items.append(merged[by_key[k]])
    server_only = [i for i in merged[: len(original)] if _key_of(i, mk) not in patch_set]
    order = {}
    for idx, item in enumerate(original):
        order.setdefault(_key_of(item, mk), idx)
    out = []
    i = j = 0
    while i < len(server_only) or j < len(patch_items):
        if i >= len(server_only):
            out.append(patch_items[j])
            j += 1
        elif j >= len(patch_items):
            out.append(server_only[i])
            i += 1
        else:
            li = order.get(_key_of(server_only[i], mk), -1)
            ri = order.get(_key_of(patch_items[j], mk), -1)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(patch_items[j])
                j += 1
    return out
