"""A wrong type in every field of every settings schema is refused at that field's line.

The fields come from walking the JSON Schemas in schemas/ (following $ref), so a field
added to a schema is tested without touching this file. For each field the test writes a
settings document (block style, one key per line, so the expected line and column are
known from how the document was written, not from meshrender) with a value of a type the
field does not allow, and checks: exit 2, the message's FILE:LINE:COL is that key, the
message names the field's path, and a previous output folder survives untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_cli

SCHEMAS = ROOT / "schemas"
WRONG_VALUES: list[Any] = [["wrong"], {"wrong": 1}, "wrong", 12345, True]
GOOD = """\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: web, image: nginx}]
"""


def _load(name: str) -> dict:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def resolve(schema: dict, current: str) -> tuple[dict, str]:
    """Follow `$ref` (same file or another file in schemas/)."""
    while "$ref" in schema:
        ref = schema["$ref"]
        file, _, pointer = ref.partition("#")
        file = file or current
        target = _load(file)
        for part in [p for p in pointer.split("/") if p]:
            target = target[part]
        schema, current = target, file
    return schema, current


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, (float,)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def allowed_types(schema: dict, current: str) -> set[str] | None:
    """The JSON types a field accepts, or None if the schema does not say."""
    schema, current = resolve(schema, current)
    if "type" in schema:
        t = schema["type"]
        types = {t} if isinstance(t, str) else set(t)
        return types | ({"integer"} if "number" in types else set())
    if "enum" in schema or "const" in schema:
        return {"enum"}
    for key in ("anyOf", "oneOf"):
        if key in schema:
            out: set[str] = set()
            for branch in schema[key]:
                sub = allowed_types(branch, current)
                if sub is None:
                    return None
                out |= sub
            return out
    return None


def wrong_value(schema: dict, current: str) -> Any:
    types = allowed_types(schema, current)
    if types is None:
        return None
    for v in WRONG_VALUES:
        t = _json_type(v)
        if types == {"enum"}:
            return "not-one-of-them" if t == "string" else v
        if t not in types:
            return v
    return None


SAMPLES = {"string": "x", "integer": 80, "number": 1, "boolean": True, "object": {}, "array": []}


def valid_sample(schema: dict, current: str) -> Any:
    schema, current = resolve(schema, current)
    if "const" in schema:
        return schema["const"]
    if "examples" in schema:  # a string with a pattern: "x" would not do
        return schema["examples"][0]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema:
        return valid_sample(schema["anyOf"][0], current)
    t = schema.get("type", "string")
    return SAMPLES[t if isinstance(t, str) else t[0]]


@dataclass
class Field:
    path: tuple
    value: Any  # the wrong value
    parents: dict  # required siblings to fill in: path -> valid value


def walk(schema: dict, current: str, path: tuple = (), required_fill: dict | None = None) -> list[Field]:
    """Every property under `schema` (objects, map values, list items), with a wrong value."""
    schema, current = resolve(schema, current)
    fill = dict(required_fill or {})
    out: list[Field] = []
    props = schema.get("properties", {})
    for req in schema.get("required", []):
        if req in props:
            fill[(*path, req)] = valid_sample(props[req], current)
    for name, sub in props.items():
        p = (*path, name)
        wrong = wrong_value(sub, current)
        if wrong is not None:
            out.append(Field(p, wrong, {k: v for k, v in fill.items() if k != p}))
        out += walk(sub, current, p, {k: v for k, v in fill.items() if k != p})
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        p = (*path, "SOMEKEY")
        wrong = wrong_value(extra, current)
        if wrong is not None:
            out.append(Field(p, wrong, fill))
    items = schema.get("items")
    if isinstance(items, dict):
        p = (*path, 0)
        wrong = wrong_value(items, current)
        if wrong is not None:
            out.append(Field(p, wrong, fill))
        out += walk(items, current, p, fill)
    return out


# -- writing documents with known positions -------------------------------------------------


def _has(tree: Any, path: tuple) -> bool:
    for step in path:
        in_map = isinstance(tree, dict) and step in tree
        in_list = isinstance(tree, list) and isinstance(step, int) and step < len(tree)
        if not (in_map or in_list):
            return False
        tree = tree[step]
    return True


def _set(tree: dict, path: tuple, value: Any) -> None:
    node: Any = tree
    for i, step in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(node, list):
            while len(node) <= step:
                node.append({} if not isinstance(nxt, int) else [])
            node = node[step]
        else:
            node = node.setdefault(step, [] if isinstance(nxt, int) else {})
    last = path[-1]
    if isinstance(node, list):
        while len(node) <= last:
            node.append(None)
    node[last] = value


def emit(tree: Any, indent: int = 0, path: tuple = (), lines: list | None = None,
         where: dict | None = None) -> tuple[list[str], dict]:
    """Block YAML, one key per line, leaves as JSON (valid YAML flow); where[path] = (line, col)."""
    lines = [] if lines is None else lines
    where = {} if where is None else where
    pad = " " * indent
    if isinstance(tree, dict):
        for k, v in tree.items():
            where[(*path, k)] = (len(lines) + 1, indent + 1)
            if isinstance(v, (dict, list)) and v and not _leafy(v):
                lines.append(f"{pad}{k}:")
                emit(v, indent + 2, (*path, k), lines, where)
            else:
                lines.append(f"{pad}{k}: {json.dumps(v)}")
    else:
        for i, v in enumerate(tree):
            where[(*path, i)] = (len(lines) + 1, indent + 3)
            if isinstance(v, dict) and v and not _leafy(v):
                start = len(lines)
                emit(v, indent + 2, (*path, i), lines, where)
                lines[start] = pad + "- " + lines[start][indent + 2:]
            else:
                lines.append(f"{pad}- {json.dumps(v)}")
    return lines, where


def _leafy(v: Any) -> bool:
    """Wrong values are written as JSON leaves so the key's line is the value's line."""
    return any(v is w or v == w for w in WRONG_VALUES)


@dataclass
class Kind:
    name: str
    schema: str
    base: dict
    root: tuple  # where the walked schema sits inside the document
    embedded: str | None = None  # ConfigMap data key holding YAML text


KINDS = [
    Kind("SidecarProxySettings", "sidecarproxysettings.json",
         {"apiVersion": "meshrender.dev/v1alpha1", "kind": "SidecarProxySettings", "metadata": {"name": "s"},
          "spec": {}}, ()),
    Kind("ClusterProfile", "clusterprofile.json",
         {"apiVersion": "meshrender.dev/v1alpha1", "kind": "ClusterProfile", "metadata": {"name": "c"},
          "spec": {}}, ()),
    Kind("ASMMeshConfig", "asmmeshconfig.json",
         {"apiVersion": "istio.alibabacloud.com/v1beta1", "kind": "ASMMeshConfig", "metadata": {"name": "m"},
          "spec": {}}, ()),
    Kind("IstioOperator", "istiooperator.json",
         {"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator", "metadata": {"name": "i"},
          "spec": {}}, ()),
    Kind("ProxyConfig", "proxyconfig.json",
         {"apiVersion": "networking.istio.io/v1beta1", "kind": "ProxyConfig", "metadata": {"name": "p"},
          "spec": {}}, ()),
    Kind("ConfigMap istio", "meshconfig.json",
         {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio", "namespace": "istio-system"}},
         ("data", "mesh"), embedded="mesh"),
    Kind("ConfigMap istio-sidecar-injector", "values.json",
         {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio-sidecar-injector"}},
         ("data", "values"), embedded="values"),
]

SKIP = {
    # identity fields that select the schema rather than being checked by it
    ("apiVersion",), ("kind",), ("metadata", "name"),
}


def _cases() -> list[tuple[Kind, Field]]:
    out = []
    for kind in KINDS:
        for f in walk(_load(kind.schema), kind.schema):
            if f.path in SKIP or (kind.embedded is None and f.path[:1] in (("apiVersion",), ("kind",))):
                continue
            if kind.embedded is None and f.path[:1] == ("data",):
                continue
            out.append((kind, f))
    return out


CASES = _cases()


def _document(kind: Kind, f: Field) -> tuple[str, tuple[int, int], str]:
    """(file text, expected (line, column), expected field path) for one case."""
    if kind.embedded is None:
        doc = json.loads(json.dumps(kind.base))
        for p, v in sorted(f.parents.items(), key=lambda kv: len(kv[0])):
            if not _has(doc, p):
                _set(doc, p, v)
        _set(doc, f.path, f.value)
        lines, where = emit(doc)
        return "\n".join(lines) + "\n", where[f.path], _dotted(f.path)
    inner: dict = {}
    for p, v in sorted(f.parents.items(), key=lambda kv: len(kv[0])):
        if not _has(inner, p):
            _set(inner, p, v)
    _set(inner, f.path, f.value)
    inner_lines, inner_where = emit(inner)
    outer_lines, _ = emit(kind.base)
    outer_lines += ["data:", f"  {kind.embedded}: |"]
    start = len(outer_lines)  # the embedded text's line 1 is the next line
    outer_lines += ["    " + ln for ln in inner_lines]
    line, col = inner_where[f.path]
    return "\n".join(outer_lines) + "\n", (start + line, col + 4), _dotted((*kind.root, *f.path))


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def test_the_walk_covers_every_schema():
    covered = {kind.name for kind, _ in CASES}
    assert covered == {k.name for k in KINDS}
    assert len(CASES) > 150, len(CASES)


@pytest.fixture(scope="module")
def previous_output(tmp_path_factory):
    root = tmp_path_factory.mktemp("prev")
    repo = root / "repo"
    repo.mkdir()
    (repo / "app.yaml").write_text(GOOD, encoding="utf-8")
    out = root / "out"
    assert run_cli("render", str(repo), "-o", str(out)).code == 0
    return repo, out, {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("kind", "f"), CASES, ids=[f"{k.name}:{_dotted(f.path)}" for k, f in CASES])
def test_wrong_type_is_refused_at_its_field(kind, f, previous_output):
    repo, out, before = previous_output
    text, (line, col), field = _document(kind, f)
    settings = repo / "settings.yaml"
    settings.write_text(text, encoding="utf-8")
    try:
        r = run_cli("render", str(repo), "-o", str(out))
    finally:
        settings.unlink()
    assert r.code == 2, f"{field} = {f.value!r} was accepted:\n{text}"
    first = r.err.splitlines()[0]
    assert first.startswith(f"meshrender: {settings}:{line}:{col}: error: {field}: "), f"{first}\n{text}"
    assert "internal error" not in r.err
    assert {p.name: p.read_bytes() for p in Path(out).rglob("*") if p.is_file()} == before
