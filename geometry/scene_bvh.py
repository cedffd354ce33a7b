"""The BVHs of a whole scene in one set of arrays, queried in one compiled call (mm).

`SceneBVH` concatenates the trees of `bvh.TriangleBVH` (one per structure) and runs the per-mesh
kernels of `bvh.py` over every structure at once: everything one needle update needs (`query`), the
clearance profile along the needle (`profile`), a ray's crossings and where it leaves the skin
(`crossings`, `body_exit`), the inside vote for open surfaces (`inside_fraction`) and the safety
map's many rays in parallel (`safe_depths`).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .bvh import (
    TriangleBVH,
    _body_exit,
    _first_within,
    _ray_hit_list,
    _ray_hits,
    _segment_distance,
    _tuple3,
)
from .kernels import axpy
from .tolerances import BOUND_SLACK_MM


def _vote_directions() -> np.ndarray:
    g = (1.0 + 5.0**0.5) / 2.0
    ico = [(0, 1, g), (0, -1, g), (0, 1, -g), (0, -1, -g), (1, g, 0), (-1, g, 0), (1, -g, 0), (-1, -g, 0),
           (g, 0, 1), (-g, 0, 1), (g, 0, -1), (-g, 0, -1)]
    v = np.array(ico, dtype=np.float64)
    v /= np.linalg.norm(v, axis=1)[:, None]
    faces = []
    for i in range(12):
        for j in range(i + 1, 12):
            for k in range(j + 1, 12):
                if max(np.linalg.norm(v[i] - v[j]), np.linalg.norm(v[j] - v[k]), np.linalg.norm(v[i] - v[k])) < 1.1:
                    c = v[i] + v[j] + v[k]
                    faces.append(c / np.linalg.norm(c))
    dirs = np.vstack([v, np.array(faces)])
    a, b = 0.3137, 0.1731  # a fixed, irrational-looking turn
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return np.ascontiguousarray(dirs @ (rz @ rx).T)


VOTE_DIRECTIONS = _vote_directions()


@njit(cache=True)
def _odd_votes(nodes, root, p, dirs, decisive):
    """(odd, cast): of the rays p + t dirs[k] cast so far, how many cross the mesh an odd number of
    times. Casting stops once `decisive` rays agree either way (the rest cannot change the outcome
    of a vote whose thresholds need that many)."""
    odd = 0
    k = 0
    while k < dirs.shape[0]:
        d = (dirs[k, 0], dirs[k, 1], dirs[k, 2])
        n = len(_ray_hit_list(nodes, root, p, d))
        odd += n % 2
        k += 1
        if odd >= decisive or k - odd >= decisive:
            break
    return odd, k


@njit(cache=True)
def _scene_query(nodes, roots, critical, radii,
                 entry, d, depth, length, needle_r):
    """One needle against every structure of a scene (see `SceneBVH.query`)."""
    n = len(roots)
    tip = axpy(depth, d, entry)
    hits = np.full((n, 2), math.inf)  # first hit t, first hit beyond the tip
    counts = np.zeros((n, 2), dtype=np.int64)  # hits up to the tip, beyond the tip
    seg = np.full((n, 2), math.inf)  # shaft (axis segment) distance, tip point distance
    pts = np.full((n, 3, 3), math.nan)  # shaft point, structure point, tip's structure point
    margin_t = np.full(n, math.inf)  # first t within radii[i] + needle_r of the structure
    for i in range(n):
        root = roots[i]
        h0, h1, c0, c1 = _ray_hits(nodes, root, entry, d, depth)
        hits[i, 0] = h0
        hits[i, 1] = h1
        counts[i, 0] = c0
        counts[i, 1] = c1
        if not critical[i]:
            continue
        d2, cs, ct, _ = _segment_distance(nodes, root, entry, tip, math.inf)
        seg[i, 0] = math.sqrt(d2)
        for k in range(3):
            pts[i, 0, k] = cs[k]
            pts[i, 1, k] = ct[k]
        d2, _, ct, _ = _segment_distance(nodes, root, tip, tip, math.inf)
        seg[i, 1] = math.sqrt(d2)
        for k in range(3):
            pts[i, 2, k] = ct[k]
        margin_t[i] = _first_within(
            nodes, root, entry, d, radii[i] + needle_r, length
        )
    return hits, counts, seg, pts, margin_t


@njit(cache=True)
def _scene_profile(nodes, roots, critical, entry, d, ts):
    """Shaft distance (k, m): the smallest point distance from entry + s d, over s in [0, ts[j]]
    (ts ascending), to each critical mesh (inf otherwise).

    A point is searched only within the running minimum (a farther point cannot lower it) and
    within the previous point's distance plus the step (a distance moves by at most the step), so
    the samples past the closest approach are pruned at the top of the tree."""
    n = len(roots)
    out = np.full((n, len(ts)), math.inf)
    for i in range(n):
        if not critical[i]:
            continue
        best = math.inf  # running minimum (squared)
        near = math.inf  # bound from the previous point (squared)
        for j in range(len(ts)):
            p = axpy(ts[j], d, entry)
            bound = min(best, near)
            d2, _, _, _ = _segment_distance(nodes, roots[i], p, p, bound)
            if d2 >= bound and bound < best:  # nothing within the step bound: search within the minimum
                d2, _, _, _ = _segment_distance(nodes, roots[i], p, p, best)
            step = ts[j + 1] - ts[j] if j + 1 < len(ts) else 0.0
            if d2 < best:  # an exact distance, a new minimum
                best = d2
                near = (math.sqrt(d2) + step + BOUND_SLACK_MM) ** 2
            else:  # at least the minimum away: the next point is bounded by the minimum only
                near = math.inf
            out[i, j] = math.sqrt(best)
    return out


@njit(cache=True, parallel=True)
def _scene_safe_depths(nodes, roots, critical, bone, radii, skin, tol,
                       points, dirs, max_depth, needle_r, lo, hi, safe, bone_t, limiting, exit_t):
    """Rays lo..hi-1 of a safety scan, in parallel (see `SceneBVH.safe_depths`)."""
    for v in prange(lo, hi):
        o = (points[v, 0], points[v, 1], points[v, 2])
        d = (dirs[v, 0], dirs[v, 1], dirs[v, 2])
        ex = math.inf
        if skin >= 0:
            ex = _body_exit(nodes, roots[skin], o, d, tol)
        exit_t[v] = ex if ex <= max_depth else math.inf
        best = min(max_depth, ex)
        which = -1
        k = 0
        for i in range(len(roots)):
            if critical[i]:
                t = _first_within(nodes, roots[i], o, d,
                                  radii[i] + needle_r, best)
                if t < best:
                    best = t
                    which = k
                k += 1
        safe[v] = best
        limiting[v] = which
        bt = math.inf
        for i in range(len(roots)):
            if bone[i]:
                t = _ray_hits(nodes, roots[i], o, d, 0.0)[0]
                if t < bt:
                    bt = t
        bone_t[v] = bt if bt <= max_depth else math.inf


class SceneBVH:
    """The BVHs of several meshes in one set of arrays, queried in one compiled call.

    meshes   : sequence of (vertices (n, 3) float mm, faces (m, 3) int)
    critical : (k,) bool, which meshes get distances and safe-depth queries
    margins  : (k,) float mm, clearance margin of each critical mesh
    cache_dir: folder keeping each mesh's tree between runs (see `TriangleBVH`), or None
    """

    def __init__(self, meshes, critical, margins, cache_dir=None):
        parts = [TriangleBVH(v, f, cache_dir) for v, f in meshes]
        self.parts = parts
        node_off = 0
        tri_off = 0
        arrays: list[list[np.ndarray]] = [[], [], [], [], [], []]  # bmin, bmax, left, right, start, count
        roots = []
        tris = []
        for b in parts:
            bmin, bmax, left, right, start, count, _ = b._nodes
            roots.append(node_off)
            arrays[0].append(bmin)
            arrays[1].append(bmax)
            arrays[2].append(np.where(left >= 0, left + node_off, -1))
            arrays[3].append(np.where(right >= 0, right + node_off, -1))
            arrays[4].append(start + tri_off)
            arrays[5].append(count)
            tris.append(b.tris)
            node_off += len(bmin)
            tri_off += len(b.tris)
        self.tris = np.ascontiguousarray(np.concatenate(tris))
        self._nodes = (*(np.ascontiguousarray(np.concatenate(a)) for a in arrays), self.tris)
        self.roots = np.asarray(roots, dtype=np.int64)
        self.critical = np.asarray(critical, dtype=np.bool_)
        self.margins = np.asarray(margins, dtype=np.float64)
        if not (len(self.critical) == len(self.margins) == len(parts)):
            raise ValueError("one critical flag and one margin per mesh")

    def crossings(self, i: int, origin, direction) -> np.ndarray:
        """Sorted distinct crossings t >= 0 (mm) of the ray origin + t direction with mesh i."""
        return _ray_hit_list(self._nodes, int(self.roots[i]), _tuple3(origin), _tuple3(direction))

    def body_exit(self, i: int, origin, direction, tol: float) -> float:
        """Where the ray leaves closed mesh i going outward (see `_body_exit`), or inf (mm)."""
        return float(_body_exit(self._nodes, int(self.roots[i]), _tuple3(origin), _tuple3(direction),
                                float(tol)))

    def inside_fraction(self, i: int, point, decisive: int = len(VOTE_DIRECTIONS)) -> float:
        """Share of VOTE_DIRECTIONS rays from `point` that cross mesh i an odd number of times:
        1 deep inside a surface, 0 well outside, in between near an opening of an open surface.
        A point outside the mesh's bounding box is outside (0). With `decisive` < 32, casting stops
        once that many rays agree, and the share is of the rays cast: a vote whose thresholds need
        `decisive` agreeing rays of 32 gets the same outcome, sooner."""
        p = np.asarray(point, dtype=np.float64)
        lo, hi = self.parts[i].bounds
        if np.any(p < lo) or np.any(p > hi):
            return 0.0
        odd, cast = _odd_votes(self._nodes, int(self.roots[i]), _tuple3(p), VOTE_DIRECTIONS,
                               int(decisive))
        return odd / cast

    def profile(self, entry, direction, ts, only=None) -> np.ndarray:
        """(k, m) shaft distance (mm): the smallest distance from the segment entry + [0, t] direction,
        t in ts (m,) ascending, to each critical mesh (inf for the others, and for those `only`
        ((k,) bool, optional) leaves out)."""
        mask = self.critical if only is None else (self.critical & np.asarray(only, dtype=np.bool_))
        return _scene_profile(
            self._nodes, self.roots, np.ascontiguousarray(mask), _tuple3(entry), _tuple3(direction),
            np.ascontiguousarray(ts, dtype=np.float64),
        )

    def safe_depths(self, points, dirs, max_depth: float, needle_radius: float, skin: int, bone, tol: float,
                    lo: int, hi: int, safe, bone_depth, limiting, exit_depth) -> None:
        """Safe depth along many rays points[v] + t dirs[v] (unit dirs, mm), for v in [lo, hi), in parallel.

        points, dirs : (n, 3) float64, C-contiguous
        skin         : index of the closed mesh the rays start inside (-1: none); tol as in `body_exit`
        bone         : (k,) bool, meshes that stop the needle
        Fills, at [lo:hi] of the given (n,) arrays:
        exit_depth  float: where the ray leaves mesh `skin` (inf: not within max_depth);
        safe        float: first t within margin + needle_radius of a critical mesh, capped at
                    max_depth and at the exit (the query behind `query`'s margin_depth);
        limiting    int64: which critical mesh (counting critical meshes only) sets `safe`, or -1;
        bone_depth  float: first crossing of a bone mesh (inf: not within max_depth).
        """
        bone = np.asarray(bone, dtype=np.bool_)
        if len(bone) != len(self.roots):
            raise ValueError("one bone flag per mesh")
        if not -1 <= int(skin) < len(self.roots):
            raise ValueError(f"skin must be a mesh index or -1, got {skin}")
        _scene_safe_depths(self._nodes, self.roots, self.critical, bone, self.margins, int(skin),
                           float(tol), points, dirs, float(max_depth), float(needle_radius), int(lo), int(hi),
                           safe, bone_depth, limiting, exit_depth)

    def query(self, entry, direction, depth: float, length: float, needle_radius: float):
        """Everything one needle update needs, for every mesh (k meshes, mm).

        Returns a dict of arrays:
        first_hit (k,) t of the ray's first crossing (inf: none); first_hit_beyond_tip (k,);
        n_hits_to_tip, n_hits_beyond_tip (k,) int; shaft_axis_distance, tip_axis_distance (k,)
        (inf for non-critical meshes); shaft_point, structure_point, tip_structure_point (k, 3);
        margin_depth (k,): first t in [0, length] within margin + needle_radius (inf: never).
        """
        hits, counts, seg, pts, margin_t = _scene_query(
            self._nodes,
            self.roots,
            self.critical,
            self.margins,
            _tuple3(entry),
            _tuple3(direction),
            float(depth),
            float(length),
            float(needle_radius),
        )
        return {
            "first_hit": hits[:, 0],
            "first_hit_beyond_tip": hits[:, 1],
            "n_hits_to_tip": counts[:, 0],
            "n_hits_beyond_tip": counts[:, 1],
            "shaft_axis_distance": seg[:, 0],
            "tip_axis_distance": seg[:, 1],
            "shaft_point": pts[:, 0],
            "structure_point": pts[:, 1],
            "tip_structure_point": pts[:, 2],
            "margin_depth": margin_t,
        }
