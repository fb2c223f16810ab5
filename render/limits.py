"""Every bound meshrender puts on its input, in one place.

meshrender runs unattended (CI jobs, the Argo CD plugin) on whatever a repository holds,
so hostile or broken input must end in a clear refusal, never a hang, an out-of-memory
kill or a crash. Each limit is far above anything a real manifest needs and low enough
that the worst input it admits still renders in bounded time and memory; the numbers
behind them are in docs/bad-input.md ("Limits"). A run that hits one stops with exit 2
and a message naming the file, line and the limit.
"""

from __future__ import annotations

MiB = 1024 * 1024

# Size of one input file. Kubernetes stores objects of at most 1.5 MiB (etcd's default
# request limit), so 16 MiB is a stream of thousands of objects. Reading YAML costs about
# 26 bytes of memory per input byte (Python objects for every node), so the largest file
# peaks near 450 MB (measured by fuzz/measure_limits.py, numbers in docs/bad-input.md).
MAX_FILE_BYTES = 16 * MiB

# All inputs of one run together (files and stdin): every document stays in memory until
# the output is complete, so this bounds the whole run near 1.7 GB, inside what a CI
# runner or an Argo CD repo-server plugin container usually gets.
MAX_TOTAL_BYTES = 64 * MiB

# Nesting of collections in one document. Kubernetes objects nest about 15 levels deep
# (CRD schemas maybe 60); deeper input is either generated garbage or an attack on the
# recursive code that walks documents.
MAX_DEPTH = 200

# Before parsing, a cheap bound on nesting (flow brackets plus indentation) decides
# whether a document needs an exact nesting check before it reaches the C parser, whose
# recursive composer overflows the process stack somewhere past 20,000 levels.
PARSE_SAFE_DEPTH = 5_000

# Nodes (maps, lists and scalars, keys included) of one document as written. Reading
# costs memory per node (about 100 bytes as data; about 500 bytes for the moment the
# reference reader holds a node tree), not per byte: `[1,1,1,...]` is a node every two
# bytes, so 16 MiB of it would be 8 million nodes and gigabytes. A Kubernetes object is
# at most 1.5 MiB (etcd), about 100,000 nodes; a List of many objects can be larger, which
# this leaves room for. Counted before the document is composed, so the refusal itself
# is cheap (docs/bad-input.md, Limits, has the measured cost at this limit).
MAX_NODES = 250_000

# Nodes of all documents of one file, every alias counted in full: a file's documents are
# held in memory together while it is rendered, and an alias makes a workload that many
# nodes larger for everything that walks it. Real manifests run about 13 bytes a node, so
# a file of 16 MiB holds some 1.3 million.
MAX_FILE_NODES = 2_000_000

# Settings documents of one run (SidecarProxySettings, ProxyConfig, Istio's ConfigMaps and
# IstioOperator, and every document that may be one): they are read from every file first
# and held for the whole run, at some 8 KB each with what is made of them. Real
# repositories hold tens to a few thousand.
MAX_SETTINGS_DOCUMENTS = 10_000
MAX_SETTINGS_NODES = 1_000_000

# Workloads of one file: each is held with its injected pod until the file is rendered
# (some 20 KB; 50 KB when every workload has settings of its own), and a sidecar adds
# about 6 KB of output to a workload of 100 bytes. 5,000 real workloads are some 8 MiB of
# manifests; split larger streams into files (or folders) of fewer.
MAX_FILE_WORKLOADS = 5_000

# The memory one process of a run may need with every input within the limits above (the
# worst shapes measured stay well under it: docs/bad-input.md, Limits). It is the Argo CD
# sidecar's limit; a run starts no more worker processes than its memory limit holds at
# this much each (render/run/driver.py, workers_for).
PROCESS_MEMORY = 512 * MiB

# Anchors and aliases share data, so a few hundred bytes can describe a document of
# billions of nodes ("billion laughs"). The expanded document, counting every alias
# as a copy, may hold at most this many nodes and this many characters of scalars.
MAX_EXPANDED_NODES = 2_000_000
MAX_EXPANDED_CHARS = 64 * MiB

# Kubernetes quantities: `1e999999999` would make an exact-arithmetic parser compute a
# number with a billion digits. Real quantities stay within 1e-9 (n) and 1e18 (E).
MAX_QUANTITY_EXPONENT = 40
MAX_QUANTITY_DIGITS = 64

# Durations: Go's time.Duration (what Istio parses them into) holds at most 2^63-1 ns.
MAX_DURATION_SECONDS = (2**63 - 1) // 10**9
MAX_DURATION_CHARS = 256
