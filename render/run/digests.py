"""What one file's rendering depends on, as digests: the key of incremental work.

A file's output is a function of (1) its own text, (2) the run: meshrender's code, the
options, the files named by --values / --mesh-config / the repository configuration, the
kustomizations among the inputs (they decide which files are patches) and every setting
of mesh-wide scope, (3) the settings of each namespace its workloads live in
(namespace-wide SidecarProxySettings and ProxyConfigs, the Namespace object,
VerticalPodAutoscalers, and where each selector setting of the namespace is and what its
selector says), and (4) what each selector setting that matches one of its workloads
sets. Nothing else reaches it: settings are the only documents one file's evaluation
reads from another (render/run/driver.py), and every settings document is filed under
exactly one of those scopes (a selector setting under two: its selector in its
namespace's, its text in its own), or under the run when in doubt.

So `render -o` records, per source file, the fingerprint of its text, the scopes its
workloads used (`ns:NAME`, `sel:NS/FILE:LINE`), the scopes its settings define, the objects it creates (for
duplicate detection without reading the others) and the fingerprint of each output file; and
once per run the digest of the run and of every scope. A later check re-renders a file
only when its text, or the digest of a scope it used, changed (run/incremental.py).

Digests are SHA-256 (the first 128 bits) of the exact bytes meshrender read (SHA-256,
not BLAKE2: CPUs hash it in hardware, twice as fast on 100 MB of output). They key the
local result cache and decide which previous output file `render -o` keeps: there a
forged collision would serve one text's result for another, so the hash must resist one.

The marker's per-file records are fingerprints instead (`fingerprint`: XXH3, 128 bits,
ten times faster than SHA-256 on the 26,700 files an incremental check of 10,000
workloads reads: SHA-256 was a third of the time of the worker the check waits for). A
fingerprint only tells that a file
changed since the recorded render. That claim can be forged whatever the hash, by editing
the marker (see Trust below), so a stronger hash would protect nothing more; by accident
two different texts share one with a chance of 2^-128. The marker names the algorithm,
and a marker written with another is not used.

Trust: every input and every committed output is hashed again, never taken from the
marker; what an incremental check does take from it is the claim "this input text, under
these scopes, gave this output". Whoever can commit can forge that claim (record a new
input's digest next to an old output) and make `render-check` pass stale output, as they
could edit the output itself. A gate on branches you do not trust runs the full check:
`MESHRENDER_CACHE=0` (docs/incremental.md).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

RUN = "run"  # the scope every file depends on


def digest(data: bytes | str) -> str:
    """The digest of some bytes (a str is taken as its UTF-8 encoding)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:32]


try:  # (a dependency; without it, fingerprints are digests, under their own name)
    from xxhash import xxh3_128_hexdigest as _fingerprint

    FINGERPRINT = "xxh3-128"
except ImportError:  # pragma: no cover
    _fingerprint = digest
    FINGERPRINT = "sha256-128"


