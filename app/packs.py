"""Packs prepared before they replace the open one: loaded, validated and indexed (no Qt, no VTK).
The last few are kept so a switch back is quick; views keep what they derive from a pack (display
meshes, danger shells) in its `views` dictionary, so it is cached with the pack."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from needlesafe.geometry.needle import Needle
from needlesafe.meshes.builtin import cache_dir, is_builtin, parse_name
from needlesafe.meshes.errors import PackError
from needlesafe.meshes.resolve import load_pack
from needlesafe.meshes.types import AnatomyScene

PACK_CACHE_SIZE = 4  # prepared packs kept for quick switches
ATLAS_PREFIX = "atlas:"
ATLAS_DEFAULT_PACK = "atlas:gluteal:average"  # what the app opens when the atlas is on this machine


def default_pack() -> str:
    """The pack the app opens without being told: the atlas gluteal region when the atlas is on this
    machine, else the schematic default."""
    from needlesafe.meshes.atlas.fetch import atlas_present

    return ATLAS_DEFAULT_PACK if atlas_present() else "default"


def named_region(source) -> tuple[str, str] | None:
    """(region key, habitus) for a pack given by name — ('gluteal', 'lean') for a schematic
    region, ('atlas:gluteal', 'average') for an atlas region — or None for a folder (or a name that
    is a path on disk). Raises PackError for an unknown region or habitus."""
    text = str(source)
    if Path(text).exists():
        return None
    if is_builtin(text):
        region, hab = parse_name(text)
        return region, hab
    if text.startswith(ATLAS_PREFIX):
        from needlesafe.meshes.atlas.build import parse_name as atlas_parse

        region, hab = atlas_parse(text)
        return ATLAS_PREFIX + region, hab
    return None


def pack_key(source) -> str:
    """One name per pack: 'gluteal:average' or 'atlas:gluteal:average' for a named region (whatever
    alias or default habitus opened it), else the folder's resolved path."""
    named = named_region(source)
    if named is not None:
        return f"{named[0]}:{named[1]}"
    return str(Path(source).resolve())


def same_region(a: str, b: str) -> bool:
    """Are packs `a` and `b` habitus of one named region ('gluteal' and 'gluteal:lean', or
    'atlas:gluteal' and 'atlas:gluteal:high'; a schematic and an atlas region never are)?"""
    try:
        ra, rb = named_region(a), named_region(b)
    except PackError:
        return False
    return ra is not None and rb is not None and ra[0] == rb[0]


@dataclass(frozen=True)
class RegionChoice:
    """One entry of the region list: `key` ('gluteal' or 'atlas:gluteal'), its label and body area."""

    key: str
    label: str
    area: str


#: Body areas of the schematic regions (the atlas recipes name their own).
SCHEMATIC_AREAS = {"gluteal": "hip and pelvis", "shoulder": "neck and shoulder"}


def region_choices(atlas: bool | None = None) -> list[RegionChoice]:
    """The regions a user can open, grouped by body area (areas in alphabetical order; in each, the
    atlas regions by title, then the schematic ones, labelled '(schematic)'). Atlas regions are
    listed when `atlas` (default: the atlas is on this machine)."""
    from needlesafe.meshes.builtin import REGIONS

    if atlas is None:
        from needlesafe.meshes.atlas.fetch import atlas_present

        atlas = atlas_present()
    out = [RegionChoice(r, f"{r} (schematic)", SCHEMATIC_AREAS.get(r, "other")) for r in REGIONS]
    if atlas:
        from needlesafe.meshes.atlas.recipe import load_recipe, recipe_ids, recipe_path

        for rid in recipe_ids():
            recipe = load_recipe(recipe_path(rid))
            out.append(RegionChoice(ATLAS_PREFIX + rid, recipe.title, recipe.body_area))
    return sorted(out, key=lambda c: (c.area, c.key.startswith(ATLAS_PREFIX) is False, c.label))


