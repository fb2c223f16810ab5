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
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from meshrender import bundled, yamlio
from meshrender.errors import InputError, Location
from meshrender.inject import proxyconfig
from meshrender.inject.context import PINNED_PROXY
from meshrender.inject.gotext import truthy
from meshrender.inject.injector import proxy_image
from meshrender.inject.template import RES_ANNOTATIONS
from meshrender.inputs.kinds import Workload
from meshrender.kube import fieldpath
from meshrender.kube.quantity import canonical as canonical_quantity
from meshrender.kube.quantity import is_quantity
from meshrender.settings.layers import Layer, Tree
from meshrender.settings.resolve import DNS_KEYS
from meshrender.settings.translate import lookup
from meshrender.yamlio import Document, locate

PROXY = "istio-proxy"
INIT_NAMES = ("istio-init", "istio-validation")
CONFIG_ANNOTATION = "proxy.istio.io/config"
STATUS = "sidecar.istio.io/status"
ANNOTATION_RANK = 1_000_000  # above every settings layer
CONTAINER_RANK = ANNOTATION_RANK + 1


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class Source:
    """A place a value came from: its kind, a name people recognise, file and line."""

    kind: str  # flavor-default | istio-default | values-file | mesh-config-file | IstioOperator |
    # ConfigMap | ProxyConfig | SidecarProxySettings | annotation | container | injector | ...
    name: str
    location: Location | None = None
    field: str | None = None
    scope: str | None = None  # global | namespace | workload, for scoped settings kinds


@dataclass
class Step:
    """One source that set a value (None: it removed the value)."""

    value: Any
    source: Source
    rank: int = -1  # precedence; higher wins


@dataclass
class Setting:
    """One effective setting: the value the pod gets and the source that decided it."""

    name: str
    value: Any
    source: Source
    configured: Any = MISSING  # the winning source's own value, where the pod shows another
    overridden: list[Step] = field(default_factory=list)  # strongest first
    parts: list[tuple[str, Step]] = field(default_factory=list)  # composed values (images)
    notes: list[str] = field(default_factory=list)


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
def _flavor_doc(flavor: str) -> Document:
    return bundled.document(f"{flavor}.yaml")


def _flavor_field(path: tuple) -> tuple:
    """Where tree path `path` lives in a flavor's data file."""
    root, rest = path[0], path[1:]
    if root == "values":
        return ("values", *rest)
    if root == "mesh":
        return ("meshConfig", *rest)
    if root == "proxy":
        return ("meshConfig", "defaultConfig", *rest)
    return path


def _get(tree: Any, path: tuple) -> Any:
    return lookup(tree, path, MISSING)


def _overlay_at(overlay: Any, path: tuple) -> Any:
    """What a layer's overlay says about `path`: a value, None (removed) or MISSING."""
    node = overlay
    for p in path:
        if node is None:
            return None
        if not isinstance(node, dict) or p not in node:
            return MISSING
        node = node[p]
    return node


_BLOCK_HEADER = re.compile(r":\s*\|[-+0-9]*\s*(#.*)?$")


def locate_embedded(doc: Document, key_path: tuple, inner: tuple) -> Location:
    """The line of field `inner` of YAML embedded as a `|` block in the string at `key_path`.

    ConfigMaps (`data.mesh`, `data.values`) and the `proxy.istio.io/config` annotation hold
    YAML inside a string; pointing at the key inside the block beats pointing at the block.
    """
    outer = locate(doc, key_path)
    value = _get(doc.data, key_path)
    if not inner or not isinstance(value, str):
        return outer
    lines = doc.text.split("\n")
    at = outer.line - doc.line
    if not 0 <= at < len(lines) or not _BLOCK_HEADER.search(lines[at]):
        return outer
    body = next((ln for ln in lines[at + 1:] if ln.strip()), None)
    if body is None:
        return outer
    indent = len(body) - len(body.lstrip(" "))
    try:
        docs = yamlio.parse(value, doc.source)
    except InputError:
        return outer
    if not docs:
        return outer
    loc = locate(docs[0], inner)
    return Location(doc.source, outer.line + loc.line, loc.column + indent)


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


def _scope(doc: Document) -> str | None:
    data = doc.data if isinstance(doc.data, dict) else {}
    spec = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    if spec.get("selector") is not None:
        return "workload"
    return "namespace" if (data.get("metadata") or {}).get("namespace") else "global"


