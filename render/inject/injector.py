"""Sidecar injection of one pod, following Istio's injectPod step by step.

1. strip what a previous injection added (re-injection is idempotent);
2. run the selected templates and lay each over the pod (strategic merge);
3. re-apply the user's own `istio-proxy` / `istio-init` containers as overrides;
4. post-process: cluster envs, Prometheus merge, probe rewriting, status, ordering.
"""

from __future__ import annotations

import dataclasses
import json
import re
from functools import lru_cache
from typing import Any

from meshrender.inject import probes, proxyconfig, smp
from meshrender.inject.context import PINNED_PROXY, InjectConfig, PodRef
from meshrender.inject.gotext import lookup, truthy
from meshrender.inject.release import Release
from meshrender.inject.template import TemplateData
from meshrender.inject.templates import SidecarRenderer, render_template, selected
from meshrender.inject.validate import AnnotationError, check
from meshrender.istio import (
    CORE_DUMP,
    IGNORED_NAMESPACES,
    INIT,
    INJECT,
    INJECT_YES,
    OVERRIDES,
    PROXY,
    STATUS,
    VALIDATION,
    ProxyConfigError,
)
from meshrender.istio import pod_proxy_config as _pod_proxy_config
from meshrender.kube import selectors
from meshrender.kube.quantity import canonical_resources
from meshrender.yamlio import plain
from meshrender.yamlio.frozen import FrozenDict, freeze, thaw

__all__ = ["CORE_DUMP", "INIT", "PROXY", "STATUS", "VALIDATION"]
_PROM_SANITIZE = re.compile(r"[^a-zA-Z0-9_]")


class InjectionError(ValueError):
    """The injector refuses this pod; `annotation` names the culprit when there is one."""

    def __init__(self, message: str, annotation: str | None = None):
        super().__init__(message)
        self.annotation = annotation


@dataclasses.dataclass(frozen=True)
class Required:
    """Istio's injectRequired for one pod: whether it is injected, why, and which rule
    decided (`rule` names what the evaluation points at: the field or setting)."""

    inject: bool
    reason: str
    rule: str  # host-network | namespace | pod-label | pod-annotation | never-selector |
    #            always-selector | policy


def inject_required(pod: PodRef, cfg: InjectConfig) -> Required:
    """Whether Istio's webhook injects this pod, as injectRequired decides (first match):
    host networking, the namespaces it never touches, the pod's `sidecar.istio.io/inject`
    (label, else annotation), then for pods that say nothing the injector config:
    `neverInjectSelector`, `alwaysInjectSelector`, and the policy
    (`global.proxy.autoInject`: `enabled` injects unless a pod opts out, `disabled` only
    pods that opt in).
    """
    if pod.spec.get("hostNetwork") is True:
        return Required(False, "host networking is enabled", "host-network")
    if pod.namespace in IGNORED_NAMESPACES:
        return Required(False, f"namespace {pod.namespace} is never injected", "namespace")
    rule = "pod-label" if INJECT in pod.labels else "pod-annotation"
    selector = pod.labels[INJECT] if INJECT in pod.labels else pod.annotations.get(INJECT)
    value = "" if selector is None else str(selector)
    if cfg.release.has("inject-label-strict"):
        # Istio 1.27: "true" or "false"; anything else falls back to the policy.
        if value == "false":
            return Required(False, f"sidecar injection is disabled ({INJECT})", rule)
        if value == "true":
            return Required(True, f"the pod asks for injection ({INJECT})", rule)
    elif value:
        if value.lower() not in INJECT_YES:
            return Required(False, f"sidecar injection is disabled ({INJECT})", rule)
        return Required(True, f"the pod asks for injection ({INJECT})", rule)
    hook = lookup(cfg.values, "sidecarInjectorWebhook") or {}
    for sel in hook.get("neverInjectSelector") or []:
        if selectors.matches(sel, pod.labels, empty=False):
            return Required(False, "the pod's labels match the injector's neverInjectSelector", "never-selector")
    for sel in hook.get("alwaysInjectSelector") or []:
        if selectors.matches(sel, pod.labels, empty=False):
            return Required(True, "the pod's labels match the injector's alwaysInjectSelector", "always-selector")
    policy = lookup(cfg.values, "global.proxy.autoInject", "enabled")
    if policy == "enabled":
        return Required(True, "the injection policy is enabled", "policy")
    if policy == "disabled":
        return Required(False, "the injection policy is disabled and the pod does not ask for injection "
                               f"({INJECT})", "policy")
    return Required(False, f"the injection policy {policy!r} is neither enabled nor disabled, which turns "
                           "injection off", "policy")


