"""Which release of the mesh the injector belongs to, and what that release does.

`render/data/istio-releases.yaml` lists, from Istio's history, every change to what the
injector writes between Istio 1.22 and master, with the first (and last) release that
has it; `render/data/asm-releases.yaml` maps ASM versions to the Istio release they are
built on and to their proxy image. A `Release` is made once per render (by the
Resolver) and answers `release.has("feature")` with a set lookup, so templates branch on
the version at no per-pod cost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from meshrender import bundled
from meshrender.errors import InputError, Location, UsageError

ISTIO_DATA = "istio-releases.yaml"
ASM_DATA = "asm-releases.yaml"

# (minor, patch) of a 1.x release; master is (newest line, 0) and flagged `dev`.
Point = tuple[int, int]

_VERSION = re.compile(r"^\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.(\d+))?([-+].*)?\s*$")


@dataclass(frozen=True)
class Change:
    """One entry of the release table."""

    name: str
    kind: str
    summary: str
    added: Point | None
    removed: Point | None
    backports: tuple[Point, ...]
    data: dict[str, Any]

    def present(self, at: Point) -> bool:
        """Whether release `at` (minor, patch) has this change."""
        if self.removed is not None and at >= self.removed:
            return False
        if self.added is None or at >= self.added:
            return True
        return any(at[0] == b[0] and at[1] >= b[1] for b in self.backports)

    def source(self) -> str:
        src = self.data.get("source") or {}
        return f"istio/istio#{src.get('pr')} ({src.get('commit')})"


def _point(text: str, where: str) -> Point:
    m = _VERSION.match(str(text))
    if not m or m.group(1) != "1":
        raise ValueError(f"{where}: {text!r} is not a 1.x.y release")
    return int(m.group(2)), int(m.group(3) or 0)


@dataclass(frozen=True)
class Table:
    """The parsed release table."""

    lines: dict[int, dict[str, Any]]  # minor -> {newest, hub, dev}
    changes: dict[str, Change]

    @property
    def oldest(self) -> int:
        return min(self.lines)

    @property
    def newest(self) -> int:
        return max(self.lines)

    def supported(self) -> str:
        names = [f"1.{m}" + (" (master)" if self.lines[m].get("dev") else "") for m in sorted(self.lines)]
        return ", ".join(names)


@cache
def table() -> Table:
    """render/data/istio-releases.yaml, checked and indexed (once per process)."""
    raw = bundled.load(ISTIO_DATA)
    lines = {}
    for entry in raw["lines"]:
        minor = _point(entry["line"] + ".0", "lines")[0]
        lines[minor] = dict(entry)
    changes = {}
    for entry in raw["changes"]:
        name = entry["name"]
        where = f"{ISTIO_DATA}: {name}"
        changes[name] = Change(
            name=name,
            kind=entry["kind"],
            summary=" ".join(str(entry.get("summary") or entry.get("setting") or "").split()),
            added=_point(entry["added"], where) if entry.get("added") else None,
            removed=_point(entry["removed"], where) if entry.get("removed") else None,
            backports=tuple(_point(b, where) for b in entry.get("backports") or ()),
            data=entry,
        )
    return Table(lines, changes)


@cache
def asm_table() -> dict[str, Any]:
    return bundled.load(ASM_DATA)


@dataclass(frozen=True)
class Release:
    """The mesh release a render is for.

    `point` is the Istio release whose injector behaviour applies (for ASM: the Istio
    release that ASM version is built on); `image` is the default proxy image, or ""
    when meshrender does not know it (an ASM version without a known image).
    """

    flavor: str
    point: Point
    dev: bool
    label: str  # "Istio 1.24.6", "Istio 1.32-dev (master)", "ASM 1.22.2.35"
    image_hub: str
    image_tag: str
    features: frozenset[str] = field(repr=False)
    given: bool = True  # False: no version was given; this is the assumed default
    patch_given: bool = False  # the version named a patch (X.Y.Z), not only a line

    def has(self, name: str) -> bool:
        """Whether this release's injector has the change `name` of the release table."""
        if name in self.features:
            return True
        if name not in table().changes:
            raise KeyError(f"{name!r} is not in render/data/{ISTIO_DATA}")
        return False

    @property
    def line(self) -> str:
        return f"1.{self.point[0]}"

    @property
    def image_known(self) -> bool:
        return bool(self.image_hub and self.image_tag)

    def changes_between(self, other: Release) -> dict[str, list[Change]]:
        """What `other` has that this release does not (`gained`), and the reverse
        (`lost`), from the release table; `defaults` holds the entries of kind default
        among them (the defaults that changed between the two releases)."""
        changes = table().changes
        gained = [changes[n] for n in sorted(other.features - self.features)]
        lost = [changes[n] for n in sorted(self.features - other.features)]
        return {"gained": gained, "lost": lost,
                "defaults": [c for c in gained + lost if c.kind == "default"]}


