"""Native or traditional sidecar, per workload, by the contract's table (first match wins).

1. the pod's `sidecar.istio.io/nativeSidecar` annotation;
2. `nativeSidecar` of the most specific SidecarProxySettings that sets it;
3. `ASMMeshConfig.spec.enableNativeSidecar`;
4. `--native-sidecars true|false` (Istio's ENABLE_NATIVE_SIDECARS);
5. auto: by Kubernetes and mesh versions (unknown versions: traditional).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from meshrender.istio import NATIVE
from meshrender.settings.layers import Tree
from meshrender.settings.provenance import Effective, Origin, Place, Step

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
    """What the target cluster runs, as far as the inputs say, and where each fact came
    from (`origins`: flavor, kubernetesVersion, provider, meshVersion, nativeSidecars)."""

    flavor: str
    kube_version: Version | None
    provider: str | None
    mesh_version: Version | None
    native_flag: str = "auto"  # --native-sidecars
    origins: dict[str, Origin] = field(default_factory=dict, compare=False, hash=False)

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


# The rules of the table, in order: what `Effective.rule` numbers.
RULES = {
    1: f"pod annotation {NATIVE}",
    2: "nativeSidecar of the most specific SidecarProxySettings",
    3: "ASMMeshConfig spec.enableNativeSidecar",
    4: "--native-sidecars (cluster-wide)",
    5: "auto, from the Kubernetes and mesh versions",
}


def decide(annotations: dict[str, str], annotation_place: Place | None, tree: Tree,
           asm_native: bool | None, asm_origin: Origin | None, cluster: Cluster) -> Effective:
    """Native (value True) or traditional, by the first rule of the table that applies;
    the lower sources that set it are what it overrode."""
    settings = tree.steps(("native",))
    value = annotations.get(NATIVE)
    if value:
        native = value != "false"
        origin = Origin("annotation", f"annotation {NATIVE}", annotation_place)
        decision = Effective("mode", native, Step(value, origin), overridden=settings, rule=1,
                             reason=f'pod annotation {NATIVE}: "{value}"')
        if value not in ("true", "false"):
            decision.notes.append(f'{NATIVE}: "{value}" is read as true; write "true" or "false"')
        return decision
    if settings and settings[0].value is not None:
        winner = settings[0]
        native = bool(winner.value)
        return Effective("mode", native, winner, overridden=settings[1:], rule=2,
                         reason=f"nativeSidecar: {str(native).lower()} in {winner.origin.name}")
    if asm_native is not None and asm_origin is not None:
        return Effective("mode", asm_native, Step(asm_native, asm_origin), rule=3,
                         reason=f"ASMMeshConfig enableNativeSidecar: {str(asm_native).lower()}")
    if cluster.native_flag in ("true", "false"):
        origin = cluster.origins.get("nativeSidecars") or Origin(
            "command-line", f"--native-sidecars {cluster.native_flag}")
        return Effective("mode", cluster.native_flag == "true", Step(cluster.native_flag, origin), rule=4,
                         reason=f"--native-sidecars {cluster.native_flag} (cluster-wide setting)")
    native, why = cluster.auto_native()
    sources = [cluster.origins[k] for k in ("kubernetesVersion", "provider", "meshVersion") if k in cluster.origins]
    return Effective("mode", native, Step(native, Origin("default", "auto")), rule=5, reason=why, sources=sources)