def fingerprint(data: bytes | str) -> str:
    """What a marker records of one input or output file: tells a change, nothing more
    (see the module docstring; never a cache key)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return _fingerprint(data)


def installed() -> list[str]:
    """The distributions installed in the site folders Python finds modules in (each
    `name-version`, from its .dist-info folder's name), in sys.path order: meshrender
    reads, parses and validates with some of them (PyYAML, rapidyaml, orjson,
    jsonschema...), and an upgrade of one may change a result. One listing per folder,
    no import. (Only site folders: the current folder or a script's, on sys.path too,
    differ between `python -m meshrender` and the `meshrender` command.)"""
    out = []
    for folder in sys.path:
        if os.path.basename(folder.rstrip(os.sep)) not in ("site-packages", "dist-packages"):
            continue
        try:
            names = os.listdir(folder)
        except OSError:  # (a folder that went away)
            continue
        out += sorted(n for n in names if n.endswith(".dist-info"))
    return out


@cache
def code_digest() -> str:
    """meshrender's version, every file of the installed package (code and data) and the
    distributions installed beside it (installed()): a result computed by another build,
    or with another version of a library, is never taken for this one's, even between
    two commits with the same version number."""
    from meshrender import __version__

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(__version__.encode())
    h.update("\0".join(installed()).encode("utf-8", "surrogateescape") + b"\1")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = Path(dirpath, name)
            h.update(str(path.relative_to(root)).encode() + b"\0")
            try:
                h.update(path.read_bytes())
            except OSError:
                h.update(b"\1unreadable")
    return h.hexdigest()[:32]


def scope_of(data: Any, default_namespace: str, root_namespace: str) -> str | None:
    """The scope a settings document belongs to: `ns:NAME` for what applies within one
    namespace, RUN for what applies mesh-wide (or might), None for a document that is no
    setting (a workload that only mentions a settings kind)."""
    if not isinstance(data, dict):
        return None
    kind = data.get("kind")
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    namespace = meta.get("namespace")
    if kind == "Namespace":
        name = meta.get("name")
        return f"ns:{name}" if isinstance(name, str) and name else None
    if kind == "MutatingWebhookConfiguration":
        return RUN
    if kind == "VerticalPodAutoscaler" and str(data.get("apiVersion") or "").startswith("autoscaling.k8s.io/"):
        return f"ns:{namespace}" if isinstance(namespace, str) and namespace else f"ns:{default_namespace}"
    from meshrender.settings.collect import settings_kind

    recorded = settings_kind(data)
    if recorded is None:
        return None
    if recorded in ("SidecarProxySettings", "ProxyConfig") and isinstance(namespace, str) and namespace \
            and not (recorded == "ProxyConfig" and namespace == root_namespace):
        return f"ns:{namespace}"
    return RUN  # ClusterProfile, ASMMeshConfig, IstioOperator, injector ConfigMaps, global settings


@dataclass
class Scopes:
    """The digest of every scope of a run, and which files define which scopes."""

    digests: dict[str, str] = field(default_factory=dict)
    defines: dict[str, set[str]] = field(default_factory=dict)  # display name -> scopes


def selector_scope(namespace: str, doc: Any) -> str:
    """The scope of what a selector setting of `namespace` sets (document `doc`): a file
    depends on it when one of its workloads matches the selector (`sel:NS/FILE:LINE`)."""
    return f"sel:{namespace}/{doc.source}:{doc.line}"


def scopes(settings_docs: Iterable[Any], run_parts: Iterable[bytes | str], default_namespace: str,
           root_namespace: str, selectors: Mapping[tuple[str, int], tuple[str, str]] | None = None) -> Scopes:
    """The scopes of a run: each the digest of its settings documents, in input order,
    with where they are (findings and explanations name the place); RUN also of
    `run_parts` (code, options, files the options name).

    `selectors`: the settings that apply to the workloads of one namespace their selector
    matches (namespaced selector SidecarProxySettings and ProxyConfigs, as the collector
    read them), by (file, line): their namespace and their selector as text. Such a
    document is split in two. Where it is and its selector go into its namespace's scope:
    a new, removed or re-aimed selector may apply to any workload there. Its text goes
    into a scope of its own (selector_scope), on which only the files whose workloads it
    matches depend: a changed setting re-renders exactly the workloads it applies to."""
    hashers: dict[str, Any] = {RUN: hashlib.sha256()}
    for part in run_parts:
        hashers[RUN].update(digest(part).encode())
    hashers[RUN].update(f"root-namespace\0{root_namespace}".encode())
    out = Scopes()
    for doc in settings_docs:
        scope = scope_of(doc.data, default_namespace, root_namespace)
        if scope is None:
            continue
        place = f"{doc.source}\0{doc.line}\0".encode("utf-8", "surrogatepass")
        h = hashers.get(scope) or hashers.setdefault(scope, hashlib.sha256())
        h.update(place)
        split = selectors.get((doc.source, doc.line)) if selectors else None
        if split is not None and scope == f"ns:{split[0]}":
            h.update(digest(f"selector\0{split[1]}").encode())
            own = selector_scope(split[0], doc)
            mine = hashers.get(own) or hashers.setdefault(own, hashlib.sha256())
            mine.update(place)
            mine.update(digest(doc.text).encode())
            out.defines.setdefault(doc.source, set()).add(own)
        else:
            h.update(digest(doc.text).encode())
        out.defines.setdefault(doc.source, set()).add(scope)
    out.digests = {scope: h.hexdigest()[:32] for scope, h in hashers.items()}
    return out


def run_parts(options: Any, kustomizations: Iterable[str]) -> list[bytes | str]:
    """What every file's rendering depends on besides settings: meshrender's code, the
    options, the files they name (read as meshrender reads them), and the kustomizations
    among the inputs (`kustomizations`: name and text of each, in order), which decide
    which other inputs are patches."""
    from dataclasses import fields

    from meshrender.inputs.files import read_regular

    chosen = [(f.name, getattr(options, f.name)) for f in fields(options) if f.name not in ("given", "config")]
    parts: list[bytes | str] = [code_digest(), repr(chosen), *kustomizations]
    named = [*options.values_files, *options.mesh_config_files]
    config_path = getattr(options.config, "path", None)
    if config_path:
        named.append(str(config_path))
    for path in named:
        try:
            parts.append(read_regular(path, path))
        except Exception:
            parts.append(f"unreadable\0{path}")
    return parts


def namespaces_used(evaluations: Iterable[Any]) -> tuple[str, ...]:
    """The scopes the workloads of one file depend on, sorted."""
    return tuple(sorted({f"ns:{e.workload.namespace}" for e in evaluations}))