def pod_proxy_config(pod: PodRef, base: dict[str, Any], pinned: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ProxyConfig for this pod (meshrender.istio.pod_proxy_config), refused as Istio
    refuses it: an InjectionError naming the annotation."""
    try:
        return _pod_proxy_config(pod.annotations, base, pinned)
    except ProxyConfigError as e:
        raise InjectionError(str(e), "proxy.istio.io/config") from None


def _status_of(annotations: dict[str, str]) -> dict[str, Any] | None:
    raw = annotations.get(STATUS)
    if raw is None:
        return None
    try:
        status = json.loads(raw)
    except ValueError:
        return None
    return status if isinstance(status, dict) else None


def _names(status: dict[str, Any] | None, key: str) -> list[str]:
    if not status:
        return []
    value = status.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _find(containers: list | None, name: str) -> dict | None:
    for c in containers or []:
        if isinstance(c, dict) and c.get("name") == name:
            return c
    return None


@lru_cache(maxsize=4096)
def _sanitized(key: str) -> str:
    return _PROM_SANITIZE.sub("_", key)


_PROMETHEUS = ("prometheus_io_path", "prometheus_io_port", "prometheus_io_scrape")
# Istio 1.31 (prometheus-scrape-targets): several ports to merge, cleared with the others.
_SCRAPE_TARGETS = "prometheus_istio_io_scrape_targets"
_SECURE_PORT = "prometheus_istio_io_secure_port"
_PROMETHEUS_TARGETS = (*_PROMETHEUS, _SCRAPE_TARGETS)
# Ports the agent refuses to scrape for the merge (Istio's istioReservedPorts, 1.31).
_RESERVED_PORTS = {
    "15000": "Envoy admin", "15001": "outbound traffic capture", "15004": "pilot debug",
    "15006": "inbound traffic capture", "15008": "HBONE tunnel",
    "15020": "pilot-agent status / merged Prometheus", "15021": "Envoy health", "15053": "DNS proxy",
    "15090": "Envoy Prometheus (already merged)",
}


def _prometheus_keys(anns: dict, names: tuple[str, ...] = _PROMETHEUS) -> dict[str, list[str]]:
    """The annotations that Prometheus reads as path, port and scrape (by their names with
    every other character than letters, digits and `_` as `_`), in annotation order.
    One pass over the annotations, instead of one per lookup."""
    out: dict[str, list[str]] = {}
    for k in anns:
        name = _sanitized(k)
        if name in names:
            out.setdefault(name, []).append(k)
    return out


def _prometheus_port(anns: dict, keys: dict[str, list[str]]) -> str | None:
    for k in keys.get("prometheus_io_port", ()):
        return anns[k]
    return None


def _clear_prometheus(anns: dict, keys: dict[str, list[str]]) -> None:
    for wanted in _PROMETHEUS_TARGETS:
        for k in keys.get(wanted, ()):
            del anns[k]


def _scrape_targets(raw: str) -> list[dict[str, str]]:
    """Istio's ParseScrapeTargets: "port[:path]" entries, comma-separated; the path
    defaults to /metrics. An entry without a port makes the whole annotation ignored."""
    targets = []
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        port, _, path = entry.partition(":")
        if not port.strip():
            return []
        targets.append({"port": port.strip(), "path": path.strip() or "/metrics"})
    return targets


_GO_INT = re.compile(r"[+-]?[0-9]+")


def _check_scrape_port(port: str, target: str, what: str, label: str) -> None:
    """Istio 1.31 refuses a scrape port that is no port (strconv.Atoi), the agent's own,
    or one Istio reserves."""
    where = "prometheus.istio.io/scrape-targets" if label else "prometheus.io/port"
    number = int(port) if _GO_INT.fullmatch(port) else 0
    if not 1 <= number <= 65535:
        raise InjectionError(f"invalid prometheus scrape {what}: invalid {label}port {port!r}", where)
    canon = str(number)
    if canon == target:
        raise InjectionError(f"invalid prometheus scrape {what}: {label}port {port} conflicts with agent port",
                             where)
    if canon in _RESERVED_PORTS:
        raise InjectionError(f"invalid prometheus scrape {what}: {label}port {port} is reserved for Istio "
                             f"({_RESERVED_PORTS[canon]}) and cannot be scraped", where)


def _old_proxy(spec: dict, status: dict[str, Any]) -> dict | None:
    """The proxy container a previous injection put in the pod (where its status says)."""
    for key in ("containers", "initContainers"):
        if PROXY in _names(status, key):
            found = _find(spec.get(key), PROXY)
            if found is not None:
                return found
    return None


def _env_value(container: dict | None, name: str) -> str | None:
    for e in (container or {}).get("env") or []:
        if isinstance(e, dict) and e.get("name") == name:
            value = e.get("value")
            return value if isinstance(value, str) else None
    return None


def _drop_named(spec: dict, key: str, names: list[str]) -> None:
    """Remove the entries of spec[key] named in `names` (the key goes when it empties)."""
    items = spec.get(key)
    if not names or not isinstance(items, list):
        return
    kept = [x for x in items if not (isinstance(x, dict) and x.get("name") in names)]
    if kept:
        spec[key] = kept
    else:
        del spec[key]


def _restore_prometheus(annotations: dict, recorded: str | None) -> None:
    """Put back the app's own Prometheus annotations, which injection moved into the
    agent's ISTIO_PROMETHEUS_ANNOTATIONS (under their usual names)."""
    if not recorded:
        return
    try:
        cfg = json.loads(recorded)
    except ValueError:
        return
    if not isinstance(cfg, dict):
        return
    for field in ("scrape", "port", "path"):
        value = cfg.get(field)
        if isinstance(value, str) and value:
            annotations[f"prometheus.io/{field}"] = value


def strip(pod: dict, status_port: int, keep_patched: bool = False) -> dict:
    """The pod as it was before a previous injection, so that injecting it again is a
    fresh render, whatever mode, flavor or version injected it before.

    Istio's stripPod removes the containers the status annotation names, the Prometheus
    annotations that point at the agent, and the status. Istio then lays the templates
    over the pod *with* the old proxy, which keeps whatever the new templates do not set;
    here the templates are laid over this pod, so everything the previous injection
    recorded is undone as well: the app probes and lifecycle hooks it pointed at the
    agent (from ISTIO_KUBE_APP_PROBERS), the app's Prometheus annotations (from
    ISTIO_PROMETHEUS_ANNOTATIONS), the volumes and image pull secrets it added.

    `keep_patched` keeps the regular containers the status names other than the proxy:
    the gRPC templates list the app containers they patch, which were the user's before.
    The template data (as Istio) leaves them out.
    """
    status = _status_of(pod["metadata"].get("annotations") or {})
    if status is None:
        return pod
    out = plain.deepcopy(pod)
    spec = out["spec"]
    old = _old_proxy(spec, status)
    containers = _names(status, "containers")
    if keep_patched:
        containers = [n for n in containers if n == PROXY]
    _drop_named(spec, "containers", containers)
    _drop_named(spec, "initContainers", _names(status, "initContainers"))
    _drop_named(spec, "volumes", _names(status, "volumes"))
    _drop_named(spec, "imagePullSecrets", _names(status, "imagePullSecrets"))
    probes.restore(spec, _env_value(old, probes.PROBERS_ENV))
    present = out["metadata"].get("annotations") or {}
    keys = _prometheus_keys(present)
    if _prometheus_port(present, keys) == str(status_port):
        _clear_prometheus(present, keys)
        _restore_prometheus(present, _env_value(old, "ISTIO_PROMETHEUS_ANNOTATIONS"))
    anns = out["metadata"].get("annotations")
    if anns is not None:
        anns.pop(STATUS, None)
    return out


def _overrides(annotations: dict[str, str]) -> dict[str, list]:
    raw = annotations.get(OVERRIDES)
    if raw is None:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise InjectionError(f"{OVERRIDES} is not valid JSON", OVERRIDES) from None
    if not isinstance(parsed, dict):
        raise InjectionError(f"{OVERRIDES} must be a JSON object", OVERRIDES)
    return parsed


def reinsert_overrides(pod: dict, as_written: bool = False) -> dict:
    """Put back user containers recorded in `proxy.istio.io/overrides` that stripping removed.

    `as_written`: without the `resources: {}` that recording adds (Go's zero value), so
    that the container is the one the user wrote (for the pod the templates are laid over).
    """
    existing = _overrides(pod["metadata"].get("annotations") or {})
    if not existing:
        return pod
    pod = plain.deepcopy(pod)
    spec = pod["spec"]
    for key in ("containers", "initContainers"):
        for c in existing.get(key) or []:
            if isinstance(c, dict) and _find(spec.get(key), c.get("name")) is None:
                if as_written and c.get("resources") == {}:
                    c = {k: v for k, v in c.items() if k != "resources"}
                spec.setdefault(key, []).append(c)
    return pod


_CONTAINER_FIELDS = (
    "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
)


def _go_container(c: dict) -> dict:
    """A container as Go's encoding/json writes a corev1.Container (fields in order)."""
    out = {k: c[k] for k in _CONTAINER_FIELDS if k in c}
    out.update((k, v) for k, v in c.items() if k not in out)
    out.setdefault("resources", {})
    if "resources" in out:
        out["resources"] = canonical_resources(out["resources"])
    order = list(_CONTAINER_FIELDS) + [k for k in out if k not in _CONTAINER_FIELDS]
    return {k: out[k] for k in order if k in out}


def _overlay_container(pod: dict, container: dict, init: bool) -> dict:
    spec: dict[str, Any] = {"containers": [] if init else [container]}
    if init:
        spec["initContainers"] = [container]
    return smp.merge_pod(pod, {"spec": spec})


def reapply_overwritten(final: dict, original: dict, template: dict, proxy: dict,
                        annotations: dict[str, str], release: Release | None = None) -> dict:
    """Re-apply user-defined versions of injected containers (Istio's overrides)."""
    existing = _overrides(annotations)
    status = _status_of(annotations)
    already = status is not None
    applied: dict[str, list] = {"containers": [], "initContainers": []}
    ospec = original["spec"]
    for key, init in (("containers", False), ("initContainers", True)):
        for c in template["spec"].get(key) or []:
            name = c.get("name")
            match = _find(existing.get(key), name)
            if name in _names(status, key) and match is None:
                # Injected last time, and not a user override: the new template wins.
                continue
            # A user override recorded in proxy.istio.io/overrides is re-applied even on
            # re-injection. (Istio skips every container named in the status annotation,
            # which silently drops the user's override the second time a pod is injected;
            # re-applying it keeps rendering idempotent.)
            if match is None:
                if init:
                    match = _find(ospec.get("containers"), name) or _find(ospec.get("initContainers"), name)
                else:
                    match = _find(ospec.get("containers"), name)
            if match is None:
                continue
            overlay = plain.deepcopy(match)
            if overlay.get("image") == "auto":
                overlay.pop("image")
            if overlay.get("resources") == {}:
                overlay.pop("resources")  # Go's zero value in the recorded override
            applied[key].append(overlay)
            final = _overlay_container(final, overlay, init)
    if not already and (applied["containers"] or applied["initContainers"]):
        out: dict[str, list] = {}
        for key in ("containers", "initContainers"):
            if applied[key]:
                out[key] = [_go_container(c) for c in applied[key]]
        final["metadata"].setdefault("annotations", {})[OVERRIDES] = json.dumps(
            out, separators=(",", ":"), ensure_ascii=False)
    if release is None or release.has("custom-proxy-run-as-user"):
        _adjust_init_user(final, original, existing, proxy)
    return final


def _adjust_init_user(final: dict, original: dict, existing: dict[str, list], proxy: dict) -> None:
    """The user's own istio-proxy securityContext decides the iptables/validation user.

    On re-injection the user's container is the one recorded in proxy.istio.io/overrides,
    not the injected one in the pod (whose runAsUser the first injection may have changed).
    """
    spec = original["spec"]
    user = (_find(existing.get("containers"), PROXY) or _find(existing.get("initContainers"), PROXY)
            or _find(spec.get("containers"), PROXY) or _find(spec.get("initContainers"), PROXY))
    if user is None:
        return
    sc = user.get("securityContext") or {}
    run_as_user, run_as_group = sc.get("runAsUser"), sc.get("runAsGroup")
    if run_as_user is None and run_as_group is None:
        return
    inits = final["spec"].get("initContainers") or []
    init = _find(inits, INIT) or _find(inits, VALIDATION)
    if init is None:
        return
    anns = final["metadata"].get("annotations") or {}
    tproxy = proxyconfig.interception_mode(proxy) == "TPROXY" or anns.get(
        "sidecar.istio.io/interceptionMode") == "TPROXY"
    # The containers' fields may be shared with other pods (render/yamlio/frozen.py): each one
    # changed here is replaced by a changed copy.
    if tproxy and run_as_user is not None:
        sidecar = _find(final["spec"].get("containers"), PROXY) or _find(inits, PROXY)
        if sidecar is not None:
            sidecar["securityContext"] = sc = thaw(sidecar.setdefault("securityContext", {}))
            sc["runAsUser"] = 0
    if not tproxy and init.get("name") == VALIDATION:
        init["securityContext"] = isc = thaw(init.setdefault("securityContext", {}))
        if run_as_user is not None:
            isc["runAsUser"] = run_as_user
        if run_as_group is not None:
            isc["runAsGroup"] = run_as_group
    if not run_as_user:
        return
    args = init.get("args") or []
    for i, a in enumerate(args[:-1]):
        if a == "-u":
            init["args"] = args = thaw(args)
            args[i + 1] = str(run_as_user)
            return


def _move(spec: dict, src: str, dst: str, name: str) -> None:
    lst = spec.get(src) or []
    for i, c in enumerate(lst):
        if isinstance(c, dict) and c.get("name") == name:
            spec[src] = lst[:i] + lst[i + 1:]
            spec.setdefault(dst, []).append(c)
            return


def _modify(containers: list, name: str, where: str) -> list:
    rest = [c for c in containers if c.get("name") != name]
    match = [c for c in containers if c.get("name") == name]
    if not match:
        return rest
    m = match[-1]
    if where == "first":
        return [m, *rest]
    if where == "last":
        return [*rest, m]
    return rest


def reorder(pod: dict, hold: bool, before_proxy: list[str]) -> None:
    spec = pod["spec"]
    if spec.get("containers") is not None:
        spec["containers"] = _modify(spec["containers"], PROXY, "first" if hold else "last")
    inits = spec.get("initContainers")
    if inits is None:
        return
    if _find(inits, PROXY) is not None:
        inits = _modify(inits, CORE_DUMP, "first")
        inits = _modify(inits, PROXY, "first")
        for name in reversed(before_proxy):
            inits = _modify(inits, name, "first")
        inits = _modify(inits, VALIDATION, "first")
        inits = _modify(inits, INIT, "first")
    else:
        inits = _modify(inits, VALIDATION, "first")
        inits = _modify(inits, INIT, "last")
        inits = _modify(inits, CORE_DUMP, "last")
    spec["initContainers"] = inits


def _prometheus_merge(pod: dict, sidecar: dict | None, mesh: dict, status_port: int,
                      release: Release | None = None) -> None:
    """Istio's applyPrometheusMerge: point Prometheus at the agent, which merges the app's
    metrics (described in ISTIO_PROMETHEUS_ANNOTATIONS) with Envoy's."""
    targets_feature = release is None or release.has("prometheus-scrape-targets")
    anns = pod["metadata"].setdefault("annotations", {})
    # (anns does not change until _clear_prometheus)
    keys = _prometheus_keys(anns, _PROMETHEUS_TARGETS if targets_feature else _PROMETHEUS)
    scrape = True
    for k in keys.get("prometheus_io_scrape", ()):
        parsed = probes.parse_go_bool(anns[k])
        if parsed is not None:
            scrape = parsed
    if not scrape:
        return
    enabled = True
    merge_anno = anns.get("prometheus.istio.io/merge-metrics")
    if merge_anno is not None and probes.parse_go_bool(merge_anno) is not None:
        enabled = bool(probes.parse_go_bool(merge_anno))
    elif mesh.get("enablePrometheusMerge") is not None:
        enabled = bool(truthy(mesh.get("enablePrometheusMerge")))
    if not enabled:
        return
    target = str(status_port)
    if _prometheus_port(anns, keys) == target:
        return
    # Go's struct order: scrape, path, port, targets (omitted when empty).
    cfg: dict[str, Any] = {"scrape": "", "path": "", "port": ""}
    for wanted, field in (("prometheus_io_scrape", "scrape"), ("prometheus_io_port", "port"),
                          ("prometheus_io_path", "path")):
        for k in keys.get(wanted, ()):
            cfg[field] = anns[k]
    if targets_feature:
        targets = []
        for k in keys.get(_SCRAPE_TARGETS, ()):
            targets = _scrape_targets(anns[k])
        if targets:
            cfg["targets"] = targets
            cfg["port"], cfg["path"] = targets[0]["port"], targets[0]["path"]
            for t in targets:
                _check_scrape_port(t["port"], target, "targets", "target ")
        elif cfg["port"]:
            _check_scrape_port(cfg["port"], target, "configuration", "")
    if sidecar is not None and any(cfg.values()):
        entry = {"name": "ISTIO_PROMETHEUS_ANNOTATIONS",
                 "value": json.dumps(cfg, separators=(",", ":"), ensure_ascii=False)}
        env = sidecar.setdefault("env", [])
        # A proxy Istio keeps from a previous injection has it already: replaced, not repeated.
        at = next((i for i, e in enumerate(env) if e.get("name") == entry["name"]), None)
        if at is None:
            env.append(entry)
        else:
            env[at] = entry
    _clear_prometheus(anns, keys)
    anns["prometheus.io/port"] = target
    anns["prometheus.io/path"] = "/stats/prometheus"
    anns["prometheus.io/scrape"] = "true"


def _secure_prometheus_port(pod: dict, sidecar: dict | None) -> None:
    """Istio 1.31's applySecurePrometheusAnnotation: the proxy's
    ENVOY_SECURE_MERGED_METRICS_PORT becomes prometheus.istio.io/secure-port, unless the
    pod names one."""
    anns = pod["metadata"].setdefault("annotations", {})
    if sidecar is None or any(_sanitized(k) == _SECURE_PORT for k in anns):
        return
    for e in sidecar.get("env") or []:
        if e.get("name") == "ENVOY_SECURE_MERGED_METRICS_PORT" and e.get("value") not in (None, "", "0"):
            anns["prometheus.istio.io/secure-port"] = e["value"]
            return


def _status_annotation(template_spec: dict, revision: str) -> str:
    def names(key: str) -> list[str] | None:
        got = [c.get("name") for c in template_spec.get(key) or []]
        return got or None

    status = {
        "initContainers": names("initContainers"),
        "containers": names("containers"),
        "volumes": names("volumes"),
        "imagePullSecrets": names("imagePullSecrets"),
        "revision": revision or "default",
    }
    return json.dumps(status, separators=(",", ":"), ensure_ascii=False)


# Env vars that post-processing appends after the cluster envs.
_POST_ENVS = ("ISTIO_PROMETHEUS_ANNOTATIONS", "ISTIO_KUBE_APP_PROBERS")


def _update_cluster_envs(sidecar: dict, envs: dict[str, str]) -> None:
    """Istio's updateClusterEnvs: drop the cluster envs, append them sorted by name.

    On re-injection the proxy still carries the envs later steps appended last time; the
    cluster envs go before those, so that rendering an injected pod again gives the same
    order as the first injection (Istio appends them after, which reorders the env list).
    """
    kept = [e for e in sidecar.get("env") or [] if e.get("name") not in envs]
    at = len(kept)
    while at and kept[at - 1].get("name") in _POST_ENVS:
        at -= 1
    kept[at:at] = [{"name": k, "value": envs[k]} for k in sorted(envs)]
    sidecar["env"] = kept


def _canonical_quantities(spec: dict) -> None:
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict) and isinstance(c.get("resources"), dict):
                res = c["resources"]
                c["resources"] = _canonical_frozen(res) if type(res) is FrozenDict else canonical_resources(res)


