"""What the 3D view draws: display meshes decimated for drawing, and renderer settings that keep a
frame cheap under software OpenGL. No Qt.

The engine always measures on the pack's full meshes; only the picture uses these. A display mesh
is the full mesh decimated (quadric edge collapse, `fast_simplification`) to a triangle budget per
role, chosen by measuring the deviation from the full surface on the built-in regions (see
`DISPLAY_TOLERANCE_MM`): the skin is decimated hard (it is translucent and covers the most pixels),
bones and muscles moderately, and small structures (nerves, vessels, anything under its budget)
are drawn as they are, so a nerve always stays recognisable.
"""
from __future__ import annotations

import numpy as np
import pyvista as pv

# triangles drawn per structure, by role; a mesh with fewer triangles is drawn unchanged
TRIANGLE_BUDGET = {
    "skin": 8000,
    "bone": 8000,
    "muscle": 4000,
    "pleura": 6000,
    "nerve": 4000,
    "vessel": 4000,
    "other": 4000,
}
DEFAULT_BUDGET = 4000
MIN_TRIANGLES = 1000  # never fewer, whatever the budget
# measured on gluteal:average with these budgets: the largest distance from a full mesh's vertex
# to its display mesh (skin 129,908 -> 8,000 triangles: 0.48 mm; hip bone 24,018 -> 8,000:
# 0.12 mm; gluteus maximus 10,276 -> 4,000: 0.20 mm); the tests hold every region to these
DISPLAY_TOLERANCE_MM = {"skin": 1.0, "default": 0.5}


def budget_for(role: str | None, n_faces: int, max_triangles: int | None = None) -> int:
    """How many triangles a structure of `role` with `n_faces` triangles is drawn with."""
    budget = TRIANGLE_BUDGET.get(role, DEFAULT_BUDGET) if max_triangles is None else int(max_triangles)
    return min(n_faces, max(budget, MIN_TRIANGLES))


def _polydata(vertices: np.ndarray, faces: np.ndarray) -> pv.PolyData:
    f = np.asarray(faces, dtype=np.int64)
    cells = np.hstack([np.full((len(f), 1), 3, dtype=np.int64), f]).ravel()
    return pv.PolyData(np.asarray(vertices, dtype=np.float64), cells)


def decimate(vertices, faces, target: int) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (n, 3), faces (m, 3)) with about `target` triangles (unchanged when already at most)."""
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int32)
    if target >= len(f):
        return v, np.asarray(faces, dtype=np.int64)
    import fast_simplification

    pts, tri = fast_simplification.simplify(v, f, target_count=int(target))
    return np.asarray(pts, dtype=np.float64), np.asarray(tri, dtype=np.int64)


def display_mesh(vertices, faces, role: str | None = None, max_triangles: int | None = None) -> pv.PolyData:
    """The mesh the view draws for a structure: (vertices (n, 3) mm, faces (m, 3)) decimated to its
    role's triangle budget (or `max_triangles`), with point normals for Gouraud shading."""
    v, f = decimate(vertices, faces, budget_for(role, len(faces), max_triangles))
    poly = _polydata(v, f)
    return poly.compute_normals(cell_normals=False, point_normals=True, split_vertices=False,
                                auto_orient_normals=False)


def tune_renderer(plotter) -> None:
    """Renderer settings for a cheap frame (call once, after the plotter is made): no depth peeling
    (one translucent skin needs no per-layer passes; peeling costs ~5x a frame under llvmpipe), no
    FXAA, no multisampling."""
    renderer = plotter.renderer
    renderer.SetUseDepthPeeling(False)
    renderer.SetUseFXAA(False)
    plotter.ren_win.SetMultiSamples(0)
