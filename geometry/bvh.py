"""Bounding-volume hierarchy over one triangle mesh, with exact compiled queries (mm).

`TriangleBVH(vertices, faces)` builds once per structure (median split on the longest axis, leaves
of at most 4 triangles); then

- `segment_distance(p, q)`: exact minimum distance from segment pq to the surface and the
  closest point pair (zero when the segment crosses the surface),
- `ray_hits(o, d, t_split)`: every crossing of the ray o + t d (t >= 0): the first one, the first one
  beyond t_split, and how many lie before and beyond t_split (their parity tells inside/outside),
- `first_within(o, d, radius, t_max)`: the first t at which the ray comes within `radius` of
  the surface (the swept-sphere query behind the safe depth).

The compiled kernels take the tree as one tuple `nodes` = (bmin, bmax, left, right, start, count,
tris): node boxes (k, 3) mm, children (k,) int (-1: a leaf), each node's first triangle and triangle
count (k,) int, and the triangles (m, 3, 3) mm in BVH order.

A tree depends only on the mesh, so `TriangleBVH(..., cache_dir=folder)` keeps it on disk (one
``.npz`` per mesh, named by a hash of the vertices, faces and the tree's format) and a later start
loads it instead of building it again; a damaged or mismatched file is rebuilt.

`scene_bvh.SceneBVH` puts the trees of a whole scene into one set of arrays and runs these kernels over
all of them in one compiled call. The brute-force equivalents in `reference.py` are the tests' ground
truth.
"""
from __future__ import annotations

import hashlib
import io
import math
import zipfile
from pathlib import Path

import numpy as np
from numba import njit

from .kernels import (
    closest_point_segment,
    dist2,
    ray_rounded_triangle_hit,
    ray_triangle,
    segment_triangle_closest,
)
from .tolerances import DUPLICATE_HIT_REL

LEAF_SIZE = 4
TREE_FORMAT = 1  # bump when `_build` changes what it returns: cached trees then rebuild
_TREE_KEYS = ("bmin", "bmax", "left", "right", "start", "count", "order")


@njit(cache=True)
def _build(tris, leaf_size):
    n = tris.shape[0]
    cent = np.empty((n, 3))
    for i in range(n):
        for k in range(3):
            cent[i, k] = (tris[i, 0, k] + tris[i, 1, k] + tris[i, 2, k]) / 3.0
    order = np.arange(n)
    max_nodes = 2 * n + 1
    bmin = np.empty((max_nodes, 3))
    bmax = np.empty((max_nodes, 3))
    left = -np.ones(max_nodes, dtype=np.int64)
    right = -np.ones(max_nodes, dtype=np.int64)
    start = np.zeros(max_nodes, dtype=np.int64)
    count = np.zeros(max_nodes, dtype=np.int64)
    stack = np.empty(max_nodes, dtype=np.int64)
    n_nodes = 1
    start[0] = 0
    count[0] = n
    stack[0] = 0
    sp = 1
    while sp > 0:
        sp -= 1
        node = stack[sp]
        s = start[node]
        c = count[node]
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        clo = np.full(3, np.inf)
        chi = np.full(3, -np.inf)
        for j in range(s, s + c):
            i = order[j]
            for v in range(3):
                for k in range(3):
                    x = tris[i, v, k]
                    if x < lo[k]:
                        lo[k] = x
                    if x > hi[k]:
                        hi[k] = x
            for k in range(3):
                x = cent[i, k]
                if x < clo[k]:
                    clo[k] = x
                if x > chi[k]:
                    chi[k] = x
        bmin[node] = lo
        bmax[node] = hi
        if c <= leaf_size:
            continue
        ext = chi - clo
        axis = 0
        if ext[1] > ext[axis]:
            axis = 1
        if ext[2] > ext[axis]:
            axis = 2
        sub = order[s : s + c].copy()
        keys = cent[sub, axis]
        perm = np.argsort(keys, kind="mergesort")
        order[s : s + c] = sub[perm]
        half = c // 2
        l_node = n_nodes
        r_node = n_nodes + 1
        n_nodes += 2
        left[node] = l_node
        right[node] = r_node
        start[l_node] = s
        count[l_node] = half
        start[r_node] = s + half
        count[r_node] = c - half
        stack[sp] = l_node
        stack[sp + 1] = r_node
        sp += 2
    return (
        bmin[:n_nodes].copy(),
        bmax[:n_nodes].copy(),
        left[:n_nodes].copy(),
        right[:n_nodes].copy(),
        start[:n_nodes].copy(),
        count[:n_nodes].copy(),
        order,
    )


