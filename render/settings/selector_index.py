"""Which label selectors may match a workload, without trying every selector on every workload.

A render of 6,000 workload-scoped SidecarProxySettings (or ProxyConfigs) by 6,000 pods
tried 36 million selectors. Here each selector is filed under one of its positive terms,
the one that the fewest selectors share: a `matchLabels` pair, the pairs of an `In`
expression, or the key of an `Exists` expression. A workload then looks up only the
selectors filed under its own labels (plus those in its namespace with no positive term
at all, such as only `NotIn`), and each candidate is still checked with
kube.selectors.matches: the index only leaves out selectors that cannot match, so the
answer is exactly the linear scan's, in the same order. MESHRENDER_VERIFY_SELECTOR_INDEX=1
computes the scan as well and fails on any difference (the tests run with it).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any, Generic, TypeVar

from meshrender.kube import selectors

VERIFY = os.environ.get("MESHRENDER_VERIFY_SELECTOR_INDEX", "") not in ("", "0")

T = TypeVar("T")
_Term = tuple  # ("pair", key, value) | ("key", key)


class SelectorIndexMismatch(RuntimeError):
    """The index answered differently from the linear scan: a bug."""


def _options(selector: Any) -> list[list[_Term]]:
    """Each way to file `selector`: a list of terms, one of which a matching workload's
    labels must hold. Empty when no positive term can be indexed (then always checked)."""
    if not isinstance(selector, dict):
        return []
    out: list[list[_Term]] = []
    match = selector.get("matchLabels")
    if isinstance(match, dict):
        for k, v in match.items():
            if isinstance(k, str) and isinstance(v, (str, int, float, bool)):
                out.append([("pair", k, str(v))])
    exprs = selector.get("matchExpressions")
    for e in exprs if isinstance(exprs, list) else []:
        if not isinstance(e, dict) or not isinstance(e.get("key"), str):
            continue
        values = e.get("values") or []
        if e.get("operator") == "In" and isinstance(values, list) and values \
                and all(isinstance(v, (str, int, float, bool)) for v in values):
            out.append([("pair", e["key"], str(v)) for v in values])
        elif e.get("operator") == "Exists":
            out.append([("key", e["key"])])
    return out


class SelectorIndex(Generic[T]):
    """Items with a namespace (None: every namespace) and a label selector, in order;
    `matching(namespace, labels)` gives those whose selector matches, in that order."""

    def __init__(self, items: Sequence[tuple[str | None, Any, T]], empty: bool = True):
        self.items = list(items)
        self.empty = empty
        options = [_options(sel) for _, sel, _ in self.items]
        shared = Counter(term for opts in options for terms in opts for term in set(terms))
        # (namespace, term) -> item indices; namespace -> indices of items with no term
        self.filed: dict[tuple[Hashable, _Term], list[int]] = {}
        self.unfiled: dict[str | None, list[int]] = {}
        for i, ((ns, _, _), opts) in enumerate(zip(self.items, options, strict=True)):
            if not opts:
                self.unfiled.setdefault(ns, []).append(i)
                continue
            best = min(opts, key=lambda terms: sum(shared[t] for t in terms))
            for term in dict.fromkeys(best):
                self.filed.setdefault((ns, term), []).append(i)

    def matching(self, namespace: str, labels: dict[str, str]) -> list[T]:
        found: set[int] = set()
        for ns in (None, namespace):
            found.update(self.unfiled.get(ns, ()))
            if not self.filed:
                continue
            for k, v in labels.items():
                found.update(self.filed.get((ns, ("pair", k, v)), ()))
                found.update(self.filed.get((ns, ("key", k)), ()))
        out = [self.items[i][2] for i in sorted(found)
               if selectors.matches(self.items[i][1], labels, empty=self.empty)]
        if VERIFY:
            scan = [item for ns, sel, item in self.items
                    if (ns is None or ns == namespace) and selectors.matches(sel, labels, empty=self.empty)]
            if [id(x) for x in scan] != [id(x) for x in out]:
                raise SelectorIndexMismatch(f"selector index found {len(out)} matches, the scan {len(scan)}, for "
                                            f"labels {labels!r} in namespace {namespace}; a meshrender bug: "
                                            "please report it")
        return out
