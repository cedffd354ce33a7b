"""Anatomy packs: a folder with a manifest (`pack.json` or `pack.toml`) and mesh files.

This module reads, validates and writes one pack FOLDER (`read_pack`, `write_pack`); naming a pack
(a built-in name, a user pack's name, a manifest path) is `resolve.load_pack`'s job.

Manifest (JSON shown; TOML has the same keys)::

    {"format": "needlesafe-pack", "version": 1, "name": "gluteal",
     "units": "mm", "frame": "LPS", "source": "...", "licence": "...",
     "structures": [{"name": "sciatic_nerve_r", "file": "sciatic_nerve_r.ply", "role": "nerve",
                     "colour": "#f4d03f", "critical": true, "margin_mm": 3.0}, ...],
     "landmarks": [{"name": "ischial tuberosity", "point": [x, y, z], "bone": "hip_bone_r"}, ...],
     "trigger_points": [{"name": "piriformis", "point": [x, y, z], "muscle": "piriformis_r"}, ...]}

`role`, `colour`, `critical` and `margin_mm` default by role (see `types.py`). Loading validates
everything and raises `PackError` naming the file and the problem. A `version` above VERSION (a
newer NeedleSafe's pack) is refused.

Scale check: a structure whose bounding-box diagonal differs from the median diagonal of the
pack's structures by more than SCALE_RATIO (100x) either way is refused, naming the structure:
a mesh left in metres (or doubly scaled) inside a millimetre pack. Real anatomy stays well within
this: in the Z-Anatomy extracts the smallest structure (a brachial plexus division, 25 mm) spans
1/6 of the median (160 mm) and the largest (a skin patch) 2.3 times it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .io import (
    MESH_SUFFIXES,
    TMP_PREFIX,
    OutputPathError,
    atomic_write_text,
    check_path_text,
    read_mesh,
    read_table,
    remove_stale_temporaries,
    write_ply,
)
from .types import (
    CRITICAL_ROLES,
    DEFAULT_COLOUR,
    DEFAULT_MARGIN_MM,
    ROLES,
    AnatomyScene,
    Landmark,
    PackError,
    Structure,
    TriggerPoint,
)
from .validate import finite_number, finite_point

MANIFEST_NAMES = ("pack.json", "pack.toml")
FORMAT = "needlesafe-pack"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
#: A pack whose whole extent is below this (mm) was almost surely written in metres.
MIN_PLAUSIBLE_EXTENT_MM = 20.0
#: Newest manifest version this NeedleSafe reads.
VERSION = 1
#: A structure whose extent differs from the pack's median extent by more than this ratio is refused.
SCALE_RATIO = 100.0


def _read_manifest(folder: Path) -> tuple[dict, Path]:
    for name in MANIFEST_NAMES:
        path = folder / name
        if os.path.lexists(path):
            break
    else:
        raise PackError(f"{folder}: no pack manifest ({' or '.join(MANIFEST_NAMES)}) in this folder")
    data = read_table(path, error=PackError, what="pack manifest")
    if not isinstance(data, dict):
        raise PackError(f"{path}: manifest must be an object/table at the top level")
    return data, path


def check_version(data: dict, where, error=PackError, newest: int = VERSION, what: str = "pack") -> None:
    """A missing version is 1; a version that is not a whole number >= 1, or is newer than
    `newest` (written by a newer NeedleSafe), is raised as `error`."""
    version = data.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise error(f"{where}: 'version' must be a whole number, got {version!r}")
    if version > newest:
        raise error(f"{where}: unsupported {what} version {version} (this NeedleSafe reads version {newest}); "
                    "update NeedleSafe")


def _safe_file(folder: Path, rel, where: str) -> Path:
    if not isinstance(rel, str) or not rel:
        raise PackError(f"{where}: 'file' must be a relative path inside the pack")
    if "\0" in rel:
        raise PackError(f"{where}: file {rel!r} holds a NUL character")
    if Path(rel).is_absolute() or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel):
        raise PackError(f"{where}: file '{rel}' is an absolute path; packs may only use files inside their folder")
    root = folder.resolve()
    path = (folder / rel).resolve()
    if root != path and root not in path.parents:
        raise PackError(f"{where}: file '{rel}' lies outside the pack folder")
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise PackError(f"{where}: file '{rel}' is not a supported mesh ({', '.join(MESH_SUFFIXES)})")
    if not os.path.lexists(path):
        raise PackError(f"{where}: file '{rel}' not found")
    return path


def _named_points(data: dict, key: str, ref: str, cls, names: set, mpath) -> list:
    """Validated `key` entries ({"name", "point", ref}) as `cls(name, point, ref)`; `ref`, when given,
    must name a structure of the pack."""
    out = []
    entries = data.get(key, []) or []
    if not isinstance(entries, list):
        raise PackError(f"{mpath}: '{key}' must be a list")
    for k, entry in enumerate(entries):
        where = f"{mpath}: {key}[{k}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise PackError(f"{where}: expected an object with a 'name'")
        target = entry.get(ref, "")
        if not isinstance(target, str):
            raise PackError(f"{where}: '{ref}' must name a structure")
        if target and target not in names:
            raise PackError(f"{where}: {ref} '{target}' is not a structure of this pack")
        out.append(cls(entry["name"], finite_point(entry.get("point"), where), target))
    return out


def read_pack(folder) -> AnatomyScene:
    """Read and validate the pack in `folder` (a path to a folder holding a manifest). Resolving a
    pack by name (built-in, user pack, manifest path) is `resolve.load_pack`'s job."""
    folder = check_path_text(folder, PackError)
    if not folder.is_dir():
        raise PackError(f"{folder}: no such pack folder")
    data, mpath = _read_manifest(folder)
    check_version(data, mpath)
    if not isinstance(data.get("name", ""), str):
        raise PackError(f"{mpath}: 'name' must be text")
    if data.get("format", FORMAT) != FORMAT:
        raise PackError(f"{mpath}: format is '{data.get('format')}', expected '{FORMAT}'")
    units = data.get("units", "mm")
    if units != "mm":
        raise PackError(
            f"{mpath}: units are '{units}'; packs hold millimetres (re-import with 'needlesafe import --units')"
        )
    frame = data.get("frame", "LPS")
    if frame != "LPS":
        raise PackError(f"{mpath}: frame is '{frame}'; packs use the LPS patient frame (re-import with --axes)")
    entries = data.get("structures")
    if not isinstance(entries, list) or not entries:
        raise PackError(f"{mpath}: 'structures' must be a non-empty list")
    structures = []
    seen = set()
    for k, entry in enumerate(entries):
        where = f"{mpath}: structures[{k}]"
        if not isinstance(entry, dict):
            raise PackError(f"{where}: expected an object")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise PackError(f"{where}: 'name' must be a non-empty string")
        where = f"{mpath}: structure '{name}'"
        if name in seen:
            raise PackError(f"{where}: duplicate name")
        seen.add(name)
        role = entry.get("role", "muscle")
        if role not in ROLES:
            raise PackError(f"{where}: unknown role '{role}' (roles: {', '.join(ROLES)})")
        colour = entry.get("colour", DEFAULT_COLOUR[role])
        if not isinstance(colour, str) or not _COLOUR.match(colour):
            raise PackError(f"{where}: colour must look like '#rrggbb', got {colour!r}")
        critical = entry.get("critical", role in CRITICAL_ROLES)
        if not isinstance(critical, bool):
            raise PackError(f"{where}: 'critical' must be true or false")
        margin = finite_number(entry.get("margin_mm", DEFAULT_MARGIN_MM.get(role, 0.0)), f"{where}: margin_mm")
        if margin < 0:
            raise PackError(f"{where}: margin_mm must not be negative")
        path = _safe_file(folder, entry.get("file"), where)
        v, f = read_mesh(path)
        structures.append(Structure(name, role, v, f, colour, critical, margin, entry.get("file")))
    landmarks = _named_points(data, "landmarks", "bone", Landmark, seen, mpath)
    trigger_points = _named_points(data, "trigger_points", "muscle", TriggerPoint, seen, mpath)
    scene = AnatomyScene(
        name=str(data.get("name", folder.name)),
        structures=structures,
        landmarks=landmarks,
        metadata={k: v for k, v in data.items() if k not in ("structures", "landmarks", "trigger_points")},
        trigger_points=trigger_points,
    )
    extent = float(np.linalg.norm(np.ptp(scene.bounds(), axis=0)))
    if extent < MIN_PLAUSIBLE_EXTENT_MM:
        raise PackError(
            f"{mpath}: the whole pack spans only {extent:.3g} mm; its meshes look like metres, not millimetres "
            "(re-import with 'needlesafe import --units m')"
        )
    check_scales(scene.structures, mpath)
    return scene