def _features(at: Point) -> frozenset[str]:
    return frozenset(n for n, c in table().changes.items() if c.present(at))


def parse(text: str, source: str) -> tuple[int, int, int | None, int | None, str]:
    """`X.Y[.Z[.W]][-suffix]` -> (major, minor, patch, build, suffix)."""
    m = _VERSION.match(str(text))
    if not m:
        raise UsageError(f"mesh version {text!r} is not a version like 1.24 or 1.24.3", field=source)
    patch = int(m.group(3)) if m.group(3) is not None else None
    build = int(m.group(4)) if m.group(4) is not None else None
    return int(m.group(1)), int(m.group(2)), patch, build, m.group(5) or ""


def resolve(flavor: str, text: str | None, source: str, region: str | None = None,
            location: Location | None = None) -> tuple[Release, list[str]]:
    """The Release for `text` (None: the default), and warnings to show.

    Older than the oldest supported line is an error listing the supported ones (an
    InputError at `location` when the version comes from a file, else a UsageError);
    newer than the newest is rendered as the newest, with a warning.
    """
    try:
        if flavor == "asm":
            return _resolve_asm(text, source, region)
        return _resolve_istio(text, source)
    except UsageError as e:
        if location is None:
            raise
        raise InputError(e.message, location, field=e.field) from None


def _resolve_istio(text: str | None, source: str) -> tuple[Release, list[str]]:
    t = table()
    warnings: list[str] = []
    if text is None:
        minor, patch, tag_given = t.newest, None, None
    else:
        major, minor, patch, _build, suffix = parse(text, source)
        if (major, minor) < (1, t.oldest):
            raise UsageError(f"Istio {text} is not supported; meshrender renders for Istio {t.supported()}",
                             field=source)
        tag_given = None
        if major > 1 or minor > t.newest:
            warnings.append(f"meshrender: warning: {source}: Istio {text} is newer than the newest release "
                            f"meshrender knows (1.{t.newest}); rendering as 1.{t.newest}")
            minor, patch = t.newest, None
        elif patch is not None:
            tag_given = f"1.{minor}.{patch}{suffix}"
    line = t.lines[minor]
    dev = bool(line.get("dev"))
    newest = str(line["newest"])
    if tag_given is None:
        tag = newest
        patch = None if dev else _point(newest, ISTIO_DATA)[1]
    else:
        tag = tag_given
    point = (minor, patch or 0)
    label = f"Istio 1.{minor}-dev (master)" if dev and tag_given is None else f"Istio {tag}"
    release = Release("istio", point, dev and tag_given is None, label, str(line["hub"]), tag,
                      _features(point), given=text is not None, patch_given=tag_given is not None)
    return release, warnings


def _resolve_asm(text: str | None, source: str, region: str | None) -> tuple[Release, list[str]]:
    asm = asm_table()
    t = table()
    known = [dict(r) for r in asm["releases"]]
    warnings: list[str] = []
    region = region or asm["default_region"]
    hub = str(asm["registry"]).format(region=region)
    if text is None:
        chosen = max(known, key=lambda r: _asm_key(r["version"]))
        return _asm_release(chosen, hub, given=False), warnings
    major, minor, patch, build, _suffix = parse(text, source)
    newest_line = max(m for m in t.lines if not t.lines[m].get("dev"))
    if (major, minor) < (1, t.oldest):
        lines = ", ".join(f"1.{m}" for m in sorted(t.lines) if m <= newest_line)
        raise UsageError(f"ASM {text} is not supported; meshrender renders for ASM {lines}", field=source)
    if major > 1 or minor > newest_line:
        warnings.append(f"meshrender: warning: {source}: ASM {text} is newer than the newest release "
                        f"meshrender knows (1.{newest_line}); rendering as 1.{newest_line}")
        minor, patch, build = newest_line, None, None
    wanted = [r for r in known if _matches(r["version"], minor, patch, build)]
    if wanted:
        chosen = max(wanted, key=lambda r: _asm_key(r["version"]))
        return _asm_release(chosen, hub, given=True), warnings
    # A version whose image is not known: its Istio base behaviour, and no image.
    istio_patch = patch if patch is not None else _point(str(t.lines[minor]["newest"]), ISTIO_DATA)[1]
    point = (minor, istio_patch)
    shown = ".".join(str(p) for p in (1, minor, patch, build) if p is not None)
    return Release("asm", point, False, f"ASM {shown}", "", "", _features(point)), warnings


def _asm_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def _matches(version: str, minor: int, patch: int | None, build: int | None) -> bool:
    parts = _asm_key(version)
    want = [1, minor] + [p for p in (patch, build) if p is not None]
    return list(parts[: len(want)]) == want


