"""Where each effective proxy setting of one workload comes from, and what it overrode.

The resolver merges the settings layers into one tree and remembers which layer set
each leaf (and, with `Tree.applied`, every layer in order). The injector then lets pod
annotations and user-written istio-proxy / istio-init containers override parts of it,
with rules of its own (one resource annotation replaces the whole resources block, hold
is an OR of two switches, ...). This module replays both for the settings listed in
render/data/explain.yaml: the winning source with file and line, the value the
injected pod carries (read back from the rendered pod, so explain cannot disagree with
render), and each lower source that was overridden.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from meshrender import bundled
from meshrender.inject import proxyconfig
from meshrender.inject.gotext import truthy
from meshrender.inject.injector import proxy_image
from meshrender.inject.template import RES_ANNOTATIONS
from meshrender.istio import INIT_NAMES, PROXY, PROXY_CONFIG, STATUS
from meshrender.kube.quantity import canonical as canonical_quantity
from meshrender.kube.quantity import is_quantity
from meshrender.settings.provenance import MISSING, Effective, Origin, Place, Step
from meshrender.settings.resolve import DNS_KEYS
from meshrender.settings.translate import lookup

ANNOTATION_RANK = 1_000_000  # above every settings layer
CONTAINER_RANK = ANNOTATION_RANK + 1


@dataclass(frozen=True)
class Spec:
    """One entry of render/data/explain.yaml."""

    name: str
    tree: tuple[tuple[str, ...], ...] = ()
    annotations: tuple[str, ...] = ()
    container: str | None = None
    rendered: str | None = None
    default: Any = None
    rule: str = "plain"
    note: tuple[tuple[str, str], ...] = ()


@cache
def catalog() -> tuple[Spec, ...]:
    data = bundled.load("explain.yaml")
    return tuple(
        Spec(
            name=e["name"],
            tree=tuple(tuple(p.split(".")) for p in e.get("tree") or ()),
            annotations=tuple(e.get("annotations") or ()),
            container=e.get("container"),
            rendered=e.get("rendered"),
            default=e.get("default"),
            rule=e.get("rule") or "plain",
            note=tuple((e.get("note") or {}).items()),
        )
        for e in data["settings"]
    )


@cache
def _by_name() -> dict[str, Spec]:
    return {s.name: s for s in catalog()}


def _get(tree: Any, path: tuple) -> Any:
    return lookup(tree, path, MISSING)


def _find(containers: list | None, names: tuple[str, ...]) -> tuple[int, dict] | None:
    for i, c in enumerate(containers or []):
        if isinstance(c, dict) and c.get("name") in names:
            return i, c
    return None


def _json_map(raw: str | None) -> dict:
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class Attributor:
    """The settings of one evaluated workload, each computed on first use."""

    def __init__(self, evaluation: Any):
        resolved = evaluation.resolved
        if resolved is None:
            raise ValueError(f"{evaluation.display}: its settings do not resolve")
        self.e = evaluation
        self.w = evaluation.workload
        self.tree = resolved.tree
        self.native = evaluation.native
        self.flavor = resolved.config.flavor
        self.annotations = evaluation.annotations
        self.original_spec = evaluation.original_spec
        pod = evaluation.pod
        self.rendered_spec = pod["spec"] if pod is not None else None
        self.config_annotation = evaluation.proxy_config
        self.pc = self._rendered_proxy_config()
        self.done: dict[str, Effective] = {}
        self.general_notes: dict[str, None] = {}  # notes about the whole workload, once each

    # -- the rendered pod ------------------------------------------------------------------

    def container(self, which: str) -> dict | None:
        spec = self.rendered_spec
        if spec is None:
            return None
        names = (PROXY,) if which == "proxy" else INIT_NAMES
        for key in ("initContainers", "containers"):
            found = _find(spec.get(key), names)
            if found:
                return found[1]
        return None

    def _rendered_proxy_config(self) -> dict | None:
        c = self.container("proxy")
        if c is None:
            return None
        for e in c.get("env") or []:
            if e.get("name") == "PROXY_CONFIG":
                try:
                    return proxyconfig.effective(json.loads(e.get("value") or "{}"))
                except ValueError:
                    return None
        return proxyconfig.effective({})

    def rendered(self, expr: str | None) -> Any:
        """The value at `expr` (see render/data/explain.yaml) in the injected pod, or MISSING."""
        if expr is None or self.rendered_spec is None:
            return MISSING
        if expr.startswith("proxyconfig:"):
            return MISSING if self.pc is None else _get(self.pc, tuple(expr.split(":", 1)[1].split(".")))
        which, _, rest = expr.partition(".")
        c = self.container(which)
        if c is None:
            return MISSING
        if rest.startswith("arg:"):
            prefix = rest[4:]
            return next((a[len(prefix):] for a in c.get("args") or [] if str(a).startswith(prefix)), MISSING)
        if rest.startswith("flag:"):
            args = c.get("args") or []
            flag = rest[5:]
            return args[args.index(flag) + 1] if flag in args[:-1] else MISSING
        if rest.startswith("env:"):
            name = rest[4:]
            return next((e.get("value", "") for e in c.get("env") or [] if e.get("name") == name), MISSING)
        value = _get(c, tuple(rest.split(".")))
        if value is MISSING and rest.startswith("readinessProbe.") and "readinessProbe" in c:
            return 0  # the template leaves zero values out of the probe
        return value

    # -- sources ---------------------------------------------------------------------------

    def annotation_step(self, name: str) -> Step | None:
        """The step of annotation `name`, or of `proxy.istio.io/config#field`, if the pod sets
        it (a field a workload-selected ProxyConfig pins is not the annotation's to set)."""
        base, _, inner_text = name.partition("#")
        inner = tuple(inner_text.split(".")) if inner_text else ()
        if inner:
            if base != PROXY_CONFIG:
                return None
            value = _get(self.config_annotation, inner)
            if value is MISSING:
                return None
        elif base in self.annotations:
            value = self.annotations[base]
        else:
            return None
        key_path = (*self.w.meta_path, "annotations", base)
        label = f"annotation {base}" + (f" ({'.'.join(inner)})" if inner else "")
        return Step(value, Origin("annotation", label, Place(self.e.doc, key_path, inner=inner)), ANNOTATION_RANK)

    def container_step(self, spec: Spec) -> Step | None:
        """A user-written istio-proxy / istio-init container that sets this field.

        As Istio does: a container of that name in the pod spec, unless a previous injection
        put it there (`sidecar.istio.io/status` lists it); Istio then injects afresh.
        """
        if not spec.container or not spec.rendered or ":" in spec.rendered:
            return None
        names = (PROXY,) if spec.container == "proxy" else INIT_NAMES
        sub = tuple(spec.rendered.split(".")[1:])
        status = _json_map(self.annotations.get(STATUS))
        keys = ("containers", "initContainers") if self.native or spec.container == "init" else ("containers",)
        for key in keys:
            found = _find(self.original_spec.get(key), names)
            if not found:
                continue
            idx, c = found
            if c.get("name") in (status.get(key) or ()):
                return None
            value = _get(c, sub)
            if value is MISSING or (sub == ("image",) and value == "auto"):
                return None
            path = (*self.w.spec_path, key, idx, *sub)
            return Step(value, Origin("container", f"{c['name']} container in the pod spec", Place(self.e.doc, path)),
                        CONTAINER_RANK)
        return None

    def tree_steps(self, path: tuple) -> list[Step]:
        """Every layer that set `path`, strongest first (the first is the effective one)."""
        return self.tree.steps(path)

    @staticmethod
    def default_step(spec: Spec) -> Step | None:
        if spec.default is None:
            return None
        if spec.default == "proxyconfig":
            key = spec.tree[0][-1]
            return Step(proxyconfig.DEFAULTS.get(key), Origin("istio-default", "Istio default (ProxyConfig)"))
        return Step(spec.default, Origin("istio-default", "Istio default"))

    # -- settings --------------------------------------------------------------------------

    def settings(self) -> list[Effective]:
        out = []
        for spec in catalog():
            if spec.rule == "each-metadata":
                out += self._metadata(spec)
            else:
                out.append(self.explain(spec))
        return out

    def setting(self, name: str) -> Effective:
        """The setting `name` of the catalog; `proxy.proxyMetadata.KEY` for one entry."""
        spec = _by_name().get(name)
        if spec is not None:
            return self.explain(spec)
        base, _, key = name.rpartition(".")
        meta = _by_name().get(base)
        if meta is not None and meta.rule == "each-metadata":
            return self._metadata_entry(meta, key)
        raise KeyError(f"no setting {name!r} in render/data/explain.yaml")

    def explain(self, spec: Spec) -> Effective:
        if spec.name not in self.done:
            rule = getattr(self, "_rule_" + spec.rule.replace("-", "_"))
            self.done[spec.name] = rule(spec)
        return self.done[spec.name]

    def _finish(self, spec: Spec, steps: list[Step | None], notes: list[str] | None = None,
                value: Any = MISSING, parts: list[tuple[str, Step]] | None = None) -> Effective:
        """The setting from its candidate steps (strongest first) and the rendered pod."""
        chain = [s for s in steps if s is not None]
        if not chain:
            chain = [Step(None, Origin("injector", "none"))]
        winner = chain[0]
        shown = self.rendered(spec.rendered) if value is MISSING else value
        notes = list(notes or [])
        if shown is MISSING:
            shown = winner.value
            no_init = self.rendered_spec is not None and self.container("init") is None
            if spec.rendered and spec.rendered.startswith("init.") and no_init:
                self.general_notes["the pod has no istio-init container (interception mode NONE?): "
                                   "init.* and traffic.* settings other than interceptionMode do not apply"] = None
        setting = Effective(spec.name, shown, winner, overridden=chain[1:], parts=parts or [], notes=notes)
        if winner.value is not None and not _same(winner.value, shown):
            setting.configured = winner.value
            added = _added_items(winner.value, shown)
            if added:
                setting.configured = MISSING
                set_as = f"set as {_text(winner.value)}; " if _text(winner.value) else ""
                setting.notes.insert(0, f"{set_as}the injector adds {added}")
        for when, text in spec.note:
            if when == "native" and self.native and truthy(shown):
                setting.notes.append(text)
        return setting

    def _rule_plain(self, spec: Spec) -> Effective:
        steps: list[Step | None] = [self.container_step(spec)]
        steps += [self.annotation_step(a) for a in spec.annotations]
        steps += self.tree_steps(spec.tree[0])
        steps.append(self.default_step(spec))
        return self._finish(spec, steps)

    def _resource_steps(self, spec: Spec) -> tuple[list[Step | None], list[str]]:
        """Annotations, then settings: one resource annotation replaces the whole block."""
        own = spec.annotations[0]
        present = [a for a in RES_ANNOTATIONS if a in self.annotations]
        steps: list[Step | None] = []
        notes = []
        if present and own not in self.annotations:
            block = self.annotation_step(present[0])
            assert block is not None
            steps.append(Step(None, block.origin, ANNOTATION_RANK))
            notes.append(f"{' and '.join(present)} replace the whole resources block; "
                         f"add {own} to set this one")
        else:
            steps.append(self.annotation_step(own))
        return steps + self.tree_steps(spec.tree[0]), notes

    def _rule_resources(self, spec: Spec) -> Effective:
        steps, notes = self._resource_steps(spec)
        return self._finish(spec, [self.container_step(spec), *steps], notes)

    def _rule_init_resources(self, spec: Spec) -> Effective:
        """istio-init sizing: our `init.resources`, else ASM's proxy_init values, else (istio) the proxy's."""
        extras_path, values_path = spec.tree
        steps: list[Step | None] = [self.container_step(spec)]
        proxy_spec = next(s for s in catalog() if s.name == "proxy." + spec.name.split(".", 1)[1])
        if self.flavor == "asm":
            fallback, notes = self.tree_steps(values_path), []
        else:
            fallback, notes = self._resource_steps(proxy_spec)
            self.general_notes["istio-init is sized like the proxy (istio flavor) unless a "
                               "SidecarProxySettings sets init.resources"] = None
        if self.tree.get("extras", "initResources") is None:
            return self._finish(spec, [*steps, *fallback], notes)
        own = self.tree_steps(extras_path)
        if not own or own[0].value is None:
            holder = self.tree_steps(extras_path[:2])
            steps.append(Step(None, holder[0].origin, holder[0].rank) if holder else None)
        return self._finish(spec, [*steps, *own, *fallback])

    def _rule_image(self, spec: Spec) -> Effective:
        """A full image from an annotation or a container, else hub/image:tag[-variant]."""
        notes: list[str] = []
        full = self.annotation_step(spec.annotations[0])
        if full is not None and "/" not in str(full.value):
            notes.append(f"{spec.annotations[0]} {full.value!r} names no registry, so the injector ignores it")
            full = None
        base, parts = self._configured_image(spec)
        if full is not None or self.container_step(spec) is not None:
            parts = []
        return self._finish(spec, [self.container_step(spec), full, *base], notes, parts=parts)

    def _configured_image(self, spec: Spec) -> tuple[list[Step], list[tuple[str, Step]]]:
        """The image the settings layers give (before pod overrides), and its parts."""
        image_path, hub_path, tag_path, type_path = spec.tree
        image = self.tree_steps(image_path)
        if image and "/" in str(image[0].value):
            return image, []
        parts: list[tuple[str, Step]] = []
        for part, path in (("hub", hub_path), ("image", image_path), ("tag", tag_path)):
            got = self.tree_steps(path)
            if got:
                parts.append((part, got[0]))
        variant = self.annotation_step(spec.annotations[1])
        variant_steps = [variant] if variant else self.tree_steps(type_path)
        if variant_steps:
            parts.append(("variant", variant_steps[0]))
        strongest = max((s for _, s in parts), key=lambda s: s.rank, default=None)
        if strongest is None:
            return [], []
        values = self.tree.data["values"]
        anns = {spec.annotations[1]: str(variant.value)} if variant else {}
        value = proxy_image(values, self.tree.data["proxy"], anns)
        if spec.container == "init":  # istio-init: the proxy_init image under the same hub and tag
            proxy_name = _get(values, ("global", "proxy", "image"))
            value = value.replace(f"/{proxy_name if proxy_name is not MISSING else 'proxyv2'}:",
                                  f"/{image[0].value if image else 'proxyv2'}:", 1)
        return [Step(value, strongest.origin, strongest.rank)], parts

    def _rule_lifecycle(self, spec: Spec) -> Effective:
        hook = spec.tree[0][-1]
        steps: list[Step | None] = [self.container_step(spec)]
        configured = self.tree.get("values", "global", "proxy", "lifecycle")
        if truthy(configured):
            own = self.tree_steps(spec.tree[0])
            if not own or own[0].value is None:
                holder = self.tree_steps(spec.tree[0][:-1])
                if holder:
                    steps.append(Step(None, holder[0].origin, holder[0].rank))
                return self._finish(spec, [*steps, *own], [
                    "not set: a configured proxy lifecycle replaces the injector's own hooks"])
            return self._finish(spec, [*steps, *own])
        hold = self.explain(next(s for s in catalog() if s.rule == "any-true"))
        if hook == "postStart" and hold.value is True and not self.native:
            steps.append(Step({"exec": {"command": ["pilot-agent", "wait"]}}, hold.origin))
            return self._finish(spec, steps, ["added because holdApplicationUntilProxyStarts is true"])
        if hook == "preStop" and self.native:
            steps.append(Step(None, Origin("injector", "native sidecar drain hook")))
            return self._finish(spec, steps, ["native sidecars drain through this hook when the pod stops"])
        return self._finish(spec, steps)

    def _rule_any_true(self, spec: Spec) -> Effective:
        """holdApplicationUntilProxyStarts: the ProxyConfig field OR the values switch."""
        pc_path, values_path = spec.tree
        pc_steps = [s for s in [self.annotation_step(spec.annotations[0])] if s] + self.tree_steps(pc_path)
        values_steps = self.tree_steps(values_path)
        pc_on = bool(pc_steps) and truthy(pc_steps[0].value)
        values_on = bool(values_steps) and truthy(values_steps[0].value)
        if pc_on:
            chain = pc_steps + values_steps
        elif values_on:
            chain = values_steps + pc_steps
        else:
            chain = sorted(pc_steps[:1] + values_steps[:1], key=lambda s: -s.rank)
            chain += [s for s in pc_steps[1:] + values_steps[1:]]
            if not chain:
                chain = [Step(False, Origin("istio-default", "Istio default"))]
        return self._finish(spec, list(chain), value=pc_on or values_on)

    def _rule_dns(self, spec: Spec) -> Effective:
        extras_path, meta_path = spec.tree
        chain: list[Step | None] = [self.annotation_step(spec.annotations[0])]
        chain += self.tree_steps(extras_path)
        chain += self.tree_steps(meta_path)
        chain.append(Step(False, Origin("istio-default", "Istio default")))
        captured = self.rendered(spec.rendered)
        return self._finish(spec, chain, value=captured == "true" if self.pc is not None else MISSING)

    def _metadata(self, spec: Spec) -> list[Effective]:
        """One setting per proxyMetadata entry (env vars of the proxy)."""
        base = spec.tree[0]
        keys: dict[str, None] = {}
        for source in (_get(self.pc or {}, ("proxyMetadata",)), self.tree.get(*base),
                       self.config_annotation.get("proxyMetadata")):
            if isinstance(source, dict):
                keys.update(dict.fromkeys(map(str, source)))
        return [self._metadata_entry(spec, key) for key in sorted(keys)]

    def _metadata_entry(self, spec: Spec, key: str) -> Effective:
        """The proxyMetadata entry `key` (None when nothing sets it)."""
        name = f"{spec.name}.{key}"
        if name in self.done:
            return self.done[name]
        base = spec.tree[0]
        sub = Spec(name, tree=((*base, key),), annotations=(f"{spec.annotations[0]}.{key}",),
                   rendered=f"{spec.rendered}.{key}")
        chain: list[Step | None] = [self.annotation_step(sub.annotations[0])]
        dns = self.tree_steps(("extras", "dnsProxy"))
        if key in DNS_KEYS and dns and dns[0].value is not None:
            chain.append(Step("true" if dns[0].value else None, dns[0].origin, dns[0].rank))
        chain += self.tree_steps(sub.tree[0])
        setting = self._finish(sub, chain)
        if setting.value is MISSING:
            setting.value = None
        self.done[name] = setting
        return setting


def _text(value: Any) -> str:
    """A value's spelling for comparing configuration with the rendered pod."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _same(configured: Any, rendered: Any) -> bool:
    """Equal, or the same Kubernetes quantity spelled differently (2000m and 2)."""
    a, b = _text(configured), _text(rendered)
    if a == b:
        return True
    if is_quantity(a) and is_quantity(b) and not a.isdigit():
        return canonical_quantity(a) == canonical_quantity(b)
    return False


def _added_items(configured: Any, rendered: Any) -> str:
    """Items the injector adds to a configured comma-separated list (ports it always excludes)."""
    if not isinstance(rendered, str) or not isinstance(configured, (str, int)):
        return ""
    have = [p.strip() for p in str(configured).split(",") if p.strip()]
    got = [p.strip() for p in rendered.split(",") if p.strip()]
    if not got or not set(have) <= set(got) or set(have) == set(got):
        return ""
    return ",".join(p for p in got if p not in have)
