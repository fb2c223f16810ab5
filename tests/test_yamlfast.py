"""The fast YAML reader (rapidyaml) gives exactly what the reference reader (PyYAML, YAML
1.1 as Kubernetes reads it) gives, or hands the document over; errors and their
locations are the reference reader's on both paths."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshrender.errors import InputError
from meshrender.yamlio import fast as yamlfast
from meshrender.yamlio import read as yamlio
from tests.conftest import CORPUS, ROOT


def reference(text: str):
    try:
        return "ok", yaml.load(text, Loader=yamlio._Loader)
    except yaml.YAMLError:
        return "error", None


def same(a, b) -> bool:
    """Equal data with equal types all the way down (1 != True != 1.0, key order counts)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return (list(map(type, a)) == list(map(type, b)) and list(a) == list(b)
                and all(same(a[k], b[k]) for k in a))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def agrees(text: str) -> bool:
    fast = yamlfast.load(text)
    if fast is yamlfast.UNSURE:
        return True
    status, data = reference(text)
    return status == "ok" and same(data, fast)


@pytest.fixture(params=["fast", "reference"])
def reader(request, monkeypatch):
    """yamlio.parse with one reader or the other, whatever the amount read so far."""
    monkeypatch.setattr(yamlio, "_fast", yamlfast if request.param == "fast" else False)
    return request.param


DEPLOYMENT = """\
# a comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # trailing comment
  labels: {app: web, tier: "1"}
  annotations:
    note: |
      two lines
      of text
    folded: >-
      one
      line
    quoted: 'it''s'
    port: "8080"
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.25
          args: [--port=8080, "--x=y", -v]
          ports: [{containerPort: 8080, protocol: TCP}]
          resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: "1"}}
          env:
            - {name: A, value: "true"}
            - name: B
              value: '0644'
"""


def corpus_documents() -> list[str]:
    texts = [DEPLOYMENT]
    for root in (CORPUS / "cases", ROOT / "fixtures", ROOT / "render" / "data"):
        if root.exists():
            texts += [p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.y*ml*")) if p.is_file()]
    return [chunk for t in texts for _, chunk in yamlio.split_documents(t)]


def test_ordinary_manifests_take_the_fast_path_and_agree():
    docs = corpus_documents()
    fast = [d for d in docs if yamlfast.load(d) is not yamlfast.UNSURE]
    assert yamlfast.load(DEPLOYMENT) is not yamlfast.UNSURE
    assert len(fast) > 0.5 * len(docs)
    assert all(agrees(d) for d in docs)


# Scalars and constructs where YAML 1.1 (PyYAML, Kubernetes) and rapidyaml differ, or
# where rapidyaml accepts what PyYAML refuses.
TRICKY = [
    "k: on", "k: Off", "k: yes", "k: NO", "k: True", "k: ~", "k: Null", "k: 0644", "k: 0x1F",
    "k: 0b101", "k: 1_000", "k: 1:30", "k: 190:20:30", "k: 1e3", "k: 1.5e3", "k: 1.5e+3", "k: .5",
    "k: -.5", "k: 1.", "k: +1", "k: 007", "k: 09", "k: .inf", "k: -.Inf", "k: inf", "k: nan",
    "k: Infinity", "k: 12345678901234567890", "k: 2021-01-01", "k: =", "k: <<", "8080: x",
    "true: x", "null: x", "1.5: x", "~: x", ": x", "? 5\n: x", "k: [on, 0644]", "k: {on: 1}",
    "a: 1\na: 2", "a: &x 1\nb: *x", "b: *x", "k: !!str 5", "k: !!int '5'", "k: !custom x",
    "<<: {a: 1}", "k: @x", "k: `x", "k: ]x", "k: }x", "k: ,x", "k: {a: b #c}", "k: [a, b] x",
    "k: [http://x]", "k: {a:b}", "k: {?a: 1}", "k:\tv", "\tk: v", "k: v\r\n", "k: |\n  x",
    "k: >\n  x\n  y", "k: |2 x\n  y\n", "k: |\n  x\n   ", 'k: "\\x41\\N\\_\\e"', 'k: "a\\\n  b"',
    "k: a\n\n  b", "k: \x7f", "k: \x85", "k: a\u2028b", "k: \ufeffx", "- a\n- b: c\n  d: e",
    "%YAML 1.1\n---\nk: v", "--- !!map\nk: v", "--- x", "k: v\n...\n", "k: '1'\nj: \"on\"",
    "k:\n- a\n-  b", "k: - a", "k: a: b", "[1, 2]: x", "k: [a,]", "k: {a, b}", "k: [a: 1]",
]


@pytest.mark.parametrize("text", TRICKY)
def test_tricky_documents_agree_or_go_to_the_reference_reader(text):
    assert agrees(text)
    assert agrees(text + "\n")


NASTY = ["on", "yes", "~", "0644", "1_000", "1:20", "1e3", ".inf", "inf", "*a", "&a", "!!str", '"x"', "'y'",
         "<<", "=", "@x", "`x", "]", "}", ",", "#c", " #c", "[", "{", "|", ">", "|-", "? ", ": ", "- ",
         "\t", "\\", '"\\t"', "8080", "true", "null", "-0", "1.5", "{a: 1}", "[a, b]", "\n", "  ", "..."]


def mutate(text: str, ops: list[tuple[int, int, int]]) -> str:
    lines = text.split("\n")
    for op, where, what in ops:
        i = where % len(lines)
        token = NASTY[what % len(NASTY)]
        if op == 0:
            words = lines[i].split(" ")
            words[what % len(words)] = token
            lines[i] = " ".join(words)
        elif op == 1:
            del lines[i]
        elif op == 2:
            lines.insert(i, lines[i])
        elif op == 3:
            lines[i] = " " + lines[i] if what % 2 else lines[i][1:]
        else:
            k = what % (len(lines[i]) + 1)
            lines[i] = lines[i][:k] + token + lines[i][k:]
        if not lines:
            lines = [""]
    return "\n".join(lines)


DOCS = corpus_documents()[:200]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(DOCS), st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10**6), st.integers(0, 10**6)),
                                       min_size=1, max_size=3))
