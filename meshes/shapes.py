"""Closed, outward-oriented triangle meshes for generated anatomy (mm): rounded boxes, ellipsoids, tubes."""
from __future__ import annotations

import numpy as np
import trimesh

from .types import signed_volume


def _oriented(v: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flip the winding if the signed volume is negative, so normals point outwards."""
    if signed_volume(v, f) < 0:
        f = f[:, ::-1]
    return v.astype(np.float64), np.ascontiguousarray(f, dtype=np.int32)


def superellipsoid(centre, half_size, exponent: float = 2.0, rotation=None, subdivisions: int = 4,
                   exponent_z: float | None = None):
    """Closed surface |x/a|^n + |y/b|^n + |z/c|^n = 1 (n = exponent; 2 is an ellipsoid, larger is
    boxier), rotated by `rotation` (3, 3) and centred at `centre` (3,) mm. With `exponent_z` = m the
    surface is (|x/a|^n + |y/b|^n)^(m/n) + |z/c|^m = 1: a section of the same shape all along a
    tall body (m large) that rounds off only near its ends.

    Returns vertices (k, 3) float64 mm, faces (m, 3) int32.
    """
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions)
    p = np.asarray(sphere.vertices, dtype=np.float64)
    if exponent_z is None:
        norm = np.sum(np.abs(p) ** exponent, axis=1) ** (1.0 / exponent)
    else:
        xy = np.sum(np.abs(p[:, :2]) ** exponent, axis=1) ** (exponent_z / exponent)
        norm = (xy + np.abs(p[:, 2]) ** exponent_z) ** (1.0 / exponent_z)
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
                0.5 * (
                    (2 * p1)
                    + (-p0 + p2) * t
                    + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2
                    + (-p0 + 3 * p1 - 3 * p2 + p3) * t3
                )
            )
    out.append(p[-1])
    return np.asarray(out)


def tube(centreline, radius, sides: int = 24, flatten: float = 1.0, wide=None):
    """Closed tube along a centre line (k, 3) mm with radius (scalar or (k,)) mm, capped at both ends.

    `flatten` < 1 squashes the cross-section to an oval (a flat nerve): the full radius lies along
    `wide` (3,) (projected off the tangent at the first point), `flatten * radius` across it.
    Frames are carried along the line by parallel transport, so the surface does not twist.
    """
    c = np.asarray(centreline, dtype=np.float64)
    k = len(c)
    r = np.broadcast_to(np.asarray(radius, dtype=np.float64), (k,))
    tang = np.gradient(c, axis=0)
    tang /= np.linalg.norm(tang, axis=1)[:, None]
    if wide is not None:
        n = np.asarray(wide, dtype=np.float64) - tang[0] * (np.asarray(wide, dtype=np.float64) @ tang[0])
    else:
        ref = np.array([0.0, 0.0, 1.0]) if abs(tang[0][2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        n = np.cross(tang[0], ref)
    n /= np.linalg.norm(n)
    frames = [n]
    for i in range(1, k):
        n = n - tang[i] * (n @ tang[i])
        n /= np.linalg.norm(n)
        frames.append(n)
    normals = np.asarray(frames)
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
        faces.append((start, j, (j + 1) % sides))
        faces.append((end, (k - 1) * sides + (j + 1) % sides, (k - 1) * sides + j))
    return _oriented(v, np.asarray(faces))


def frame(u, v) -> np.ndarray:
    """(3, 3) rotation whose columns are unit u, v (made orthogonal to u) and u x v."""
    u = np.asarray(u, float) / np.linalg.norm(u)
    v = np.asarray(v, float)
    v = v - u * (u @ v)
    v /= np.linalg.norm(v)
    return np.column_stack([u, v, np.cross(u, v)])


def bulge(vertices, centre, rot, half_size, amount: float) -> np.ndarray:
    """Bend a slab built with `superellipsoid(centre, half_size, rotation=rot)`: push each vertex
    along the slab's third axis by amount * (1 - r^2), r the in-plane radius (0 at the centre, 1 at
    the rim), so a flat sheet becomes a dome (a buttock, a trapezius over the ribs)."""
    rot = np.asarray(rot, float)
    local = (np.asarray(vertices, float) - centre) @ rot
    r2 = (local[:, 0] / half_size[0]) ** 2 + (local[:, 1] / half_size[1]) ** 2
    local[:, 2] += amount * (1.0 - np.clip(r2, 0.0, 1.0))
    return local @ rot.T + centre


def union(meshes):
    """Boolean union of closed meshes [(vertices, faces), ...] as one clean closed mesh (manifold3d)."""
    import manifold3d

    parts = [manifold3d.Manifold(manifold3d.Mesh(np.asarray(v, np.float32), np.asarray(f, np.uint32)))
             for v, f in meshes]
    out = parts[0] if len(parts) == 1 else manifold3d.Manifold.batch_boolean(parts, manifold3d.OpType.Add)
    mesh = out.to_mesh()
    return _oriented(np.asarray(mesh.vert_properties[:, :3], np.float64), np.asarray(mesh.tri_verts, np.int64))


def solid(mesh):
    """A closed mesh (vertices, faces) as a manifold3d solid, to reuse as a cutter in `difference`."""
    import manifold3d

    if isinstance(mesh, manifold3d.Manifold):
        return mesh
    v, f = mesh
    return manifold3d.Manifold(manifold3d.Mesh(np.asarray(v, np.float32), np.asarray(f, np.uint32)))


def difference(mesh, cutters):
    """Boolean difference: closed `mesh` minus the union of closed `cutters` ((vertices, faces) or
    `solid`s), as one clean closed mesh (manifold3d). Used to keep a muscle out of bone and to cut a
    notch."""
    out = solid(mesh)
    for c in cutters:
        out = out - solid(c)
    m = out.to_mesh()
    return _oriented(np.asarray(m.vert_properties[:, :3], np.float64), np.asarray(m.tri_verts, np.int64))


def ellipsoid_shell_patch(centre, half, offset_in, offset_out, phi_deg, z_range, n=(24, 24)):
    """A closed curved slab that follows an ellipsoid's side (a muscle or a scapula on the rib cage).

    The ellipsoid (centre (3,), half axes (3,)) is cut by horizontal planes; at height z its section
    is an ellipse (a, b). The slab covers angles phi (degrees, 0 = +x, 90 = +y) and heights z, between
    the ellipsoid's surface moved out along its normal by `offset_in` and by `offset_out` (mm;
    scalars or callables of (phi radians, z)). z_range must stay below the ellipsoid's top.
    """
    c = np.asarray(centre, float)
    phis = np.radians(np.linspace(phi_deg[0], phi_deg[1], n[0]))
    zs = np.linspace(z_range[0], z_range[1], n[1])

    def off(o, p, z):
        return o(p, z) if callable(o) else o

    def layer(o):
        pts = np.empty((n[1], n[0], 3))
        for j, z in enumerate(zs):
            for i, p in enumerate(phis):
                pts[j, i] = ellipsoid_offset_point(c, half, p, z, off(o, p, z))
        return pts.reshape(-1, 3)

    inner = layer(offset_in)
    outer = layer(offset_out)
    v = np.vstack([inner, outer])
    m = n[0] * n[1]
    idx = np.arange(m).reshape(n[1], n[0])
    faces = []
    for j in range(n[1] - 1):
        for i in range(n[0] - 1):
            a, b, cc, d = idx[j, i], idx[j, i + 1], idx[j + 1, i + 1], idx[j + 1, i]
            faces += [(a, cc, b), (a, d, cc)]  # inner
            faces += [(a + m, b + m, cc + m), (a + m, cc + m, d + m)]  # outer
    rim = list(idx[0, :]) + list(idx[1:, -1]) + list(idx[-1, -2::-1]) + list(idx[-2:0:-1, 0])
    for k in range(len(rim)):
        a, b = rim[k], rim[(k + 1) % len(rim)]
        faces += [(a, b, b + m), (a, b + m, a + m)]
    return _oriented(v, np.asarray(faces))


def ellipsoid_offset_point(centre, half, phi, z, distance) -> np.ndarray:
    """The point `distance` mm outside an ellipsoid along its normal, from the surface point at
    section angle phi (radians, 0 = +x, 90 degrees = +y) and height z. For a convex body its distance
    to the surface is exactly `distance`."""
    c = np.asarray(centre, float)
    h = np.asarray(half, float)
    s = np.sqrt(max(0.0, 1.0 - ((z - c[2]) / h[2]) ** 2))
    p = np.array([c[0] + h[0] * s * np.cos(phi), c[1] + h[1] * s * np.sin(phi), z])
    n = (p - c) / h**2
    return p + distance * n / np.linalg.norm(n)


def clip_below(mesh, z: float):
    """The part of a closed mesh above the plane at height z (mm), closed by a flat cap."""
    import manifold3d

    v, f = mesh
    m = manifold3d.Manifold(manifold3d.Mesh(np.asarray(v, np.float32), np.asarray(f, np.uint32)))
    lo = np.asarray(v).min(axis=0) - 10.0
    hi = np.asarray(v).max(axis=0) + 10.0
    box = manifold3d.Manifold.cube((hi - lo).tolist()).translate([lo[0], lo[1], z])
    out = (m ^ box).to_mesh()
    return _oriented(np.asarray(out.vert_properties[:, :3], np.float64), np.asarray(out.tri_verts, np.int64))


def tapered(thickness: float, phi_deg, z_range, edge: float = 0.25):
    """An offset function for `ellipsoid_shell_patch`: full `thickness` in the middle of the patch,
    `edge` times it at the rim (a muscle belly thinning toward its borders)."""
    p0, p1 = np.radians(phi_deg[0]), np.radians(phi_deg[1])
    z0, z1 = z_range

    def f(phi, z):
        u = 2.0 * (phi - p0) / (p1 - p0) - 1.0
        w = 2.0 * (z - z0) / (z1 - z0) - 1.0
        r2 = min(1.0, u * u + w * w * 0.7)
        return thickness * (edge + (1.0 - edge) * (1.0 - r2 * r2))

    return f
