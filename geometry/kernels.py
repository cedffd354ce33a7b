"""Compiled primitive queries: point/segment/ray against triangles (numba, float64, mm).

Vectors are 3-tuples of floats so that nothing is allocated in the BVH traversals of `bvh.py`.
The formulas follow Ericson, *Real-Time Collision Detection* (2005): closest point on a triangle
(5.1.5), closest points of two segments (5.1.9); ray/triangle after Moller & Trumbore (1997).
The brute-force references in `reference.py` test them.
"""
from __future__ import annotations

import math

from numba import njit

from .tolerances import EPS, RAY_PARALLEL_DET

INF = math.inf


@njit(cache=True, inline="always")
def sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


@njit(cache=True, inline="always")
def add(a, b):
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


@njit(cache=True, inline="always")
def scale(a, s):
    return (a[0] * s, a[1] * s, a[2] * s)


@njit(cache=True, inline="always")
def axpy(s, a, b):
    """b + s * a"""
    return (b[0] + s * a[0], b[1] + s * a[1], b[2] + s * a[2])


@njit(cache=True, inline="always")
def dot(a, b):
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


@njit(cache=True, inline="always")
def cross(a, b):
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


@njit(cache=True, inline="always")
def dist2(a, b):
    d = sub(a, b)
    return dot(d, d)


@njit(cache=True, inline="always")
def clamp01(x):
    return min(1.0, max(0.0, x))


@njit(cache=True)
def closest_point_segment(p, a, b):
    """Closest point to p on segment ab."""
    d = sub(b, a)
    dd = dot(d, d)
    if dd <= 0.0:
        return a
    return axpy(clamp01(dot(sub(p, a), d) / dd), d, a)


@njit(cache=True)
def closest_point_triangle(p, a, b, c):
    """Closest point to p on triangle abc (a zero-area triangle falls back to its edges)."""
    ab = sub(b, a)
    ac = sub(c, a)
    ap = sub(p, a)
    d1 = dot(ab, ap)
    d2 = dot(ac, ap)
    if d1 <= 0.0 and d2 <= 0.0:
        return a
    bp = sub(p, b)
    d3 = dot(ab, bp)
    d4 = dot(ac, bp)
    if d3 >= 0.0 and d4 <= d3:
        return b
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        return axpy(d1 / (d1 - d3), ab, a)
    cp = sub(p, c)
    d5 = dot(ab, cp)
    d6 = dot(ac, cp)
    if d6 >= 0.0 and d5 <= d6:
        return c
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        return axpy(d2 / (d2 - d6), ac, a)
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
        return axpy((d4 - d3) / ((d4 - d3) + (d5 - d6)), sub(c, b), b)
    denom = va + vb + vc
    if abs(denom) <= EPS * (dot(ab, ab) * dot(ac, ac) + EPS):
        # degenerate triangle: nearest of its three edges
        x = closest_point_segment(p, a, b)
        y = closest_point_segment(p, b, c)
        if dist2(p, y) < dist2(p, x):
            x = y
        y = closest_point_segment(p, c, a)
        if dist2(p, y) < dist2(p, x):
            x = y
        return x
    v = vb / denom
    w = vc / denom
    return add(a, add(scale(ab, v), scale(ac, w)))


@njit(cache=True)
def closest_points_segments(p1, q1, p2, q2):
    """Closest points (c1 on p1q1, c2 on p2q2) of two segments."""
    d1 = sub(q1, p1)
    d2 = sub(q2, p2)
    r = sub(p1, p2)
    a = dot(d1, d1)
    e = dot(d2, d2)
    f = dot(d2, r)
    if a <= EPS and e <= EPS:
        return p1, p2
    if a <= EPS:
        return p1, axpy(clamp01(f / e), d2, p2)
    c = dot(d1, r)
    if e <= EPS:
        return axpy(clamp01(-c / a), d1, p1), p2
    b = dot(d1, d2)
    denom = a * e - b * b
    s = clamp01((b * f - c * e) / denom) if denom > EPS * a * e else 0.0
    t = (b * s + f) / e
    if t < 0.0:
        t = 0.0
        s = clamp01(-c / a)
    elif t > 1.0:
        t = 1.0
        s = clamp01((b - c) / a)
    return axpy(s, d1, p1), axpy(t, d2, p2)


@njit(cache=True)
def ray_triangle(o, d, a, b, c):
    """Parameter t >= 0 where o + t d meets triangle abc (two-sided), or inf."""
    e1 = sub(b, a)
    e2 = sub(c, a)
    h = cross(d, e2)
    det = dot(e1, h)
    if abs(det) < RAY_PARALLEL_DET:
        return INF
    inv = 1.0 / det
    s = sub(o, a)
    u = inv * dot(s, h)
    if u < 0.0 or u > 1.0:
        return INF
    q = cross(s, e1)
    v = inv * dot(d, q)
    if v < 0.0 or u + v > 1.0:
        return INF
    t = inv * dot(e2, q)
    if t < 0.0:
        return INF
    return t


