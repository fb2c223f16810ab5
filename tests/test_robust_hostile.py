"""Hostile YAML ends in a clear refusal within bounded time and memory, never a hang,
a crash or an out-of-memory kill.

Each input runs `meshrender render` in its own process under a 1 GiB address-space limit
and a 60 s timeout (a hang or a memory blow-up would fail the test, not the machine).
The timing and peak-memory numbers in docs/bad-input.md come from fuzz/measure_limits.py.
"""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from meshrender import limits

EXE = Path(sys.executable).with_name("meshrender")
HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"


def laughs(levels: int = 12) -> str:
    s = HEAD + "data:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    return s + "".join(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, levels))


def merge_bomb(levels: int = 40) -> str:
    s = HEAD + "x0: &a0 {k0: 1, k1: 2, k2: 3}\n"
    return s + "".join(f"x{i}: &a{i}\n  <<: [" + ", ".join([f"*a{i - 1}"] * 8) + "]\n" for i in range(1, levels))


def string_bomb() -> str:
    return HEAD + "data:\n  a: &a " + "x" * 1_000_000 + "\n  b: [" + ", ".join(["*a"] * 100_000) + "]\n"


def mapping_bomb() -> str:
    """A wide map aliased into many lists: few nodes per level, many after expansion."""
    keys = ", ".join(f"k{i}: v" for i in range(1000))
    return HEAD + f"data:\n  m: &m {{{keys}}}\n  l: &l [" + ", ".join(["*m"] * 1000) + "]\n  z: [" + \
        ", ".join(["*l"] * 1000) + "]\n"


def pod_annotation(value: str) -> str:
    return ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n"
            f"    sidecar.istio.io/proxyCPU: \"{value}\"\nspec:\n  containers: [{{name: a, image: b}}]\n")


def workload_resources(value: str) -> str:
    return ("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: a\n    image: b\n"
            f"    resources: {{limits: {{cpu: \"{value}\"}}}}\n")


CASES = [
    ("billion laughs (10^12 nodes)", laughs(), 2, "through anchors and aliases"),
    ("merge-key bomb (8^40 merges)", merge_bomb(), 0, ""),
    ("1 MB string aliased 100,000 times", string_bomb(), 2, "characters through anchors and aliases"),
    ("wide map aliased a million times", mapping_bomb(), 2, "nodes through anchors and aliases"),
    ("1,000,000 nested brackets", "a: " + "[" * 1_000_000 + "\n", 2, "nests deeper than 200 levels"),
    ("1,000,000 nested braces", "a: " + "{a: " * 1_000_000 + "\n", 2, "nests deeper than 200 levels"),
    ("100,000 nested compact sequences", "- " * 100_000 + "x\n", 2, "nests deeper than 200 levels"),
    ("3,000 nested block mappings", "".join(" " * i + "a:\n" for i in range(3000)), 2, "nests deeper"),
    ("300,000 empty documents", "---\n~\n" * 300_000 + "---\n" + HEAD, 0, ""),
    ("30,000 small objects",
     "".join(f"---\n{{apiVersion: v1, kind: Service, metadata: {{name: s{i}}}}}\n" for i in range(30_000)), 0, ""),
    # strings in Kubernetes (Go's number parsers give up), read as such without quadratic work
    ("integer of 100,000 digits", HEAD + "x: " + "9" * 100_000 + "\n", 0, ""),
    ("hex integer of 100,000 digits", HEAD + "x: 0x" + "f" * 100_000 + "\n", 0, ""),
    ("quantity 1e99999999 in an annotation", pod_annotation("1e99999999"), 2, "out of range"),
    ("quantity of 100,000 digits in an annotation", pod_annotation("9" * 100_000), 2, "digits"),
    # not a quantity Kubernetes accepts (render --validate says so), but no hang either
    ("quantity 1e99999999 in a container", workload_resources("1e99999999"), 0, ""),
    ("one line of 10 MB", HEAD + "data: {a: \"" + "x" * 10_000_000 + "\"}\n", 0, ""),
    ("an implicit key of 1 MB (YAML allows 1024 characters)", HEAD + "data: {" + "k" * 1_000_000 + ": v}\n", 2,
     "invalid YAML"),
]


def _limit_memory() -> None:
    gib = 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (gib, gib))


@pytest.mark.parametrize(("text", "code", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_bounded(tmp_path, text, code, says):
    path = tmp_path / "input.yaml"
    path.write_text(text, encoding="utf-8")
    proc = subprocess.run([str(EXE), "render", "-q", str(path)], capture_output=True, text=True, timeout=60,
                          preexec_fn=_limit_memory)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr and "MemoryError" not in proc.stderr
    if code == 2:
        assert proc.stderr.startswith(f"meshrender: {path}:"), proc.stderr[:500]
        assert says in proc.stderr.splitlines()[0]
        assert proc.stdout == ""


def test_merge_keys_keep_kubernetes_semantics(cli):
    """An explicit key after `<<` overrides the merged one (a `<<` after it would win: yaml.v2 writes
    entries in document order); a merged key is no duplicate."""
    text = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
base: &base {a: "1", b: "2"}
data:
  <<: *base
  b: "3"
"""
    r = cli("render", "-", "--flavor", "istio", stdin=text + "---\n" + """\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - &c {name: a, image: b, env: [{name: X, value: "1"}]}
  - <<: *c
    name: second
""")
    assert r.code == 0, r.err
    pod = r.docs()[1]
    names = [c["name"] for c in pod["spec"]["containers"]]
    assert names[:2] == ["a", "second"]
    assert pod["spec"]["containers"][1]["image"] == "b"


def test_limits_live_in_one_module():
    """yamlio and sources read their bounds from meshrender.limits (no second copy to drift)."""
    from meshrender.inputs import sources
    from meshrender.kube import quantity
    from meshrender.yamlio import read as yamlio

    assert yamlio.MAX_FILE_BYTES is limits.MAX_FILE_BYTES
    assert yamlio.MAX_DEPTH is limits.MAX_DEPTH
    assert sources.MAX_TOTAL_BYTES is limits.MAX_TOTAL_BYTES
    assert quantity.MAX_QUANTITY_EXPONENT is limits.MAX_QUANTITY_EXPONENT