_CANONICAL: dict[int, tuple[FrozenDict, FrozenDict]] = {}


def _canonical_frozen(resources: FrozenDict) -> FrozenDict:
    """canonical_resources of shared resources, once (and shared too, so the emitter
    writes them once)."""
    got = _CANONICAL.get(id(resources))
    if got is None or got[0] is not resources:
        if len(_CANONICAL) > 1024:
            _CANONICAL.clear()
        got = _CANONICAL[id(resources)] = (resources, freeze(canonical_resources(resources)))
    return got[1]


def deploy_meta_from_pod(metadata: dict) -> tuple[str, str, str]:
    """(name, kind, apiVersion) of the workload owning a bare Pod (Istio's heuristics)."""
    name = metadata.get("name") or ""
    kind, api = "Pod", "v1"
    labels = metadata.get("labels") or {}
    if metadata.get("generateName"):
        for ref in metadata.get("ownerReferences") or []:
            if isinstance(ref, dict) and ref.get("controller") is True:
                api, kind, name = ref.get("apiVersion", ""), ref.get("kind", ""), ref.get("name", "")
                h = labels.get("pod-template-hash", "")
                if kind == "ReplicaSet" and h and name.endswith(h):
                    name, kind = name.removesuffix("-" + h), "Deployment"
                elif kind == "ReplicationController" and labels.get("deploymentconfig"):
                    name, kind = labels["deploymentconfig"], "DeploymentConfig"
                elif kind == "Job" and re.fullmatch(r".+-\d{8,10}", labels.get("job-name", "")):
                    jn = labels["job-name"]
                    name, kind, api = jn[: jn.rfind("-")], "CronJob", "batch/v1"
                break
    return name or (metadata.get("name") or ""), kind, api


