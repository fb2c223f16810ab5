"""Which documents are workloads, and where their pod template lives.

The table of kinds is data (render/data/workload-kinds.yaml): Istio's kube-inject kinds,
Argo Rollouts and OpenKruise's workloads, matched by API group and kind (an
apps.kruise.io StatefulSet is not an apps/v1 one); users add their own kinds with
`ClusterProfile.spec.workloadKinds`. A `List` and every typed `*List` (PodList,
DeploymentList, ...) are read as kubectl reads them: item by item, an item without
apiVersion and kind taking the list's (apimachinery's unstructured list decoding).

Injection works on the pod template as the cluster's webhook sees the pod: its
annotations and labels are the pod's, and the injected metadata goes there, CronJobs
included. A document of a kind meshrender does not know that carries a pod template is
reported (a `Note`), as is a Rollout that takes its template from another object.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from meshrender.errors import field_path, show_value, type_name
from meshrender.inject.context import PodRef
from meshrender.inject.injector import deploy_meta_from_pod
from meshrender.inputs import podshape
from meshrender.yamlio import Document

DATA_FILE = "workload-kinds.yaml"
ANY_VERSION = "*"
# How deep a document is searched for a pod template of an unknown kind: deeper than any
# operator's (Kubeflow's spec.pytorchReplicaSpecs.Worker.template.spec.containers is 6).
SEARCH_DEPTH = 10


class ShapeError(ValueError):
    """A workload whose structure cannot hold a pod (`path` says where it breaks).

    `quote` is "value" or "key" when the fix is to quote the scalar at `path` (a number or
    boolean where Kubernetes wants a string); the message then shows the text as written.
    `obj_path` is where the workload object is in its document (a List item's path).
    """

    def __init__(self, message: str, path: tuple, quote: str | None = None):
        super().__init__(message)
        self.path = path
        self.quote = quote
        self.obj_path: tuple = ()


class KindError(ValueError):
    """A workload kind declaration that cannot be used (`index` is its place in the list)."""

    def __init__(self, message: str, index: int, key: str | None = None):
        super().__init__(message)
        self.index = index
        self.key = key


# -- the table of kinds --------------------------------------------------------------------

def split_api_version(api_version: str) -> tuple[str, str]:
    """(group, version) of an apiVersion: `apps/v1` is ("apps", "v1"), `v1` ("", "v1")."""
    group, _, version = api_version.rpartition("/")
    return group, version


def parse_path(text: str) -> tuple[str, ...]:
    """A template path as written in the table (`spec.template`, `.` for the object)."""
    if text == ".":
        return ()
    parts = tuple(text.split("."))
    if any(not p for p in parts):
        raise ValueError(f"{show_value(text)} is not a path of map keys joined by dots")
    return parts


def show_path(path: tuple) -> str:
    """A template path as users write it: `spec.template`, or `.` for the object itself."""
    return ".".join(str(p) for p in path) if path else "."


@dataclass(frozen=True)
class KindSpec:
    """One kind that carries a pod template, and where (see workload-kinds.yaml)."""

    group: str
    version: str  # ANY_VERSION: every version of the group
    kind: str
    template: tuple[str, ...] | None  # None: known, not meshrender's to inject
    references: tuple[tuple[str, ...], ...] = ()
    owner_api: str | None = None
    builtin: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def wildcard(self) -> bool:
        return self.template is not None and "*" in self.template


def spec_from(entry: dict[str, Any], builtin: bool, index: int = 0) -> KindSpec:
    """A KindSpec from a table entry or a ClusterProfile declaration (schema-checked)."""
    group, version = split_api_version(str(entry.get("apiVersion") or ""))
    template: tuple[str, ...] | None = None
    if entry.get("inject") is not False:
        if not entry.get("template"):
            raise KindError("needs a template path (or inject: false)", index, "kind")
        try:
            template = parse_path(str(entry["template"]))
        except ValueError as e:
            raise KindError(str(e), index, "template") from None
    refs = []
    for r in entry.get("references") or []:
        try:
            refs.append(parse_path(str(r)))
        except ValueError as e:
            raise KindError(str(e), index, "references") from None
    return KindSpec(group, version, str(entry.get("kind")), template, tuple(refs),
                    entry.get("ownerAPIVersion"), builtin)


class KindTable:
    """Kinds by (group, version, kind): an exact version first, then the group's `*`."""

    def __init__(self, specs: Iterable[KindSpec], unsearched: Iterable[tuple[str, str, str]] = ()):
        self.specs: list[KindSpec] = []
        self._by_key: dict[tuple[str, str, str], KindSpec] = {}
        for s in specs:
            self._by_key.setdefault((s.group, s.version, s.kind), s)
            self.specs.append(s)
        self._unsearched = frozenset(unsearched)

    def lookup(self, api_version: str, kind: str) -> KindSpec | None:
        """The entry for objects of `kind` in `api_version`. An object without apiVersion
        (which kubectl refuses, and meshrender renders all the same) is taken as the
        first built-in kind of that name: a StatefulSet as an apps/v1 one."""
        if not api_version:
            return next((s for s in self.specs if s.builtin and s.kind == kind), None)
        group, version = split_api_version(api_version)
        got = self._by_key.get((group, version, kind))
        return got if got is not None else self._by_key.get((group, ANY_VERSION, kind))

    def searched(self, api_version: str, kind: str) -> bool:
        """Whether a document of this kind may hold an undeclared pod template."""
        group, version = split_api_version(api_version)
        return ((group, version, kind) not in self._unsearched
                and (group, ANY_VERSION, kind) not in self._unsearched)

    def with_declared(self, entries: list[dict[str, Any]]) -> KindTable:
        """This table with the user's declarations in front (they win over built-in entries).

        Raises KindError for a declaration that cannot be used, or one declared twice."""
        declared: list[KindSpec] = []
        seen: dict[tuple[str, str, str], int] = {}
        for i, entry in enumerate(entries):
            spec = spec_from(entry, builtin=False, index=i)
            key = (spec.group, spec.version, spec.kind)
            if key in seen:
                raise KindError(f"{spec.kind} of {spec.api_version} is declared twice "
                                f"(also workloadKinds[{seen[key]}])", i, "kind")
            seen[key] = i
            declared.append(spec)
        return KindTable([*declared, *self.specs], self._unsearched)


@cache
def builtin() -> KindTable:
    """The table of render/data/workload-kinds.yaml."""
    from meshrender import bundled

    data = bundled.load(DATA_FILE)
    specs = [spec_from(e, builtin=True) for e in data["kinds"]]
    unsearched = []
    for e in data.get("unsearched") or []:
        group, version = split_api_version(e["apiVersion"])
        unsearched.append((group, version, e["kind"]))
    return KindTable(specs, unsearched)


def is_list(doc: Any) -> bool:
    """A `List` or typed list (`PodList`, `DeploymentList`, ...): kubectl creates its items."""
    if not isinstance(doc, dict):
        return False
    kind = doc.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list)


