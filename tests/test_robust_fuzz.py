"""A short, fixed-seed run of the CLI fuzzer (fuzz/fuzz_cli.py) inside the test suite.

The long runs happen outside CI (`fuzz/fuzz_cli.py --minutes N`); this one keeps every
mutation path exercised on each change, and checks that the harness really catches the
failures it is meant to catch.
"""

from __future__ import annotations

import importlib.util
import random
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("fuzz_cli", ROOT / "fuzz" / "fuzz_cli.py")
fuzz_cli = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_cli"] = fuzz_cli
_spec.loader.exec_module(fuzz_cli)

CORPUS = fuzz_cli.load_corpus()


def test_short_fuzz_run_finds_nothing():
    stats = fuzz_cli.fuzz(inputs=150, seed=20240601, timeout=10)
    assert stats.inputs == 150
    assert not stats.findings, "\n".join(f["problem"] + "\n" + f["stderr"] for f in stats.findings.values())
    # the run reaches both refusals and successful renders
    assert stats.codes[2] > 10 and stats.codes[0] > 5, stats.codes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_mutated_inputs_get_a_located_answer(seed, tmp_path_factory):
    rng = random.Random(seed)
    files, flags = fuzz_cli.make_case(rng, CORPUS)
    work = tmp_path_factory.mktemp("fuzz")
    o = fuzz_cli.run_case(files, flags, work, timeout=10, use_output=rng.random() < 0.5, use_stdin=False)
    assert o.problem is None, (o.problem, o.err)


@pytest.mark.parametrize(("boom", "expected"), [
    (TypeError("'int' object is not iterable"), "internal error"),
    (RecursionError("maximum recursion depth exceeded"), "internal error"),
])
def test_harness_flags_crashes(monkeypatch, tmp_path, boom, expected):
    """If rendering crashed, the fuzzer would say so (the harness can fail)."""
    from meshrender.run import render

    def crash(*args, **kwargs):
        raise boom

    monkeypatch.setattr(render, "drive", crash)
    o = fuzz_cli.run_case({"a.yaml": b"apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"}, [], tmp_path,
                          timeout=10, use_output=False, use_stdin=False)
    assert o.problem and expected in o.problem


def test_harness_flags_hangs(monkeypatch, tmp_path):
    import time

    from meshrender.run import render

    monkeypatch.setattr(render, "drive", lambda *a, **k: time.sleep(30))
    o = fuzz_cli.run_case({"a.yaml": b"apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"}, [], tmp_path,
                          timeout=0.5, use_output=False, use_stdin=False)
    assert o.problem and o.problem.startswith("hang")


def test_harness_flags_messages_without_a_location(monkeypatch, tmp_path):
    from meshrender.errors import InputError
    from meshrender.run import render

    def unlocated(*args, **kwargs):
        raise InputError("something is wrong somewhere")

    monkeypatch.setattr(render, "drive", unlocated)
    o = fuzz_cli.run_case({"a.yaml": b"apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"}, [], tmp_path,
                          timeout=10, use_output=False, use_stdin=False)
    assert o.problem == "exit 2 without a FILE:LINE:COL: error: (or FILE: error:) message"