def proxy_image(values: dict, proxy: dict, annotations: dict[str, str], release: Release | None = None) -> str:
    """`hub/proxyv2:tag[-variant]` (Istio's ProxyImage): the image type of the ProxyConfig,
    else values.global.variant, and the sidecar.istio.io/proxyImageType annotation over
    both. (Before 1.31 a ProxyConfig `image` without a type meant no type, not the variant.)"""
    image = lookup(values, "global.proxy.image") or "proxyv2"
    configured = proxy.get("image") if isinstance(proxy.get("image"), dict) else None
    image_type = str((configured or {}).get("imageType") or "")
    if not image_type and (configured is None or release is None or release.has("proxy-init-image")):
        image_type = str(lookup(values, "global.variant") or "")
    return _image_url(values, str(image), image_type, annotations)


def proxy_init_image(values: dict, annotations: dict[str, str]) -> str:
    """istio-init's image (Istio's ProxyInitImage, 1.31+): values.global.proxy_init.image
    under the proxy's hub and tag, with the variant but not the ProxyConfig's image type."""
    image = lookup(values, "global.proxy_init.image") or "proxyv2"
    return _image_url(values, str(image), str(lookup(values, "global.variant") or ""), annotations)


def _image_url(values: dict, image: str, image_type: str, annotations: dict[str, str]) -> str:
    hub = lookup(values, "global.hub", "") or ""
    tag = lookup(values, "global.tag", "")
    tag = "" if tag is None else str(tag)
    image_type = annotations.get("sidecar.istio.io/proxyImageType", image_type)
    if image_type:
        for known in ("distroless", "debug"):
            if tag.endswith("-" + known):
                tag = tag[: -len(known) - 1]
                break
        if image_type != "default":
            tag = f"{tag}-{image_type}"
    return f"{hub}/{image}:{tag}"


