"""`meshrender lint`: mesh-aware checks of workloads and sidecar settings.

Three parts, kept apart as kube-linter does: loading (`model`: what every workload runs
with, after precedence, and the pod the injector would produce), checking (the rules in
`policies/`, discovered by `rules`), and reporting (`engine` gathers findings, `suppress`
applies `meshrender.dev/ignore`, `formats/` prints them).
"""
