"""Proxy images against the mesh version the cluster runs."""

from __future__ import annotations

import re
from collections.abc import Iterator

from meshrender.lint.finding import Hit
from meshrender.lint.model import WorkloadView
from meshrender.lint.rules import workload_rule
from meshrender.settings.provenance import Step

# An image tag that names a release: Istio's 1.24.3[-distroless], ASM's
# v1.22.2.35-ge64ec8af-aliyun. Tags that name none (latest, a digest) are not judged.
_TAG_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:[-+].*)?$")


def image_version(image: str) -> tuple[int, int, int | None] | None:
    """(major, minor, patch) of the release an image's tag names, or None."""
    ref = image.split("@", 1)[0]
    _, colon, tag = ref.rpartition(":")
    if not colon or "/" in tag:
        return None
    m = _TAG_VERSION.match(tag)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) is not None else None


def _explicit_images(view: WorkloadView) -> Iterator[tuple[str, Step]]:
    """The proxy image when the user names it (the sidecar.istio.io/proxyImage annotation,
    an istio-proxy container of their own, a proxy.image, hub or tag in the settings): the
    image the injected pod runs, and what set it."""
    image = view.setting("proxy.image")
    if image is not None and image.user_set and image.value:
        yield str(image.value), image.winner


@workload_rule(
    "proxy-image-version-mismatch", "warning",
    title="An explicit proxy image is of another release than the mesh",
    rationale="""The settings or the pod name a proxy image whose tag is another release than the
    mesh version of the cluster (--mesh-version or ClusterProfile spec.meshVersion). Istio supports
    a proxy at most one minor release older than its control plane and never a newer one; the
    injected pod also gets the template of the control plane's release, not the image's, so env,
    volumes and flags may not match what that proxy expects.""",
    fix="""Use the image of the mesh's release (remove the override and meshrender picks it), or set
    the mesh version to the release the cluster really runs.""",
)
def proxy_image_version_mismatch(view: WorkloadView) -> Iterator[Hit]:
    resolver = view.model.resolver
    if not view.injected or view.tree is None or resolver is None:
        return
    release = resolver.release
    if not release.given or release.dev:
        return  # no version to compare with (assumed, or master's rolling builds)
    for image, setting in _explicit_images(view):
        found = image_version(image)
        if found is None or setting.origin.place is None:
            continue
        major, minor, patch = found
        want_minor = release.point[0]
        same = (major, minor) == (1, want_minor)
        if same and patch is not None and release.flavor == "istio" and release.patch_given:
            same = patch == release.point[1]  # the mesh version names a patch: it must match too
        if same:
            continue
        shown = f"{major}.{minor}" + (f".{patch}" if patch is not None else "")
        yield Hit(f"istio-proxy image {image} ({setting.origin.name}) is release {shown}, but the mesh runs "
                  f"{release.label}: use that release's image, or correct the mesh version", setting.origin.place)
