"""The needle plane: the plane through the needle's axis, as an ultrasound probe held along the
needle shows it, and every structure's cross-section in it (mm, LPS; numpy only, no Qt).

Plane coordinates (mm): ``depth`` along the needle from the skin entry (positive into the body)
and ``lateral`` across it, so the needle lies on ``lateral = 0`` from depth 0 to its tip.

The plane's orientation (`needle_plane`): at ``angle_deg = 0`` the plane holds the needle and the
patient's superior axis (+z): ``v`` is the part of +z perpendicular to the needle, so +lateral
points as far superior as the plane allows (a longitudinal view). When the needle runs within
`NEAR_AXIAL_DEG` of the superior axis, +z cannot orient the plane and the patient's left (+x)
does instead. ``angle_deg`` turns the plane about the needle's axis, right-handed about the
needle's direction: ``v(angle) = cos(angle) v0 + sin(angle) (u × v0)``; 90 degrees gives the
transverse plane through the needle. The choice depends on the needle only, never on a camera.

A section (`cross_sections`) is the structure's triangles cut by the plane, the segments chained
into loops through the mesh edges they cross: an edge is crossed when its two ends lie on
different sides (a vertex exactly on the plane counts as the positive side, on every triangle
alike), so two triangles sharing a crossed edge share the crossing point exactly and a closed
mesh always gives closed loops. Where the mesh is open (a boundary edge is crossed) the chain
stays open and the section says so (`Section.open_chains`); closure is never invented. Where more
than two triangles share a crossed edge (sheets meeting) the chaining takes the first free way and
`Section.nonmanifold` says so.

Danger margins are not offset here: the picture (`app/slice_picture.py`) draws them as strokes of
the margin's width outside the section's outline.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from needlesafe.meshes.types import AnatomyScene, Structure

from .needle import Needle

#: A needle closer than this (degrees) to the superior axis orients its plane by the patient's left.
NEAR_AXIAL_DEG = 8.0

_SUPERIOR = np.array([0.0, 0.0, 1.0])
_LEFT = np.array([1.0, 0.0, 0.0])


@dataclass(frozen=True)
class NeedlePlane:
    """The plane through a needle's axis.

    origin    : (3,) mm LPS, the skin entry (depth 0, lateral 0)
    u         : (3,) unit, along the needle (depth)
    v         : (3,) unit, across it in the plane (lateral)
    normal    : (3,) unit, u × v
    angle_deg : the turn about the needle's axis from the default orientation (module docstring)
    """

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    normal: np.ndarray
    angle_deg: float = 0.0

    def to_plane(self, points: np.ndarray) -> np.ndarray:
        """(k, 3) mm LPS -> (k, 2) mm (depth, lateral) of their projection on the plane."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3) - self.origin
        return np.stack([p @ self.u, p @ self.v], axis=1)

    def to_world(self, uv: np.ndarray) -> np.ndarray:
        """(k, 2) mm (depth, lateral) -> (k, 3) mm LPS points of the plane."""
        q = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        return self.origin + q[:, :1] * self.u + q[:, 1:] * self.v

    def side_names(self) -> tuple[str, str]:
        """Patient directions of +lateral and -lateral in words ('superior', 'inferior-left' ...),
        from v's components of at least a third of its length, largest first."""
        return _direction_name(self.v), _direction_name(-self.v)


def _direction_name(d: np.ndarray) -> str:
    words = (("left", "right"), ("posterior", "anterior"), ("superior", "inferior"))
    order = np.argsort(-np.abs(d))
    parts = [words[k][0 if d[k] > 0 else 1] for k in order if abs(d[k]) >= 1.0 / 3.0]
    return "-".join(parts[:2]) if parts else words[int(order[0])][0 if d[order[0]] > 0 else 1]


def needle_plane(needle: Needle, angle_deg: float = 0.0) -> NeedlePlane:
    """The plane through `needle`'s axis turned `angle_deg` about it (module docstring).

    needle    : Needle (its entry and unit direction are used)
    angle_deg : finite float, degrees
    returns   : NeedlePlane with origin = the skin entry
    """
    angle = float(angle_deg)
    if not np.isfinite(angle):
        raise ValueError(f"angle must be a finite number of degrees, got {angle_deg}")
    u = np.asarray(needle.direction, dtype=np.float64)
    u = u / np.linalg.norm(u)
    # the reference: +z made perpendicular to the needle, or +x when the needle runs along z
    ref = _SUPERIOR if abs(float(u @ _SUPERIOR)) < np.cos(np.radians(NEAR_AXIAL_DEG)) else _LEFT
    v0 = ref - (ref @ u) * u
    v0 /= np.linalg.norm(v0)
    w0 = np.cross(u, v0)
    a = np.radians(angle)
    v = np.cos(a) * v0 + np.sin(a) * w0
    v /= np.linalg.norm(v)
    n = np.cross(u, v)
    return NeedlePlane(np.asarray(needle.entry_lps, dtype=np.float64).copy(), u, v, n / np.linalg.norm(n), angle)