def item_identity(lst: dict, item: Any) -> tuple[Any, Any]:
    """(apiVersion, kind) of a list item as kubectl reads it: an item with neither takes
    the list's apiVersion and the list's kind without `List` (as apimachinery's
    unstructured decoding of a typed list does)."""
    if isinstance(item, dict) and item.get("apiVersion") is None and item.get("kind") is None:
        kind = lst.get("kind")
        inferred = kind[: -len("List")] if isinstance(kind, str) and kind.endswith("List") else None
        return lst.get("apiVersion"), inferred or None
    if isinstance(item, dict):
        return item.get("apiVersion"), item.get("kind")
    return None, None


# -- shape checks --------------------------------------------------------------------------

def _scalar(value: object) -> bool:
    return isinstance(value, (bool, int, float))


def _check_containers(spec: dict, path: tuple) -> None:
    """Containers are named maps, and the fields injection reads have Kubernetes' types.

    A list written as `null` is absent to Kubernetes (and kube-inject prints nothing for
    it); it is dropped here so that the injector can extend the list.
    """
    for key in _NULLABLE_LISTS:
        if key in spec and spec[key] is None:
            del spec[key]
    for key in ("containers", "initContainers"):
        value = spec.get(key)
        if value is None:
            continue
        if not isinstance(value, list):
            raise ShapeError(f"{key} must be a list of containers, not {type_name(value)}", (*path, key))
        for i, c in enumerate(value):
            if not isinstance(c, dict):
                raise ShapeError(f"{key}[{i}] must be a container (a map), not {type_name(c)}", (*path, key, i))
            if not isinstance(c.get("name"), str) or not c.get("name"):
                raise ShapeError(f"{key}[{i}] has no name; every container needs a unique name",
                                 (*path, key, i))
    try:
        podshape.check_pod_spec(spec, path)
    except podshape.PodShapeError as e:
        raise ShapeError(str(e), e.path, e.quote) from None


