"""Rendered workloads checked against the Kubernetes API schema of the target cluster.

A render can be correct for the mesh and still be refused by the API server: a native
sidecar (`restartPolicy: Always` on an init container) for a cluster older than 1.28, a
typo in a field the user wrote, a `batch/v1beta1` CronJob on a cluster that no longer
serves it. Argo CD then fails the sync half-way, or an older API server silently drops the
field and the pod never starts. This module validates each rendered workload with the
strict (no unknown fields) OpenAPI schemas that kubernetes-validate ships per Kubernetes
minor version, using jsonschema-rs, and names the file, workload and field of each error.

Both libraries are optional (`pip install 'meshrender[validate]'`, about 100 MB of
schemas) and imported only when validation runs. Everything is read from the installed
package: `$ref`s resolve through a registry, never over the network.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from meshrender import yamlio
from meshrender.errors import InputError, Location, UsageError

Version = tuple[int, int]

INSTALL_HINT = "pip install 'meshrender[validate]'"
_SCHEMA_DIR = re.compile(r"^v(\d+)\.(\d+)\.\d+-local-strict$")
# First Kubernetes version whose Container has `restartPolicy` (native sidecars, alpha in
# 1.28, on by default from 1.29): the hint for the commonest schema error meshrender causes.
_NATIVE_SINCE = (1, 28)


def show(v: Version) -> str:
    return f"{v[0]}.{v[1]}"


class SchemaUnavailable(UsageError):
    """Validation was asked for but the schema packages are not installed."""


def _validator_library() -> Any:
    try:
        import jsonschema_rs
    except ImportError:
        raise SchemaUnavailable(f"validating against the Kubernetes schema needs jsonschema-rs; run: {INSTALL_HINT}"
                                ) from None
    return jsonschema_rs


@cache
def _schema_root() -> Path:
    """kubernetes-validate's schema folder, found without importing the package (~150 ms)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise SchemaUnavailable("validating against the Kubernetes schema needs kubernetes-validate; "
                                f"run: {INSTALL_HINT}")
    return Path(locations[0]) / "kubernetes-json-schema"


@cache
def available_versions() -> tuple[Version, ...]:
    """The Kubernetes minor versions the installed kubernetes-validate has strict schemas for."""
    found = []
    root = _schema_root()
    for entry in root.iterdir() if root.is_dir() else []:
        m = _SCHEMA_DIR.match(entry.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2))))
    return tuple(sorted(found))


def _pick(requested: Version) -> tuple[Version, str | None]:
    """The schema version to use for `requested`, and a note when it is not that version.

    The nearest version is used rather than failing: fields are added far more often than
    removed, so the nearest schema catches the same mistakes, and a cluster upgraded past
    the installed package must not stop every render. The note says what was assumed.
    """
    versions = available_versions()
    if not versions:
        raise SchemaUnavailable(f"the installed kubernetes-validate has no strict schemas; run: {INSTALL_HINT}")
    if requested in versions:
        return requested, None
    if requested > versions[-1]:
        used = versions[-1]
        return used, (f"Kubernetes {show(requested)} is newer than the newest schema installed "
                      f"({show(used)}); validating against {show(used)} (upgrade kubernetes-validate "
                      "for newer fields)")
    older = [v for v in versions if v <= requested]
    used = older[-1] if older else versions[0]
    return used, f"no schema for Kubernetes {show(requested)}; validating against {show(used)}"


@dataclass(frozen=True)
class SchemaError:
    """One way an object breaks the schema: the path of the offending field and why."""

    path: tuple[str | int, ...]
    message: str
    hint: str = ""


_BUILTIN_GROUP = re.compile(r"^(?:[a-z0-9-]+|[a-z0-9.-]+\.k8s\.io)$")


