"""Progress on stderr: a bar with counts at a terminal, nothing in CI or when piped."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

import pytest

from meshrender.progress import Progress, wanted
from tests.conftest import ROOT


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bar_appears_only_after_the_delay_and_shows_counts():
    term, clock = Terminal(), Clock()
    bar = Progress(term, enabled=True, clock=clock, delay=0.5)
    advance = bar.stage("rendering", 10, "documents")
    advance(3)
    assert term.getvalue() == "", "a short run shows nothing"
    clock.now = 2.0
    advance(2)
    line = term.getvalue().split("\r\x1b[K")[-1]
    assert line.startswith("rendering [") and "5/10 documents" in line and line.endswith("0:02")
    inside = line[line.index("[") + 1: line.index("]")]
    assert inside.count("#") * 2 == len(inside), "half done, half the bar"
    bar.close()
    assert term.getvalue().endswith("\r\x1b[K"), "the bar is erased before anything else is printed"


def test_redraws_are_throttled():
    term, clock = Terminal(), Clock()
    bar = Progress(term, enabled=True, clock=clock, delay=0)
    advance = bar.stage("reading", 1000, "files")
    for i in range(999):
        clock.now = 1 + i * 0.001  # a thousand updates within one second
        advance(1)
    assert term.getvalue().count("\r") <= 12
    advance(1)
    assert "1,000/1,000 files" in term.getvalue().split("\r\x1b[K")[-1]


@pytest.mark.parametrize("env, tty, expected", [
    ({}, True, True),
    ({"CI": "true"}, True, False),
    ({"TERM": "dumb"}, True, False),
    ({}, False, False),
])
def test_only_a_persons_terminal_gets_a_bar(monkeypatch, env, tty, expected):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    stream = Terminal() if tty else io.StringIO()
    assert wanted(stream) is expected


RUN = (
    "import sys, meshrender.progress as p; p.DELAY = 0.0\n"
    "from meshrender.cli import main\n"
    "sys.argv = ['meshrender', 'render', {demo!r}]\n"
    "main()\n"
)


def _render_with_stderr(stderr_is_tty: bool) -> str:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["TERM"] = "xterm"
    code = RUN.format(demo=str(ROOT / "fixtures" / "demo"))
    if not stderr_is_tty:
        r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr
        return r.stderr
    main, child = pty.openpty()
    r = subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=child,
                       check=False)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert r.returncode == 0
    return b"".join(chunks).decode()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pty")
def test_the_cli_draws_on_a_terminal_and_not_into_a_pipe():
    at_terminal = _render_with_stderr(True)
    assert "rendering [" in at_terminal and "/11 documents" in at_terminal
    piped = _render_with_stderr(False)
    assert "\r" not in piped and "rendering [" not in piped
