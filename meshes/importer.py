"""Import a folder of atlas meshes (PLY/STL/OBJ/GLB/VTP) into a pack in LPS millimetres.

Each file becomes one structure named by its file stem; roles are guessed from name tokens and
can be overridden by a JSON/TOML file::

    {"roles": {"first_costal_cartilage_r": "bone"},
     "critical": {"accessory_nerve_r": false},
     "margins_mm": {"pleura": 10.0, "sciatic_nerve_r": 5.0},
     "landmarks": [{"name": "ischial tuberosity", "point": [x, y, z], "bone": "hip_bone_r"}]}

(`margins_mm` keys are structure names or roles; landmark points are in the output's LPS mm.)
Every override is checked before anything is written, so an import never writes a pack that would
not load (a negative or NaN margin, a two-number landmark). The output folder may not be the
source folder or lie inside it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import numpy as np

from .envelope import skin_envelope
from .io import MESH_SUFFIXES, check_output_path, check_path_text, read_mesh, read_table
from .pack import check_scales, write_pack
from .types import (
    CRITICAL_ROLES,
    DEFAULT_COLOUR,
    DEFAULT_MARGIN_MM,
    ROLES,
    AnatomyScene,
    Landmark,
    PackError,
    Structure,
    mesh_edges,
)
from .validate import finite_number

UNITS_TO_MM = {"m": 1000.0, "cm": 10.0, "mm": 1.0}

# Name tokens that decide a role, checked in this order (a "dorsal scapular nerve" is a nerve).
ROLE_TOKENS = (
    ("nerve", {"nerve", "nerves", "plexus", "trunk", "root", "roots", "division", "div", "cord", "ganglion"}),
    ("pleura", {"pleura", "lung", "lungs"}),
    ("vessel", {"artery", "arteries", "vein", "veins", "aorta", "vessel", "vessels"}),
    ("skin", {"skin"}),
    ("other", {"ligament", "cartilage", "tendon", "fascia", "capsule", "bursa"}),
    (
        "bone",
        {
            "bone", "rib", "ribs", "vertebra", "vertebrae", "sacrum", "coccyx", "femur", "humerus", "scapula",
            "clavicle", "manubrium", "sternum", "tibia", "fibula", "ilium", "ischium", "pubis", "patella",
            "radius", "ulna", "skull", "mandible", "acromion", "pelvis",
        },
    ),
)

# patient direction letter -> LPS axis and sign
_LETTER = {"L": (0, 1.0), "R": (0, -1.0), "P": (1, 1.0), "A": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}


def axes_matrix(axes: str) -> np.ndarray:
    """(3, 3) matrix M with lps = M @ source, from three letters naming where each source axis points.

    E.g. "LSA": source +x is patient left, +y superior, +z anterior.
    """
    if not isinstance(axes, str) or len(axes) != 3 or any(c not in _LETTER for c in axes.upper()):
        raise PackError(f"axes '{axes}': give three letters from L/R, P/A, S/I, one per source axis (e.g. LSA)")
    m = np.zeros((3, 3))
    used = set()
    for src, c in enumerate(axes.upper()):
        lps_axis, sign = _LETTER[c]
        if lps_axis in used:
            raise PackError(f"axes '{axes}': each of L/R, P/A and S/I must appear exactly once")
        used.add(lps_axis)
        m[lps_axis, src] = sign
    return m


def guess_role(name: str) -> str:
    tokens = set(t for t in re.split(r"[^a-z0-9]+", name.lower()) if t)
    for role, words in ROLE_TOKENS:
        if tokens & words:
            return role
    return "muscle"


def _finite(value, where: str, minimum: float | None = None) -> float:
    x = finite_number(value, where)
    if minimum is not None and x < minimum:
        raise PackError(f"{where}: must not be below {minimum:g}, got {x:g}")
    return x


def _mapping(data: dict, key: str, path) -> dict:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise PackError(f"{path}: '{key}' must map structure names to values")
    return value


def _load_overrides(path) -> dict:
    """The override file, every value checked (types, finite non-negative margins, 3-number landmarks)."""
    if path is None:
        return {}
    path = check_path_text(path, PackError)
    data = read_table(path, error=PackError, what="override file")
    if not isinstance(data, dict):
        raise PackError(f"{path}: override file must hold an object/table")
    unknown = set(data) - {"roles", "critical", "margins_mm", "landmarks", "name", "source", "licence"}
    if unknown:
        raise PackError(f"{path}: unknown keys {sorted(unknown)}")
    for name, role in _mapping(data, "roles", path).items():
        if not isinstance(role, str) or role not in ROLES:
            raise PackError(f"{path}: roles: role {role!r} for '{name}' is not one of {', '.join(ROLES)}")
    for name, flag in _mapping(data, "critical", path).items():
        if not isinstance(flag, bool):
            raise PackError(f"{path}: critical: '{name}' must be true or false, got {flag!r}")
    for name, margin in _mapping(data, "margins_mm", path).items():
        _finite(margin, f"{path}: margins_mm.{name} (a margin in mm)", minimum=0.0)
    for key in ("name", "source", "licence"):
        if key in data and not isinstance(data[key], str):
            raise PackError(f"{path}: '{key}' must be text")
    landmarks = data.get("landmarks") or []
    if not isinstance(landmarks, list):
        raise PackError(f"{path}: 'landmarks' must be a list of {{name, point, bone}} objects")
    for k, lm in enumerate(landmarks):
        where = f"{path}: landmarks[{k}]"
        if not isinstance(lm, dict) or not isinstance(lm.get("name"), str) or "point" not in lm:
            raise PackError(f"{where}: a landmark needs a 'name' (text) and a 'point'")
        pt = lm["point"]
        if not isinstance(pt, list) or len(pt) != 3:
            raise PackError(f"{where}: landmark point must be three numbers [x, y, z] in mm, got {pt!r}")
        for v in pt:
            _finite(v, f"{where}: landmark point")
        if not isinstance(lm.get("bone", ""), str):
            raise PackError(f"{where}: landmark 'bone' must name a structure")
    return data


@dataclass
class ImportReport:
    """What an import did, for the user to read."""

    source: str
    out: str
    units: str
    scale: float
    axes: str
    matrix: list
    counts: dict = field(default_factory=dict)
    structures: list = field(default_factory=list)  # (name, role, critical, triangles, closed, components)
    warnings: list = field(default_factory=list)

    def text(self) -> str:
        lines = [
            f"Imported {len(self.structures)} meshes from {self.source}",
            f"  units: {self.units} -> mm (x{self.scale:g}); axes: {self.axes} -> LPS",
            "  roles: " + ", ".join(f"{r} {n}" for r, n in self.counts.items() if n),
            f"  pack written to {self.out}",
        ]
        for name, role, critical, ntri, closed, comps in self.structures:
            flag = " critical" if critical else ""
            shape = "closed" if closed else "open"
            lines.append(f"    {name:<48} {role:<7}{flag:<9} {ntri:>7} triangles, {shape}, {comps} piece(s)")
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        return "\n".join(lines)


def _components(faces: np.ndarray, n_vertices: int) -> int:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges, _ = mesh_edges(faces)
    g = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_vertices, n_vertices))
    used = np.zeros(n_vertices, dtype=bool)
    used[np.asarray(faces, dtype=np.int64).ravel()] = True
    n, labels = connected_components(g, directed=False)
    return len(np.unique(labels[used]))


def import_folder(
    src, units: str, axes: str, out=None, overrides=None, name: str | None = None, skin_fat_mm: float | None = None
):
    """Turn a folder of meshes into a pack (written to `out` when given).

    skin_fat_mm: when given, add a closed skin envelope ("skin_envelope") at least this far outside
    every other structure (see `envelope.skin_envelope`).

    Returns (AnatomyScene, ImportReport). Raises PackError for a bad folder, unit, axes or mesh.
    """
    src = check_path_text(src, PackError)
    if not src.is_dir():
        raise PackError(f"{src}: not a folder")
    if units not in UNITS_TO_MM:
        raise PackError(f"units '{units}': use one of {', '.join(UNITS_TO_MM)}")
    m = axes_matrix(axes)
    if skin_fat_mm is not None:
        _finite(skin_fat_mm, "--skin-fat (the fat layer in mm)", minimum=0.0)
    if out is not None:
        out = check_output_path(out, folder=True)
        a, b = os.path.realpath(src), os.path.realpath(out)
        if a == b or b.startswith(a.rstrip(os.sep) + os.sep):
            raise PackError(f"{out}: the output lies in the source folder {src}; write the pack to another folder")
        if a.startswith(b.rstrip(os.sep) + os.sep):
            raise PackError(f"{out}: the output folder holds the source folder {src}; write the pack elsewhere")
        if out.is_dir() and any(out.iterdir()) and not any((out / m).exists() for m in ("pack.json", "pack.toml")):
            raise PackError(f"{out}: the folder holds other files and no pack; give a new or empty folder")
    scale = UNITS_TO_MM[units]
    flip = np.linalg.det(m) < 0
    ov = _load_overrides(overrides)
    named = sorted(p for p in src.iterdir() if p.suffix.lower() in MESH_SUFFIXES)
    odd = [p for p in named if not p.is_file() and not p.is_dir()]
    if odd:  # a FIFO or a device with a mesh's name would block or never end
        raise PackError(f"{odd[0]}: not a regular file; remove it from the source folder")
    files = [p for p in named if p.is_file()]
    if not files:
        raise PackError(f"{src}: no mesh files ({', '.join(MESH_SUFFIXES)})")
    stems = [p.stem for p in files]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise PackError(f"{src}: several files share a name: {', '.join(dupes)}")
    roles_ov = ov.get("roles") or {}
    crit_ov = ov.get("critical") or {}
    margin_ov = ov.get("margins_mm") or {}
    for key in list(roles_ov) + list(crit_ov):
        if key not in stems:
            raise PackError(f"{overrides}: '{key}' names no mesh in {src}")
    report = ImportReport(str(src), str(out) if out else "", units, scale, axes.upper(), m.tolist())
    structures = []
    for path in files:
        v, f = read_mesh(path)
        v = (v * scale) @ m.T
        if flip:  # a mirroring axis change would turn the normals inside out
            f = f[:, ::-1].copy()
        stem = path.stem
        role = roles_ov.get(stem, guess_role(stem))
        critical = bool(crit_ov.get(stem, role in CRITICAL_ROLES))
        margin = float(margin_ov.get(stem, margin_ov.get(role, DEFAULT_MARGIN_MM.get(role, 0.0)))) if critical else 0.0
        structures.append(Structure(stem, role, v, f, DEFAULT_COLOUR[role], critical, margin, path.name))
    if skin_fat_mm is not None:
        v, f = skin_envelope([(s.vertices, s.faces) for s in structures if s.role != "skin"], float(skin_fat_mm))
        structures.append(Structure("skin_envelope", "skin", v, f, DEFAULT_COLOUR["skin"], False, 0.0, None))
        report.warnings.append(
            f"generated a closed skin envelope ({len(f):,} triangles) "
            f"at least {skin_fat_mm:g} mm outside every structure"
        )
    counts = {r: 0 for r in ROLES}
    for s in structures:
        counts[s.role] += 1
        report.structures.append(
            (s.name, s.role, s.critical, s.n_triangles, s.is_closed, _components(s.faces, len(s.vertices)))
        )
    report.counts = counts
    if counts["skin"] == 0:
        report.warnings.append("no skin surface: entry points cannot be picked on skin until one is added")
    elif not any(closed for (_, role, _, _, closed, _) in report.structures if role == "skin"):
        report.warnings.append("skin is open patches only (no closed skin surface)")
    if not any(s.critical for s in structures):
        report.warnings.append("no critical structure (nerve, pleura, vessel): clearance has nothing to report")
    if counts["bone"] == 0:
        report.warnings.append("no bone: no bony backstop can be found for bracketing")
    n_open = sum(1 for row in report.structures if not row[4])
    if n_open:
        report.warnings.append(
            f"{n_open} of {len(structures)} meshes are open (not watertight); inside tests use crossings"
        )
    extent = np.ptp(np.concatenate([s.vertices for s in structures]), axis=0)
    if float(np.linalg.norm(extent)) < 20.0:
        report.warnings.append(f"the whole import spans only {np.linalg.norm(extent):.3g} mm: were the units right?")
    landmarks = []
    names = {s.name for s in structures}
    for lm in ov.get("landmarks") or []:
        if lm.get("bone", "") and lm["bone"] not in names:
            raise PackError(f"{overrides}: landmark '{lm['name']}' names unknown bone '{lm['bone']}'")
        landmarks.append(Landmark(str(lm["name"]), np.asarray(lm["point"], dtype=float), lm.get("bone", "")))
    meta = {
        "units": "mm",
        "frame": "LPS",
        "source": ov.get("source", f"imported from {src.name}"),
        "licence": ov.get("licence", "as the source's licence"),
        "import": {"units_in": units, "scale_to_mm": scale, "axes_in": axes.upper(), "matrix_to_lps": m.tolist()},
    }
    scene = AnatomyScene(name or ov.get("name") or src.name, structures, landmarks, meta)
    check_scales(structures, src)
    if out is not None:
        write_pack(scene, out)
    return scene, report