class KubeSchema:
    """The strict API schemas of one Kubernetes minor version."""

    def __init__(self, requested: Version):
        self.requested = requested
        self.version, self.note = _pick(requested)
        self._dir = _schema_root() / f"v{self.version[0]}.{self.version[1]}.0-local-strict"

    @property
    def label(self) -> str:
        return f"Kubernetes {show(self.requested)}"

    @cache  # noqa: B019 - one instance per version, kept for the process (see schema_for)
    def _registry(self) -> Any:
        rs = _validator_library()
        defs = json.loads((self._dir / "_definitions.json").read_text(encoding="utf-8"))
        return rs.Registry([(defs["$id"], defs)])

    @cache  # noqa: B019
    def _validator(self, filename: str) -> Any:
        entry = self._dir / filename
        if not entry.is_file():
            return None
        rs = _validator_library()
        schema = json.loads(entry.read_text(encoding="utf-8"))
        return rs.validator_for(schema, registry=self._registry(), offline=True)

    def errors(self, obj: dict) -> list[SchemaError] | None:
        """Schema errors of `obj`; None when it is not a built-in kind (a CRD, OpenShift)."""
        api, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api, str) or not api:
            return [SchemaError(("apiVersion",), "apiVersion is missing")]
        group, _, version = api.rpartition("/")
        if group and not _BUILTIN_GROUP.match(group):
            return None
        short = group.split(".", 1)[0]
        filename = f"{str(kind).lower()}-{short + '-' if short else ''}{version}.json"
        validator = self._validator(filename)
        if validator is None:
            if self.version != self.requested:  # another version's schema cannot say what this one serves
                return None
            return [SchemaError(("apiVersion",), f"{self.label} does not serve {kind} in {api}")]
        try:
            raw = list(validator.iter_errors(obj))
        except (ValueError, TypeError):  # keys or values JSON has no type for
            raw = list(validator.iter_errors(_jsonable(obj)))
        out: list[SchemaError] = []
        for e in raw:
            out.extend(_explain(e, self))
        return sorted(set(out), key=lambda s: (tuple(map(str, s.path)), s.message))


@cache
def schema_for(version: Version) -> KubeSchema:
    return KubeSchema(version)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _explain(e: Any, schema: KubeSchema) -> list[SchemaError]:
    path = tuple(e.instance_path)
    kind = e.kind.name
    schema_path = "/".join(map(str, e.schema_path))
    if kind == "additionalProperties":
        out = []
        for name in e.kind.unexpected:
            message = f"unknown field {name!r}: the {schema.label} API has no such field here"
            hint = ""
            if name == "restartPolicy" and "initContainers" in path and schema.requested < _NATIVE_SINCE:
                hint = (f"native sidecars (restartPolicy: Always on an init container) need Kubernetes "
                        f"{show(_NATIVE_SINCE)}+; render traditional sidecars for {schema.label}: "
                        "--native-sidecars false, nativeSidecar: false in SidecarProxySettings, or the "
                        "pod annotation sidecar.istio.io/nativeSidecar: \"false\"")
            out.append(SchemaError((*path, name), message, hint))
        return out
    if kind == "required":
        return [SchemaError((*path, e.kind.property), f"required field {e.kind.property!r} is missing")]
    if kind in ("oneOf", "oneOfNotValid") and "IntOrString" in schema_path:
        return [SchemaError(path, f"must be an integer or a string, not {_short(json.dumps(e.instance))}")]
    if kind in ("oneOf", "oneOfNotValid") and "resource.Quantity" in schema_path:
        return [SchemaError(path, "must be a quantity: a string such as 500m or 1Gi, or a number")]
    return [SchemaError(path, _short(e.message))]


def dotted(path: tuple) -> str:
    """`spec.template.spec.initContainers[1].restartPolicy`, as kubectl prints fields."""
    out = ""
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", str(p)):
            out += f".{p}" if out else str(p)
        else:
            out += f'["{p}"]'
    return out or "(document)"


@dataclass(frozen=True)
class Problem:
    """A schema error in a rendered workload, pointing at the input that produced it."""

    workload: str
    location: Location
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        from meshrender.safetext import line_text

        return line_text(f"{self.location}: error: {self.field}: {self.workload}: {self.message}")