@njit(cache=True)
def segment_triangle_closest(p, q, a, b, c):
    """Closest points (on segment pq, on triangle abc) and their squared distance.

    Exact: zero where the segment crosses the triangle; otherwise the minimum over the segment's
    end points against the triangle and the segment against the triangle's three edges.
    """
    d = sub(q, p)
    t = ray_triangle(p, d, a, b, c)  # d is not unit: t in [0, 1] means a crossing
    if t <= 1.0:
        x = axpy(t, d, p)
        return x, x, 0.0
    cs = p
    ct = closest_point_triangle(p, a, b, c)
    best = dist2(cs, ct)
    y = closest_point_triangle(q, a, b, c)
    d2 = dist2(q, y)
    if d2 < best:
        best = d2
        cs = q
        ct = y
    for e in range(3):
        if e == 0:
            u0, u1 = a, b
        elif e == 1:
            u0, u1 = b, c
        else:
            u0, u1 = c, a
        x, y = closest_points_segments(p, q, u0, u1)
        d2 = dist2(x, y)
        if d2 < best:
            best = d2
            cs = x
            ct = y
    return cs, ct, best


@njit(cache=True)
def _ray_sphere_hit(o, d, centre, r2):
    """First t >= 0 with |o + t d - centre|^2 <= r2 (d unit), or inf."""
    m = sub(o, centre)
    b = dot(m, d)
    c = dot(m, m) - r2
    if c <= 0.0:
        return 0.0
    if b > 0.0:
        return INF
    disc = b * b - c
    if disc < 0.0:
        return INF
    return -b - math.sqrt(disc)


@njit(cache=True)
def _ray_edge_cylinder_hit(o, d, u0, u1, r2):
    """First t >= 0 at which the ray (d unit) comes within sqrt(r2) of edge u0u1 at a point
    projecting inside the edge, or inf (the end caps belong to the vertex spheres)."""
    e = sub(u1, u0)
    ee = dot(e, e)
    if ee <= EPS:
        return INF
    m = sub(o, u0)
    de = dot(d, e)
    me = dot(m, e)
    dp = axpy(-de / ee, e, d)
    mp = axpy(-me / ee, e, m)
    a = dot(dp, dp)
    b = dot(dp, mp)
    c = dot(mp, mp) - r2
    if c <= 0.0:
        t = 0.0
    else:
        if a <= EPS or b > 0.0:
            return INF
        disc = b * b - a * c
        if disc < 0.0:
            return INF
        t = (-b - math.sqrt(disc)) / a
    s = (me + t * de) / ee
    if s < 0.0 or s > 1.0:
        return INF
    return t


@njit(cache=True)
def ray_rounded_triangle_hit(o, d, a, b, c, radius):
    """First t >= 0 at which o + t d (d unit) comes within `radius` of triangle abc, or inf.

    The points within `radius` of a triangle are the union of three vertex spheres, three edge
    cylinders and the prism between the triangle's two offsets by +/- radius along its normal;
    the first hit is the smallest t at which the ray is inside any of them.
    """
    r2 = radius * radius
    best = min(_ray_sphere_hit(o, d, a, r2), _ray_sphere_hit(o, d, b, r2), _ray_sphere_hit(o, d, c, r2))
    if best == 0.0:
        return 0.0
    best = min(
        best,
        _ray_edge_cylinder_hit(o, d, a, b, r2),
        _ray_edge_cylinder_hit(o, d, b, c, r2),
        _ray_edge_cylinder_hit(o, d, c, a, r2),
    )
    if best == 0.0:
        return 0.0
    n = cross(sub(b, a), sub(c, a))
    nn = math.sqrt(dot(n, n))
    if nn > EPS:
        n = scale(n, 1.0 / nn)
        h = dot(sub(o, a), n)
        if abs(h) <= radius:
            # inside the slab and projecting inside the triangle: already within radius
            if (
                dot(cross(sub(b, a), sub(o, a)), n) >= 0.0
                and dot(cross(sub(c, b), sub(o, b)), n) >= 0.0
                and dot(cross(sub(a, c), sub(o, c)), n) >= 0.0
            ):
                return 0.0
        off = scale(n, radius if h > 0.0 else -radius)
        best = min(best, ray_triangle(o, d, add(a, off), add(b, off), add(c, off)))
    return best
