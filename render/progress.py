"""A progress bar on stderr for long runs, and silence everywhere else.

Rendering thousands of manifests takes seconds to minutes; a person at a terminal wants
to see it move. CI logs, pipes and pre-commit output must not fill up with carriage
returns, so the bar is drawn only when stderr is a terminal, `CI` is not set and the
terminal is not `dumb`, and only once a run has lasted long enough to be worth it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO

DELAY = 0.5  # seconds before the bar appears: short runs never show one
INTERVAL = 0.1  # seconds between redraws


def wanted(stream: TextIO) -> bool:
    """Whether `stream` is a person's terminal (not CI, not a pipe, not a dumb terminal)."""
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Counts work in stages (`reading 12/40 files`) and draws one line that is redrawn."""

    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, delay: float | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = wanted(self.stream) if enabled is None else enabled
        self.clock = clock
        self.start = clock()
        self.delay = DELAY if delay is None else delay
        self.label = ""
        self.unit = ""
        self.total = 0
        self.done = 0
        self._drawn_at: float | None = None
        self._shown = False

    def stage(self, label: str, total: int, unit: str) -> Callable[[int], None]:
        """Start counting `total` units of a new stage; returns the callback that advances it."""
        self.label, self.total, self.unit, self.done = label, total, unit, 0
        self._draw(force=self._shown)
        return self.advance

    def update(self, label: str, done: int, total: int, unit: str) -> None:
        """Report absolute progress (for loops that know their own counts)."""
        if label != self.label:
            self.stage(label, total, unit)
        self.total, self.done = total, done
        self._draw()

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.enabled:
            self._draw()

    def line(self) -> str:
        width = shutil.get_terminal_size((80, 20)).columns
        elapsed = int(self.clock() - self.start)
        counts = f"{self.done:,}/{self.total:,} {self.unit}"
        clock = f"{elapsed // 60}:{elapsed % 60:02d}"
        fixed = len(self.label) + len(counts) + len(clock) + 8
        bar_width = max(10, min(40, width - fixed))
        filled = bar_width * self.done // self.total if self.total else bar_width
        bar = "#" * filled + "-" * (bar_width - filled)
        return f"{self.label} [{bar}] {counts} {clock}"[: width - 1]

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force:
            if now - self.start < self.delay:
                return
            if self._drawn_at is not None and now - self._drawn_at < INTERVAL and self.done < self.total:
                return
        self._drawn_at = now
        self._shown = True
        self.stream.write("\r\x1b[K" + self.line())
        self.stream.flush()

    def close(self) -> None:
        """Erase the bar, so that what is printed next starts on a clean line."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