class Attributor:
    """Explains the settings of one injected workload."""

    def __init__(self, w: Workload, tree: Tree, *, native: bool, flavor: str,
                 annotations: dict[str, str], original_spec: dict, rendered_spec: dict | None):
        self.w = w
        self.tree = tree
        self.native = native
        self.flavor = flavor
        self.annotations = annotations
        self.original_spec = original_spec
        self.rendered_spec = rendered_spec
        self.config_annotation = self._config_annotation()
        self.pc = self._rendered_proxy_config()
        self.done: dict[str, Setting] = {}
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

    def _config_annotation(self) -> dict:
        raw = self.annotations.get(CONFIG_ANNOTATION)
        if raw is None:
            return {}
        try:
            parsed = yamlio.load_plain(raw, CONFIG_ANNOTATION)
            return proxyconfig.normalize(parsed) if isinstance(parsed, dict) else {}
        except InputError:
            return {}  # the injector refuses it first, with a message of its own

    def annotation_step(self, name: str) -> Step | None:
        """The step of annotation `name`, or of `proxy.istio.io/config#field`, if the pod sets it."""
        doc = self.w.source_doc
        base, _, inner_text = name.partition("#")
        inner = tuple(inner_text.split(".")) if inner_text else ()
        if inner:
            value = _get(self.config_annotation, inner)
            if value is MISSING:
                return None
            if base == CONFIG_ANNOTATION and _get(self.tree.get("extras", PINNED_PROXY) or {}, inner) is not MISSING:
                return None  # a workload-selected ProxyConfig sets it: the annotation does not win
        elif base in self.annotations:
            value = self.annotations[base]
        else:
            return None
        key_path = (*self.w.meta_path, "annotations", base)
        loc = None
        if doc is not None:
            loc = locate_embedded(doc, key_path, inner) if inner else locate(doc, key_path)
        label = f"annotation {base}" + (f" ({fieldpath.format_path(inner)})" if inner else "")
        return Step(value, Source("annotation", label, loc, fieldpath.format_path((*key_path, *inner))),
                    ANNOTATION_RANK)

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
            loc = locate(self.w.source_doc, path) if self.w.source_doc is not None else None
            return Step(value, Source("container", f"{c['name']} container in the pod spec", loc,
                                      fieldpath.format_path(path)), CONTAINER_RANK)
        return None

    def layer_source(self, layer: Layer, path: tuple) -> Source:
        origin = layer.origin(path)
        doc, fld = origin.doc, tuple(origin.field)
        if origin.layer.endswith("flavor default"):
            at = _flavor_field(path)
            fdoc = _flavor_doc(origin.layer.split()[0])
            return Source("flavor-default", origin.layer, locate(fdoc, at), fieldpath.format_path(at))
        if origin.layer.endswith("release default"):  # the mesh release's image (render/inject/release.py)
            return Source("flavor-default", origin.layer, Location(origin.source) if origin.source else None,
                          fieldpath.format_path(path))
        if doc is None:
            return Source("config", origin.layer, Location(origin.source) if origin.source else None)
        kind = str(doc.data.get("kind") or "") if isinstance(doc.data, dict) else ""
        if origin.layer in ("--values", "--mesh-config"):
            if kind == "IstioOperator" and fld[:1] != ("spec",):
                fld = ("spec", "values" if origin.layer == "--values" else "meshConfig", *fld)
            src_kind = "values-file" if origin.layer == "--values" else "mesh-config-file"
            return Source(src_kind, f"{origin.layer} file", locate(doc, fld), fieldpath.format_path(fld))
        if kind == "ConfigMap" and len(fld) > 2:
            loc = locate_embedded(doc, fld[:2], fld[2:])
        else:
            loc = locate(doc, fld)
        scope = _scope(doc) if kind in ("SidecarProxySettings", "ProxyConfig") else None
        return Source(kind or "config", origin.layer, loc, fieldpath.format_path(fld), scope)

    def tree_steps(self, path: tuple) -> list[Step]:
        """Every layer that set `path`, strongest first (the first is the effective one)."""
        steps = []
        for rank, layer in enumerate(self.tree.applied):
            value = _overlay_at(layer.overlay, path)
            if value is not MISSING:
                steps.append(Step(value, self.layer_source(layer, path), rank))
        steps.reverse()
        return steps

    @staticmethod
    def default_step(spec: Spec) -> Step | None:
        if spec.default is None:
            return None
        if spec.default == "proxyconfig":
            key = spec.tree[0][-1]
            return Step(proxyconfig.DEFAULTS.get(key), Source("istio-default", "Istio default (ProxyConfig)"))
        return Step(spec.default, Source("istio-default", "Istio default"))

    # -- settings --------------------------------------------------------------------------

    def settings(self) -> list[Setting]:
        out = []
        for spec in catalog():
            if spec.rule == "each-metadata":
                out += self._metadata(spec)
            else:
                out.append(self.explain(spec))
        return out

    def explain(self, spec: Spec) -> Setting:
        if spec.name not in self.done:
            rule = getattr(self, "_rule_" + spec.rule.replace("-", "_"))
            self.done[spec.name] = rule(spec)
        return self.done[spec.name]

    def _finish(self, spec: Spec, steps: list[Step | None], notes: list[str] | None = None,
                value: Any = MISSING, parts: list[tuple[str, Step]] | None = None) -> Setting:
        """The setting from its candidate steps (strongest first) and the rendered pod."""
        chain = [s for s in steps if s is not None]
        if not chain:
            chain = [Step(None, Source("injector", "none"))]
        winner = chain[0]
        shown = self.rendered(spec.rendered) if value is MISSING else value
        notes = list(notes or [])
        if shown is MISSING:
            shown = winner.value
            no_init = self.rendered_spec is not None and self.container("init") is None
            if spec.rendered and spec.rendered.startswith("init.") and no_init:
                self.general_notes["the pod has no istio-init container (interception mode NONE?): "
                                   "init.* and traffic.* settings other than interceptionMode do not apply"] = None
        setting = Setting(spec.name, shown, winner.source, overridden=chain[1:], parts=parts or [], notes=notes)
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

    def _rule_plain(self, spec: Spec) -> Setting:
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
            steps.append(Step(None, block.source, ANNOTATION_RANK))
            notes.append(f"{' and '.join(present)} replace the whole resources block; "
                         f"add {own} to set this one")
        else:
            steps.append(self.annotation_step(own))
        return steps + self.tree_steps(spec.tree[0]), notes

    def _rule_resources(self, spec: Spec) -> Setting:
        steps, notes = self._resource_steps(spec)
        return self._finish(spec, [self.container_step(spec), *steps], notes)

    def _rule_init_resources(self, spec: Spec) -> Setting:
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
            steps.append(Step(None, holder[0].source, holder[0].rank) if holder else None)
        return self._finish(spec, [*steps, *own, *fallback])

    def _rule_image(self, spec: Spec) -> Setting:
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
        return [Step(value, strongest.source, strongest.rank)], parts

    def _rule_lifecycle(self, spec: Spec) -> Setting:
        hook = spec.tree[0][-1]
        steps: list[Step | None] = [self.container_step(spec)]
        configured = self.tree.get("values", "global", "proxy", "lifecycle")
        if truthy(configured):
            own = self.tree_steps(spec.tree[0])
            if not own or own[0].value is None:
                holder = self.tree_steps(spec.tree[0][:-1])
                if holder:
                    steps.append(Step(None, holder[0].source, holder[0].rank))
                return self._finish(spec, [*steps, *own], [
                    "not set: a configured proxy lifecycle replaces the injector's own hooks"])
            return self._finish(spec, [*steps, *own])
        hold = self.explain(next(s for s in catalog() if s.rule == "any-true"))
        if hook == "postStart" and hold.value is True and not self.native:
            steps.append(Step({"exec": {"command": ["pilot-agent", "wait"]}}, hold.source))
            return self._finish(spec, steps, ["added because holdApplicationUntilProxyStarts is true"])
        if hook == "preStop" and self.native:
            steps.append(Step(None, Source("injector", "native sidecar drain hook")))
            return self._finish(spec, steps, ["native sidecars drain through this hook when the pod stops"])
        return self._finish(spec, steps)

    def _rule_any_true(self, spec: Spec) -> Setting:
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
                chain = [Step(False, Source("istio-default", "Istio default"))]
        return self._finish(spec, list(chain), value=pc_on or values_on)

    def _rule_dns(self, spec: Spec) -> Setting:
        extras_path, meta_path = spec.tree
        chain: list[Step | None] = [self.annotation_step(spec.annotations[0])]
        chain += self.tree_steps(extras_path)
        chain += self.tree_steps(meta_path)
        chain.append(Step(False, Source("istio-default", "Istio default")))
        captured = self.rendered(spec.rendered)
        return self._finish(spec, chain, value=captured == "true" if self.pc is not None else MISSING)

    def _metadata(self, spec: Spec) -> list[Setting]:
        """One setting per proxyMetadata entry (env vars of the proxy)."""
        base = spec.tree[0]
        keys: dict[str, None] = {}
        for source in (_get(self.pc or {}, ("proxyMetadata",)), self.tree.get(*base),
                       self.config_annotation.get("proxyMetadata")):
            if isinstance(source, dict):
                keys.update(dict.fromkeys(map(str, source)))
        dns = self.tree_steps(("extras", "dnsProxy"))
        out = []
        for key in sorted(keys):
            sub = Spec(f"{spec.name}.{key}", tree=((*base, key),),
                       annotations=(f"{spec.annotations[0]}.{key}",), rendered=f"{spec.rendered}.{key}")
            chain: list[Step | None] = [self.annotation_step(sub.annotations[0])]
            if key in DNS_KEYS and dns and dns[0].value is not None:
                chain.append(Step("true" if dns[0].value else None, dns[0].source, dns[0].rank))
            chain += self.tree_steps(sub.tree[0])
            setting = self._finish(sub, chain)
            if setting.value is MISSING:
                setting.value = None
            out.append(setting)
        return out


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