@njit(cache=True, inline="always")
def _corner(tris, j, v):
    return (tris[j, v, 0], tris[j, v, 1], tris[j, v, 2])


@njit(cache=True)
def _box_segment_lower_bound2(bmin, bmax, node, p, q):
    """Squared lower bound of the distance between a node's box and segment pq."""
    # gap between the box and the segment's own bounding box, per axis
    g2 = 0.0
    r2 = 0.0
    for k in range(3):
        lo = bmin[node, k]
        hi = bmax[node, k]
        smin = min(p[k], q[k])
        smax = max(p[k], q[k])
        if smax < lo:
            g2 += (lo - smax) ** 2
        elif smin > hi:
            g2 += (smin - hi) ** 2
        r2 += (0.5 * (hi - lo)) ** 2
    # distance from the segment to the box's circumscribed sphere
    cx = (
        0.5 * (bmin[node, 0] + bmax[node, 0]),
        0.5 * (bmin[node, 1] + bmax[node, 1]),
        0.5 * (bmin[node, 2] + bmax[node, 2]),
    )
    dc = math.sqrt(dist2(closest_point_segment(cx, p, q), cx)) - math.sqrt(r2)
    if dc > 0.0 and dc * dc > g2:
        return dc * dc
    return g2


@njit(cache=True)
def _segment_distance(nodes, root, p, q, max_d2):
    """Squared distance, closest points and triangle slot (BVH order) of segment pq."""
    bmin, bmax, left, right, start, count, tris = nodes
    best = max_d2
    nan = (math.nan, math.nan, math.nan)
    best_cs = nan
    best_ct = nan
    best_i = -1
    stack = np.empty(128, dtype=np.int64)
    stack[0] = root
    sp = 1
    while sp > 0:
        sp -= 1
        node = stack[sp]
        if _box_segment_lower_bound2(bmin, bmax, node, p, q) >= best:
            continue
        if left[node] < 0:
            for j in range(start[node], start[node] + count[node]):
                cs, ct, d2 = segment_triangle_closest(
                    p, q, _corner(tris, j, 0), _corner(tris, j, 1), _corner(tris, j, 2)
                )
                if d2 < best:
                    best = d2
                    best_cs = cs
                    best_ct = ct
                    best_i = j
            if best == 0.0:
                break
            continue
        l_node = left[node]
        r_node = right[node]
        dl = _box_segment_lower_bound2(bmin, bmax, l_node, p, q)
        dr = _box_segment_lower_bound2(bmin, bmax, r_node, p, q)
        # visit the nearer child first: push it last
        if dl < dr:
            if dr < best:
                stack[sp] = r_node
                sp += 1
            if dl < best:
                stack[sp] = l_node
                sp += 1
        else:
            if dl < best:
                stack[sp] = l_node
                sp += 1
            if dr < best:
                stack[sp] = r_node
                sp += 1
    return best, best_cs, best_ct, best_i


@njit(cache=True)
def _ray_box(bmin, bmax, node, pad, o, inv, t_max):
    """First t in [0, t_max] at which the ray is inside the node's box grown by pad, or inf."""
    t0 = 0.0
    t1 = t_max
    for k in range(3):
        a = (bmin[node, k] - pad - o[k]) * inv[k]
        b = (bmax[node, k] + pad - o[k]) * inv[k]
        if a > b:
            a, b = b, a
        # NaN from 0 * inf (origin on a slab plane, axis-parallel ray) keeps the box
        if a == a and a > t0:
            t0 = a
        if b == b and b < t1:
            t1 = b
        if t0 > t1:
            return math.inf
    return t0


@njit(cache=True, inline="always")
def _inverse(d):
    return (
        1.0 / d[0] if d[0] != 0.0 else math.inf,
        1.0 / d[1] if d[1] != 0.0 else math.inf,
        1.0 / d[2] if d[2] != 0.0 else math.inf,
    )


MAX_RAY_HITS = 512