@dataclass
class Section:
    """One structure cut by the plane.

    loops       : list of (k, 2) float64 (depth, lateral) mm, closed polygons (last point != first)
    open_chains : list of (k, 2) float64, chains that end on the mesh's boundary (an open mesh)
    nonmanifold : True when a crossed edge is shared by more than two triangles
    """

    name: str
    role: str
    colour: str
    critical: bool
    margin_mm: float
    loops: list[np.ndarray] = field(default_factory=list)
    open_chains: list[np.ndarray] = field(default_factory=list)
    nonmanifold: bool = False

    @property
    def closed(self) -> bool:
        """True when every chain of the section closes on itself."""
        return not self.open_chains


@dataclass
class PlaneSlice:
    """Every structure's section in one needle plane, in scene order (structures the plane misses,
    or whose section lies wholly outside the window, are left out)."""

    plane: NeedlePlane
    extent_mm: float
    sections: list[Section]

    @property
    def open_structures(self) -> list[str]:
        """Names of the structures whose section has open chains (their meshes are open)."""
        return [s.name for s in self.sections if not s.closed]


def _cut(vertices: np.ndarray, faces: np.ndarray, plane: NeedlePlane) -> tuple[np.ndarray, np.ndarray, bool]:
    """The plane's crossing of one mesh: (p, 2) crossing points (depth, lateral) mm, one per crossed
    edge, (s, 2) int64 segments (pairs of point indices, one per cut triangle), and whether a crossed
    edge is shared by more than two triangles."""
    empty = np.empty((0, 2)), np.empty((0, 2), dtype=np.int64), False
    if not len(faces):
        return empty
    # signed distance of every vertex (one matrix-vector product: cheaper than per corner);
    # a vertex on the plane counts as the positive side
    dist = vertices @ plane.normal - float(plane.origin @ plane.normal)
    pos = (dist >= 0.0).view(np.int8)
    s0, s1, s2 = pos[faces[:, 0]], pos[faces[:, 1]], pos[faces[:, 2]]
    n_pos = s0 + s1 + s2
    cut = (n_pos == 1) | (n_pos == 2)
    if not np.any(cut):
        return empty
    s = np.stack([s0[cut], s1[cut], s2[cut]], axis=1)
    f = faces[cut]
    # the lone vertex (alone on its side) of each cut triangle: the crossed edges are lone-b, lone-c
    lone = np.where(n_pos[cut] == 1, np.argmax(s, axis=1), np.argmin(s, axis=1))
    rows = np.arange(len(f))
    a = f[rows, lone]
    b = f[rows, (lone + 1) % 3]
    c = f[rows, (lone + 2) % 3]
    # crossed edges as (lower vertex, higher vertex) and one integer key each
    lo_v = np.concatenate([np.minimum(a, b), np.minimum(a, c)])
    hi_v = np.concatenate([np.maximum(a, b), np.maximum(a, c)])
    n_v = np.int64(len(vertices))
    uniq, first, inverse, counts = np.unique(lo_v * n_v + hi_v, return_index=True, return_inverse=True,
                                             return_counts=True)
    seg = inverse.reshape(2, -1).T.astype(np.int64)
    # orient each segment by the triangle's winding (a, b, c): from the edge where the winding
    # leaves the positive side to the edge where it comes back; on a consistently wound mesh every
    # crossing point then starts one segment and ends one (`_chain`'s fast path)
    flip = n_pos[cut] == 2
    seg[flip] = seg[flip, ::-1]
    # the crossing point of each crossed edge, from its lower-index end (the same in every triangle)
    i0 = lo_v[first]
    i1 = hi_v[first]
    p0 = vertices[i0] - plane.origin
    p1 = vertices[i1] - plane.origin
    d0 = dist[i0]
    d1 = dist[i1]
    t = (d0 / (d0 - d1))[:, None]
    x = p0 + t * (p1 - p0)
    pts = np.stack([x @ plane.u, x @ plane.v], axis=1)
    return pts, seg, bool(np.any(counts > 2))


