"""Files a kustomization reads as something other than resources: patches, replacements,
generator and transformer configs.

A kustomize overlay holds partial objects (`replicas.yaml`: a Deployment with only
`spec.replicas`) beside its kustomization. They are instructions for kustomize, not
objects for the cluster: rendered, a patch would become a second, broken Deployment of the
same name (and the base's real one a duplicate). meshrender skips the files a
kustomization in the inputs names in such fields, as it skips the kustomization itself,
and counts them in the summary. What the kustomization lists under `resources` is read as
usual. Only files already among the inputs are affected: a kustomization cannot make
meshrender read anything.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from meshrender.errors import MeshrenderError

NAMES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
# Fields whose entries are files kustomize reads as instructions: a path, or a map with `path`.
PATH_LISTS = ("patches", "patchesStrategicMerge", "patchesJson6902", "replacements", "configurations",
              "generators", "transformers", "validators", "crds")


def is_kustomization(path: Path) -> bool:
    return path.name in NAMES


def _paths(node: Any) -> Iterator[str]:
    """The file paths of one field's entries (inline patches and directories are skipped
    by the caller's file check: an inline patch is a string with a newline)."""
    for entry in node if isinstance(node, list) else ():
        if isinstance(entry, str) and "\n" not in entry:
            yield entry
        elif isinstance(entry, dict) and isinstance(entry.get("path"), str):
            yield entry["path"]


def named_files(kustomization: Path, text: str) -> set[Path]:
    """The files (resolved paths) a kustomization names as patches or tool configs."""
    from meshrender.yamlio import parse

    try:
        docs = parse(text, str(kustomization))
    except MeshrenderError:
        return set()  # not ours to judge: kustomize reports a broken kustomization
    out: set[Path] = set()
    base = kustomization.parent
    for doc in docs:
        data = doc.data if isinstance(doc.data, dict) else {}
        for key in PATH_LISTS:
            out |= {_resolve(base, p) for p in _paths(data.get(key))}
        openapi = data.get("openapi")
        if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
            out.add(_resolve(base, openapi["path"]))
    return out


def _resolve(base: Path, rel: str) -> Path:
    return Path(os.path.abspath(base / rel))


def instruction_files(found: Iterable[tuple[Path, str]]) -> set[Path]:
    """Among `found` ((path, text) of each kustomization among the inputs), the files
    named as patches or tool configs, as absolute paths (`os.path.abspath`: not resolving
    symbolic links, which would let a link name a file outside the inputs)."""
    out: set[Path] = set()
    for path, text in found:
        out |= named_files(path, text)
    return out