def test_mutated_manifests_agree_or_go_to_the_reference_reader(doc, ops):
    assert agrees(mutate(doc, ops))


# -- behaviour users rely on, on both paths ----------------------------------------------


def test_yaml_1_1_scalars_as_kubernetes_reads_them(reader):
    plain, quoted = yamlio.parse(
        "a: on\nb: yes\nc: 0644\nd: 2021-01-01\ne: ~\nf: 1_000\n"
        "---\na: 'on'\nb: \"yes\"\nc: '0644'\nd: \"2021-01-01\"\ne: '~'\nf: 1000\ng: \"8080\"\n", "f.yaml")
    assert plain.data == {"a": True, "b": True, "c": 420, "d": "2021-01-01", "e": None, "f": 1000}
    assert quoted.data == {"a": "on", "b": "yes", "c": "0644", "d": "2021-01-01", "e": "~", "f": 1000, "g": "8080"}
    if reader == "fast":
        assert yamlfast.load(quoted.text) is not yamlfast.UNSURE


def test_duplicate_keys_are_refused_naming_both_lines(reader):
    with pytest.raises(InputError) as e:
        yamlio.parse("kind: Deployment\nmetadata:\n  name: a\n  name: b\n", "dup.yaml")
    assert str(e.value.location) == "dup.yaml:4:3"
    assert "duplicate key 'name' (first at line 3)" in e.value.message


def test_syntax_errors_point_at_the_line_in_the_file(reader):
    text = "a: 1\n---\nkind: Service\nspec: {ports: [80}\n"
    with pytest.raises(InputError) as e:
        yamlio.parse(text, "bad.yaml")
    assert e.value.location.path == "bad.yaml" and e.value.location.line == 4


def test_alias_bombs_and_deep_nesting_are_refused(reader):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True))
    with pytest.raises(InputError, match="alias expansion bomb"):
        yamlio.parse(bomb, "bomb.yaml")
    with pytest.raises(InputError, match="nests deeper than"):
        yamlio.parse("a: " + "[" * 300 + "]" * 300 + "\n", "deep.yaml")


def test_block_scalar_before_a_document_marker_keeps_its_newline(reader):
    docs = yamlio.parse("data:\n  a: |\n    x\n---\ndata:\n  b: |\n    y\n", "cm.yaml")
    assert [d.data["data"] for d in docs] == [{"a": "x\n"}, {"b": "y\n"}]
    assert [d.line for d in docs] == [1, 4]


def test_the_reference_reader_works_without_rapidyaml(monkeypatch):

    monkeypatch.setattr(yamlio, "_fast", None)
    monkeypatch.setitem(sys.modules, "ryml", None)  # `import ryml` raises ImportError
    monkeypatch.delitem(sys.modules, "meshrender.yamlio.fast")
    monkeypatch.delattr(sys.modules["meshrender.yamlio"], "fast")
    assert yamlio.fast_reader() is None
    (doc,) = yamlio.parse(DEPLOYMENT, "d.yaml")
    assert doc.data["spec"]["replicas"] == 3


def test_rapidyaml_error_output_is_silenced(capfd):
    assert yamlfast.load("k: [a, b\n") is yamlfast.UNSURE
    assert capfd.readouterr().err == ""


def test_bench_repo_documents_all_take_the_fast_path(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from generate import generate
    finally:
        sys.path.pop(0)
    generate(tmp_path, 12)
    for p in sorted(Path(tmp_path).rglob("*.y*ml")):
        for _, chunk in yamlio.split_documents(p.read_text()):
            data = yamlfast.load(chunk)
            assert data is not yamlfast.UNSURE, chunk
            assert same(reference(chunk)[1], data)