@njit(cache=True)
def _crossings(nodes, root, o, d):
    """Sorted distinct crossings t >= 0 of the ray o + t d with one mesh, and how many more crossings
    there were than the buffer holds (MAX_RAY_HITS).

    A ray through a shared edge or vertex meets several triangles at the same t: such hits are
    counted once, so that the parity of the count tells inside from outside.
    """
    bmin, bmax, left, right, start, count, tris = nodes
    inv = _inverse(d)
    buf = np.empty(MAX_RAY_HITS)
    k = 0
    overflow = 0
    stack = np.empty(128, dtype=np.int64)
    stack[0] = root
    sp = 1
    while sp > 0:
        sp -= 1
        node = stack[sp]
        if _ray_box(bmin, bmax, node, 0.0, o, inv, math.inf) == math.inf:
            continue
        if left[node] < 0:
            for j in range(start[node], start[node] + count[node]):
                t = ray_triangle(o, d, _corner(tris, j, 0), _corner(tris, j, 1), _corner(tris, j, 2))
                if t < math.inf:
                    if k < MAX_RAY_HITS:
                        buf[k] = t
                        k += 1
                    else:
                        overflow += 1
            continue
        stack[sp] = left[node]
        stack[sp + 1] = right[node]
        sp += 2
    hits = np.sort(buf[:k])
    out = np.empty(k)
    m = 0
    last = -math.inf
    for i in range(k):
        t = hits[i]
        if t - last <= DUPLICATE_HIT_REL * (1.0 + abs(t)):
            continue  # the same crossing seen through a shared edge or vertex
        last = t
        out[m] = t
        m += 1
    return out[:m], overflow


@njit(cache=True)
def _ray_hits(nodes, root, o, d, t_split):
    """First hit t, first hit beyond t_split, number of hits before and beyond t_split."""
    hits, overflow = _crossings(nodes, root, o, d)
    first = hits[0] if len(hits) else math.inf
    first_after = math.inf
    n_before = 0
    n_after = 0
    for t in hits:
        if t > t_split:
            n_after += 1
            if t < first_after:
                first_after = t
        else:
            n_before += 1
    # more crossings than the buffer holds: counts are no longer exact, make the parity visible
    if overflow > 0:
        n_after += overflow
    return first, first_after, n_before, n_after


@njit(cache=True)
def _first_within(nodes, root, o, d, radius, t_max):
    """First t in [0, t_max] at which o + t d comes within radius of the mesh, or inf."""
    bmin, bmax, left, right, start, count, tris = nodes
    inv = _inverse(d)
    best = math.inf
    limit = t_max
    stack = np.empty(128, dtype=np.int64)
    stack[0] = root
    sp = 1
    while sp > 0:
        sp -= 1
        node = stack[sp]
        if _ray_box(bmin, bmax, node, radius, o, inv, limit) == math.inf:
            continue
        if left[node] < 0:
            for j in range(start[node], start[node] + count[node]):
                t = ray_rounded_triangle_hit(
                    o, d, _corner(tris, j, 0), _corner(tris, j, 1), _corner(tris, j, 2), radius
                )
                if t < best and t <= t_max:
                    best = t
                    limit = t
            if best == 0.0:
                break
            continue
        stack[sp] = left[node]
        stack[sp + 1] = right[node]
        sp += 2
    return best


@njit(cache=True)
def _ray_hit_list(nodes, root, o, d):
    """Sorted distinct crossings t >= 0 of the ray o + t d with one mesh; at most MAX_RAY_HITS."""
    return _crossings(nodes, root, o, d)[0]


@njit(cache=True)
def _body_exit(nodes, root, o, d, tol):
    """Where the ray o + t d leaves a closed surface (the skin): the first crossing beyond `tol`
    that goes from inside to outside, or inf. Inside at t = tol is the parity of the crossings
    beyond it; crossings within `tol` of the origin are the entry itself."""
    hits = _ray_hit_list(nodes, root, o, d)
    n_beyond = 0
    for t in hits:
        if t > tol:
            n_beyond += 1
    inside = n_beyond % 2 == 1
    for t in hits:
        if t <= tol:
            continue
        if inside:
            return t
        inside = True
    return math.inf


#: Directions of the rays that vote on inside/outside of an open surface: the 12 vertices and
#: 20 face centres of an icosahedron, turned off the coordinate axes so no ray runs along a box edge.
def _tuple3(x) -> tuple:
    a, b, c = (float(v) for v in x)
    return (a, b, c)


