"""Istio's other built-in injection templates (`gateway`, `grpc-simple`, `grpc-agent`).

One module per template, each a Python rendering of the Go template of the same name in
Istio's istio-discovery chart (manifests/charts/istio-control/istio-discovery/files/),
registered by name in `meshrender.inject.templates`.
"""
