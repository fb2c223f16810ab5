"""What the command line says for a render: the options every command takes, with the
repository configuration's defaults.

Apart from resolve.py (which applies them to workloads) so that reading an output
folder's marker, the first thing `render-check` does, needs neither the settings
machinery nor the injector.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from meshrender.config import NO_CONFIG, Config


@dataclass(frozen=True)
class Options:
    """What the command line says, with the repository configuration's defaults for what
    it does not say (`config`; `given` names the fields a flag set, which is what a render
    records in its output folder's marker).

    `flavor`, `kube_version`, `provider` and `region` hold the flags only: a ClusterProfile
    among the inputs wins over the configuration file for them (the Resolver decides).
    """

    flavor: str | None = None
    kube_version: str | None = None
    native_sidecars: str = "auto"
    namespace: str = "default"
    values_files: tuple[str, ...] = ()
    mesh_config_files: tuple[str, ...] = ()
    compliance_policy: str = ""
    provider: str | None = None
    region: str | None = None
    mesh_version: str | None = None
    given: frozenset[str] = field(default=frozenset(), compare=False)
    config: Config = field(default=NO_CONFIG, compare=False, hash=False, repr=False)

    def with_config(self, config: Config) -> Options:
        """These options with `config`'s defaults for every field no flag set."""
        defaults = {"native_sidecars": config.default("nativeSidecars"), "namespace": config.default("namespace"),
                    "values_files": tuple(config.default("values") or ()) or None,
                    "mesh_config_files": tuple(config.default("meshConfig") or ()) or None,
                    "compliance_policy": config.default("compliancePolicy")}
        changes: dict[str, Any] = {k: v for k, v in defaults.items() if v is not None and k not in self.given}
        return replace(self, config=config, **changes)
