"""Untrusted text made safe to print in a terminal or a CI log: one helper for every format.

File names, workload names, keys and values come from the repository, and meshrender's
text output lands in terminals and in CI logs that interpret some of what they read:

- a line break inside a name starts a new line, which can forge a message
  (`meshrender: deploy is up to date`) or a GitHub Actions workflow command: the runner
  executes any log line that starts with `::` (after blanks), such as `::warning` or
  `::add-mask`;
- escape sequences (ESC, CSI and the other C0 and C1 controls) move the cursor, clear the
  screen or rewrite what is shown;
- Unicode line separators and bidirectional overrides make text read differently from
  what it is ("Trojan Source").

`line_text` writes each such character as a visible escape (`\\n`, `\\x1b`, `\\u202e`), so
an untrusted string always stays on its own line and shows what it holds; `path_text` also
keeps a file name from starting a line with `::` (`./::x.yaml` names the same file).
Text without any of these characters is returned unchanged (the common case costs one
C-level check).
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the format characters that change how a line reads: the
# Arabic letter mark, zero-width and directional marks, line and paragraph separators,
# directional embeddings, overrides and isolates, invisible operators, the BOM.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match) -> str:
    c = m.group()
    named = _NAMED.get(c)
    if named is not None:
        return named
    code = ord(c)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def line_text(text: str) -> str:
    """`text` with every control, line-breaking or direction-changing character escaped."""
    if text.isascii() and text.isprintable():
        return text
    return _UNSAFE.sub(_escape, text)


def path_text(path: str) -> str:
    """A file name as `line_text` shows it, and never starting a line with `::` (a GitHub
    Actions workflow command): such a relative path is written `./::...`, the same file."""
    shown = line_text(path)
    if shown.lstrip().startswith("::"):
        return "./" + shown
    return shown


def lines_text(lines: list[str]) -> str:
    """Lines meshrender composed, each escaped, joined by line breaks."""
    return "\n".join(line_text(ln) for ln in lines)