def _asm_release(entry: dict[str, Any], hub: str, given: bool) -> Release:
    point = _point(entry["istio"], ASM_DATA)
    return Release("asm", point, False, f"ASM {entry['version']}", hub, str(entry["tag"]),
                   _features(point), given=given)


@cache
def newest() -> Release:
    """The release rendered when nothing says otherwise (the istio flavor's default)."""
    return resolve("istio", None, "mesh version")[0]


def for_render(flavor: str, flag: str | None, profile: Any, config: Any = None,
               region: str | None = None) -> tuple[Release, list[str]]:
    """The Release of a render: `--mesh-version` (`flag`) over the ClusterProfile's
    spec.meshVersion (`profile`, a yamlio Document or None) over the repository
    configuration's render.meshVersion (`config`); `region` picks ASM's registry."""
    from meshrender.yamlio import locate

    spec = (profile.data.get("spec") or {}) if profile is not None else {}
    if flag:
        return resolve(flavor, flag, "--mesh-version", region)
    text = spec.get("meshVersion")
    if text is not None:
        return resolve(flavor, str(text), "spec.meshVersion", region, locate(profile, ("spec", "meshVersion")))
    default = config.default("meshVersion") if config is not None else None
    if default is not None:
        return resolve(flavor, str(default), "render.meshVersion", region, config.location("render", "meshVersion"))
    return resolve(flavor, None, "mesh version", region)


def image_values(release: Release) -> dict[str, Any]:
    """The injector values that make the release's default proxy image (`global.hub` and
    `global.tag`), or {} when the image is not known."""
    if not release.image_known:
        return {}
    return {"global": {"hub": release.image_hub, "tag": release.image_tag}}


def data_file(release: Release) -> str:
    """Where the release's defaults come from, as explain names it."""
    return f"render/data/{ASM_DATA if release.flavor == 'asm' else ISTIO_DATA}"


def hub_and_tag_from_image(values: dict[str, Any]) -> dict[str, Any]:
    """The injector values with `global.hub` and `global.tag` taken from a full
    `global.proxy.image` (REGISTRY/PATH/NAME:TAG) when neither is set: what a cluster
    installed with that image has. Istio builds istio-init's image (and the proxy's, for
    a name without `/`) as HUB/NAME:TAG, so a full image with an empty hub and tag gives
    `/REGISTRY/...:`; a cluster never runs with an empty hub. Values are returned as they
    are otherwise (an image by digest has no tag to take)."""
    glob = values.get("global") or {}
    proxy = glob.get("proxy") or {}
    image = proxy.get("image")
    if not isinstance(image, str) or "/" not in image or "@" in image or glob.get("hub") or glob.get("tag"):
        return values
    hub, _, name_tag = image.rpartition("/")
    name, colon, tag = name_tag.partition(":")
    if not colon or not tag or not name:
        return values
    return {**values, "global": {**glob, "hub": hub, "tag": tag, "proxy": {**proxy, "image": name}}}


def check_image(release: Release, values: dict[str, Any]) -> None:
    """Refuse to render a release whose proxy image meshrender does not know, unless the
    settings name the image (a full `proxy.image`, or `global.hub` and `global.tag`)."""
    glob = values.get("global") or {}
    image = str((glob.get("proxy") or {}).get("image") or "")
    if "/" in image or (glob.get("hub") and glob.get("tag")):
        return
    registry = str(asm_table()["registry"]) if release.flavor == "asm" else "<registry>"
    raise UsageError(
        f"meshrender does not know the proxy image of {release.label}; name it in the settings: "
        f"spec.proxy.image of a global SidecarProxySettings (e.g. "
        f"{registry.format(region='<region>')}/proxyv2:v{release.label.split()[-1]}.<build>-<commit>-aliyun), "
        "or global.hub and global.tag in the injector values (--values)",
        field="proxy.image")


def known_releases() -> list[str]:
    """The releases this build renders for, one line per flavor (what `meshrender
    --version` prints): the Istio lines with the newest patch the table knows of each,
    and the ASM lines with the ASM versions whose proxy image is known. From the data
    files, so a release added there is named here."""
    t = table()
    stable = [m for m in sorted(t.lines) if not t.lines[m].get("dev")]
    newest = t.lines[t.newest]
    last = f"1.{t.newest}-dev (master)" if newest.get("dev") else f"1.{t.newest}"
    patches = [str(t.lines[m]["newest"]) for m in stable] + (["master"] if newest.get("dev") else [])
    istio = f"Istio 1.{t.oldest} to {last}: {', '.join(patches)}"
    images = sorted((str(r["version"]) for r in asm_table()["releases"]), key=_asm_key)
    asm = (f"ASM 1.{t.oldest} to 1.{max(stable)}: proxy images known for {', '.join(images)} "
           "(other versions render with the image named in the settings)")
    return [istio, asm]
