"""Istio's vocabulary, in one place: container, annotation and label names, and the one
reader of the `proxy.istio.io/config` annotation.

The injector, the settings, lint rules and explain all speak of the same few names; a
second spelling of one of them is a bug waiting to happen (a rule that checks
`sidecar.istio.io/nativeSidecar` while the injector reads another key). The annotation
that carries a ProxyConfig is read here and nowhere else, so that render, lint and explain
cannot disagree on what a pod asks for.
"""

from __future__ import annotations

from typing import Any

from meshrender.errors import InputError

# Containers the injector adds (and recognises as its own on re-injection).
PROXY = "istio-proxy"
INIT = "istio-init"
VALIDATION = "istio-validation"
CORE_DUMP = "enable-core-dump"
INIT_NAMES = (INIT, VALIDATION)
MESH_CONTAINERS = frozenset({PROXY, INIT, VALIDATION, CORE_DUMP})

# Pod annotations.
STATUS = "sidecar.istio.io/status"  # what the last injection added (re-injection strips it)
OVERRIDES = "proxy.istio.io/overrides"  # the user's own istio-proxy / istio-init, recorded
PROXY_CONFIG = "proxy.istio.io/config"  # a ProxyConfig overlay for this pod
INJECT = "sidecar.istio.io/inject"  # label (or, deprecated, annotation): opt in or out
NATIVE = "sidecar.istio.io/nativeSidecar"  # "true" / "false": native or traditional for this pod
TEMPLATES = "inject.istio.io/templates"  # which injection templates run, in order
INTERCEPTION_MODE = "sidecar.istio.io/interceptionMode"

# Namespace and pod labels the webhook selects on.
INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"

# Namespaces Istio's injector never touches (pkg/kube/inject: IgnoredNamespaces).
IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})

# Words `sidecar.istio.io/inject` accepts as "yes" (anything else but empty is "no").
INJECT_YES = frozenset({"y", "yes", "true", "on"})


class ProxyConfigError(ValueError):
    """The `proxy.istio.io/config` annotation cannot be read as a ProxyConfig map."""


def read_proxy_config(raw: Any) -> dict[str, Any] | None:
    """The ProxyConfig overlay a pod's `proxy.istio.io/config` value asks for, normalised
    as Istio reads it (durations, field spellings); None when it asks for nothing.

    Raises ProxyConfigError with the sentence Istio's refusal amounts to.
    """
    if raw is None:
        return None
    from meshrender import yamlio
    from meshrender.inject import proxyconfig

    try:
        override = yamlio.load_plain(raw, PROXY_CONFIG) if isinstance(raw, str) else raw
    except InputError as e:
        raise ProxyConfigError(f"{PROXY_CONFIG} is not valid YAML: {e.message}") from None
    if override is None:
        return None
    if not isinstance(override, dict):
        raise ProxyConfigError(f"{PROXY_CONFIG} is not a ProxyConfig map")
    try:
        return proxyconfig.normalize(override, PROXY_CONFIG)
    except InputError as e:
        raise ProxyConfigError(e.message) from None


def pod_proxy_config(annotations: dict[str, Any], base: dict[str, Any],
                     pinned: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ProxyConfig of a pod: `base` with its `proxy.istio.io/config` laid over it.

    Fields set by a workload-selected ProxyConfig resource (`pinned`) keep their value:
    Istio merges the annotation with lower priority than those (EffectiveProxyConfig).
    """
    override = read_proxy_config(annotations.get(PROXY_CONFIG))
    if override is None:
        return base
    from meshrender.inject import proxyconfig

    return proxyconfig.merge(base, without_pinned(override, pinned))


def without_pinned(override: dict[str, Any], pinned: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of an annotation's ProxyConfig that a workload ProxyConfig does not pin."""
    if not pinned:
        return override
    out = dict(override)
    for key, value in pinned.items():
        if key == "proxyMetadata" and isinstance(out.get(key), dict):
            out[key] = {k: v for k, v in out[key].items() if k not in value}
        else:
            out.pop(key, None)
    return out