def inject(pod: PodRef, cfg: InjectConfig, render_sidecar: SidecarRenderer | None = None) -> None:
    """Inject the proxy into `pod` in place. Raises InjectionError when Istio would refuse.

    `render_sidecar` renders the sidecar template in place of the template itself: the
    sidecar cache (render/inject/sidecar_cache.py) wraps the injector this way, from
    outside; the injector itself knows nothing of it.
    """
    # Not a copy: nothing below changes `original` (the merges build new maps, `merged` is
    # a copy), and the pod's own maps are replaced only at the end.
    original = {"metadata": pod.metadata, "spec": pod.spec}
    original_annotations = original["metadata"].get("annotations") or {}
    errors = check(original_annotations, cfg.release)
    if errors:
        first: AnnotationError = errors[0]
        raise InjectionError(str(first), first.name)
    proxy = pod_proxy_config(pod, cfg.proxy, cfg.extras.get(PINNED_PROXY))
    # The mesh's status port, not the pod's: Istio's strip, Prometheus merge and probe
    # rewriting read meshConfig.defaultConfig.statusPort (a proxy.istio.io/config
    # statusPort changes only what the proxy listens on).
    status_port = proxyconfig.status_port(cfg.proxy)
    values = cfg.values
    cluster = lookup(values, "global.multiCluster.clusterName", "") or ""
    network = lookup(values, "global.network", "") or ""
    labels = original["metadata"].get("labels") or {}
    if "topology.istio.io/network" in labels:
        network = labels["topology.istio.io/network"]
    proxy_envs: dict[str, str] = {}
    if cluster:
        proxy_envs["ISTIO_META_CLUSTER_ID"] = str(cluster)
    if network:
        proxy_envs["ISTIO_META_NETWORK"] = str(network)

    stripped = reinsert_overrides(strip(original, status_port))
    stripped_meta = stripped["metadata"]
    data = TemplateData(
        annotations=dict(stripped_meta.get("annotations") or {}),
        labels=dict(stripped_meta.get("labels") or {}),
        spec=stripped["spec"],
        proxy=proxy,
        values=values,
        mesh=cfg.mesh,
        native=cfg.native,
        api_version=pod.api_version,
        kind=pod.kind,
        deploy_name=pod.deploy_name,
        deploy_namespace=pod.deploy_namespace,
        proxy_image=proxy_image(values, proxy, original_annotations, cfg.release),
        revision=lookup(values, "revision", "") or "",
        compliance_policy=cfg.compliance_policy,
        release=cfg.release,
        proxy_init_image=proxy_init_image(values, original_annotations) if cfg.release.has("proxy-init-image") else "",
    )
    # The templates are laid over the pod as it was before any previous injection (Istio
    # lays them over the injected pod, which keeps what the new templates leave unset).
    merged = reinsert_overrides(strip(original, status_port, keep_patched=True), as_written=True)
    if merged is original:
        merged = plain.deepcopy(original)
    # What the user wrote (the pod before any injection, with their recorded overrides):
    # the containers of it that the templates also define are re-applied over them.
    # (A snapshot: the loop below moves and appends containers in `merged`'s lists.)
    user = {"metadata": merged["metadata"],
            "spec": {k: list(v) if k in ("containers", "initContainers") and isinstance(v, list) else v
                     for k, v in merged["spec"].items()}}
    old_proxy = _traditional_proxy_kept_by_istio(original, cfg.native)
    previous = _previous_proxy(original)
    kept = None
    template_pod: dict = {"metadata": {}, "spec": {}}
    for rendered in render_template(selected(original_annotations, cfg), data, cfg, render_sidecar):
        template_pod = smp.merge_pod(template_pod, rendered, share=True)  # read only
        tspec = template_pod["spec"]
        _lay_over_previous_proxy(merged["spec"], tspec, previous)
        new_proxy = _find(tspec.get("initContainers"), PROXY)
        if new_proxy and _find(merged["spec"].get("containers"), PROXY):
            _move(merged["spec"], "containers", "initContainers", PROXY)
        elif (new_proxy and old_proxy is not None and old_proxy.get("image") == new_proxy.get("image")
              and not _find(merged["spec"].get("initContainers"), PROXY)):
            kept = old_proxy
            merged["spec"].setdefault("initContainers", []).append(plain.deepcopy(kept))
        merged = smp.merge_pod(merged, rendered)

    if kept is not None:
        user["spec"]["containers"] = [kept, *user["spec"].get("containers", [])]
    merged = reapply_overwritten(merged, user, template_pod, proxy, original_annotations, cfg.release)
    _post_process(merged, template_pod, original, data, cfg, proxy, proxy_envs, status_port)
    _canonical_quantities(merged["spec"])
    pod.metadata.clear()
    pod.metadata.update(merged["metadata"])
    pod.spec.clear()
    pod.spec.update(merged["spec"])


