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

import hashlib
import io
from pathlib import Path

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkTubeFilter
from vtkmodules.vtkFiltersSources import vtkLineSource, vtkSphereSource

from needlesafe.meshes.builtin import cache_dir
from needlesafe.meshes.io import atomic_write_bytes
from needlesafe.meshes.types import vertex_normals

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
# the largest distance from a full mesh's vertex to its display mesh, measured on every built-in
# region with these budgets: skin 0.46-0.60 mm (98,352-158,488 -> 8,000 triangles), hip bone
# 0.12 mm (24,018 -> 8,000), vertebrae T1-T8 0.56 mm (58,080 -> 8,000), gluteus maximus 0.20 mm
# (10,276 -> 4,000); bounds move by at most 0.32 mm. The tests hold the regions to these limits.
DISPLAY_TOLERANCE_MM = {"skin": 1.0, "default": 0.75}


def budget_for(role: str | None, n_faces: int, max_triangles: int | None = None) -> int:
    """How many triangles a structure of `role` with `n_faces` triangles is drawn with."""
    budget = TRIANGLE_BUDGET.get(role, DEFAULT_BUDGET) if max_triangles is None else int(max_triangles)
    return min(n_faces, max(budget, MIN_TRIANGLES))


# the whole scene is drawn with at most this many triangles: a frame's cost under software OpenGL grows
# with the triangles drawn (atlas interscapular: 279,393 by role budgets, 113 ms a frame; see bench/app.py)
SCENE_TRIANGLES = 70_000
MIN_SCALED = 400  # a structure scaled down to fit the scene keeps at least this many
KEEP_ROLES = ("nerve", "vessel")  # thin danger structures: drawn at their role's budget, never scaled


def scene_budgets(structures, total: int = SCENE_TRIANGLES) -> dict:
    """Structure name -> triangles drawn: each role's budget, scaled down together (except nerves and
    vessels) when the scene would draw more than `total`."""
    budgets = {s.name: budget_for(s.role, s.n_triangles) for s in structures}
    fixed = sum(b for s in structures for b in [budgets[s.name]] if s.role in KEEP_ROLES)
    scalable = sum(budgets.values()) - fixed
    if fixed + scalable <= total or scalable == 0:
        return budgets
    factor = max(total - fixed, 0) / scalable
    for s in structures:
        if s.role not in KEEP_ROLES:
            budgets[s.name] = min(budgets[s.name], max(MIN_SCALED, int(budgets[s.name] * factor)))
    return budgets


