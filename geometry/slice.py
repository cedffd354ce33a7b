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
from .tolerances import BOUND_SLACK_MM, COINCIDENT_MM

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


def _cut(vertices: np.ndarray, faces: np.ndarray, plane: NeedlePlane
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The plane's crossing of a mesh (or of several meshes in one vertex array).

    returns : pts (p, 2) crossing points (depth, lateral) mm, one per crossed edge;
              seg (s, 2) int64 segments, pairs of point indices, one per cut triangle;
              vertex (p,) int64 the lower vertex index of each point's edge;
              count (p,) int64 how many cut triangles share each point's edge (> 2: non-manifold)
    """
    empty = (np.empty((0, 2)), np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.int64),
             np.empty(0, dtype=np.int64))
    if not len(faces):
        return empty
    # signed distance of every vertex, then of every corner; element-wise arithmetic on the
    # coordinates, not a BLAS product (whose threads thrash on a busy machine: 10x slower here);
    # a vertex on the plane counts as the positive side
    vt = vertices.T
    n = plane.normal
    vdist = vt[0] * n[0] + vt[1] * n[1] + vt[2] * n[2] - float(plane.origin @ n)
    dist = np.take(vdist, faces.ravel()).reshape(-1, 3)
    side = dist >= 0.0
    n_pos = side.sum(axis=1, dtype=np.int8)
    cut = (n_pos == 1) | (n_pos == 2)
    if not np.any(cut):
        return empty
    f = faces[cut]
    # the lone corner (alone on its side) of each cut triangle: the crossed edges are lone-b, lone-c
    lone = np.where(n_pos[cut] == 1, np.argmax(side[cut], axis=1), np.argmin(side[cut], axis=1))
    rows = np.arange(len(f))
    ka, kb, kc = lone, (lone + 1) % 3, (lone + 2) % 3
    a, b, c = f[rows, ka], f[rows, kb], f[rows, kc]
    # crossed edges as (lower vertex, higher vertex) and one integer key each
    lo_v = np.concatenate([np.minimum(a, b), np.minimum(a, c)])
    hi_v = np.concatenate([np.maximum(a, b), np.maximum(a, c)])
    n_v = np.int64(len(vertices))
    _, first, inverse, counts = np.unique(lo_v * n_v + hi_v, return_index=True, return_inverse=True,
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
    d0 = vdist[i0]
    d1 = vdist[i1]
    p0 = vertices[i0] - plane.origin
    p1 = vertices[i1] - plane.origin
    t = (d0 / (d0 - d1))[:, None]
    x = p0 + t * (p1 - p0)
    pts = np.stack([_dot(x, plane.u), _dot(x, plane.v)], axis=1)
    return pts, seg, i0, counts.astype(np.int64)


def _chain(n_points: int, seg: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Chain segments (pairs of point indices) into closed loops and open chains of point indices.
    Open chains start at points of odd degree (a boundary), loops at any point with a free segment."""
    starts = np.bincount(seg[:, 0], minlength=n_points)
    ends = np.bincount(seg[:, 1], minlength=n_points)
    if starts.max(initial=0) <= 1 and ends.max(initial=0) <= 1:
        # fast path: segments oriented by a consistently wound mesh start and end at most once at each
        # point: follow them, from the points nothing ends at (a boundary: open chains) then around
        # what is left (closed loops)
        succ = np.full(n_points, -1, dtype=np.int64)
        succ[seg[:, 0]] = seg[:, 1]
        succ_l = succ.tolist()
        seen = bytearray(n_points)
        loops: list[np.ndarray] = []
        chains: list[np.ndarray] = []
        heads = np.flatnonzero((ends == 0) & (starts == 1)).tolist()
        for p0 in heads + list(range(n_points)):
            if seen[p0]:
                continue
            path = []
            p = p0
            while p >= 0 and not seen[p]:
                seen[p] = 1
                path.append(p)
                p = succ_l[p]
            closed = p == p0
            if closed and len(path) < 3:
                path.append(path[0])  # a closed walk of two segments (a doubled face): keep both, as a chain
            (loops if closed and len(path) >= 3 and path[-1] != path[0] else chains).append(
                np.asarray(path, dtype=np.int64))
        return loops, [c for c in chains if len(c) > 1]
    # general path (inconsistent winding, or edges of more than two triangles): walk the undirected graph
    deg = np.bincount(seg.ravel(), minlength=n_points)
    # incidence lists: for each point, the segments that touch it (CSR), and the far end of each
    order = np.argsort(seg.ravel(), kind="stable")
    seg_of = (order // 2).tolist()
    other = seg[:, ::-1].ravel()[order].tolist()
    start = np.concatenate([[0], np.cumsum(deg)]).tolist()
    nxt_free = start[:-1]  # per point: the first incidence not yet known to be used
    used = [False] * len(seg)
    loops = []
    chains = []

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
            if closed and len(path) < 3:
                path.append(path[0])  # a closed walk of two segments (a doubled face): keep both, as a chain
            (loops if closed and len(path) >= 3 and path[-1] != path[0] else chains).append(
                np.asarray(path, dtype=np.int64))
    return loops, chains


#: Slack (mm) added to every box before the plane is tested against it, so rounding in the box's
#: centre and half-size never drops a triangle whose vertex lies exactly on the plane.
BOX_PAD_MM = COINCIDENT_MM
#: Triangles per chunk of a Slicer: the plane is tested against each chunk's box before its triangles.
CHUNK_TRIANGLES = 32


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
        q = ((cen - self.lo) / np.maximum(self.hi - self.lo, BOUND_SLACK_MM) * 1023).astype(np.int64)
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
        self.half = (chi - clo) / 2.0 + BOX_PAD_MM


def _dot(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(k, 3) · (3,) element-wise (no BLAS threads)."""
    return a[:, 0] * n[0] + a[:, 1] * n[1] + a[:, 2] * n[2]


def _meet_window(pts: np.ndarray, groups: list, extent: float) -> np.ndarray:
    """(g,) bool: whether each chain's bounding box meets the window |depth|, |lateral| <= extent.
    pts (n, 2) plane mm; groups: g non-empty index arrays into pts (one pass for all of them)."""
    if not groups:
        return np.zeros(0, dtype=bool)
    lengths = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    q = pts[np.concatenate(groups)]
    hi = np.maximum.reduceat(q, starts, axis=0)
    lo = np.minimum.reduceat(q, starts, axis=0)
    return np.all(hi >= -extent, axis=1) & np.all(lo <= extent, axis=1)


class Slicer:
    """`cross_sections` for one scene, prepared once (for the live view: one Slicer per scene, one
    call per needle update): every structure's faces in Morton-ordered chunks with their boxes, all
    structures in one vertex array, so one plane is one pass of array operations, not one per
    structure."""

    def __init__(self, scene: AnatomyScene):
        self.scene = scene
        meshes = [_Mesh(s) for s in scene.structures if len(s.vertices) and len(s.faces)]
        self._structures = [m.structure for m in meshes]
        sizes = [len(m.vertices) for m in meshes]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        # (3, n) so each coordinate is contiguous for `_cut`'s element-wise distance; `.T` is (n, 3) again
        self._vertices_t = np.ascontiguousarray(
            (np.concatenate([m.vertices for m in meshes]) if meshes else np.empty((0, 3))).T)
        self._chunks = (np.concatenate([m.chunks + off for m, off in zip(meshes, self._offsets[:-1], strict=True)])
                        if meshes else np.empty((0, CHUNK_TRIANGLES, 3), dtype=np.int64))
        self._chunk_structure = np.concatenate(
            [np.full(len(m.chunks), k, dtype=np.int64) for k, m in enumerate(meshes)]) if meshes else np.empty(0, int)
        self._centre = np.concatenate([m.centre for m in meshes]) if meshes else np.empty((0, 3))
        self._half = np.concatenate([m.half for m in meshes]) if meshes else np.empty((0, 3))
        self._lo = np.array([m.lo for m in meshes]).reshape(-1, 3)
        self._hi = np.array([m.hi for m in meshes]).reshape(-1, 3)

    def cross_sections(self, plane: NeedlePlane, extent_mm: float) -> PlaneSlice:
        """Every structure's section within the square window |depth|, |lateral| <= extent_mm
        (structures whose bounding box misses the plane or the window's circle are skipped before
        any triangle is read; loops wholly outside the window are dropped, the others kept whole)."""
        extent = float(extent_mm)
        if not (np.isfinite(extent) and extent > 0):
            raise ValueError(f"extent must be a positive finite number of mm, got {extent_mm}")
        return self._slice(plane, extent)

    def _slice(self, plane: NeedlePlane, extent: float) -> PlaneSlice:
        n = plane.normal
        # structures: the box straddles the plane and comes within the window's circle of the origin
        centre, half = (self._lo + self._hi) / 2.0, (self._hi - self._lo) / 2.0 + BOX_PAD_MM
        straddle = np.abs(_dot(centre - plane.origin, n)) <= _dot(half, np.abs(n))
        near = np.linalg.norm(np.clip(plane.origin, self._lo, self._hi) - plane.origin, axis=1) <= extent * np.sqrt(2)
        wanted = straddle & near
        # chunks of those structures whose boxes the plane meets: a superset of the cut triangles
        hit = (np.abs(_dot(self._centre - plane.origin, n)) <= _dot(self._half, np.abs(n))) \
            & wanted[self._chunk_structure]
        faces = self._chunks[hit].reshape(-1, 3)
        pts, seg, vertex, count = _cut(self._vertices_t.T, faces, plane)
        if not len(seg):
            return PlaneSlice(plane, extent, [])
        loops, chains = _chain(len(pts), seg)
        owner = np.searchsorted(self._offsets, vertex, side="right") - 1     # structure of each point
        bad = set(owner[count > 2].tolist())
        per: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        groups = [(idx, 0) for idx in loops if len(idx)] + [(idx, 1) for idx in chains if len(idx)]
        for (idx, slot), meets in zip(groups, _meet_window(pts, [g[0] for g in groups], extent), strict=True):
            if meets:
                per.setdefault(int(owner[idx[0]]), ([], []))[slot].append(pts[idx])
        sections = []
        for k in sorted(per):
            s = self._structures[k]
            kept_loops, kept_chains = per[k]
            sections.append(Section(s.name, s.role, s.colour, bool(s.critical), float(s.margin_mm),
                                    kept_loops, kept_chains, k in bad))
        return PlaneSlice(plane, extent, sections)


def section_of(structure: Structure, plane: NeedlePlane) -> Section:
    """The whole section of one structure by `plane` (loops and open chains in plane mm, no window)."""
    found = Slicer(AnatomyScene(structure.name, [structure])).cross_sections(plane, 1e12).sections
    if found:
        return found[0]
    return Section(structure.name, structure.role, structure.colour, bool(structure.critical),
                   float(structure.margin_mm))


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
