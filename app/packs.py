"""Packs prepared before they replace the open one: loaded, validated and indexed (no Qt, no VTK).
The last few are kept so a switch back is quick; views keep what they derive from a pack (display
meshes, danger shells) in its `views` dictionary, so it is cached with the pack."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.needle import Needle
from needlesafe.geometry.placement import initial_needle
from needlesafe.meshes.builtin import cache_dir, is_builtin, parse_name
from needlesafe.meshes.errors import PackError
from needlesafe.meshes.resolve import load_pack
from needlesafe.meshes.types import AnatomyScene

PACK_CACHE_SIZE = 4  # prepared packs kept for quick switches
ATLAS_DEFAULT_PACK = "atlas:gluteal:average"  # what the app opens when the atlas is on this machine


def default_pack() -> str:
    """The pack the app opens without being told: the atlas gluteal region when the atlas is on this
    machine, else the schematic default."""
    from needlesafe.meshes.atlas.fetch import atlas_present

    return ATLAS_DEFAULT_PACK if atlas_present() else "default"


def pack_key(source) -> str:
    """One name per pack: 'gluteal:average' for a built-in (whatever alias opened it), else the
    folder's resolved path."""
    if is_builtin(source) and not Path(str(source)).exists():
        region, hab = parse_name(str(source))
        return f"{region}:{hab}"
    return str(Path(source).resolve())


def same_region(a: str, b: str) -> bool:
    """Are packs `a` and `b` built-in habitus of one region ('gluteal' and 'gluteal:lean')?"""
    try:
        return is_builtin(a) and is_builtin(b) and parse_name(a)[0] == parse_name(b)[0]
    except PackError:
        return False


@dataclass
class PreparedPack:
    """A pack ready to show: its scene, its engine and a first 50 mm needle."""

    key: str
    scene: AnatomyScene
    engine: ClearanceEngine
    start: Needle
    stamp: object = None
    views: dict = field(default_factory=dict)  # what views derive from the pack, cached with it


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
    """Load, validate and index a pack (cached: the last few packs open again at once). Raises
    PackError naming the problem; nothing open is touched."""
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
        engine = ClearanceEngine(scene, cache_dir=cache_dir() / "bvh")  # trees kept between runs
        start = initial_needle(scene, 50.0, 0.30)
    except PackError:
        raise
    except (OSError, ValueError) as exc:
        raise PackError(f"{source}: {exc}") from exc
    prepared = PreparedPack(key, scene, engine, start, stamp)
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