def decimate(vertices, faces, target: int) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (n, 3), faces (m, 3)) with about `target` triangles (unchanged when already at most)."""
    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int32)
    if target >= len(f):
        return v, np.asarray(faces, dtype=np.int64)
    import fast_simplification

    pts, tri = fast_simplification.simplify(v, f, target_count=int(target))
    return np.asarray(pts, dtype=np.float64), np.asarray(tri, dtype=np.int64)


CACHE_FORMAT = b"needlesafe-display-1"  # part of every cache key: change it when `decimate` changes


def _cache_file(vertices, faces, target: int) -> Path:
    """Where the display mesh of (vertices, faces) at `target` triangles is kept: named by a hash of
    the full mesh, so a changed pack never reads a stale picture."""
    h = hashlib.blake2b(CACHE_FORMAT, digest_size=16)
    h.update(np.ascontiguousarray(vertices, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(faces, dtype=np.int64).tobytes())
    h.update(str(int(target)).encode())
    return cache_dir() / "display" / f"{h.hexdigest()}.npz"


def _read_cached(path: Path, target: int):
    """The cached (vertices, faces), or None when absent or not a valid mesh."""
    try:
        with np.load(path, allow_pickle=False) as data:
            v, f = np.asarray(data["vertices"], np.float64), np.asarray(data["faces"], np.int64)
    except (OSError, KeyError, ValueError):
        return None
    ok = (v.ndim == 2 and v.shape[1] == 3 and f.ndim == 2 and f.shape[1] == 3 and 0 < len(f) <= target
          and np.isfinite(v).all() and f.min() >= 0 and f.max() < len(v))
    return (v, f) if ok else None


def _write_cached(path: Path, v: np.ndarray, f: np.ndarray) -> None:
    """Keep a display mesh for the next start (atomically; a cache that cannot be written is skipped)."""
    buf = io.BytesIO()
    np.savez(buf, vertices=v, faces=f)
    try:
        atomic_write_bytes(path, buf.getvalue())
    except (OSError, ValueError):
        pass


def display_mesh(vertices, faces, role: str | None = None, max_triangles: int | None = None,
                 cache: bool = True) -> vtkPolyData:
    """The mesh the view draws for a structure: (vertices (n, 3) mm, faces (m, 3)) decimated to its
    role's triangle budget (or `max_triangles`), with point normals for Gouraud shading. With
    `cache`, a decimated mesh is kept under the user's cache folder ($NEEDLESAFE_CACHE/display), so a
    region opens again without decimating (the skin takes ~0.25 s)."""
    target = min(len(faces), max(int(max_triangles), 1)) if max_triangles is not None else budget_for(role, len(faces))
    cached = path = None
    if cache and target < len(faces):
        path = _cache_file(vertices, faces, target)
        cached = _read_cached(path, target)
    if cached is not None:
        v, f = cached
    else:
        v, f = decimate(vertices, faces, target)
        if path is not None:
            _write_cached(path, v, f)
    normals = numpy_to_vtk(np.ascontiguousarray(vertex_normals(v, f), np.float64), deep=True)
    normals.SetName("Normals")  # area-weighted, like VTK's (no split, no reorder)
    poly = vtk_polydata(v, f)
    poly.GetPointData().SetNormals(normals)
    return poly


def vtk_polydata(vertices, faces) -> vtkPolyData:
    """A triangle mesh (vertices (n, 3) mm, faces (m, 3)) as vtkPolyData (copied; pyvista's
    `wrap` reads it as a PolyData)."""
    v = np.ascontiguousarray(vertices, np.float64).reshape(-1, 3)
    f = np.ascontiguousarray(faces, np.int64).reshape(-1, 3)
    points = vtkPoints()
    points.SetData(numpy_to_vtk(v, deep=True))
    cells = vtkCellArray()
    offsets = np.arange(0, 3 * len(f) + 1, 3, dtype=np.int64)
    cells.SetData(numpy_to_vtkIdTypeArray(offsets, deep=True), numpy_to_vtkIdTypeArray(f.ravel(), deep=True))
    poly = vtkPolyData()
    poly.SetPoints(points)
    poly.SetPolys(cells)
    return poly


def sphere(radius: float, center=(0.0, 0.0, 0.0), resolution: int = 30) -> vtkPolyData:
    """A UV sphere (as pyvista's `Sphere` draws it: `resolution` in theta and phi)."""
    src = vtkSphereSource()
    src.SetRadius(float(radius))
    src.SetCenter(*(float(x) for x in center))
    src.SetThetaResolution(resolution)
    src.SetPhiResolution(resolution)
    src.Update()
    return src.GetOutput()


def tube(a, b, radius: float, sides: int = 20) -> vtkPolyData:
    """A tube of `radius` (mm) around the segment a-b (3,) (as pyvista's `Line(a, b).tube` draws it)."""
    line = vtkLineSource()
    line.SetPoint1(*(float(x) for x in a))
    line.SetPoint2(*(float(x) for x in b))
    t = vtkTubeFilter()
    t.SetInputConnection(line.GetOutputPort())
    t.SetRadius(float(radius))
    t.SetNumberOfSides(sides)
    t.Update()
    return t.GetOutput()


HEADLIGHT_INTENSITY = 0.5  # with the light kit's key light: close to the kit's look (see tune_renderer)


def two_lights() -> list:
    """The light kit's key light (a camera light, intensity 0.75, warm) and a headlight of 0.5.
    Every light costs each drawn fragment its own lighting under software OpenGL; these two keep
    the kit's modelling (a lit and a shaded side) at about three quarters of its cost."""
    from vtkmodules.vtkRenderingCore import vtkLight, vtkLightKit, vtkRenderer

    tmp = vtkRenderer()
    vtkLightKit().AddLightsToRenderer(tmp)
    kit = [tmp.GetLights().GetItemAsObject(i) for i in range(tmp.GetLights().GetNumberOfItems())]
    key = max((light for light in kit if light.LightTypeIsCameraLight()), key=lambda light: light.GetIntensity())
    head = vtkLight()
    head.SetLightTypeToHeadlight()
    head.SetIntensity(HEADLIGHT_INTENSITY)
    return [key, head]


def tune_renderer(plotter, lights: str = "two") -> None:
    """Renderer settings for a cheap frame under software OpenGL (call once, after the plotter is made
    and its lights set; nothing here changes what is drawn, only how):

    - no depth peeling: one translucent skin needs no per-layer passes (peeling cost ~5x a frame
      under llvmpipe: 892 ms against 184 ms on the full gluteal scene); no FXAA, no multisampling;
    - no order-independent-transparency pass: the same picture (pixel for pixel on the gluteal
      scene) in 46 ms instead of 55 ms (median of 40, interleaved);
    - `lights="two"` (default) replaces the light kit's five lights with its key light and a
      headlight: a frame of the gluteal display meshes took 84 ms instead of 113 ms (min of 7,
      llvmpipe, 558x702), a mean pixel difference of 5/255 from the kit. `"kit"` keeps the
      renderer's lights as they are; `"headlight"` (one light, 72 ms) looks flatter.
    """
    renderer = plotter.renderer
    renderer.SetUseDepthPeeling(False)
    renderer.SetUseOIT(False)
    renderer.SetUseFXAA(False)
    plotter.ren_win.SetMultiSamples(0)
    if lights == "kit":
        return
    if lights not in ("two", "headlight"):
        raise ValueError(f"lights must be 'two', 'headlight' or 'kit', not {lights!r}")
    renderer.RemoveAllLights()
    chosen = two_lights()
    if lights == "headlight":
        chosen = chosen[1:]
        chosen[0].SetIntensity(1.0)
    for light in chosen:
        renderer.AddLight(light)
