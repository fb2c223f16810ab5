"""Markdown for pull-request comments: escaping that survives GitHub's and GitLab's
renderers, and a length budget that keeps a comment under GitHub's limit.

Reports written here end up in a comment posted by CI (`gh pr comment --body-file`, a
GitLab note): text from the user's files (messages quote annotation values, field
names, paths) must not turn into links, emphasis, HTML or broken tables, and the comment
must fit GitHub's 65,536 characters, or the API refuses it and the CI step fails
instead of reporting.
"""

from __future__ import annotations

import re

GITHUB_COMMENT_LIMIT = 65536
# What a report may use, leaving room for what CI adds around it (a header, a footer).
BUDGET = 60000
MAX_CELL = 1000

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def text(value: object) -> str:
    """Plain text inline in Markdown (a table cell, a sentence): the characters inline
    Markdown reads as syntax escaped, `&` kept from starting an entity, `@` and `#` kept
    from mentioning people or linking issues, all on one line (a table cell cannot hold a
    line break)."""
    s = " ".join(str(value).split())
    s = s.replace("&", "&amp;").replace("#", "&#35;").replace("@", "&#64;")
    return _SPECIAL.sub(r"\\\1", s)


def cell(value: object, limit: int = MAX_CELL) -> str:
    """`text`, cut at `limit` characters (before escaping) with a mark that says so."""
    s = " ".join(str(value).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return text(s)


def code(value: object, limit: int = MAX_CELL) -> str:
    """A code span that survives a table: pipes escaped (GFM splits cells on them even in
    code), backticks fenced by a longer run of backticks."""
    s = " ".join(str(value).split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    s = s.replace("|", "\\|")
    ticks = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (ticks + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{fence}{pad}{s}{pad}{fence}"


class Budget:
    """Lines added while they fit in `limit` characters (newlines counted); `add` is
    False once one does not, and every later line is refused too."""

    def __init__(self, limit: int = BUDGET):
        self.limit = limit
        self.lines: list[str] = []
        self.used = 0
        self.full = False

    def add(self, line: str, reserve: int = 0) -> bool:
        """Add `line` if it and `reserve` more characters fit."""
        if self.full or self.used + len(line) + 1 + reserve > self.limit:
            self.full = True
            return False
        self.lines.append(line)
        self.used += len(line) + 1
        return True

    def force(self, line: str) -> None:
        """Add a line that must be there (a summary, a truncation notice)."""
        self.lines.append(line)
        self.used += len(line) + 1

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


def fenced(body: str, info: str = "") -> str:
    """A fenced code block whose fence no line of `body` can close."""
    ticks = max((len(m) for m in re.findall(r"`{3,}", body)), default=2)
    fence = "`" * (ticks + 1)
    return f"{fence}{info}\n{body.rstrip(chr(10))}\n{fence}"