def _source_path(doc: yamlio.Document, base: tuple, rendered: Any, path: tuple) -> tuple:
    """The path in the input document of the rendered field at `path`.

    Injection inserts containers, volumes and env entries, so list positions in the output
    are not those of the input: named items are matched by name, others by position, and
    the walk stops at the deepest part that exists in the input (for a field injection
    added, that is the list or map it was added to).
    """
    try:
        original = yamlio.parse(doc.text, doc.source)[0].data
    except (InputError, IndexError):
        return base
    node_in: Any = original
    for step in base:
        try:
            node_in = node_in[step]
        except (KeyError, IndexError, TypeError):
            return base
    node_out = rendered
    mapped = list(base)
    for step in path:
        try:
            out_child = node_out[step]
        except (KeyError, IndexError, TypeError):
            out_child = None
        if isinstance(step, int):
            if not isinstance(node_in, list):
                break
            name = out_child.get("name") if isinstance(out_child, dict) else None
            if name is not None:
                idx = next((i for i, c in enumerate(node_in) if isinstance(c, dict) and c.get("name") == name), None)
            else:
                idx = step if step < len(node_in) else None
            if idx is None:
                break
            mapped.append(idx)
            node_in = node_in[idx]
        else:
            if not isinstance(node_in, dict) or step not in node_in:
                break
            mapped.append(step)
            node_in = node_in[step]
        node_out = out_child
    return tuple(mapped)


@dataclass
class Report:
    """The outcome of validating a render: problems, and notes about the schema used."""

    version: Version | None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    validated: int = 0


def workload_problems(w: Any, schema: KubeSchema) -> list[Problem]:
    """Schema problems of one rendered workload (an Evaluation whose workload document holds
    what render writes)."""
    return object_problems(w.workload.doc, w.doc, tuple(w.workload.path), w.workload.display, schema)


def object_problems(obj: dict, doc: yamlio.Document, base: tuple, display: str,
                    schema: KubeSchema) -> list[Problem]:
    """Schema problems of a rendered object that came from `doc` (at `base`, for List items).

    The lint rule `output-schema-invalid` calls this with the pods its model rendered.
    """
    errors = schema.errors(obj)
    if not errors:
        return []
    out = []
    for err in errors:
        src = _source_path(doc, base, obj, err.path)
        what = display
        container = _container_at(obj, err.path)
        if container:
            what += f", container {container}"
        shown = dotted((*base, *err.path))
        out.append(Problem(what, yamlio.locate(doc, src), shown, err.message, err.hint))
    return sorted(out, key=lambda p: (p.location.line, p.location.column, p.field))


def _container_at(obj: Any, path: tuple) -> str | None:
    """The name of the container `path` leads into, if any: messages name it."""
    node, parent_key = obj, None
    name = None
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(step, int) and parent_key in _CONTAINER_LISTS and isinstance(node, dict):
            name = node.get("name") if isinstance(node.get("name"), str) else name
        parent_key = step
    return name


_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")


def target_version(resolver: Any) -> Version:
    """The Kubernetes version a render is for (--kube-version, KUBE_VERSION, ClusterProfile)."""
    version = resolver.cluster.kube_version if resolver is not None else None
    if version is None:
        raise UsageError("validating needs the target Kubernetes version: pass --kube-version X.Y, set "
                         "KUBE_VERSION, or add a ClusterProfile with spec.kubernetesVersion")
    return version


class SchemaInvalid(InputError):
    """The render produced objects the target API server would refuse (exit 2)."""

    def __init__(self, problems: list[Problem], version: Version):
        first = problems[0]
        super().__init__(first.message, first.location, first.field)
        self.problems = problems
        self.version = version

    def __str__(self) -> str:
        # The CLI prefixes the first line with "meshrender: "; the others get it here.
        n = len(self.problems)
        lines = [str(p) for p in self.problems]
        lines += [f"hint: {h}" for h in dict.fromkeys(p.hint for p in self.problems if p.hint)]
        lines.append(f"{n} schema error{'s' if n != 1 else ''} for Kubernetes {show(self.version)}; "
                     "nothing written")
        return "\nmeshrender: ".join(lines)
