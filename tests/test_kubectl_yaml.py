"""meshrender reads YAML as kubectl does, and kubectl reads meshrender's output as written.

The oracle is kubectl itself: `kubectl annotate --local -f FILE x=y -o json` parses a
file exactly as kubectl, Argo CD and the API server's clients do (sigs.k8s.io/yaml over
Go's yaml.v2, then JSON) and prints what it read. Hypothesis (fixed seed, no database)
generates a few hundred Pods whose fields hold the scalars where YAML readers disagree:
numbers in every base and spelling Go accepts or refuses, sexagesimal and date look-alikes,
yaml.v2's booleans and nulls, merge keys before and after explicit keys, multi-line text,
typed-looking keys, and quoted strings that must stay strings. They are batched into one
file (over 64 KiB, so the CLI takes the fast reader) and compared:

- kubectl's reading of the input with both of meshrender's readers (reference and fast);
- kubectl's reading of `meshrender render`'s output with kubectl's reading of the input
  (the `extra` field and the annotations pass through injection; quoted env values too).

Documents meshrender refuses are checked one by one: kubectl must refuse them too, except
for keys written twice or two keys that are one JSON key, which kubectl reads (keeping the
last, or either at random) and meshrender refuses on purpose (see read.py's _Kube).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from meshrender.errors import InputError
from meshrender.yamlio import fast as yamlfast
from meshrender.yamlio import read as yamlio
from tests.conftest import run_cli

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: it is the oracle for how "
                                "Kubernetes reads YAML (install kubectl 1.32 to run these tests)")
EXAMPLES = 400

# Spellings where YAML readers disagree (yaml.v2's resolve.go, Go's strconv, YAML 1.1 / 1.2).
TRICKY = [
    "08", "09", "08540", "0_8", "0X1F", "0x1F", "0x1f", "0O17", "0o17", "0o3", "0B101", "0b101", "-0b101",
    "0b-101", "0b2", "0x", "0o", "0b", "0123456789", "0644", "007", "00", "0", "-0", "+0", "+1", "-1", "1_000",
    "1__0", "_1", "1_", "1e3", "1E3", "1e+3", "1e-3", "1.5e3", ".5", "-.5", "+.5", "1.", "1.0", "0.10", ".5e3",
    ".5_5", "._5", "1e400", "-1e400", "1e-400", "12345678901234567890", "18446744073709551615",
    "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "1e20",
    "1e21", "1:30", "190:20:30", "1:30.5", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43",
    "y", "Y", "n", "N", "yes", "Yes", "YES", "no", "NO", "on", "On", "ON", "off", "OFF", "true", "True",
    "TRUE", "false", "False", "yEs", "oN", "nO", "~", "null", "Null", "NULL", "nUll", "<<x", "=", "inf",
    "Infinity", "nan", ".inf2", "0x1p3", "1.2.3", "10.0.0.0/8", "v1.2", "1e", "1e+", "0e0", "1.e3", "+",
]
INFINITE = [".inf", ".Inf", "-.inf", "+.INF", ".nan", ".NaN"]
WORD = st.text(alphabet="0123456789abcdefxXoObBeEyYnN_.:+-", min_size=1, max_size=8)
SCALAR = st.one_of(st.sampled_from(TRICKY), st.sampled_from(TRICKY), WORD,
                   st.from_regex(r"\A[-+]?(?:0[xXoObB])?[0-9a-fA-F_]{1,6}(?:\.[0-9_]{0,3})?(?:[eE][-+]?[0-9]{1,3})?\Z"))
LINE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=20)


def _plain_ok(s: str) -> bool:
    """Whether `s` can be written plain as a block mapping value (else the file breaks)."""
    return bool(s) and s[0] not in "-?:,[]{}#&*!|>'\"%@` " and not s.endswith(":") and ": " not in s


def _quoted(s: str, style: int) -> str:
    return json.dumps(s) if style == 0 else "'" + s.replace("'", "''") + "'"


@st.composite
def scalar_text(draw: Any, infinite: bool = True) -> str:
    """A scalar as written: plain where possible, else quoted."""
    s = draw(SCALAR)
    if infinite and draw(st.integers(0, 60)) == 17:  # (not 0: Hypothesis draws its bounds often)
        s = draw(st.sampled_from(INFINITE))
    style = draw(st.sampled_from(["plain", "double", "plain", "single", "plain"]))
    return s if style == "plain" and _plain_ok(s) else _quoted(s, style == "single")


@st.composite
def block_text(draw: Any, indent: str) -> str:
    """A literal or folded block scalar of a few lines (the header and its lines)."""
    lines = draw(st.lists(LINE.map(str.rstrip), min_size=1, max_size=4))
    if not lines[0] or lines[0][0] == " ":
        lines[0] = "x" + lines[0]
    header = draw(st.sampled_from(["|", "|-", "|+", ">", ">-"]))
    return header + "\n" + "\n".join(indent + line if line else "" for line in lines)


@st.composite
def extra_field(draw: Any, i: int) -> str:
    """The text of a Pod's `extra` map: generated keys and values, lists, merge keys."""
    out = ["extra:"]
    used: set[str] = set()
    for j in range(draw(st.integers(1, 6))):
        key = f"k{j}"
        if draw(st.integers(0, 12)) == 7:  # a typed-looking key (1.0, 08, y), rarely two that collide
            key = draw(scalar_text(infinite=False))
            if key in used or key in ("<<", '"<<"'):
                continue
        used.add(key)
        kind = draw(st.integers(0, 5))
        if kind <= 2:
            out.append(f"  {key}: {draw(scalar_text())}")
        elif kind == 3:
            out.append(f"  {key}: {draw(block_text('    '))}")
        elif kind == 4:
            items = draw(st.lists(scalar_text(), min_size=1, max_size=4))
            if draw(st.booleans()):
                out.append(f"  {key}: [" + ", ".join(x if x[0] not in "-:" else json.dumps(x) for x in items) + "]")
            else:
                out.append(f"  {key}:")
                out += [f"  - {x}" for x in items]
        else:  # merge keys, before, between and after explicit keys
            base = {f"m{n}": draw(scalar_text(infinite=False)) for n in range(draw(st.integers(1, 3)))}
            out.append(f"  b{j}: &b{i}x{j} {{" + ", ".join(f"{k}: {v}" for k, v in base.items()) + "}")
            out.append(f"  {key}:")
            for n in range(draw(st.integers(1, 4))):
                what = draw(st.integers(0, 3))
                if what == 0:
                    out.append(f"    <<: *b{i}x{j}")
                elif what == 1:
                    inline = {f"m{draw(st.integers(0, 3))}": draw(scalar_text(infinite=False))}
                    out.append("    <<: [{" + ", ".join(f"{k}: {v}" for k, v in inline.items()) + f"}}, *b{i}x{j}]")
                else:
                    name = f"m{draw(st.integers(0, 3))}" if draw(st.booleans()) else f"e{n}"
                    if f"{key}/{name}" in used:
                        continue  # a key written twice is refused (tested below), not generated here
                    used.add(f"{key}/{name}")
                    out.append(f"    {name}: {draw(scalar_text(infinite=False))}")
    return "\n".join(out) + "\n"