class PreparedPack:
    """A pack ready to show: its scene now; its engine and a first 50 mm needle when first asked for.

    The engine (numba's compiled kernels and the BVH) takes about a second to load on a cold start,
    and nothing about drawing the anatomy needs it: the window shows the region first and asks for
    the engine after the first frame. `engine` and `start` raise PackError when the engine cannot
    be made."""

    def __init__(self, key: str, scene: AnatomyScene, engine=None, start: Needle | None = None, stamp=None):
        self.key = key
        self.scene = scene
        self._engine = engine
        self._start = start
        self.stamp = stamp
        self.views: dict = {}  # what views derive from the pack, cached with it

    @property
    def engine_ready(self) -> bool:
        return self._engine is not None and self._start is not None

    @property
    def engine(self):
        """The pack's `ClearanceEngine`, made on first use (trees kept between runs)."""
        if self._engine is None:
            # imported here: numba's kernels load with the engine, after the first frame
            from needlesafe.geometry.clearance import ClearanceEngine

            try:
                self._engine = ClearanceEngine(self.scene, cache_dir=cache_dir() / "bvh")
            except (OSError, ValueError) as exc:
                raise PackError(f"{self.key}: {exc}") from exc
        return self._engine

    @property
    def start(self) -> Needle:
        """A first 50 mm needle, 0.30 mm gauge, entering the skin (made on first use)."""
        if self._start is None:
            from needlesafe.geometry.placement import initial_needle  # with numba's kernels

            try:
                self._start = initial_needle(self.scene, 50.0, 0.30)
            except (OSError, ValueError) as exc:
                raise PackError(f"{self.key}: {exc}") from exc
        return self._start


_PREPARED: OrderedDict[str, PreparedPack] = OrderedDict()


def _stamp(key: str):
    """What makes a cached folder pack stale: the folder's and its manifest's modification times."""
    if ":" in key and not Path(key).exists():
        return None
    try:
        folder = Path(key)
        return tuple(p.stat().st_mtime_ns for p in [folder, *sorted(folder.glob("*.json"))] if p.exists())
    except OSError:
        return None


def prepare_pack(source) -> PreparedPack:
    """Load and validate a pack (cached: the last few packs open again at once); its engine is made
    when first asked for. Raises PackError naming the problem; nothing open is touched."""
    try:
        key = pack_key(source)
    except (OSError, ValueError) as exc:
        raise PackError(f"{source}: {exc}") from exc
    stamp = _stamp(key)
    hit = _PREPARED.get(key)
    if hit is not None and hit.stamp == stamp:
        _PREPARED.move_to_end(key)
        return hit
    try:
        scene = load_pack(source)
    except PackError:
        raise
    except (OSError, ValueError) as exc:
        raise PackError(f"{source}: {exc}") from exc
    prepared = PreparedPack(key, scene, stamp=stamp)
    _PREPARED[key] = prepared
    while len(_PREPARED) > PACK_CACHE_SIZE:
        _PREPARED.popitem(last=False)
    return prepared


def forget_prepared() -> None:
    """Drop every cached pack (tests; a user's folder edited behind the window's back is caught by its stamp)."""
    _PREPARED.clear()


def danger_shells(structures, progress=None) -> dict:
    """Margin shells of the danger structures: name -> (vertices (n, 3), faces (m, 3)), each the
    surface `margin_mm` (at least 0.5 mm) outside the structure. `structures` are (name, vertices,
    faces, margin_mm); `progress(fraction) -> bool` returning False stops the work (the result is
    then None). A shell that cannot be built is left out, never drawn wrong."""
    # imported here: the offset surfaces need scikit-image and scipy.ndimage (0.3 s at start-up),
    # and only a user who turns the shells on needs them
    from needlesafe.meshes.envelope import offset_surface

    shells = {}
    for k, (name, v, f, margin) in enumerate(structures):
        if progress is not None and not progress(k / max(1, len(structures))):
            return None
        try:
            shells[name] = offset_surface(v, f, max(margin, 0.5))
        except Exception:  # noqa: BLE001 - a shell that cannot be built is just not drawn
            continue
    return shells
