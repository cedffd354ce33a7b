"""Packs prepared for the window before they replace the open one: loaded, validated, indexed, their
meshes ready to draw; the last few are kept so a switch back is quick."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.needle import Needle
from needlesafe.geometry.placement import initial_needle
from needlesafe.meshes.builtin import is_builtin, parse_name
from needlesafe.meshes.pack import load_pack
from needlesafe.meshes.types import PackError

from .render import to_polydata

PACK_CACHE_SIZE = 4  # prepared packs (scene, engine, meshes, shells) kept for quick switches


def pack_key(source) -> str:
    """One name per pack: 'gluteal:average' for a built-in (whatever alias opened it), else the
    folder's resolved path."""
    if is_builtin(source) and not Path(str(source)).exists():
        region, hab = parse_name(str(source))
        return f"{region}:{hab}"
    return str(Path(source).resolve())


@dataclass
class PreparedPack:
    """Everything the window needs to show a pack, made before it replaces the open one."""

    key: str
    scene: object
    engine: ClearanceEngine
    polys: dict  # structure name -> PolyData with point normals
    start: Needle  # the first needle (50 mm) for this pack
    stamp: object = None
    shells: dict = None  # danger shells, once computed


_PREPARED: OrderedDict = OrderedDict()


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
    PackError; nothing of the window is touched."""
    try:
        key = pack_key(source)
    except (OSError, ValueError) as exc:
        raise PackError(f"{source}: {exc}") from exc
    stamp = _stamp(key)
    hit = _PREPARED.get(key)
    if hit is not None and hit.stamp == stamp:
        _PREPARED.move_to_end(key)
        return hit
    scene = load_pack(source)
    engine = ClearanceEngine(scene)
    polys = {}
    for s in scene.structures:
        poly = to_polydata(s.vertices, s.faces)
        polys[s.name] = poly.compute_normals(cell_normals=False, split_vertices=False, auto_orient_normals=False)
    prepared = PreparedPack(key, scene, engine, polys, initial_needle(scene, 50.0, 0.30), stamp)
    _PREPARED[key] = prepared
    while len(_PREPARED) > PACK_CACHE_SIZE:
        _PREPARED.popitem(last=False)
    return prepared


class busy:
    """A wait cursor while a pack is prepared or switched (nestable)."""

    def __enter__(self):
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
        return self

    def __exit__(self, *exc):
        QtWidgets.QApplication.restoreOverrideCursor()
        return False


def _same_region(a: str, b: str) -> bool:
    """Are packs `a` and `b` built-in habitus of one region ('gluteal' and 'gluteal:lean')?"""
    try:
        return is_builtin(a) and is_builtin(b) and parse_name(a)[0] == parse_name(b)[0]
    except PackError:
        return False