def _tree_file(folder: Path, v: np.ndarray, f: np.ndarray) -> Path:
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{TREE_FORMAT}:{LEAF_SIZE}:{v.shape}:{f.shape}".encode())
    h.update(v.tobytes())
    h.update(np.ascontiguousarray(f, dtype=np.int64).tobytes())
    return Path(folder) / f"{h.hexdigest()}.npz"


def _read_tree(path: Path, n_faces: int):
    """The cached tree of a mesh with `n_faces` triangles, or None when absent or not usable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            tree = tuple(np.ascontiguousarray(z[k]) for k in _TREE_KEYS)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    bmin, bmax, left, right, start, count, order = tree
    k = len(bmin)
    ints = (left, right, start, count, order)
    if (bmin.shape != (k, 3) or bmax.shape != (k, 3) or bmin.dtype != np.float64 or bmax.dtype != np.float64
            or any(a.dtype != np.int64 or a.ndim != 1 for a in ints) or k == 0
            or any(len(a) != k for a in (left, right, start, count)) or len(order) != n_faces
            or left.max() >= k or right.max() >= k or (start + count).max() > n_faces or start.min() < 0
            or not np.array_equal(np.sort(order), np.arange(n_faces))):
        return None
    return tree


def _write_tree(path: Path, tree) -> None:
    """Keep a built tree (atomic; a cache that cannot be written only costs the next start a build)."""
    from needlesafe.meshes.io import atomic_write_bytes  # the meshes layer's one atomic writer

    buf = io.BytesIO()
    np.savez(buf, **dict(zip(_TREE_KEYS, tree, strict=True)))
    try:
        atomic_write_bytes(path, buf.getvalue())
    except (OSError, ValueError):
        pass


class TriangleBVH:
    """BVH over one triangle mesh.

    vertices  : (n, 3) float, mm
    faces     : (m, 3) int, m >= 1
    cache_dir : folder where the tree is kept between runs (None: always built)
    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, cache_dir: Path | None = None):
        v = np.ascontiguousarray(vertices, dtype=np.float64)
        f = np.asarray(faces, dtype=np.int64)
        if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
            raise ValueError("TriangleBVH needs (n,3) vertices and (m>=1,3) faces")
        tris = np.ascontiguousarray(v[f])
        path = _tree_file(cache_dir, v, f) if cache_dir is not None else None
        tree = _read_tree(path, len(f)) if path is not None else None
        if tree is None:
            tree = _build(tris, LEAF_SIZE)
            if path is not None:
                _write_tree(path, tree)
        bmin, bmax, left, right, start, count, order = tree
        self.tris = np.ascontiguousarray(tris[order])
        self.face_index = order  # BVH slot -> original face
        self._nodes = (bmin, bmax, left, right, start, count, self.tris)  # the tree, one tuple for the kernels
        self.bounds = np.stack([bmin[0], bmax[0]])

    @property
    def n_triangles(self) -> int:
        return len(self.tris)

    def segment_distance(self, p, q, max_distance: float = math.inf):
        """Exact distance from segment pq (mm) to the surface.

        Returns (distance, point on segment (3,), point on surface (3,), face index); the face
        index is -1 and the points NaN when nothing lies within max_distance.
        """
        d2, cs, ct, i = _segment_distance(
            self._nodes, 0, _tuple3(p), _tuple3(q), float(max_distance) ** 2
        )
        face = int(self.face_index[i]) if i >= 0 else -1
        return math.sqrt(d2), np.array(cs), np.array(ct), face

    def point_distance(self, p):
        """Exact distance from point p (3,) mm to the surface: (distance, closest point, face)."""
        d, _, ct, face = self.segment_distance(p, p)
        return d, ct, face

    def ray_hits(self, origin, direction, t_split: float = 0.0):
        """Crossings of the ray origin + t direction, t >= 0 (direction unit, mm).

        Returns (first t, first t > t_split, hits with t <= t_split, hits with t > t_split);
        t is inf when there is none.
        """
        return _ray_hits(self._nodes, 0, _tuple3(origin), _tuple3(direction), float(t_split))

    def first_within(self, origin, direction, radius: float, t_max: float) -> float:
        """First t in [0, t_max] (mm) where the ray comes within `radius` mm of the surface, or inf."""
        return float(
            _first_within(
                self._nodes, 0, _tuple3(origin), _tuple3(direction), float(radius), float(t_max)
            )
        )