def _previous_proxy(original: dict) -> tuple[str, int, dict] | None:
    """(list, index, container) of the proxy a previous injection put in the pod, where
    its status says it did."""
    status = _status_of(original["metadata"].get("annotations") or {})
    for key in ("containers", "initContainers"):
        if PROXY in _names(status, key):
            for i, c in enumerate(original["spec"].get(key) or []):
                if isinstance(c, dict) and c.get("name") == PROXY:
                    return key, i, c
    return None


def _lay_over_previous_proxy(spec: dict, template_spec: dict, previous: tuple[str, int, dict] | None) -> None:
    """Istio lays the templates over the injected pod, not over the stripped one: where the
    same injector (the proxy's image unchanged) injects the proxy into the list it was in,
    the environment of the previous proxy is what the template's merges into, so a
    variable an older template set and this one does not stays, in the previous order
    (Istio's corpus: merge-probers, in every release). Only the environment: the previous
    proxy's mounts, resources and probes would outlive the volumes and settings they came
    from (a mount of a volume the new render no longer has), so the rest of the proxy is
    the template's, as in a fresh render. Another image (another flavor or version) is a
    fresh render altogether (strip)."""
    if previous is None:
        return
    key, index, old = previous
    new = _find(template_spec.get(key), PROXY)
    if new is None or new.get("image") != old.get("image") or _find(spec.get(key), PROXY) is not None:
        return
    if not old.get("env"):
        return
    items = spec.setdefault(key, [])
    items.insert(min(index, len(items)), {"name": PROXY, "env": plain.deepcopy(old["env"])})


