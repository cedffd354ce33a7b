"""Build atlas packs from region recipes: ``atlas:REGION[:HABITUS]``.

`build_scene(recipe, atlas, habitus)` turns a recipe (`recipe.py`) and the converted atlas
(`convert.load_atlas`) into an `AnatomyScene`:

1. take the recipe's parts (names or fnmatch patterns; a required one that matches nothing is an
   error), mirror the right-only ones it names to the left (x -> -x, winding reversed, ``_l``);
2. crop: keep the triangles whose centre lies in the crop box, drop unused vertices and crumbs;
3. role, critical flag, margin and colour from ``structures.toml`` (first matching pattern), then
   the recipe's ``[structure.NAME]`` overrides; a part the table does not name is an error;
4. unmodelled zones: the recipe's capsules (role "unmodelled": where a danger structure the atlas
   lacks really runs), placed at LPS points, landmarks or bone points; the pack's
   ``metadata["unmodelled"]`` keeps each zone's note (what is missing, where it runs) and source;
5. a closed skin `skin_envelope` at the recipe's fat thickness for the habitus (2.5 mm voxels),
   around every structure and zone;
6. landmarks on their bone's surface (a vertex, or the exact closest surface point);
7. trigger points: the point nearest the recipe's approximate location that lies inside the muscle
   (generalized winding number >= 0.5, at least `depth_mm` (1.5) inside its surface), at least
   `min_bone_mm` from every bone, outside every bone and critical structure, and farther than every
   critical structure's margin (plus `clear_mm`). A recipe whose trigger point has no such point
   within its search radius is an error, never a silently misplaced target.

Built packs are written to ``<cache>/atlas-packs/REGION-HABITUS-KEY`` (`builtin.cache_dir`); the key
covers the recipe's text, the mapping table, the atlas files' pinned SHA-256 and the source of the
code that converts and builds, so a changed recipe or builder rebuilds and an unchanged one loads
from the cache without converting the atlas.
"""
from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..builtin import cache_dir
from ..habitus import DEFAULT, HABITUS_PRESETS
from ..pack import read_cached_pack, write_cached_pack
from ..types import AnatomyScene, Landmark, PackError, Structure, TriggerPoint, faces_closed
from . import sources
from .recipe import (
    STRUCTURES_TOML,
    CapsuleRule,
    GeneratedRule,
    LandmarkRule,
    PartStyle,
    PointRule,
    Recipe,
    TriggerRule,
    load_recipe,
    load_structure_table,
    recipe_ids,
    recipe_path,
)


def cKDTree(*args, **kwargs):  # noqa: N802 - scipy's name
    """scipy's KD-tree, imported when a region is built: a cached pack loads without scipy (0.5 s)."""
    from scipy.spatial import cKDTree as tree

    return tree(*args, **kwargs)


def skin_envelope(*args, **kwargs):
    """`envelope.skin_envelope`, imported when a region is built (scipy.ndimage, scikit-image)."""
    from ..envelope import skin_envelope as envelope

    return envelope(*args, **kwargs)


SKIN_VOXEL_MM = 2.5
SKIN_BRIDGE_MM = 30.0
#: extra envelope levels tried, in turn, when the skin comes out pinched (not closed)
SKIN_RETRY_MM = (0.0, 0.05, 0.1, 0.2)
#: a cropped part with fewer triangles than this is a crumb at the crop box's edge and is dropped
MIN_PART_TRIANGLES = 20
#: candidate spacing when searching a muscle for a trigger point
SEARCH_STEP_MM = 1.5
PREFIX = "atlas:"
#: sample spacing and largest inward move when fitting the skin to the fat thickness (`fit_fat`)
FAT_FIT_SPACING_MM = 1.0
FAT_FIT_MAX_MM = 4.0


# --- geometry helpers (meshes may not import geometry/) -------------------------------------------