def check_scales(structures, where) -> None:
    """Refuse a structure whose bounding-box diagonal is more than SCALE_RATIO times smaller or
    larger than the median diagonal of the pack's structures (a mesh in other units)."""
    if len(structures) < 2:
        return
    sizes = np.array([float(np.linalg.norm(np.ptp(s.vertices, axis=0))) for s in structures])
    median = float(np.median(sizes))
    for s, size in zip(structures, sizes, strict=True):
        if size * SCALE_RATIO < median or size > SCALE_RATIO * median:
            raise PackError(
                f"{where}: structure '{s.name}' spans {size:.3g} mm while the pack's structures typically span "
                f"{median:.3g} mm; its mesh looks like it is in other units (metres or centimetres?); "
                "re-import it with the right --units"
            )


def write_pack(scene: AnatomyScene, folder) -> Path:
    """Write `scene` as a pack folder (PLY meshes + pack.json); returns the manifest path.

    The pack is built in a temporary folder beside `folder` and swapped in by renames, so an
    interrupted write never leaves a half-written pack: `folder` holds the old pack or the new one.
    An existing `folder` must be a pack folder (holding a manifest) or empty: other folders are
    never replaced. Raises OutputPathError for an unusable `folder`.
    """
    folder = check_path_text(folder, OutputPathError)
    if os.path.lexists(folder):
        if not folder.is_dir():
            raise OutputPathError(f"{folder}: not a folder (a file of that name is in the way)")
        if any(folder.iterdir()) and not any(os.path.lexists(folder / m) for m in MANIFEST_NAMES):
            raise OutputPathError(f"{folder}: the folder holds other files and no pack; give a new or empty folder")
    parent = folder.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise OutputPathError(f"{folder}: not a folder: a file lies on the way to it") from None
    remove_stale_temporaries(parent)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{folder.name}.", dir=parent))
    try:
        path = _write_pack_files(scene, tmp)
        if os.path.lexists(folder):
            old = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{folder.name}.old.", dir=parent))
            os.replace(folder, old)  # an empty `old` folder is replaced by the pack
            try:
                os.replace(tmp, folder)
            except BaseException:
                os.replace(old, folder)  # put the old pack back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder / path.name