def _traditional_proxy_kept_by_istio(original: dict, native: bool) -> dict | None:
    """The old proxy of a traditionally injected pod that Istio keeps when it injects the
    pod again natively, or None.

    Istio lays the templates over the injected pod: it moves the old proxy from
    `containers` to `initContainers` and merges the native template into it, and then
    re-applies the old proxy as if the user had written it (reapplyOverwrittenContainers
    looks the proxy up in the status's `initContainers` only, where a traditional
    injection did not list it), so the old proxy's fields win over the new template's.
    Istio's corpus pins this (merge-probers, in every release with native sidecars), and
    meshrender follows it when the new proxy has the old one's image: the same injector
    injecting again. A proxy of another image (another flavor, another version) is
    replaced, so that rendering output again is a fresh render, not one that keeps the
    previous proxy's image and settings.
    """
    previous = _status_of(original["metadata"].get("annotations") or {})
    if not native or PROXY not in _names(previous, "containers") or PROXY in _names(previous, "initContainers"):
        return None
    return _find(original["spec"].get("containers"), PROXY)


def _post_process(pod: dict, template_pod: dict, original: dict, data: TemplateData,
                  cfg: InjectConfig, proxy: dict, proxy_envs: dict[str, str],
                  status_port: int) -> None:
    meta = pod["metadata"]
    anns = meta.setdefault("annotations", {})
    labels = meta.setdefault("labels", {})
    spec = pod["spec"]
    sidecar = _find(spec.get("containers"), PROXY) or _find(spec.get("initContainers"), PROXY)
    if sidecar is not None and proxy_envs:
        _update_cluster_envs(sidecar, proxy_envs)
    _prometheus_merge(pod, sidecar, cfg.mesh, status_port, cfg.release)
    if cfg.release.has("prometheus-secure-port"):
        _secure_prometheus_port(pod, sidecar)
    rewrite_default = truthy(lookup(cfg.values, "sidecarInjectorWebhook.rewriteAppHTTPProbe", True))
    if sidecar is not None and probes.should_rewrite(anns, bool(rewrite_default)):
        # A previous injection was stripped and its probes restored (strip): the env is made
        # anew, in every release (render/data/istio-releases.yaml, app-probers-env-on-reinjection).
        previously = STATUS in (original["metadata"].get("annotations") or {})
        probes.apply(pod, sidecar, status_port, previously, lifecycle=cfg.release.has("lifecycle-hook-rewrite"),
                     append_missing=True)
    if "ISTIO_META_NETWORK" in proxy_envs:
        labels["topology.istio.io/network"] = proxy_envs["ISTIO_META_NETWORK"]
    anns[STATUS] = _status_annotation(template_pod["spec"], data.revision)
    injected = lookup(cfg.values, "sidecarInjectorWebhook.injectedAnnotations") or {}
    if isinstance(injected, dict):
        for k, v in injected.items():
            anns[str(k)] = str(v)
    hold = proxyconfig.hold_application(proxy) or truthy(
        lookup(cfg.values, "global.proxy.holdApplicationUntilProxyStarts"))
    before = [n for n in (anns.get("sidecar.istio.io/init-containers-before-proxy") or "").split(",") if n]
    reorder(pod, bool(hold), list(dict.fromkeys(before)))
