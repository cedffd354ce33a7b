"""Closed, outward-oriented triangle meshes for generated anatomy (mm): rounded boxes, ellipsoids, tubes."""
from __future__ import annotations

import numpy as np
import trimesh


def _oriented(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip the winding if the signed volume is negative, so normals point outwards."""
    tris = v[f]
    vol = np.einsum("ij,ij->i", tris[:, 0], np.cross(tris[:, 1], tris[:, 2])).sum() / 6.0
    if vol < 0:
        f = f[:, ::-1]
    return v.astype(np.float64), np.ascontiguousarray(f, dtype=np.int32)


def superellipsoid(centre, half_size, exponent: float = 2.0, rotation=None, subdivisions: int = 4):
    """Closed surface |x/a|^n + |y/b|^n + |z/c|^n = 1 (n = exponent; 2 is an ellipsoid, larger is
    boxier), rotated by `rotation` (3, 3) and centred at `centre` (3,) mm.

    Returns vertices (k, 3) float64 mm, faces (m, 3) int32.
    """
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    p = np.asarray(sphere.vertices, dtype=np.float64)
    norm = np.sum(np.abs(p) ** exponent, axis=1) ** (1.0 / exponent)
    v = p / norm[:, None] * np.asarray(half_size, dtype=np.float64)
    if rotation is not None:
        v = v @ np.asarray(rotation, dtype=np.float64).T
    v = v + np.asarray(centre, dtype=np.float64)
    return _oriented(v, np.asarray(sphere.faces))


def catmull_rom(points, samples_per_segment: int = 16) -> np.ndarray:
    """Smooth centre line (k, 3) through control points (n, 3) (centripetal-free uniform Catmull-Rom)."""
    p = np.asarray(points, dtype=np.float64)
    ext = np.vstack([2 * p[0] - p[1], p, 2 * p[-1] - p[-2]])
    out = []
    for i in range(1, len(ext) - 2):
        p0, p1, p2, p3 = ext[i - 1], ext[i], ext[i + 1], ext[i + 2]
        for t in np.linspace(0.0, 1.0, samples_per_segment, endpoint=False):
            t2, t3 = t * t, t * t * t
            out.append(
                0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)
            )
    out.append(p[-1])
    return np.asarray(out)


def tube(centreline, radius, sides: int = 24, flatten: float = 1.0):
    """Closed tube along a centre line (k, 3) mm with radius (scalar or (k,)) mm, capped at both ends.

    `flatten` < 1 squashes the cross-section along the frame's second axis (an oval nerve).
    Frames are carried along the line by parallel transport, so the surface does not twist.
    """
    c = np.asarray(centreline, dtype=np.float64)
    k = len(c)
    r = np.broadcast_to(np.asarray(radius, dtype=np.float64), (k,))
    tang = np.gradient(c, axis=0)
    tang /= np.linalg.norm(tang, axis=1)[:, None]
    ref = np.array([0.0, 0.0, 1.0]) if abs(tang[0][2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    n = np.cross(tang[0], ref)
    n /= np.linalg.norm(n)
    normals = [n]
    for i in range(1, k):
        n = n - tang[i] * (n @ tang[i])
        n /= np.linalg.norm(n)
        normals.append(n)
    normals = np.asarray(normals)
    binormals = np.cross(tang, normals)
    ang = np.linspace(0.0, 2 * np.pi, sides, endpoint=False)
    ring = (
        c[:, None, :]
        + r[:, None, None] * np.cos(ang)[None, :, None] * normals[:, None, :]
        + flatten * r[:, None, None] * np.sin(ang)[None, :, None] * binormals[:, None, :]
    )
    v = np.vstack([ring.reshape(-1, 3), c[0], c[-1]])
    faces = []
    for i in range(k - 1):
        for j in range(sides):
            a = i * sides + j
            b = i * sides + (j + 1) % sides
            faces.append((a, b + sides, b))
            faces.append((a, a + sides, b + sides))
    start, end = k * sides, k * sides + 1
    for j in range(sides):
        faces.append((start, (j + 1) % sides, j))
        faces.append((end, (k - 1) * sides + j, (k - 1) * sides + (j + 1) % sides))
    return _oriented(v, np.asarray(faces))


def rotation(axis, degrees: float) -> np.ndarray:
    """(3, 3) rotation about `axis` by `degrees`."""
    return trimesh.transformations.rotation_matrix(np.radians(degrees), axis)[:3, :3]