def _write_pack_files(scene: AnatomyScene, folder: Path) -> Path:
    """Write the meshes, then the manifest, into the (new, empty) `folder`."""
    entries = []
    for s in scene.structures:
        fname = f"{s.name}.ply"
        write_ply(folder / fname, s.vertices, s.faces)
        entries.append(
            {
                "name": s.name,
                "file": fname,
                "role": s.role,
                "colour": s.colour,
                "critical": s.critical,
                "margin_mm": s.margin_mm,
            }
        )
    manifest = {"format": FORMAT, "version": 1, "name": scene.name, "units": "mm", "frame": "LPS"}
    manifest.update({k: v for k, v in scene.metadata.items() if k not in manifest and k not in ("format", "version")})
    manifest["structures"] = entries
    manifest["landmarks"] = [
        {"name": lm.name, "point": [float(x) for x in lm.point], "bone": lm.bone} for lm in scene.landmarks
    ]
    manifest["trigger_points"] = [
        {"name": tp.name, "point": [float(x) for x in tp.point], "muscle": tp.muscle} for tp in scene.trigger_points
    ]
    path = folder / "pack.json"
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")
    return path


def read_cached_pack(folder: Path) -> AnatomyScene | None:
    """A pack kept in a cache folder, or None when it is not there or damaged (a damaged one is
    removed, so the caller builds it again)."""
    if not (folder / "pack.json").is_file():
        return None
    try:
        return read_pack(folder)
    except PackError:
        shutil.rmtree(folder, ignore_errors=True)
        return None


def write_cached_pack(scene: AnatomyScene, folder: Path) -> None:
    """Keep a built pack in a cache folder: written beside it, then renamed into place (a process that
    finished first wins). A cache that cannot be written only costs the next start a rebuild."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        write_pack(scene, tmp)
        try:
            os.replace(tmp, folder)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    except OSError:
        pass
