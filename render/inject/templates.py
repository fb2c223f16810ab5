"""Which injection templates run for a pod, and what each one produces.

Istio selects templates with the `inject.istio.io/templates` annotation (default
`sidecar`); users can add templates in the injector values. Built-in templates are
Python functions; user templates that are plain YAML are used as overlays, and those
that need Go-template logic are refused with a clear message rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from render import yamlio
from render.errors import InputError
from render.inject.context import InjectConfig
from render.inject.gotext import lookup
from render.inject.template import TemplateData, render_sidecar

TemplateFn = Callable[[TemplateData, InjectConfig], dict]


def _sidecar(d: TemplateData, cfg: InjectConfig) -> dict:
    pod = render_sidecar(d)
    if cfg.flavor == "asm":
        from render.inject.asm import adjust

        adjust(pod, d, cfg)
    elif cfg.extras.get("initResources") is not None:
        # Our settings can size istio-init on its own; upstream's template cannot.
        from render.quantity import canonical_resources

        for c in pod["spec"].get("initContainers") or []:
            if c.get("name") in ("istio-init", "istio-validation"):
                c["resources"] = canonical_resources(cfg.extras["initResources"])
    return pod


BUILTIN: dict[str, TemplateFn] = {"sidecar": _sidecar}


class TemplateError(ValueError):
    """A template that cannot be rendered here."""


def register(name: str, fn: TemplateFn) -> None:
    """Add a built-in template (gateway, grpc-agent, ... live in their own modules)."""
    BUILTIN[name] = fn


def _custom(name: str, cfg: InjectConfig) -> dict | None:
    templates = lookup(cfg.values, "sidecarInjectorWebhook.templates") or {}
    if not isinstance(templates, dict) or name not in templates:
        return None
    text = templates[name]
    if not isinstance(text, str):
        raise TemplateError(f"injection template {name!r} in values must be a string")
    if "{{" in text:
        raise TemplateError(
            f"injection template {name!r} uses Go template logic ({{{{ ... }}}}), which "
            "meshrender does not evaluate; write it as plain YAML or use a built-in template"
        )
    try:
        data = yamlio.load_plain(text, f"template {name}")
    except InputError as e:
        raise TemplateError(f"injection template {name!r} is not valid YAML: {e.message}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise TemplateError(f"injection template {name!r} must be a partial Pod (a YAML map)")
    return data


def render_template(names: list[str] | None, d: TemplateData, cfg: InjectConfig) -> list[dict[str, Any]]:
    """The rendered overlays, in the order they apply."""
    if names is None:
        configured = lookup(cfg.values, "sidecarInjectorWebhook.defaultTemplates") or []
        names = list(configured) if configured else ["sidecar"]
    out = []
    for name in names:
        custom = _custom(name, cfg)
        if custom is not None:
            out.append(custom)
            continue
        fn = BUILTIN.get(name)
        if fn is None:
            known = sorted(set(BUILTIN) | set(lookup(cfg.values, "sidecarInjectorWebhook.templates") or {}))
            raise TemplateError(f"requested template {name!r} not found; have {', '.join(known)}")
        out.append(fn(d, cfg))
    return out