_NULLABLE_LISTS = ("containers", "initContainers", "volumes", "imagePullSecrets")


def check_string_map(value: object, path: tuple) -> None:
    """Labels and annotations: a map of strings to strings, as Kubernetes requires."""
    if not isinstance(value, dict):
        raise ShapeError(f"{path[-1]} must be a map of strings, not {type_name(value)}", path)
    for k, v in value.items():
        if not isinstance(k, str):
            raise ShapeError(f"the key {show_value(k)} is not a string", (*path, k), "key" if _scalar(k) else None)
        if not isinstance(v, str):
            raise ShapeError(f"must be a string, not {type_name(v)}", (*path, k), "value" if _scalar(v) else None)


def check_meta(meta: dict, path: tuple) -> None:
    """Object metadata: names are strings; labels and annotations map strings to strings."""
    for key in ("name", "generateName", "namespace"):
        value = meta.get(key)
        if value is not None and not isinstance(value, str):
            raise ShapeError(f"must be a string, not {type_name(value)}", (*path, key),
                             "value" if _scalar(value) else None)
    for key in ("annotations", "labels"):
        value = meta.get(key)
        if value is not None:
            check_string_map(value, (*path, key))


# -- workloads -----------------------------------------------------------------------------

@dataclass
class Workload:
    """A workload object and the pod (template) inside it."""

    doc: dict
    pod: PodRef
    path: tuple  # path of the workload object inside its document (non-empty for List items)
    meta_path: tuple  # path to the pod's metadata, which injection reads and writes
    spec_path: tuple
    source_doc: Document | None = None
    kind_spec: KindSpec | None = None
    template_path: tuple = ()  # the pod template inside the object (`()`: the object is a Pod)
    kind_name: str = ""

    @property
    def labels(self) -> dict[str, str]:
        """Labels of the pods this workload creates (what selectors match)."""
        return self.pod.labels

    @property
    def kind(self) -> str:
        return self.kind_name or self.doc.get("kind") or ""

    @property
    def name(self) -> str:
        return (self.doc.get("metadata") or {}).get("name") or ""

    @property
    def namespace(self) -> str:
        return self.pod.namespace

    @property
    def display(self) -> str:
        """`Deployment payments/checkout`, as messages name a workload (with the template's
        path when a kind has several)."""
        base = f"{self.kind} {self.namespace}/{self.name}"
        if self.kind_spec is not None and self.kind_spec.wildcard:
            return f"{base} ({show_path(self.template_path)})"
        return base


@dataclass(frozen=True)
class Note:
    """Something a user should hear about a document that is not injected as they may
    expect: `path` is the field it is about, inside the document."""

    path: tuple
    message: str


@dataclass
class Found:
    """The workloads of a document, and the notes about it."""

    workloads: list[Workload] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def _describe(obj: dict, kind: Any, namespace: str) -> str:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    return f"{kind} {meta.get('namespace') or namespace}/{meta.get('name') or '(unnamed)'}"


def _templates(obj: dict, spec: KindSpec, base: tuple, create: bool) -> Iterator[tuple[tuple, dict]]:
    """(path relative to the object, template map) for each pod template of `obj`: `*`
    matches every value of a map and every item of a list that is a map."""
    assert spec.template is not None

    def walk(node: Any, rel: tuple, rest: tuple) -> Iterator[tuple[tuple, dict]]:
        if not rest:
            if isinstance(node, dict):
                yield rel, node
            return
        key, tail = rest[0], rest[1:]
        if key == "*":
            entries = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
            for k, v in list(entries):
                if isinstance(v, (dict, list)):
                    yield from walk(v, (*rel, k), tail)
            return
        if not isinstance(node, dict):
            return
        if tail and tail[0] == "*":
            child = node.get(key)
            if isinstance(child, (dict, list)):
                yield from walk(child, (*rel, key), tail)
            return
        got = _child_rel(node, key, base, rel, create)
        if got is not None:
            yield from walk(got, (*rel, key), tail)

    yield from walk(obj, (), spec.template)


