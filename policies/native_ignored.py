"""Settings that native sidecars ignore or that undo what native mode does for shutdown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshrender.inject.gotext import truthy
from meshrender.inject.proxyconfig import hold_application
from meshrender.lint.finding import Hit
from meshrender.lint.model import Setting, WorkloadView
from meshrender.lint.rules import workload_rule

PROXY = "istio-proxy"


def _drains(lifecycle: Any) -> bool:
    """Whether a lifecycle's preStop calls the proxy's drain endpoint."""
    pre_stop = (lifecycle.get("preStop") if isinstance(lifecycle, dict) else None) or {}
    words: list[Any] = [*((pre_stop.get("exec") or {}).get("command") or []),
                        ((pre_stop.get("httpGet") or {}).get("path") or "")]
    return any("drain" in str(w) for w in words)


def _user_set(setting: Setting | None) -> bool:
    return setting is not None and setting.user_set


def _user_lifecycle(view: WorkloadView) -> Setting | None:
    """The custom proxy lifecycle: the user's own istio-proxy container, else the settings.

    Without one, the injector gives a native proxy a preStop that drains it (Istio's template).
    """
    for key in ("initContainers", "containers"):
        for i, c in view.containers(key):
            if c.get("name") == PROXY and c.get("lifecycle"):
                return Setting(c["lifecycle"], view.at_spec(key, i, "lifecycle"),
                               f"the pod's own {PROXY} container")
    setting = view.setting("values", "global", "proxy", "lifecycle")
    return setting if _user_set(setting) and truthy(setting.value) else None  # type: ignore[union-attr]


@workload_rule(
    "hold-application-ignored-in-native", "warning",
    title="holdApplicationUntilProxyStarts has no effect on a native sidecar",
    rationale="""holdApplicationUntilProxyStarts only reorders a traditional sidecar. A native sidecar
    is started, and waited for, before the app containers by Kubernetes itself, so the setting has
    no effect and suggests a guarantee that comes from elsewhere.""",
    fix="""Remove holdApplicationUntilProxyStarts for native workloads (keep it only in settings that
    apply to traditional ones).""",
)
def hold_application_ignored(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected or not view.native:
        return
    candidates = [
        (view.proxy_setting("holdApplicationUntilProxyStarts"), hold_application),
        (view.setting("values", "global", "proxy", "holdApplicationUntilProxyStarts"), truthy),
    ]
    for setting, is_on in candidates:
        if _user_set(setting) and is_on({"holdApplicationUntilProxyStarts": setting.value}
                                        if is_on is hold_application else setting.value):
            yield Hit(
                f"holdApplicationUntilProxyStarts (set in {setting.source}) has no effect: istio-proxy runs "
                "as a native sidecar, which Kubernetes starts and waits for before the app containers; "
                "remove it, or keep it only for traditional workloads", setting.anchor)


@workload_rule(
    "drain-settings-ignored-in-native", "warning",
    title="Drain settings have no effect on a native sidecar",
    rationale="""A native sidecar drains through its preStop hook (pilot-agent request POST drain) and
    is stopped by Kubernetes only after the app containers have exited, so terminationDrainDuration
    and EXIT_ON_ZERO_ACTIVE_CONNECTIONS, which tune the traditional shutdown race, do nothing.""",
    fix="""Remove terminationDrainDuration / EXIT_ON_ZERO_ACTIVE_CONNECTIONS for native workloads, or
    keep them only in settings that apply to traditional ones.""",
)
def drain_settings_ignored(view: WorkloadView) -> Iterator[Hit]:
    custom = _user_lifecycle(view)
    if not view.injected or not view.native or (custom is not None and not _drains(custom.value)):
        return  # a custom lifecycle without the drain call: lifecycle-overrides-native-drain says so
    for label, setting in (
        ("terminationDrainDuration", view.proxy_setting("terminationDrainDuration")),
        ("proxyMetadata.EXIT_ON_ZERO_ACTIVE_CONNECTIONS",
         view.proxy_setting("proxyMetadata", "EXIT_ON_ZERO_ACTIVE_CONNECTIONS")),
    ):
        if _user_set(setting) and str(setting.value).strip().lower() != "false":  # type: ignore[union-attr]
            assert setting is not None
            yield Hit(
                f"{label} {setting.value} (set in {setting.source}) has no effect: istio-proxy runs as a "
                "native sidecar and drains through its preStop hook, and Kubernetes stops it only after "
                "the app containers; remove it, or keep it only for traditional workloads", setting.anchor)


@workload_rule(
    "lifecycle-overrides-native-drain", "warning",
    title="A custom proxy lifecycle replaces the native drain hook",
    rationale="""A native istio-proxy gets a preStop hook that drains its connections before
    Kubernetes stops it. A custom proxy lifecycle replaces the whole hook set, so in-flight requests
    are cut when the pod terminates.""",
    fix="""Drop the custom lifecycle for native workloads, or make its preStop call
    `pilot-agent request --debug-port=15020 POST drain`.""",
)
def lifecycle_overrides_drain(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected or not view.native:
        return
    custom = _user_lifecycle(view)
    if custom is None or _drains(custom.value):
        return
    yield Hit(
        f"the custom proxy lifecycle (set in {custom.source}) replaces the preStop drain hook of the native "
        "sidecar, so connections are cut when the pod stops; drop it for native workloads or have its "
        "preStop run `pilot-agent request --debug-port=15020 POST drain`", custom.anchor)  # type: ignore[arg-type]
