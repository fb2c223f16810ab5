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
