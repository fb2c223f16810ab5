"""Native or traditional sidecar, per workload, by the contract's table (first match wins).

1. the pod's `sidecar.istio.io/nativeSidecar` annotation;
2. `nativeSidecar` of the most specific SidecarProxySettings that sets it;
3. `ASMMeshConfig.spec.enableNativeSidecar`;
4. `--native-sidecars true|false` (Istio's ENABLE_NATIVE_SIDECARS);
5. auto: by Kubernetes and mesh versions (unknown versions: traditional).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from meshrender.settings.layers import Origin

Version = tuple[int, int]
ACK_PROVIDERS = ("ack", "ack-serverless", "acs")


def parse_version(text: object) -> Version | None:
    """`1.30`, `v1.30.2`, `1.30.1+k3s1`, `v1.22.2.35-ge64ec8af-aliyun` -> (1, 30)."""
    if text is None:
        return None
    m = re.match(r"^\s*v?(\d+)\.(\d+)", str(text))
    return (int(m.group(1)), int(m.group(2))) if m else None


def show(v: Version | None) -> str:
    return f"{v[0]}.{v[1]}" if v else "unknown"


@dataclass(frozen=True)
class Cluster:
    """What the target cluster runs, as far as the inputs say."""

    flavor: str
    kube_version: Version | None
    provider: str | None
    mesh_version: Version | None
    native_flag: str = "auto"  # --native-sidecars

    def min_kube_for_native(self) -> Version:
        if self.flavor == "istio":
            return (1, 33)
        return (1, 29) if self.provider == "community" else (1, 30)

    def min_mesh_for_native(self) -> Version:
        return (1, 27) if self.flavor == "istio" else (1, 22)

    def auto_native(self) -> tuple[bool, str]:
        """The `auto` rule's answer and the sentence that explains it."""
        mesh_name = "Istio" if self.flavor == "istio" else "ASM"
        where = "" if self.flavor == "istio" else f" on {self.provider or 'ACK'}"
        need_k = self.min_kube_for_native()
        need_m = self.min_mesh_for_native()
        if self.kube_version is None or self.mesh_version is None:
            missing = [n for n, v in (("Kubernetes", self.kube_version), (mesh_name, self.mesh_version))
                       if v is None]
            return False, f"auto: {' and '.join(missing)} version unknown (set them in a ClusterProfile)"
        ok = self.kube_version >= need_k and self.mesh_version >= need_m
        return ok, (
            f"auto: Kubernetes {show(self.kube_version)}{where}, {mesh_name} {show(self.mesh_version)} "
            f"(native needs Kubernetes {show(need_k)}+ and {mesh_name} {show(need_m)}+)"
        )


@dataclass(frozen=True)
class ModeDecision:
    native: bool
    reason: str
    origin: Origin | None = None

    @property
    def mode(self) -> str:
        return "native" if self.native else "traditional"


def decide(annotations: dict[str, str], annotation_origin: Origin | None, settings_native: bool | None,
           settings_origin: Origin | None, asm_native: bool | None, asm_origin: Origin | None,
           cluster: Cluster) -> ModeDecision:
    value = annotations.get("sidecar.istio.io/nativeSidecar")
    if value:
        native = value != "false"
        return ModeDecision(native, f"pod annotation sidecar.istio.io/nativeSidecar: \"{value}\"",
                            annotation_origin)
    if settings_native is not None:
        where = settings_origin.layer if settings_origin else "SidecarProxySettings"
        return ModeDecision(settings_native, f"nativeSidecar: {str(settings_native).lower()} in {where}",
                            settings_origin)
    if asm_native is not None:
        return ModeDecision(asm_native, f"ASMMeshConfig enableNativeSidecar: {str(asm_native).lower()}",
                            asm_origin)
    if cluster.native_flag in ("true", "false"):
        return ModeDecision(cluster.native_flag == "true",
                            f"--native-sidecars {cluster.native_flag} (cluster-wide setting)")
    native, why = cluster.auto_native()
    return ModeDecision(native, why)