def _child_rel(node: dict, key: str, base: tuple, rel: tuple, create: bool) -> dict | None:
    value = node.get(key)
    if value is None:
        if not create:
            return None
        value = {}
        node[key] = value
    if not isinstance(value, dict):
        raise ShapeError(f"{field_path((*rel, key))} must be a map, not {type_name(value)}", (*base, *rel, key))
    return value


def workload_of(doc: dict, default_namespace: str, path: tuple = (), spec: KindSpec | None = None,
                api_version: str | None = None, kind: str | None = None) -> list[Workload]:
    """The pods inside a workload object (one per pod template); raises ShapeError when
    the object cannot hold them. `spec` is its entry in the table of kinds (looked up in
    the built-in table when not given); `api_version` and `kind`, when the object does
    not say them itself (an item of a typed list)."""
    api = api_version if api_version is not None else (doc.get("apiVersion") or "")
    kind = kind if kind is not None else doc.get("kind") or ""
    spec = spec or builtin().lookup(api, kind)
    if spec is None or spec.template is None:
        return []
    meta = doc.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ShapeError(f"metadata must be a map, not {type_name(meta)}", (*path, "metadata"))
    namespace = meta.get("namespace") or default_namespace
    if spec.template == ():
        doc.setdefault("metadata", meta)
        pod_spec = _child_rel(doc, "spec", path, (), True)
        assert pod_spec is not None
        check_meta(meta, (*path, "metadata"))
        _check_containers(pod_spec, (*path, "spec"))
        name, okind, oapi = deploy_meta_from_pod(meta)
        if okind == "Pod":
            oapi = api or "v1"
        pod = PodRef(meta, pod_spec, oapi, okind, name, namespace, namespace)
        return [Workload(doc, pod, path, (*path, "metadata"), (*path, "spec"), kind_spec=spec, kind_name=kind)]
    # A missing template is created (kube-inject injects the zero template of the Go type),
    # except where the pods may come from another object instead, or a user's kind.
    create = spec.builtin and not spec.references and not spec.wildcard
    out = []
    for rel, template in _templates(doc, spec, path, create):
        tpath = (*path, *rel)
        pod_meta = _child_rel(template, "metadata", path, rel, True)
        pod_spec = _child_rel(template, "spec", path, rel, True)
        assert pod_meta is not None and pod_spec is not None
        check_meta(pod_meta, (*tpath, "metadata"))
        _check_containers(pod_spec, (*tpath, "spec"))
        owner_api = spec.owner_api or api
        pod = PodRef(pod_meta, pod_spec, owner_api, kind, meta.get("name") or "", namespace, namespace)
        out.append(Workload(doc, pod, path, (*tpath, "metadata"), (*tpath, "spec"), kind_spec=spec,
                            template_path=rel, kind_name=kind))
    return out


def get_path(obj: Any, path: tuple) -> Any:
    """The value at `path` (map keys and list indexes) inside `obj`, or None."""
    for key in path:
        if isinstance(key, int) and isinstance(obj, list) and 0 <= key < len(obj):
            obj = obj[key]
        elif isinstance(obj, dict) and not isinstance(key, int):
            obj = obj.get(key)
        else:
            return None
    return obj


# -- finding every workload of a document --------------------------------------------------

def _looks_like_pod_spec(node: dict) -> bool:
    containers = node.get("containers")
    return (isinstance(containers, list) and bool(containers)
            and all(isinstance(c, dict) for c in containers)
            and any(isinstance(c.get("image"), str) for c in containers))


