"""Brute-force numpy references for the BVH queries (slow, obvious, used by tests and benches).

Every function visits every triangle; shapes and units as in `bvh.py` (mm).
"""
from __future__ import annotations

import numpy as np
import trimesh

from .tolerances import RAY_PARALLEL_DET


def _segments_distance(p, q, a, b):
    """Distance from one segment pq (3,) to many segments ab (k, 3); returns (k,) float.

    Minimises over the segment parameters on a fine analytic grid of candidates: both clamped
    closed-form solutions (interior stationary point and every endpoint projection).
    """
    d1 = q - p
    d2 = b - a
    r = p - a
    aa = d1 @ d1
    ee = np.einsum("ij,ij->i", d2, d2)
    ff = np.einsum("ij,ij->i", d2, r)
    cc = r @ d1 if r.ndim == 1 else r @ d1
    bb = d2 @ d1
    denom = aa * ee - bb * bb
    with np.errstate(divide="ignore", invalid="ignore"):
        s_int = np.clip((bb * ff - cc * ee) / denom, 0, 1)
        t_int = np.clip((bb * s_int + ff) / ee, 0, 1)
        # candidate (s, t) pairs: interior, each endpoint of one segment projected on the other
        cands = [(s_int, t_int)]
        for s_fix in (0.0, 1.0):
            t = np.clip((ff + bb * s_fix) / ee, 0, 1)
            cands.append((np.full_like(t, s_fix), t))
        for t_fix in (0.0, 1.0):
            s = np.clip((bb * t_fix - cc) / aa, 0, 1) if aa > 0 else np.zeros_like(ee)
            cands.append((s, np.full_like(s, t_fix)))
    best = np.full(len(a), np.inf)
    for s, t in cands:
        s = np.nan_to_num(s)
        t = np.nan_to_num(t)
        x = p + s[:, None] * d1
        y = a + t[:, None] * d2
        best = np.minimum(best, np.linalg.norm(x - y, axis=1))
    return best


def _segment_crosses(p, q, tris):
    """(m,) bool: segment pq crosses each triangle (m, 3, 3)."""
    d = q - p
    e1 = tris[:, 1] - tris[:, 0]
    e2 = tris[:, 2] - tris[:, 0]
    h = np.cross(d, e2)
    det = np.einsum("ij,ij->i", e1, h)
    ok = np.abs(det) > RAY_PARALLEL_DET
    with np.errstate(all="ignore"):  # near-parallel triangles: masked by `ok` below
        inv = 1.0 / det
        s = p - tris[:, 0]
        u = inv * np.einsum("ij,ij->i", s, h)
        qv = np.cross(s, e1)
        v = inv * (qv @ d)
        t = inv * np.einsum("ij,ij->i", e2, qv)
    return ok & (u >= 0) & (u <= 1) & (v >= 0) & (u + v <= 1) & (t >= 0) & (t <= 1)


def point_distance_naive(vertices, faces, p) -> float:
    """Distance from point p (3,) to the mesh, every triangle visited."""
    tris = np.asarray(vertices, float)[np.asarray(faces)]
    pts = np.repeat(np.asarray(p, float)[None], len(tris), axis=0)
    cp = trimesh.triangles.closest_point(tris, pts)
    return float(np.min(np.linalg.norm(cp - pts, axis=1)))


def segment_distance_naive(vertices, faces, p, q) -> float:
    """Distance from segment pq to the mesh: 0 on a crossing, else min of end points vs triangles
    and segment vs edges."""
    v = np.asarray(vertices, float)
    f = np.asarray(faces)
    p = np.asarray(p, float)
    q = np.asarray(q, float)
    tris = v[f]
    if np.any(_segment_crosses(p, q, tris)):
        return 0.0
    best = min(point_distance_naive(v, f, p), point_distance_naive(v, f, q))
    edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
    best = min(best, float(np.min(_segments_distance(p, q, v[edges[:, 0]], v[edges[:, 1]]))))
    return best


def ray_hits_naive(vertices, faces, origin, direction) -> np.ndarray:
    """Sorted (k,) ray parameters t >= 0 of every crossing."""
    tris = np.asarray(vertices, float)[np.asarray(faces)]
    o = np.asarray(origin, float)
    far = o + 1e7 * np.asarray(direction, float)
    hit = _segment_crosses(o, far, tris)
    d = np.asarray(direction, float)
    n = np.cross(tris[:, 1] - tris[:, 0], tris[:, 2] - tris[:, 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.einsum("ij,ij->i", n, tris[:, 0] - o) / (n @ d)
    return np.sort(t[hit])
