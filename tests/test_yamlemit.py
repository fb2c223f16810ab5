"""The emitter writes what kube-inject writes, and what it writes reads back the same."""

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from meshrender import yamlio
from tests.conftest import CORPUS


def test_reproduces_kube_inject_golden_byte_for_byte():
    text = (CORPUS / "cases" / "hello.yaml.injected").read_text()
    first = text.split("\n---\n")[0] + "\n"
    doc = yamlio.parse(first, "x")[0]
    assert yamlio.dump(doc.data) == first


def test_quotes_strings_that_would_change_type():
    out = yamlio.dump({"a": "15001", "b": "true", "c": "*", "d": "", "e": "-p", "f": "on", "g": "1e3",
                       "h": "null", "i": "a: b", "j": "#x", "k": "2021-01-01"})
    assert yaml.safe_load(out) == {"a": "15001", "b": "true", "c": "*", "d": "", "e": "-p", "f": "on",
                                   "g": "1e3", "h": "null", "i": "a: b", "j": "#x", "k": "2021-01-01"}
    assert 'a: "15001"' in out and "c: '*'" in out and "e: -p" in out


def test_multiline_strings_use_literal_blocks():
    out = yamlio.dump({"v": "{}\n", "w": "[\n  x\n]", "z": " leading\nspace\n"})
    assert "v: |\n  {}\n" in out
    assert "w: |-\n" in out
    assert yaml.safe_load(out) == {"v": "{}\n", "w": "[\n  x\n]", "z": " leading\nspace\n"}


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                    st.text(max_size=30), st.floats(allow_nan=False, allow_infinity=False))
trees = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(min_size=1, max_size=10), kids, max_size=4)),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), trees, min_size=1, max_size=5))
def test_round_trip(data):
    out = yamlio.dump(data)
    assert yaml.load(out, Loader=yaml.SafeLoader) == data
