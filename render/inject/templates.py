"""Which injection templates run for a pod, and what each one produces.

Istio selects templates with the `inject.istio.io/templates` annotation (a comma-separated
list, applied in order; default `sidecar`, or the injector config's `defaultTemplates`);
users can add templates, or replace built-in ones, in the injector values
(`sidecarInjectorWebhook.templates`). Built-in templates are Python (this module's
registry); user templates that are plain YAML are laid over the pod like any other
template, and those that need Go-template logic are refused with a clear message rather
than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError
from meshrender.inject.context import InjectConfig
from meshrender.inject.gotext import lookup
from meshrender.inject.template import TemplateData, render_sidecar

TemplateFn = Callable[[TemplateData, InjectConfig], dict]
SidecarRenderer = Callable[[TemplateFn, TemplateData, InjectConfig], dict]
ANNOTATION = "inject.istio.io/templates"


def _sidecar(d: TemplateData, cfg: InjectConfig) -> dict:
    pod = render_sidecar(d)
    if cfg.flavor == "asm":
        from meshrender.inject.asm import adjust

        adjust(pod, d, cfg)
    elif cfg.extras.get("initResources") is not None:
        # Our settings can size istio-init on its own; upstream's template cannot.
        from meshrender.kube.quantity import canonical_resources

        for c in pod["spec"].get("initContainers") or []:
            if c.get("name") in ("istio-init", "istio-validation"):
                c["resources"] = canonical_resources(cfg.extras["initResources"])
    return pod


# Built-in templates by name: a function, or "module:function" imported on first use
# (so rendering plain sidecars never imports the gateway or gRPC templates).
BUILTIN: dict[str, TemplateFn | str] = {
    "sidecar": _sidecar,
    "gateway": "meshrender.inject.builtin.gateway:render",
    "grpc-simple": "meshrender.inject.builtin.grpc_simple:render",
    "grpc-agent": "meshrender.inject.builtin.grpc_agent:render",
}


class TemplateError(ValueError):
    """A template that cannot be rendered here; `template` names it."""

    def __init__(self, message: str, template: str):
        super().__init__(message)
        self.template = template


def register(name: str, fn: TemplateFn) -> None:
    """Add or replace a built-in template."""
    BUILTIN[name] = fn


def builtin(name: str) -> TemplateFn | None:
    """The built-in template `name`, imported if need be; None if there is none."""
    entry = BUILTIN.get(name)
    if entry is None or callable(entry):
        return entry
    module, _, attr = entry.partition(":")
    render = getattr(import_module(module), attr)

    def fn(d: TemplateData, cfg: InjectConfig) -> dict:
        return render(d)

    BUILTIN[name] = fn
    return fn


def custom_templates(cfg: InjectConfig) -> dict[str, Any]:
    """User templates from the injector values, by name."""
    templates = lookup(cfg.values, "sidecarInjectorWebhook.templates") or {}
    return templates if isinstance(templates, dict) else {}


def _custom(name: str, text: Any) -> dict:
    if not isinstance(text, str):
        raise TemplateError(f"injection template {name!r} in the injector values must be a string "
                            "(a YAML block holding a partial Pod)", name)
    if "{{" in text:
        raise TemplateError(
            f"unsupported injection template {name!r}: it uses Go template logic ({{{{ ... }}}}), "
            "which meshrender does not evaluate; write it as plain YAML (a partial Pod laid over "
            "the pod) or use a built-in template (sidecar, gateway, grpc-simple, grpc-agent)", name)
    try:
        data = yamlio.load_plain(text, f"template {name}")
    except InputError as e:
        raise TemplateError(f"injection template {name!r} is not valid YAML: {e.message}", name) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TemplateError(f"injection template {name!r} must be a partial Pod (a YAML map)", name)
    return data


def selected(annotations: dict[str, str], cfg: InjectConfig) -> list[str]:
    """The template names for a pod, in the order they apply (Istio's selectTemplates):
    the annotation's list, else the configured default; an alias from the injector config
    (`aliases`) stands for its list of templates."""
    chosen = annotations.get(ANNOTATION)
    if chosen is not None:
        names = [n.strip() for n in chosen.split(",")]
    else:
        configured = lookup(cfg.values, "sidecarInjectorWebhook.defaultTemplates") or []
        names = [str(n) for n in configured] if configured else ["sidecar"]
    aliases = cfg.extras.get("templateAliases") or {}
    out: list[str] = []
    for name in names:
        alias = aliases.get(name) if isinstance(aliases, dict) else None
        out += [str(a) for a in alias] if isinstance(alias, list) else [name]
    return out


def render_template(names: list[str], d: TemplateData, cfg: InjectConfig,
                    render_sidecar: SidecarRenderer | None = None) -> list[dict[str, Any]]:
    """The rendered overlays, in the order they apply.

    `render_sidecar(fn, d, cfg)`, when given, renders the built-in sidecar template (not a
    replacement registered under its name) in place of `fn(d, cfg)`: the sidecar cache
    (render/inject/sidecar_cache.py), whose result holds frozen subtrees shared with other
    pods.
    """
    custom = custom_templates(cfg)
    out = []
    for name in names:
        if name in custom:
            out.append(_custom(name, custom[name]))
            continue
        fn = builtin(name)
        if fn is None:
            known = sorted(set(BUILTIN) | set(custom))
            raise TemplateError(f"requested template {name!r} not found; have {', '.join(known)}", name)
        out.append(render_sidecar(fn, d, cfg) if render_sidecar is not None and fn is _sidecar else fn(d, cfg))
    return out
