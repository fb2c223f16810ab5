"""The one door to YAML: everything else in meshrender reads and writes YAML through here.

Nothing outside this package imports PyYAML, rapidyaml or the emitter, so the engines can
change without touching the injector or the linter, and every reader gives the same
data. The package's modules, by stage:

- `read`: bytes to documents (Kubernetes' reading of YAML), located errors, `locate`;
- `fast`: the fast reader (rapidyaml), used only where it provably agrees with `read`;
- `emit`: data to YAML text, as kube-inject prints it;
- `frozen`, `plain`: shared read-only data and fast copies of plain data.
"""

from meshrender.yamlio.read import (
    Document,
    decode,
    dump,
    dump_stream,
    expect,
    fast_reader,
    literal_block_start,
    load_plain,
    locate,
    parse,
    parse_some,
    scalar_text,
    split_documents,
)

__all__ = [
    "Document",
    "decode",
    "dump",
    "dump_stream",
    "expect",
    "fast_reader",
    "literal_block_start",
    "load_plain",
    "locate",
    "parse",
    "parse_some",
    "scalar_text",
    "split_documents",
]