def winding_number(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Generalized winding number (Jacobson et al. 2013) of (k, 3) points about a triangle mesh.

    About 1 inside and 0 outside a closed outward mesh; on an open or pieced mesh (atlas muscles)
    it degrades gracefully, so ``>= 0.5`` is a robust "inside". Returns (k,) float64.
    """
    tris = np.asarray(vertices, float)[np.asarray(faces)]
    pts = np.atleast_2d(np.asarray(points, float))
    out = np.empty(len(pts))
    for s in range(0, len(pts), chunk):
        p = pts[s:s + chunk, None, None, :]
        d = tris[None] - p  # (c, m, 3, 3)
        a, b, c = d[:, :, 0], d[:, :, 1], d[:, :, 2]
        la, lb, lc = (np.linalg.norm(x, axis=2) for x in (a, b, c))
        det = np.einsum("ijk,ijk->ij", a, np.cross(b, c))
        den = (la * lb * lc + np.einsum("ijk,ijk->ij", a, b) * lc + np.einsum("ijk,ijk->ij", b, c) * la
               + np.einsum("ijk,ijk->ij", c, a) * lb)
        out[s:s + chunk] = np.arctan2(det, den).sum(axis=1) / (2.0 * np.pi)
    return out


def sample_surface(vertices: np.ndarray, faces: np.ndarray, spacing: float) -> np.ndarray:
    """Points (k, 3) on the triangles: every used vertex once, and on each triangle a barycentric
    grid with steps no longer than `spacing` (corners left out: they are the vertices). Every
    surface point lies within spacing / sqrt(3) of a sample."""
    v = np.asarray(vertices, float)
    f = np.asarray(faces)
    tris = v[f]
    edges = np.stack([np.linalg.norm(tris[:, i] - tris[:, (i + 1) % 3], axis=1) for i in range(3)], axis=1)
    n = np.maximum(1, np.ceil(edges.max(axis=1) / spacing)).astype(int)
    out = [v[np.unique(f)]]
    for k in np.unique(n[n > 1]):
        sel = tris[n == k]
        i, j = np.meshgrid(np.arange(k + 1), np.arange(k + 1), indexing="ij")
        keep = ((i + j) <= k) & ~(((i == 0) & (j == 0)) | (i == k) | (j == k))  # not the corners
        u = (i[keep] / k)[None, :, None]
        w = (j[keep] / k)[None, :, None]
        out.append((sel[:, None, 0] + u * (sel[:, None, 1] - sel[:, None, 0])
                    + w * (sel[:, None, 2] - sel[:, None, 0])).reshape(-1, 3))
    return np.concatenate(out)


def fit_fat(skin_v: np.ndarray, skin_f: np.ndarray, structures: list, fat_mm: float) -> np.ndarray:
    """Skin vertices moved inward so that the fat is `fat_mm` where the envelope left it thicker.

    `skin_envelope` contours its distance field one voxel further out than asked (so the fat is
    never thinner), which leaves the skin about a voxel and a half (3-4 mm at 2.5 mm voxels) too far
    out over smooth muscle. Each skin vertex moves along its inward normal by
    ``clip(d - fat_mm, 0, FAT_FIT_MAX_MM)``, with d its distance to points sampled on every
    structure less the sampling's error (so d is never over-read). A vertex that moves by e loses
    at most e of distance, so no vertex comes closer than `fat_mm` to a structure.
    Returns (n, 3) vertices; faces are unchanged.
    """
    from ..types import vertex_normals

    cap = fat_mm + FAT_FIT_MAX_MM + 1.0  # beyond this the move is capped anyway
    # only the triangles that can hold a skin vertex's nearest point within `cap`: those whose
    # centre lies within cap + their own size of a skin vertex (deep tissue is never sampled)
    skin_tree = cKDTree(skin_v, balanced_tree=False, compact_nodes=False)
    chunks = [np.empty((0, 3))]
    for s in structures:
        tris = np.asarray(s.vertices, float)[np.asarray(s.faces)]
        centre = tris.mean(axis=1)
        size = np.linalg.norm(tris - centre[:, None], axis=2).max(axis=1)
        near, _ = skin_tree.query(centre, distance_upper_bound=cap + float(size.max()) + 1.0)
        keep = near <= cap + size
        if keep.any():
            chunks.append(sample_surface(s.vertices, np.asarray(s.faces)[keep], FAT_FIT_SPACING_MM))
    pts = np.concatenate(chunks)
    tree = cKDTree(pts, balanced_tree=False, compact_nodes=False)
    d, _ = tree.query(skin_v, distance_upper_bound=cap, workers=-1)
    d = np.minimum(d, cap) - FAT_FIT_SPACING_MM / np.sqrt(3.0)  # a surface point is this near a sample
    excess = np.clip(d - fat_mm, 0.0, FAT_FIT_MAX_MM)
    return skin_v - excess[:, None] * vertex_normals(skin_v, skin_f)


class SurfaceDistance:
    """Exact distance (mm) from points to one triangle mesh, via a KD-tree of triangle centres."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray):
        self.tris = np.asarray(vertices, float)[np.asarray(faces)]
        centres = self.tris.mean(axis=1)
        self.radius = float(np.linalg.norm(self.tris - centres[:, None], axis=2).max())
        self.tree = cKDTree(centres)
        self.vtree = cKDTree(np.asarray(vertices, float))

    def __call__(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(k,) distances and (k, 3) closest surface points."""
        pts = np.atleast_2d(np.asarray(points, float))
        dist = np.empty(len(pts))
        best = np.empty((len(pts), 3))
        for i, p in enumerate(pts):
            d, cp, _ = self._nearest(p)
            j = int(np.argmin(d))
            dist[i], best[i] = d[j], cp[j]
        return dist, best

    def _nearest(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distances, closest points and indices of the triangles that may be nearest to p."""
        import trimesh

        upper, _ = self.vtree.query(p)  # a vertex is a surface point: the distance is no more
        near = np.asarray(self.tree.query_ball_point(p, upper + self.radius), dtype=np.int64)
        cp = trimesh.triangles.closest_point(self.tris[near], np.repeat(p[None], len(near), axis=0))
        return np.linalg.norm(cp - p, axis=1), cp, near

    def clearly_outside(self, p: np.ndarray) -> bool:
        """True when p lies on the outer side of the triangle nearest to it, seen square on (the
        direction to p within 25 degrees of that triangle's normal): outside a consistently
        oriented surface. False means "not decided here" (ask the winding number)."""
        d, cp, near = self._nearest(p)
        close = d <= d.min() + 1e-6
        if d.min() <= 0:
            return False
        tri = self.tris[near[close]]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        n /= np.maximum(np.linalg.norm(n, axis=1), 1e-12)[:, None]
        cos = np.einsum("ij,ij->i", n, (p - cp[close]) / d[close][:, None])
        return bool(cos[np.argmax(np.abs(cos))] >= 0.9)


def ellipsoid(centre: np.ndarray, semi_axes: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closed outward ellipsoid (an icosphere, 5120 faces): semi-axes (3,) mm along the rows of
    `frame` (3, 3), centred on `centre`."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=4)
    v = (np.asarray(sphere.vertices) * semi_axes) @ frame + centre
    return v, np.asarray(sphere.faces, np.int32)


#: the role of a zone where a danger structure the atlas lacks really runs (a capsule; meshes/types.py)
UNMODELLED = "unmodelled"
#: capsule facets: sides around the axis, rings over each hemispherical cap
CAPSULE_SIDES = 32
CAPSULE_CAP_RINGS = 8


def capsule(start, end, radius: float, sides: int = CAPSULE_SIDES,
            cap_rings: int = CAPSULE_CAP_RINGS) -> tuple[np.ndarray, np.ndarray]:
    """Closed outward triangle mesh of the capsule (every point within `radius` mm of the segment
    `start`-`end`, (3,) mm each) that CONTAINS the true capsule: its facets are pushed out just enough
    that every true capsule point lies inside or on them (toward danger: never smaller), at most
    ``radius * (1 / c - 1)`` beyond it, c = cos(pi / sides) * cos(pi / (4 * cap_rings)) roughly
    (0.99 at the defaults). Returns (vertices (n, 3) float64, faces (m, 3) int32)."""
    a = np.asarray(start, float)
    b = np.asarray(end, float)
    d = b - a
    length = float(np.linalg.norm(d))
    if not (length > 0.0 and radius > 0.0):
        raise ValueError("a capsule needs two distinct points and a positive radius")
    d = d / length
    ref = np.array([0.0, 0.0, 1.0]) if abs(d[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(d, ref)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(d, e1)
    t = np.linspace(0.0, 2.0 * np.pi, sides, endpoint=False)
    around = np.cos(t)[:, None] * e1 + np.sin(t)[:, None] * e2  # (sides, 3)
    phi = np.arange(1, cap_rings + 1) * (np.pi / 2.0) / cap_rings  # polar angle from each pole
    # unit directions and centres of the rings: the start cap from its pole to its equator, then the
    # end cap from its equator to its pole
    dirs, centres = [], []
    for k in range(cap_rings):
        dirs.append(-np.cos(phi[k]) * d + np.sin(phi[k]) * around)
        centres.append(np.repeat(a[None], sides, axis=0))
    for k in range(cap_rings - 1, -1, -1):
        dirs.append(np.cos(phi[k]) * d + np.sin(phi[k]) * around)
        centres.append(np.repeat(b[None], sides, axis=0))
    u = np.concatenate([-d[None], *dirs, d[None]])  # (n, 3) unit offsets
    c = np.concatenate([a[None], *centres, b[None]])
    n_rings = 2 * cap_rings
    faces = []
    for j in range(sides):
        jn = (j + 1) % sides
        faces.append((0, 1 + jn, 1 + j))  # the start pole's fan
        last = 1 + (n_rings - 1) * sides
        faces.append((len(u) - 1, last + j, last + jn))  # the end pole's fan
        for k in range(n_rings - 1):
            p, q = 1 + k * sides, 1 + (k + 1) * sides
            faces.append((p + j, p + jn, q + jn))
            faces.append((p + j, q + jn, q + j))
    f = np.asarray(faces, dtype=np.int64)
    # every facet's plane must keep the capsule inside: n . p >= max(n . a, n . b) + radius. With
    # the offsets scaled by s that margin is s * m (m from the unit offsets), so s = radius / min(m)
    unit = c + u
    tris = unit[f]
    normal = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    area = np.linalg.norm(normal, axis=1)
    keep = area > 1e-12 * max(1.0, length) ** 2
    normal = normal[keep] / area[keep, None]
    m = (np.einsum("ij,ij->i", normal, tris[keep, 0])
         - np.maximum(normal @ a, normal @ b))
    v = c + (radius / float(m.min())) * u
    if float(np.einsum("ij,ij->i", v[f][:, 0], np.cross(v[f][:, 1], v[f][:, 2])).sum()) < 0:
        f = f[:, ::-1]
    return v, np.ascontiguousarray(f, dtype=np.int32)


# --- selection, mirroring, cropping ---------------------------------------------------------------

def _fail(recipe: Recipe, key: str, message: str) -> PackError:
    return PackError(f"recipe {recipe.path.name}: '{key}': {message}")


def _mirror_name(name: str) -> str:
    return name[:-2] + "_l" if name.endswith("_r") else name + "_l"


def _crop(v: np.ndarray, f: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the triangles whose centre lies in [lo, hi]; drop unused vertices."""
    centre = v[f].mean(axis=1)
    f = f[np.all((centre >= lo) & (centre <= hi), axis=1)]
    used, inverse = np.unique(f.reshape(-1), return_inverse=True)
    return v[used], inverse.reshape(-1, 3).astype(np.int32)


def select_parts(recipe: Recipe, atlas) -> tuple[list[tuple[str, str, np.ndarray, np.ndarray]], list[str]]:
    """[(pack name, atlas source file, vertices, faces)] cropped, and the names of mirrored parts."""
    names: list[str] = []
    for key, patterns in (("structures", recipe.structures), ("optional", recipe.optional)):
        for pattern in patterns:
            found = atlas.names(pattern)
            if not found and key == "structures":
                raise _fail(recipe, key, f"'{pattern}' matches no atlas part")
            names += [n for n in found if n not in names]
    parts = []
    mirrored = []
    for name in names:
        part = atlas.get(name)
        v = np.asarray(part.vertices, float)
        f = np.asarray(part.faces, np.int32)
        parts.append((name, part.source, v, f))
        if any(fnmatch.fnmatchcase(name, m) for m in recipe.mirror):
            twin = _mirror_name(name)
            if twin in atlas.parts or twin in names:
                continue  # the atlas has the left one itself
            parts.append((twin, part.source, v * np.array([-1.0, 1.0, 1.0]), f[:, ::-1].copy()))
            mirrored.append(twin)
    for pattern in recipe.mirror:
        if not any(fnmatch.fnmatchcase(n, pattern) for n in [*names, *(g.name for g in recipe.generated)]):
            raise _fail(recipe, "mirror", f"'{pattern}' matches none of the recipe's parts")
    out = []
    for name, src, v, f in parts:
        cv, cf = _crop(v, f, recipe.crop_min, recipe.crop_max)
        if len(cf) >= MIN_PART_TRIANGLES:
            out.append((name, src, cv, cf))
        elif any(fnmatch.fnmatchcase(name, p) and not any(ch in p for ch in "*?[") for p in recipe.structures):
            raise _fail(recipe, "crop", f"the crop box leaves nothing of '{name}'")
    return out, [m for m in mirrored if any(o[0] == m for o in out)]


def _style(name: str, table: list[tuple[str, PartStyle]], recipe: Recipe) -> PartStyle:
    style = next((st for pattern, st in table if fnmatch.fnmatchcase(name, pattern)), None)
    if style is None:
        raise PackError(f"{STRUCTURES_TOML.name}: no entry for atlas part '{name}' "
                        f"(recipe {recipe.path.name} takes it); add one with its role")
    ov = recipe.overrides.get(name, {})
    return PartStyle(ov.get("role", style.role), ov.get("critical", style.critical),
                     ov.get("margin_mm", style.margin_mm), ov.get("colour", style.colour))


# --- landmarks and trigger points ------------------------------------------------------------------

def _landmark(recipe: Recipe, k: int, scene_parts: dict[str, Structure]) -> Landmark:
    rule = recipe.landmarks[k]
    return Landmark(rule.name, _bone_point(recipe, rule, f"landmark[{k}]", scene_parts), rule.bone)


def _bone_point(recipe: Recipe, rule: LandmarkRule, key: str, scene_parts: dict[str, Structure]) -> np.ndarray:
    """The point on `rule.bone`'s surface a landmark rule names: (3,) mm."""
    bone = scene_parts.get(rule.bone)
    if bone is None or bone.role != "bone":
        raise _fail(recipe, f"{key}.bone", f"'{rule.bone}' is not a bone of this region")
    v = bone.vertices
    if rule.extreme is None:
        assert rule.near is not None
        _, point = SurfaceDistance(v, bone.faces)(rule.near)
        return point[0]
    if rule.near is not None:
        sel = np.flatnonzero(np.linalg.norm(v - rule.near, axis=1) <= rule.within_mm)
        if not len(sel):
            raise _fail(recipe, f"{key}.near", f"no vertex of '{rule.bone}' within {rule.within_mm} mm")
    else:
        sel = np.arange(len(v))
    return v[sel[np.argmax(v[sel] @ rule.extreme)]].copy()


def _zone_point(recipe: Recipe, rule: PointRule, key: str, parts: dict[str, Structure],
                landmarks: list[Landmark]) -> np.ndarray:
    """A capsule end: its LPS point, landmark or bone point, plus its offset; (3,) mm."""
    if rule.point is not None:
        base = rule.point
    elif rule.landmark is not None:
        base = next(lm.point for lm in landmarks if lm.name == rule.landmark)
    else:
        assert rule.bone is not None
        base = _bone_point(recipe, rule.bone, key, parts)
    return np.asarray(base, float) + rule.offset


def _zones(recipe: Recipe, table, parts: dict[str, Structure],
           landmarks: list[Landmark]) -> list[tuple[Structure, CapsuleRule, np.ndarray]]:
    """The recipe's unmodelled zones (capsules): (closed outward critical structure, its rule, its
    axis (2, 3) mm) each."""
    out = []
    for g in recipe.generated:
        if not isinstance(g, CapsuleRule):
            continue
        key = f"generated.{g.name}"
        if g.name in parts:
            raise _fail(recipe, "generated", f"'{g.name}' is also a part of this region")
        a = _zone_point(recipe, g.start, f"{key}.start", parts, landmarks)
        b = _zone_point(recipe, g.end, f"{key}.end", parts, landmarks)
        if np.linalg.norm(b - a) < 1.0:
            raise _fail(recipe, key, "the capsule's two points lie less than 1 mm apart")
        st = _style(g.name, table, recipe)
        if st.role != UNMODELLED or not st.critical:
            raise _fail(recipe, key, f"a capsule is an unmodelled zone: {STRUCTURES_TOML.name} must give "
                        f"'{g.name}' the critical role '{UNMODELLED}' (it has '{st.role}')")
        v, f = capsule(a, b, g.radius_mm)
        out.append((Structure(g.name, st.role, v, f, st.colour, True, st.margin_mm), g, np.stack([a, b])))
    return out


def _trigger_point(recipe: Recipe, k: int, rule: TriggerRule, parts: dict[str, Structure],
                   dist_cache: dict) -> TriggerPoint:
    key = f"trigger_point[{k}]"
    muscle = parts.get(rule.muscle)
    if muscle is None or muscle.role != "muscle":
        raise _fail(recipe, f"{key}.muscle", f"'{rule.muscle}' is not a muscle of this region")
    # candidates on a grid in the search ball, nearest to the approximate location first
    n = int(np.ceil(rule.within_mm / SEARCH_STEP_MM))
    g = np.arange(-n, n + 1) * SEARCH_STEP_MM
    grid = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    r = np.linalg.norm(grid, axis=1)
    grid = grid[r <= rule.within_mm][np.argsort(r[r <= rule.within_mm], kind="stable")]
    cand = rule.near + grid
    lo, hi = muscle.vertices.min(axis=0), muscle.vertices.max(axis=0)
    cand = cand[np.all((cand >= lo) & (cand <= hi), axis=1)]

    def dist(s: Structure) -> SurfaceDistance:
        if s.name not in dist_cache:
            dist_cache[s.name] = SurfaceDistance(s.vertices, s.faces)
        return dist_cache[s.name]

    others = [s for s in parts.values() if s.role == "bone" or s.critical]
    # cheap reject by the nearest vertex (an upper bound of the true distance, so only a filter)
    mtree = cKDTree(muscle.vertices)
    for s in range(0, len(cand), 64):  # nearest first: the first batch usually holds the answer
        batch = cand[s:s + 64]
        w = winding_number(muscle.vertices, muscle.faces, batch)
        batch = batch[w >= 0.5]
        if not len(batch):
            continue
        batch = batch[mtree.query(batch)[0] >= rule.depth_mm]
        for p in batch:
            if dist(muscle)(p)[0][0] < rule.depth_mm:
                continue
            ok = True
            for o in others:
                need = rule.min_bone_mm if o.role == "bone" else o.margin_mm + rule.clear_mm
                if dist(o)(p)[0][0] < need or not (
                        dist(o).clearly_outside(p) or winding_number(o.vertices, o.faces, p[None])[0] < 0.5):
                    ok = False
                    break
            if ok:
                return TriggerPoint(rule.name, p.copy(), rule.muscle)
    raise _fail(recipe, f"{key}.near", f"no point of '{rule.muscle}' within {rule.within_mm} mm of "
                f"{rule.near.tolist()} lies {rule.depth_mm} mm inside it, {rule.min_bone_mm} mm from bone "
                "and outside every danger margin")


# --- the scene -----------------------------------------------------------------------------------

def _exporters(files: set[str]) -> dict[str, str]:
    out = {}
    for src in sorted(files):
        f = sources.BY_NAME.get(src) or next((x for x in sources.FILES if Path(x.name).stem == Path(src).stem), None)
        if f is not None:
            out[f.name] = f"{f.exporter}; {f.url}"
    return out


def build_scene(recipe: Recipe, atlas, habitus: str = DEFAULT) -> AnatomyScene:
    """The recipe's region cut from `atlas` (a converted `Atlas`) for a habitus preset name."""
    if habitus not in HABITUS_PRESETS:
        raise PackError(f"unknown habitus '{habitus}' (presets: {', '.join(HABITUS_PRESETS)})")
    table = load_structure_table()
    selected, mirrored = select_parts(recipe, atlas)
    for g in recipe.generated:
        if not isinstance(g, GeneratedRule):
            continue  # capsules (unmodelled zones) are placed once the bones are known
        if any(name == g.name for name, _, _, _ in selected):
            raise _fail(recipe, "generated", f"'{g.name}' is also an atlas part of this region")
        v, f = ellipsoid(g.centre, g.size_mm / 2.0, g.frame)
        selected.append((g.name, "", v, f))
        if any(fnmatch.fnmatchcase(g.name, m) for m in recipe.mirror):
            selected.append((_mirror_name(g.name), "", v * np.array([-1.0, 1.0, 1.0]), f[:, ::-1].copy()))
            mirrored.append(_mirror_name(g.name))
    structures = []
    for name, _, v, f in selected:
        st = _style(name, table, recipe)
        structures.append(Structure(name, st.role, v, f, st.colour, st.critical,
                                    st.margin_mm if st.critical else 0.0))
    parts = {s.name: s for s in structures}
    landmarks = [_landmark(recipe, k, parts) for k in range(len(recipe.landmarks))]
    placed = _zones(recipe, table, parts, landmarks)
    zones = [z for z, _, _ in placed]
    for name in recipe.overrides:
        if not any(s.name == name for s in [*structures, *zones]):
            raise _fail(recipe, f"structure.{name}", "not a structure of this region")
    fat = recipe.fat_mm[habitus]
    # marching cubes can pinch two sheets of the skin into one edge (4 faces) where they touch; a
    # level a few hundredths of a millimetre away does not (fit_fat moves the skin to `fat` anyway)
    for extra in SKIN_RETRY_MM:
        skin_v, skin_f = skin_envelope([(s.vertices, s.faces) for s in [*structures, *zones]], fat + extra,
                                       voxel_mm=SKIN_VOXEL_MM, bridge_mm=SKIN_BRIDGE_MM)
        if faces_closed(skin_f):
            break
    else:
        raise PackError(f"recipe {recipe.path.name}: the skin envelope is not closed (habitus {habitus})")
    from ..types import DEFAULT_COLOUR

    # the zones stand for tissue inside the body: the skin encloses them at the recipe's fat like any
    # structure (a zone never pokes out of the modelled body), and trigger points keep clear of them
    structures += zones
    skin_v = fit_fat(skin_v, skin_f, structures, fat)
    skin = Structure("skin", "skin", skin_v, skin_f, DEFAULT_COLOUR["skin"], False, 0.0)
    parts = {s.name: s for s in structures}
    cache: dict = {}
    triggers = [_trigger_point(recipe, k, t, parts, cache) for k, t in enumerate(recipe.trigger_points)]
    h = HABITUS_PRESETS[habitus]
    metadata: dict[str, Any] = {
        "units": "mm",
        "frame": "LPS",
        "title": f"{recipe.title} (atlas, {habitus})",
        "body_area": recipe.body_area,
        "description": recipe.description,
        "recipe": recipe.id,
        "source": "Z-Anatomy atlas meshes converted on this machine, cut by NeedleSafe recipe "
                  f"meshes/atlas/recipes/{recipe.path.name}",
        "licence": sources.PACK_LICENCE,
        "attribution": list(sources.ATTRIBUTION),
        "exporters": _exporters({src for _, src, _, _ in selected if src}),
        "generated": {g.name: {"shape": "ellipsoid", "size_mm": g.size_mm.tolist(),
                               "source": f"meshes/anatomy_facts.md: {g.source}"}
                      for g in recipe.generated if isinstance(g, GeneratedRule)},
        "habitus": {"name": habitus, "description": h.description, "fat_mm": fat,
                    "fat_source": f"meshes/anatomy_facts.md: {recipe.fat_source}"},
        "crop_mm": {"min": recipe.crop_min.tolist(), "max": recipe.crop_max.tolist()},
        "mirrored": mirrored,
        "facts": list(recipe.facts),
        "default_view": recipe.view,
    }
    for z, g, axis in placed:
        metadata["generated"][z.name] = {"shape": "capsule", "start_mm": axis[0].tolist(),
                                         "end_mm": axis[1].tolist(), "radius_mm": g.radius_mm,
                                         "source": f"meshes/anatomy_facts.md: {g.source}"}
    if placed:  # what each zone stands for: the engine puts the note on the zone's row
        metadata["unmodelled"] = {z.name: {"note": g.note, "source": f"meshes/anatomy_facts.md: {g.source}"}
                                  for z, g, _ in placed}
    if recipe.needle:
        metadata["default_needle"] = dict(recipe.needle)
    return AnatomyScene(f"{PREFIX}{recipe.id}:{habitus}", [skin, *structures], landmarks, metadata, triggers)


# --- names, cache ---------------------------------------------------------------------------------

def parse_name(name: str) -> tuple[str, str]:
    """'atlas:gluteal:lean' (or 'gluteal:lean') -> ('gluteal', 'lean'); the habitus defaults to average."""
    rest = name[len(PREFIX):] if name.startswith(PREFIX) else name
    region, _, hab = rest.partition(":")
    hab = hab or DEFAULT
    recipe_path(region)  # raises for an unknown region
    if hab not in HABITUS_PRESETS:
        raise PackError(f"unknown habitus '{hab}' in '{name}' (presets: {', '.join(HABITUS_PRESETS)})")
    return region, hab


def is_atlas_name(name) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def atlas_names() -> list[str]:
    """Every atlas pack name the shipped recipes give: 'atlas:REGION:HABITUS'."""
    return [f"{PREFIX}{r}:{h}" for r in recipe_ids() for h in HABITUS_PRESETS]


def _code_key() -> bytes:
    """The converted atlas's key (pinned files' SHA-256 and the converter's source) and this
    builder's source."""
    from .convert import cache_key as atlas_key

    here = Path(__file__).resolve().parent
    h = hashlib.sha256(atlas_key().encode())
    for f in (here / "build.py", here / "recipe.py", here.parent / "envelope.py", here.parent / "types.py"):
        h.update(f.read_bytes())
    return h.digest()


def cache_key(recipe: Recipe, habitus: str) -> str:
    """Hex key of a built pack: recipe text, mapping table, atlas files' hashes, builder source."""
    h = hashlib.sha256(_code_key())
    h.update(recipe.text.encode())
    h.update(STRUCTURES_TOML.read_bytes())
    h.update(habitus.encode())
    return h.hexdigest()[:16]


def pack_folder(recipe: Recipe, habitus: str) -> Path:
    return cache_dir() / "atlas-packs" / f"{recipe.id}-{habitus}-{cache_key(recipe, habitus)}"


_SCENES: dict[tuple[str, str, str], AnatomyScene] = {}


def atlas_scene(name: str, atlas=None) -> AnatomyScene:
    """An atlas pack by name ('atlas:gluteal', 'atlas:gluteal:lean'): read from the cache, or
    built from `atlas` (default: `convert.load_atlas()`, the downloaded files) and cached. Built
    scenes are also kept in memory. `resolve.load_pack` checks first that the atlas is present."""
    region, habitus = parse_name(name)
    recipe = load_recipe(recipe_path(region))
    folder = pack_folder(recipe, habitus)
    key = (region, habitus, folder.name)
    if key in _SCENES:
        return _SCENES[key]
    scene = read_cached_pack(folder)
    if scene is not None:
        scene.name = f"{PREFIX}{region}:{habitus}"
    else:
        if atlas is None:
            from .convert import load_atlas

            atlas = load_atlas()
        scene = build_scene(recipe, atlas, habitus)
        write_cached_pack(scene, folder)
    _SCENES[key] = scene
    return scene