@st.composite
def pod(draw: Any, i: int = 0) -> str:
    """A Pod whose annotations and env hold strings that look typed, and an `extra` map."""
    strings = list(dict.fromkeys(draw(st.lists(SCALAR, min_size=1, max_size=4))))
    annotations = "".join(f"    {_quoted(s, n % 2)}: {_quoted(s, (n + 1) % 2)}\n" for n, s in enumerate(strings))
    env = ", ".join(f"{{name: E{n}, value: {_quoted(s, n % 2)}}}" for n, s in enumerate(strings))
    return (f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: c{i}\n  namespace: gen\n  annotations:\n{annotations}"
            f"spec:\n  containers:\n  - name: app\n    image: nginx\n    env: [{env}]\n" + draw(extra_field(i)))


def _generate() -> list[str]:
    texts: list[str] = []

    @seed(20250613)
    @settings(max_examples=EXAMPLES, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def collect(data: Any) -> None:
        texts.append(data.draw(pod(len(texts))))

    collect()
    return texts


def kubectl_read(text: str, tmp: Path) -> tuple[bool, Any]:
    """(ok, objects by name) as kubectl reads `text`, or (False, its error)."""
    path = tmp / "k.yaml"
    path.write_text(text, encoding="utf-8")
    r = subprocess.run([KUBECTL, "annotate", "--local", "-f", str(path), "x=y", "-o", "json"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode:
        return False, r.stderr
    items, at, decoder = [], 0, json.JSONDecoder()
    while r.stdout[at:].strip():  # one JSON object after the other
        obj, at = decoder.raw_decode(r.stdout, at + len(r.stdout[at:]) - len(r.stdout[at:].lstrip()))
        items += obj["items"] if obj.get("kind") == "List" else [obj]
    return True, {o["metadata"]["name"]: o for o in items}


def same(kube: Any, mine: Any) -> bool:
    """Equal as Kubernetes' JSON: kubectl prints a float that is a whole number beyond 2**53 in
    full (12345678901234567000), so numbers compare by value, but 8 and 8.0 only below that."""
    if isinstance(kube, bool) or isinstance(mine, bool) or kube is None or mine is None:
        return type(kube) is type(mine) and kube == mine
    if isinstance(kube, (int, float)) and isinstance(mine, (int, float)):
        if isinstance(mine, float) and abs(mine) < 2**53:
            return isinstance(kube, float) and kube == mine
        return isinstance(kube, int) == isinstance(mine, int) if abs(mine) < 2**53 else float(kube) == float(mine)
    if isinstance(kube, dict) and isinstance(mine, dict):
        return kube.keys() == mine.keys() and all(same(kube[k], mine[k]) for k in kube)
    if isinstance(kube, list) and isinstance(mine, list):
        return len(kube) == len(mine) and all(same(a, b) for a, b in zip(kube, mine, strict=True))
    return type(kube) is type(mine) and kube == mine


def read_with(reader: str, text: str) -> Any:
    """One document as meshrender's reference or fast reader reads it."""
    chunk = yamlio.split_documents(text)[0][1]
    if reader == "fast":
        data = yamlfast.load(chunk)
        if data is not yamlfast.UNSURE:
            return data
    return yamlio._load(chunk, "gen.yaml", 1, None)[0]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("kubectl")
    texts = _generate()
    assert len(texts) >= 300
    accepted, refused = [], []
    for text in texts:
        try:
            read_with("reference", text)
        except InputError as e:
            refused.append((text, e))
        else:
            accepted.append(text)
    stream = "---\n".join(accepted)
    assert len(stream.encode()) > 64 * 1024  # the CLI reads it with the fast reader
    ok, kube = kubectl_read(stream, tmp)
    assert ok, kube
    return {"tmp": tmp, "accepted": accepted, "refused": refused, "stream": stream, "kube": kube}


def test_the_generator_covers_what_readers_disagree_on(generated):
    stream = generated["stream"]
    for needle in ("<<: *b", "<<: [{", ": |", ": >", ": 08\n", '"08"', "'0_8'", "1e400", "0o3"):
        assert needle in stream, needle
    assert re.search(r": (?:y|Y|n|N|yes|no|on|off|ON|OFF|Yes|No)\n", stream)
    assert 0 < len(generated["refused"]) < 40


@pytest.mark.parametrize("reader", ["reference", "fast"])
def test_meshrender_reads_what_kubectl_reads(generated, reader):
    kube = generated["kube"]
    fast_answers = 0
    for text in generated["accepted"]:
        mine = read_with(reader, text)
        chunk = yamlio.split_documents(text)[0][1]
        fast_answers += reader == "fast" and yamlfast.load(chunk) is not yamlfast.UNSURE
        theirs = kube[mine["metadata"]["name"]]
        theirs["metadata"]["annotations"].pop("x")
        for field in ("extra", "metadata", "spec"):
            assert same(theirs[field], mine[field]), f"{field} differs for\n{text}\n{theirs[field]!r}\n{mine[field]!r}"
        theirs["metadata"]["annotations"]["x"] = "y"
    if reader == "fast":
        assert fast_answers >= 50  # (documents with anchors or typed plain scalars are not for it)


def test_what_meshrender_refuses_kubectl_refuses_or_reads_two_keys_as_one(generated):
    for text, error in generated["refused"]:
        ok, theirs = kubectl_read(text, generated["tmp"])
        if "duplicate key" in error.message or "the same key" in error.message:
            assert ok, theirs  # kubectl keeps one of them: meshrender refuses on purpose
        else:
            assert not ok, f"meshrender refused what kubectl reads: {error}\n{text}"


def test_kubectl_reads_meshrenders_output_as_it_reads_the_input(generated):
    """Through the CLI: rendered Pods (the emitter) and the file over 64 KiB (fast reader)."""
    src = generated["tmp"] / "in.yaml"
    src.write_text(generated["stream"], encoding="utf-8")
    r = run_cli("render", str(src))
    assert r.code == 0, r.err
    ok, out = kubectl_read(r.out, generated["tmp"])
    assert ok, out
    kube = generated["kube"]
    assert out.keys() == kube.keys()
    for name, theirs in kube.items():
        rendered = out[name]
        assert same(theirs["extra"], rendered["extra"]), f"{name}: {theirs['extra']!r} != {rendered['extra']!r}"
        for k, v in theirs["metadata"]["annotations"].items():
            assert same(v, rendered["metadata"]["annotations"][k]), (name, k)
        env_in = theirs["spec"]["containers"][0]["env"]
        app = next(c for c in rendered["spec"]["containers"] if c["name"] != "istio-proxy")
        env_out = {e["name"]: e.get("value") for e in app["env"]}
        for e in env_in:
            assert env_out[e["name"]] == e["value"], (name, e)


CASES = {
    # issue 13: what Kubernetes reads, in documents of every size (both readers)
    "yaml.v2 booleans, octal and numbers": ("spec:\n  hostNetwork: y\n  tty: n\n  replicas: 0o3\n  v: 08\n",
                                            {"hostNetwork": True, "tty": False, "replicas": 3, "v": 8}),
    "a later merge key wins": ("spec:\n  kind: Pod\n  <<: {kind: ConfigMap}\n", {"kind": "ConfigMap"}),
    "an explicit key after a merge key wins": ("spec:\n  <<: {inject: 'false'}\n  inject: 'true'\n",
                                               {"inject": "true"}),
    "typed keys become JSON keys": ("spec:\n  8080: a\n  1.0: b\n  0x1F: c\n  y: d\n",
                                    {"8080": "a", "1": "b", "31": "c", "true": "d"}),
}


FILLER = "".join(f"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: f{i}}}\ndata: {{a: b}}\n"
                 for i in range(1500))  # 80 KiB of small documents: the fast reader reads the file


@pytest.mark.parametrize("pad", [False, True], ids=["small", "over 64 KiB"])
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_both_readers_read_as_kubectl_whatever_the_size(tmp_path, case, pad):
    body, want = CASES[case]
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n" + body + (FILLER if pad else "")
    ok, kube = kubectl_read(text, tmp_path)
    assert ok, kube
    assert same(kube["c"]["spec"], want)
    p = tmp_path / "in.yaml"
    p.write_text(text, encoding="utf-8")
    for env in ({"KUBE_VERSION": None}, {"KUBE_VERSION": None, "MESHRENDER_YAML": "reference"}):
        r = run_cli("render", str(p), env=env)
        assert r.code == 0, r.err
        ok, out = kubectl_read(r.out, tmp_path)
        assert ok, out
        assert same(out["c"]["spec"], want), (env, out["c"]["spec"])


@pytest.mark.parametrize("pad", [False, True], ids=["small", "over 64 KiB"])
@pytest.mark.parametrize("bad", ["k" * 1100 + ": v", "k" + " " * 1100 + ": v",
                                 "args:\n- \"a\"\n image: x"], ids=["long key", "long key span", "mis-indented"])
def test_what_kubectl_refuses_is_refused_whatever_the_size(tmp_path, pad, bad):
    text = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n"
            + "".join("  " + line + "\n" for line in bad.split("\n")) + (FILLER if pad else ""))
    ok, _ = kubectl_read(text, tmp_path)
    assert not ok
    p = tmp_path / "in.yaml"
    p.write_text(text, encoding="utf-8")
    r = run_cli("render", str(p))
    assert r.code == 2 and "invalid YAML" in r.err, r.err


def test_infinities_are_refused_as_kubectl_refuses_them(tmp_path):
    for value in INFINITE[:2]:
        text = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\nx: {value}\n"
        ok, err = kubectl_read(text, tmp_path)
        assert not ok and "unsupported value" in err
        r = run_cli("render", "-", stdin=text)
        assert r.code == 2 and f"`{value}` is a float that JSON cannot hold" in r.err, r.err
