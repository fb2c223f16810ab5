"""meshrender inside kustomize: a transformer of kind SidecarInjector.

kustomize hands a transformer the resources it has built and takes back what the
transformer prints. Two protocols, one command (`meshrender kustomize-plugin [CONFIG]`):

- a legacy exec plugin (`kubectl kustomize --enable-alpha-plugins`, kustomize): the
  executable `$KUSTOMIZE_PLUGIN_HOME/meshrender.dev/v1alpha1/sidecarinjector/SidecarInjector`
  runs with the SidecarInjector's file as its argument and the resources on stdin, and
  prints the resources; errors go to stderr with exit status 2;
- a KRM exec function (kustomize `--enable-alpha-plugins --enable-exec`, or any KRM
  function runner): stdin is a ResourceList (`items`, `functionConfig`), stdout the
  ResourceList with the rendered items and `results` (render warnings, and lint findings
  when the SidecarInjector asks for them); an error is a result of severity error and
  exit status 1.

Both run the ordinary driver over the settings the SidecarInjector names (paths relative
to the kustomization) or holds (`spec.inline`), and the resources, as one render.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError, Location, MeshrenderError
from meshrender.yamlio import Document

KIND = "SidecarInjector"
API_VERSION = "meshrender.dev/v1alpha1"
RESOURCE_LIST = "ResourceList"
KRM_API = "config.kubernetes.io/v1"
_LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<severity>warning|error): (?P<message>.*)$")


@dataclass
class Transform:
    """One call: the SidecarInjector, the resources, and where relative paths start."""

    config: Document
    resources: str  # a YAML stream
    root: Path
    krm: bool


def read_request(config_file: str | None, stdin: bytes) -> Transform:
    """The SidecarInjector and the resources of a legacy plugin call (`config_file` given)
    or of a KRM function call (a ResourceList on stdin)."""
    from meshrender.settings import schema

    text = yamlio.decode(stdin, "-")
    if config_file is not None:
        from meshrender.inputs.sources import read_text

        docs = yamlio.parse(read_text(config_file, Path(config_file)), config_file)
        if len(docs) != 1:
            raise InputError(f"the {KIND} configuration must hold one YAML document", Location(config_file))
        config = docs[0]
        root = Path(os.environ.get("KUSTOMIZE_PLUGIN_CONFIG_ROOT") or os.getcwd())
        krm = False
    else:
        docs = yamlio.parse(text, "-")
        if len(docs) != 1 or not isinstance(docs[0].data, dict) or docs[0].data.get("kind") != RESOURCE_LIST:
            raise InputError(f"expected a KRM {RESOURCE_LIST} on stdin (a KRM function call), or the {KIND} "
                             "configuration file as the argument (a legacy exec plugin)", Location("-"))
        request = docs[0]
        function = request.data.get("functionConfig")
        if not isinstance(function, dict):
            raise InputError(f"the {RESOURCE_LIST} has no functionConfig (the {KIND})", Location("-"),
                             field="functionConfig")
        config = Document("functionConfig", 0, 1, yamlio.dump(function), function)
        items = request.data.get("items") or []
        if not isinstance(items, list):
            raise InputError("items must be a list of resources", Location("-"), field="items")
        text = yamlio.dump_stream(yamlio.dump(item, sort_keys=False) for item in items)
        root = Path.cwd()
        krm = True
    data = config.data if isinstance(config.data, dict) else {}
    if data.get("kind") != KIND:
        raise InputError(f"the configuration is a {data.get('kind')!r}, not a {KIND}", config.location, field="kind")
    schema.validate(config, "sidecarinjector.json", f"{KIND} {(data.get('metadata') or {}).get('name') or ''}")
    return Transform(config, text, root, krm)


def _options(spec: dict[str, Any], root: Path) -> Any:
    from meshrender import config as config_mod
    from meshrender.settings.options import Options

    fields = {"flavor": spec.get("flavor"), "kube_version": spec.get("kubernetesVersion"),
              "provider": spec.get("provider"), "native_sidecars": spec.get("nativeSidecars"),
              "namespace": spec.get("namespace"),
              "values_files": tuple(str(root / p) for p in spec.get("values") or ()) or None,
              "mesh_config_files": tuple(str(root / p) for p in spec.get("meshConfig") or ()) or None}
    given = {k: v for k, v in fields.items() if v is not None}
    return Options(**given, given=frozenset(given)).with_config(config_mod.resolve([str(root)]))


def transform(t: Transform) -> tuple[list[str], list[dict[str, Any]]]:
    """The rendered resources (one text per document, in order) and the results to report."""
    from meshrender.run.render import Renderer, render

    spec = (t.config.data.get("spec") or {}) if isinstance(t.config.data, dict) else {}
    options = _options(spec, t.root)
    with tempfile.TemporaryDirectory(prefix="meshrender-kustomize-") as tmp:
        paths = [str(t.root / p) for p in spec.get("settings") or ()]
        if spec.get("inline"):
            inline = Path(tmp) / "inline-settings.yaml"
            inline.write_text(yamlio.dump_stream(yamlio.dump(d, sort_keys=False) for d in spec["inline"]),
                              encoding="utf-8")
            paths.append(str(inline))
        resources = Path(tmp) / "kustomize-resources.yaml"
        resources.write_text(t.resources, encoding="utf-8")
        paths.append(str(resources))
        renderer = Renderer(keep_texts=True)
        result = render(paths, options, renderer, warn=lambda _: None)
        texts = next((texts for f, texts in result.outputs if f.display == str(resources)), [])
        results = [_result_of(w) for w in result.warnings]
        if spec.get("lint"):
            from meshrender.lint.run import lint_paths

            report = lint_paths(paths, options, warn=lambda _: None)
            results += [_finding_result(f, str(resources)) for f in report.findings]
    return texts, results


def _result_of(warning: str) -> dict[str, Any]:
    m = _LOCATED.match(warning)
    if not m:
        return {"message": warning, "severity": "warning"}
    return {"message": m["message"], "severity": m["severity"]}


def _finding_result(f: Any, resources: str) -> dict[str, Any]:
    out: dict[str, Any] = {"message": f.message, "severity": f.severity.label}
    if f.workload:
        kind, _, ns_name = f.workload.partition(" ")
        namespace, _, name = ns_name.partition("/")
        out["resourceRef"] = {"kind": kind, "name": name, "namespace": namespace}
    if f.location.path != resources:
        out["file"] = {"path": f.location.path}
    out["tags"] = {"rule": f.rule, "line": str(f.location.line)}
    return out


def resource_list(texts: list[str], results: list[dict[str, Any]]) -> str:
    """The KRM ResourceList a function prints."""
    items = [doc.data for text in texts for doc in yamlio.parse(text, "output")]
    out: dict[str, Any] = {"apiVersion": KRM_API, "kind": RESOURCE_LIST, "items": items}
    if results:
        out["results"] = results
    return yamlio.dump(out, sort_keys=False)


def error_list(error: MeshrenderError) -> str:
    """A ResourceList that reports `error` (KRM: results of severity error, exit 1)."""
    result: dict[str, Any] = {"message": error.message if not error.field else f"{error.field}: {error.message}",
                              "severity": "error"}
    if error.location is not None:
        result["file"] = {"path": error.location.path}
        result["tags"] = {"line": str(error.location.line), "column": str(error.location.column)}
    return yamlio.dump({"apiVersion": KRM_API, "kind": RESOURCE_LIST, "items": [], "results": [result]},
                       sort_keys=False)
