"""Effective settings shared between the workloads that share a configuration.

Working out where each proxy setting comes from (render/evaluate/attribution.py) costs
more than checking it, and lint asks for several settings of every workload. A pod that
writes no istio-proxy container of its own adds nothing to its settings but its mesh
annotations: every setting is a function of the injector configuration (the settings
tree, native or traditional, the flavor), which thousands of workloads share, and of
those annotations. So the answer is computed for the first such pod and reused, its
annotation sources moved to the pod that asks (`Evaluation.shared_settings_key` says
which pods qualify and what the key is).

MESHRENDER_SETTINGS_MEMO=0 turns the sharing off; MESHRENDER_VERIFY_SETTINGS_MEMO=1
computes every setting for every pod as well and fails on any difference (the tests run
with it). The memo belongs to one run (its evaluation Context: keys are object ids, which
another run may reuse), and is bounded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

ENABLED = os.environ.get("MESHRENDER_SETTINGS_MEMO", "") != "0"
VERIFY = os.environ.get("MESHRENDER_VERIFY_SETTINGS_MEMO", "") not in ("", "0")
MAX_ENTRIES = 50_000


class SharedSettingsMismatch(RuntimeError):
    """A shared setting differs from the one computed for the pod itself: a bug."""


def get(memo: dict[tuple, Any], key: tuple, name: str, compute: Callable[[], Any],
        own: Callable[[Any], Any]) -> Any:
    """The setting `name` for configuration `key`: shared through `memo`, computed on first
    use; `own(origin)` makes an annotation origin of the first pod the asking pod's."""
    k = (key, name)
    found = memo.get(k)
    if found is None:
        if len(memo) >= MAX_ENTRIES:
            memo.clear()
        found = memo[k] = compute()
        return found
    found = found.with_origins(own) if _has_annotations(found) else found
    if VERIFY:
        own = compute()
        if own != found:
            raise SharedSettingsMismatch(f"setting {name}: shared {found!r} != computed {own!r}; this is a "
                                         "meshrender bug: please report it, and set MESHRENDER_SETTINGS_MEMO=0 "
                                         "meanwhile")
    return found


def _has_annotations(effective: Any) -> bool:
    steps = [effective.winner, *effective.overridden, *(s for _, s in effective.parts)]
    return any(s.origin.kind == "annotation" for s in steps)
