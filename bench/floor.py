"""The floor: parse and emit the same files with a YAML library alone, no injection.

Run as a child process by bench/run.py, like `meshrender render -o` is, so both pay for
interpreter start, reading and writing. Engines:

  ryml       rapidyaml parses each file into Python data (its JSON emitter, then orjson)
             and emits every document back from that data in block style (orjson, then
             rapidyaml's parser and emitter, containers switched to block style): the
             fastest way a Python tool can go from YAML text to data and back.
  ryml-tree  rapidyaml parse and emit of its own tree, no Python data at all.
  pyyaml     PyYAML with libyaml (CSafeLoader / CSafeDumper), for reference.

Prints one JSON line: {"engine", "files", "documents", "seconds"} (seconds in-process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        out += [Path(dirpath) / f for f in sorted(filenames) if f.endswith((".yaml", ".yml"))]
    return out


_BUF = bytearray(1 << 16)


def _json(ryml, tree, node) -> memoryview:
    """JSON of a node into a reused buffer (emit_json_malloc leaks its buffer)."""
    global _BUF
    failed, size = ryml.emit_json_to_substr(tree, node, _BUF)
    if failed:
        _BUF = bytearray(size * 2)
        failed, size = ryml.emit_json_to_substr(tree, node, _BUF)
    return memoryview(_BUF)[:size]


def _ryml(text: bytes) -> tuple[int, bytes]:
    import orjson
    import ryml

    tree = ryml.parse_in_arena(text)
    root = tree.root_id()
    docs = list(ryml.children(tree, root)) if tree.is_stream(root) else [root]
    parts = []
    for d in docs:
        data = orjson.loads(_json(ryml, tree, d))
        back = ryml.parse_in_arena(orjson.dumps(data))
        for node in range(back.size()):  # JSON parses as flow style; Kubernetes YAML is block
            if back.is_container(node):
                back.set_container_style(node, ryml.BLOCK)
        parts.append(ryml.emit_yaml_malloc(back, back.root_id()))
    return len(docs), "---\n".join(parts).encode()


def _ryml_tree(text: bytes) -> tuple[int, bytes]:
    import ryml

    tree = ryml.parse_in_arena(text)
    root = tree.root_id()
    n = tree.num_children(root) if tree.is_stream(root) else 1
    return n, ryml.emit_yaml_malloc(tree, root).encode()


def _pyyaml(text: bytes) -> tuple[int, bytes]:
    import yaml

    docs = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    out = yaml.dump_all(docs, Dumper=yaml.CSafeDumper, sort_keys=False)
    return len(docs), out.encode()


ENGINES = {"ryml": _ryml, "ryml-tree": _ryml_tree, "pyyaml": _pyyaml}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--engine", choices=sorted(ENGINES), default="ryml")
    args = ap.parse_args()
    fn = ENGINES[args.engine]
    start = time.perf_counter()
    files = _files(args.root)
    documents = 0
    for f in files:
        n, out = fn(f.read_bytes())
        documents += n
        dest = args.out / f.relative_to(args.root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(out)
    seconds = time.perf_counter() - start
    json.dump({"engine": args.engine, "files": len(files), "documents": documents, "seconds": seconds},
              sys.stdout)
    print()


if __name__ == "__main__":
    main()