def pod_templates(obj: dict, limit: int = SEARCH_DEPTH) -> list[tuple]:
    """Paths (inside `obj`) of what looks like a pod template: the map whose `spec` has
    containers with images, or a pod spec itself when it is not under `spec`. `status`
    is not searched (the cluster writes it)."""
    found: list[tuple] = []

    def walk(node: Any, path: tuple, depth: int) -> None:
        if depth > limit:
            return
        if isinstance(node, dict):
            if path and _looks_like_pod_spec(node):
                found.append(path[:-1] if path[-1] == "spec" else path)
                return
            for k, v in node.items():
                if isinstance(v, (dict, list)) and not (not path and k == "status"):
                    walk(v, (*path, k), depth + 1)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    walk(v, (*path, i), depth + 1)

    walk(obj, (), 0)
    return found


def _note_unknown(obj: dict, api: Any, kind: Any, path: tuple, namespace: str, found: Found) -> None:
    group = split_api_version(api)[0] if isinstance(api, str) and api else ""
    known_as = f"{kind} of {group or 'the core group'}" if api else f"{kind} without an apiVersion"
    for tpath in pod_templates(obj):
        where = show_path(tuple(tpath))
        found.notes.append(Note((*path, *tpath), (
            f"{_describe(obj, kind, namespace)} ({api or 'no apiVersion'}) carries a pod template at {where}, "
            f"but meshrender does not know the kind {known_as}: its pods are left without the proxy here, "
            f"while the cluster's webhook may inject them. Declare the kind in ClusterProfile.spec.workloadKinds "
            f"(template: {where}) to render it, or with inject: false to leave it alone")))


def _note_references(obj: dict, spec: KindSpec, kind: Any, path: tuple, namespace: str, has_template: bool,
                     found: Found) -> None:
    for ref in spec.references:
        target = get_path(obj, ref)
        if target is None:
            continue
        named = ""
        if isinstance(target, dict):
            named = " ".join(str(target[k]) for k in ("kind", "name") if isinstance(target.get(k), (str, int)))
        what = f" ({named})" if named else ""
        if has_template:
            message = (f"{_describe(obj, kind, namespace)} sets both {show_path(spec.template or ())} and "
                       f"{show_path(ref)}{what}; its controller refuses that. meshrender injects "
                       f"{show_path(spec.template or ())}")
        else:
            message = (f"{_describe(obj, kind, namespace)} takes its pod template from {show_path(ref)}{what}; "
                       "meshrender does not guess that template: it renders the referenced object when that is "
                       "among the inputs, and passes this one through")
        found.notes.append(Note((*path, *ref), message))


def workloads_in(data: Any, namespace: str, table: KindTable | None = None, path: tuple = (),
                 identity: tuple[Any, Any] | None = None, found: Found | None = None) -> Found:
    """Every workload of a document (each item of a list, recursively) and the notes
    about kinds that carry a pod template meshrender does not inject."""
    table = table or builtin()
    found = found if found is not None else Found()
    if not isinstance(data, dict):
        return found
    api, kind = identity if identity is not None else (data.get("apiVersion"), data.get("kind"))
    if is_list(data):
        for i, item in enumerate(data["items"]):
            workloads_in(item, namespace, table, (*path, "items", i), item_identity(data, item), found)
        return found
    if not isinstance(kind, str):
        return found
    api_s = api if isinstance(api, str) else ""
    spec = table.lookup(api_s, kind)
    if spec is None:
        if table.searched(api_s, kind):
            _note_unknown(data, api, kind, path, namespace, found)
        return found
    if spec.template is None:
        return found
    try:
        got = workload_of(data, namespace, path, spec, api_s, kind)
    except ShapeError as e:
        e.obj_path = path
        raise
    if spec.references:
        _note_references(data, spec, kind, path, namespace, bool(got), found)
    if not got and not any(get_path(data, r) is not None for r in spec.references):
        declared = "" if spec.builtin else " (as ClusterProfile.spec.workloadKinds declares)"
        found.notes.append(Note(path, f"{_describe(data, kind, namespace)} has no pod template at "
                                      f"{show_path(spec.template)}{declared}; nothing to inject"))
    found.workloads += got
    return found


def is_workload_kind(api_version: Any, kind: Any, table: KindTable | None = None) -> bool:
    """Whether objects of this kind are injected (for checks that need no settings)."""
    if not isinstance(kind, str):
        return False
    spec = (table or builtin()).lookup(api_version if isinstance(api_version, str) else "", kind)
    return spec is not None and spec.template is not None