def _chain(n_points: int, seg: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Chain segments (pairs of point indices) into closed loops and open chains of point indices.
    Open chains start at points of odd degree (a boundary), loops at any point with a free segment."""
    if len(seg) == n_points:
        # fast path: the segments, oriented by a consistently wound closed mesh, make a permutation
        # (each point starts one segment and ends one): follow it
        starts = np.bincount(seg[:, 0], minlength=n_points)
        ends = np.bincount(seg[:, 1], minlength=n_points)
        if np.all(starts == 1) and np.all(ends == 1):
            succ = np.empty(n_points, dtype=np.int64)
            succ[seg[:, 0]] = seg[:, 1]
            succ_l = succ.tolist()
            seen = bytearray(n_points)
            cycles: list[np.ndarray] = []
            for p0 in range(n_points):
                if seen[p0]:
                    continue
                path = []
                p = p0
                while not seen[p]:
                    seen[p] = 1
                    path.append(p)
                    p = succ_l[p]
                cycles.append(np.asarray(path, dtype=np.int64))
            return [c for c in cycles if len(c) >= 3], [c for c in cycles if len(c) < 3]
    deg = np.bincount(seg.ravel(), minlength=n_points)
    # incidence lists: for each point, the segments that touch it (CSR), and the far end of each
    order = np.argsort(seg.ravel(), kind="stable")
    seg_of = (order // 2).tolist()
    other = seg[:, ::-1].ravel()[order].tolist()
    start = np.concatenate([[0], np.cumsum(deg)]).tolist()
    nxt_free = start[:-1]  # per point: the first incidence not yet known to be used
    used = [False] * len(seg)
    loops: list[np.ndarray] = []
    chains: list[np.ndarray] = []

    def take(p: int) -> int:
        """Use p's next free segment; its far end, or -1 when p has none left."""
        k = nxt_free[p]
        end = start[p + 1]
        while k < end and used[seg_of[k]]:
            k += 1
        nxt_free[p] = k
        if k == end:
            return -1
        used[seg_of[k]] = True
        return other[k]

    def walk(p: int) -> tuple[list[int], bool]:
        path = [p]
        first = p
        while True:
            q = take(p)
            if q < 0:
                return path, False
            if q == first:
                return path, True
            path.append(q)
            p = q

    for p in np.flatnonzero(deg % 2 == 1).tolist():
        path, _ = walk(p)
        if len(path) > 1:
            chains.append(np.asarray(path, dtype=np.int64))
    for i, p in enumerate(seg[:, 0].tolist()):
        while not used[i]:
            path, closed = walk(p)
            (loops if closed and len(path) >= 3 else chains).append(np.asarray(path, dtype=np.int64))
    return loops, chains


def _bbox_meets_plane(lo: np.ndarray, hi: np.ndarray, plane: NeedlePlane, origin_dist_mm: float) -> bool:
    """True when the box [lo, hi] straddles (or touches) the plane and comes within `origin_dist_mm`
    of the plane's origin."""
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    d = (corners - plane.origin) @ plane.normal
    if d.min() > 0.0 or d.max() < 0.0:
        return False
    nearest = np.clip(plane.origin, lo, hi)
    return bool(np.linalg.norm(nearest - plane.origin) <= origin_dist_mm)


def section_of(structure: Structure, plane: NeedlePlane) -> Section:
    """The section of one structure by `plane` (loops and open chains in plane mm)."""
    v = np.asarray(structure.vertices, dtype=np.float64)
    f = np.asarray(structure.faces, dtype=np.int64)
    pts, seg, nonmanifold = _cut(v, f, plane)
    sec = Section(structure.name, structure.role, structure.colour, bool(structure.critical),
                  float(structure.margin_mm), nonmanifold=nonmanifold)
    if len(seg):
        loops, chains = _chain(len(pts), seg)
        sec.loops = [pts[i] for i in loops]
        sec.open_chains = [pts[i] for i in chains]
    return sec


#: Triangles per chunk of a Slicer: the plane is tested against each chunk's box before its triangles.
CHUNK_TRIANGLES = 128


class _Mesh:
    """One structure prepared for slicing: its faces sorted along a space-filling (Morton) order of
    their centroids and cut into chunks of CHUNK_TRIANGLES, each with its bounding box."""

    def __init__(self, structure: Structure):
        self.structure = structure
        v = np.ascontiguousarray(structure.vertices, dtype=np.float64)
        f = np.ascontiguousarray(structure.faces, dtype=np.int64).reshape(-1, 3)
        self.vertices = v
        self.lo = v.min(axis=0)
        self.hi = v.max(axis=0)
        # Morton order of the centroids (10 bits per axis) keeps each chunk's triangles together
        cen = v[f].mean(axis=1)
        q = ((cen - self.lo) / np.maximum(self.hi - self.lo, 1e-9) * 1023).astype(np.int64)
        code = np.zeros(len(f), dtype=np.int64)
        for bit in range(10):
            for axis in range(3):
                code |= ((q[:, axis] >> bit) & 1) << (3 * bit + axis)
        f = f[np.argsort(code, kind="stable")]
        self.faces = f
        n_chunks = -(-len(f) // CHUNK_TRIANGLES)
        pad = n_chunks * CHUNK_TRIANGLES - len(f)
        # (chunks, CHUNK_TRIANGLES, 3): the last chunk padded with a degenerate face (one vertex three
        # times), which lies wholly on one side of any plane and so is never cut
        filler = np.full((pad, 3), f[-1, 0], dtype=np.int64)
        self.chunks = np.concatenate([f, filler]).reshape(n_chunks, CHUNK_TRIANGLES, 3)
        tri = v[f]                                       # (m, 3, 3)
        tlo = np.concatenate([tri.min(axis=1), np.repeat(tri[-1:].min(axis=1), pad, axis=0)])
        thi = np.concatenate([tri.max(axis=1), np.repeat(tri[-1:].max(axis=1), pad, axis=0)])
        clo = tlo.reshape(n_chunks, CHUNK_TRIANGLES, 3).min(axis=1)
        chi = thi.reshape(n_chunks, CHUNK_TRIANGLES, 3).max(axis=1)
        self.centre = (clo + chi) / 2.0
        self.half = (chi - clo) / 2.0

    def faces_near(self, plane: NeedlePlane) -> np.ndarray:
        """The faces of the chunks whose boxes the plane meets (a superset of the faces it cuts)."""
        reach = np.abs(self.half) @ np.abs(plane.normal)
        hit = np.abs((self.centre - plane.origin) @ plane.normal) <= reach
        if hit.all():
            return self.faces
        return self.chunks[hit].reshape(-1, 3)


def _meets_window(q: np.ndarray, extent: float) -> bool:
    """True when the (k, 2) chain's bounding box meets the window |depth|, |lateral| <= extent."""
    return bool(np.all(q.max(axis=0) >= -extent) and np.all(q.min(axis=0) <= extent))


class Slicer:
    """`cross_sections` for one scene, with each structure's arrays, bounding box and chunk boxes
    prepared once (for the live view: one Slicer per scene, one call per needle update)."""

    def __init__(self, scene: AnatomyScene):
        self.scene = scene
        self._meshes = [_Mesh(s) for s in scene.structures if len(s.vertices) and len(s.faces)]

    def cross_sections(self, plane: NeedlePlane, extent_mm: float) -> PlaneSlice:
        """Every structure's section within the square window |depth|, |lateral| <= extent_mm
        (structures whose bounding box misses the plane or the window's circle are skipped before
        any triangle is read; loops wholly outside the window are dropped, the others kept whole)."""
        extent = float(extent_mm)
        if not (np.isfinite(extent) and extent > 0):
            raise ValueError(f"extent must be a positive finite number of mm, got {extent_mm}")
        reach = extent * np.sqrt(2.0)
        sections = []
        for m in self._meshes:
            s = m.structure
            if not _bbox_meets_plane(m.lo, m.hi, plane, reach):
                continue
            pts, seg, nonmanifold = _cut(m.vertices, m.faces_near(plane), plane)
            if not len(seg):
                continue
            loops, chains = _chain(len(pts), seg)
            kept_loops = [q for q in (pts[i] for i in loops) if _meets_window(q, extent)]
            kept_chains = [q for q in (pts[i] for i in chains) if _meets_window(q, extent)]
            if kept_loops or kept_chains:
                sections.append(Section(s.name, s.role, s.colour, bool(s.critical), float(s.margin_mm),
                                        kept_loops, kept_chains, nonmanifold))
        return PlaneSlice(plane, extent, sections)


def cross_sections(scene: AnatomyScene, plane: NeedlePlane, extent_mm: float) -> PlaneSlice:
    """Every structure's section by `plane` within the window |depth|, |lateral| <= extent_mm.

    scene     : AnatomyScene
    plane     : NeedlePlane (from `needle_plane`)
    extent_mm : positive float, the window's half-size, mm
    returns   : PlaneSlice; each Section's loops are (k, 2) float64 (depth, lateral) mm
    """
    return Slicer(scene).cross_sections(plane, extent_mm)


def polygon_area(loop: np.ndarray) -> float:
    """Unsigned area (mm²) of a closed (k, 2) polygon (shoelace)."""
    x, y = loop[:, 0], loop[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)
