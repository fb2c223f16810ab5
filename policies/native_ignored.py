"""Settings that native sidecars ignore or that undo what native mode does for shutdown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from meshrender.inject.gotext import truthy
from meshrender.lint.finding import Fix, Hit
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import workload_rule
from meshrender.settings.provenance import Effective, Step

DRAIN_SETTINGS = ("proxy.terminationDrainDuration", "proxy.proxyMetadata.EXIT_ON_ZERO_ACTIVE_CONNECTIONS")


def _drains(pre_stop: Any) -> bool:
    """Whether a preStop hook calls the proxy's drain endpoint."""
    pre_stop = pre_stop if isinstance(pre_stop, dict) else {}
    words: list[Any] = [*((pre_stop.get("exec") or {}).get("command") or []),
                        ((pre_stop.get("httpGet") or {}).get("path") or "")]
    return any("drain" in str(w) for w in words)


def _user_set(s: Effective | Step | None) -> bool:
    return s is not None and s.origin.user_set


def _removal(step: Step | Effective, what: str, prune: int) -> Fix | None:
    """Removing a setting native mode ignores, when a SidecarProxySettings document (meshrender's
    own, consumed) wrote it: Istio's objects (ProxyConfig, ConfigMaps, IstioOperator) are the
    cluster's and stay. Applied only if every workload that takes this value is native
    (needs_all: the rule's count of the workloads whose effective value it is)."""
    place = step.origin.place
    if step.origin.kind != "SidecarProxySettings" or place is None or place.doc is None or place.inner:
        return None
    return Fix(f"remove {what} from {step.origin.name}", place.doc, (("delete", place.path, prune),),
               needs_all=_key(step))


def _key(step: Step | Effective) -> tuple:
    place = step.origin.place
    assert place is not None and place.doc is not None
    return ("takes", place.doc.source, place.doc.line, place.path)


def _takers(view: WorkloadView, names: tuple[str, ...]) -> list[tuple]:
    """(key, None) for each SidecarProxySettings field whose value this workload takes
    for one of `names`: what a removal's needs_all counts."""
    if not view.injected:
        return []
    out = []
    for name in names:
        s = view.setting(name)
        if s is not None and s.winner.origin.kind == "SidecarProxySettings" and s.winner.origin.place is not None \
                and s.winner.origin.place.doc is not None:
            out.append((_key(s.winner), None))
    return out


def _custom_pre_stop(view: WorkloadView) -> Effective | None:
    """The proxy's preStop when the user's configuration decides it (their own istio-proxy
    container, or a proxy lifecycle in the settings, which replaces the injector's hooks);
    None when the injector's own hook stands (a native proxy's drain)."""
    pre_stop = view.setting("proxy.lifecycle.preStop")
    return pre_stop if _user_set(pre_stop) else None


@workload_rule(
    "hold-application-ignored-in-native", "warning",
    title="holdApplicationUntilProxyStarts has no effect on a native sidecar",
    rationale="""holdApplicationUntilProxyStarts only reorders a traditional sidecar. A native sidecar
    is started, and waited for, before the app containers by Kubernetes itself, so the setting has
    no effect and suggests a guarantee that comes from elsewhere.""",
    fix="""Remove holdApplicationUntilProxyStarts for native workloads (keep it only in settings that
    apply to traditional ones).""",
    count=lambda view: _takers(view, ("proxy.holdApplicationUntilProxyStarts",)),
    autofix="""removes the setting from the SidecarProxySettings document that sets it, when every workload
    that takes it from there is native""",
)
def hold_application_ignored(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected or not view.native:
        return
    hold = view.setting("proxy.holdApplicationUntilProxyStarts")
    if hold is None or not hold.value:
        return
    # Either switch turns it on (the ProxyConfig field or the values one): the strongest
    # source that turns it on and was set in a file is the place to remove it.
    for step in (hold.winner, *hold.overridden):
        if _user_set(step) and truthy(step.value):
            fix = _removal(step, "holdApplicationUntilProxyStarts", 1) if step is hold.winner else None
            yield Hit(
                f"holdApplicationUntilProxyStarts (set in {step.origin.name}) has no effect: istio-proxy runs "
                "as a native sidecar, which Kubernetes starts and waits for before the app containers; "
                "remove it, or keep it only for traditional workloads", step.origin.place, fix=fix)
            break


@workload_rule(
    "drain-settings-ignored-in-native", "warning",
    title="Drain settings have no effect on a native sidecar",
    rationale="""A native sidecar drains through its preStop hook (pilot-agent request POST drain) and
    is stopped by Kubernetes only after the app containers have exited, so terminationDrainDuration
    and EXIT_ON_ZERO_ACTIVE_CONNECTIONS, which tune the traditional shutdown race, do nothing.""",
    fix="""Remove terminationDrainDuration / EXIT_ON_ZERO_ACTIVE_CONNECTIONS for native workloads, or
    keep them only in settings that apply to traditional ones.""",
    count=lambda view: _takers(view, DRAIN_SETTINGS),
    autofix="""removes the setting from the SidecarProxySettings document that sets it, when every workload
    that takes it from there is native""",
)
def drain_settings_ignored(view: WorkloadView) -> Iterator[Hit]:
    if not view.injected or not view.native:
        return
    custom = _custom_pre_stop(view)
    if custom is not None and not _drains(custom.value):
        return  # a custom lifecycle without the drain call: lifecycle-overrides-native-drain says so
    for name in DRAIN_SETTINGS:
        setting = view.setting(name)
        label = name.removeprefix("proxy.")
        if setting is None or not _user_set(setting) or setting.winner.value is None:
            continue
        value = setting.winner.value
        if str(value).strip().lower() != "false":
            yield Hit(
                f"{label} {value} (set in {setting.origin.name}) has no effect: istio-proxy runs as a "
                "native sidecar and drains through its preStop hook, and Kubernetes stops it only after "
                "the app containers; remove it, or keep it only for traditional workloads", setting.origin.place,
                fix=_removal(setting.winner, label, label.count(".") + 1))


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
    custom = _custom_pre_stop(view)
    if custom is None or _drains(custom.value):
        return
    yield Hit(
        f"the custom proxy lifecycle (set in {custom.origin.name}) replaces the preStop drain hook of the native "
        "sidecar, so connections are cut when the pod stops; drop it for native workloads or have its "
        "preStop run `pilot-agent request --debug-port=15020 POST drain`", custom.origin.place)
