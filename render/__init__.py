"""meshrender: render and lint service-mesh sidecar injection, offline, for GitOps."""

__version__ = "0.1.0"
