"""The needle in the 3D view: made once per window, moved in place on every update.

Every actor (outline, steel shaft, dashed length ahead, tip coloured by level, entry handle,
closest-point lines to danger structures, the x-ray copies in the overlay layer, the contact ring at
a bone stop) is created once; `update` only writes points, cells, colours and visibilities into the
existing polydata and properties. It never adds or removes an actor and never renders: the window
renders once per update. Sizes and colours come from `theme` (mm, LPS).
"""
from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersSources import vtkDiskSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

from .. import theme
from ..display import sphere as unit_sphere

TUBE_SIDES = 20  # as pyvista's `tube` draws it
SPHERE_RESOLUTION = 30  # as pyvista's `Sphere` draws it
RING_RESOLUTION = 32
AHEAD_MIN_MM = 0.5  # a shorter remainder ahead of the tip is not drawn
OUTLINE_WIDTH_PX = 5
LINE_WIDTH_PX = 3
# the needle's actors that get a faint copy in the overlay (the entry handle is always on the skin)
GHOSTED = ("needle:outline", "needle:shaft", "needle:ahead", "needle:tip", "needle:closest")


def level_rgb(level) -> tuple[float, float, float]:
    """The colour of a report level; an unknown or unexpected level is drawn as 'unknown' (danger)."""
    return theme.rgb(theme.LEVEL_COLOUR.get(level, theme.LEVEL_COLOUR["unknown"]))


def _basis(direction) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(e1, e2, d): an orthonormal frame whose third axis is the unit `direction`."""
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = np.cross(d, helper)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(d, e1), d


def _lines(n: int) -> vtkCellArray:
    """`n` two-point line cells over points 0..2n-1."""
    cells = vtkCellArray()
    cells.SetData(numpy_to_vtkIdTypeArray(np.arange(0, 2 * n + 1, 2, dtype=np.int64), deep=True),
                  numpy_to_vtkIdTypeArray(np.arange(2 * n, dtype=np.int64), deep=True))
    return cells


def _tube_template() -> tuple[np.ndarray, np.ndarray, np.ndarray, vtkCellArray]:
    """A capped open cylinder of TUBE_SIDES sides: per point (unit ring offset, 0 entry / 1 tip), and
    its polygons (side quads, two caps)."""
    a = 2.0 * np.pi * np.arange(TUBE_SIDES) / TUBE_SIDES
    ring = np.stack([np.cos(a), np.sin(a)], axis=1)
    offsets = np.vstack([ring, ring])
    along = np.r_[np.zeros(TUBE_SIDES), np.ones(TUBE_SIDES)]
    k = np.arange(TUBE_SIDES)
    quads = np.stack([k, (k + 1) % TUBE_SIDES, (k + 1) % TUBE_SIDES + TUBE_SIDES, k + TUBE_SIDES], axis=1)
    caps = [k[::-1], k + TUBE_SIDES]
    offsets_cells = np.cumsum([0] + [4] * TUBE_SIDES + [TUBE_SIDES, TUBE_SIDES])
    conn = np.concatenate([quads.ravel(), *caps])
    cells = vtkCellArray()
    cells.SetData(numpy_to_vtkIdTypeArray(offsets_cells.astype(np.int64), deep=True),
                  numpy_to_vtkIdTypeArray(conn.astype(np.int64), deep=True))
    return offsets, along, conn, cells


class _Shape:
    """One polydata with a fixed number of points whose coordinates are rewritten in place."""

    def __init__(self, points: np.ndarray, polys: vtkCellArray | None = None, lines: vtkCellArray | None = None):
        self.poly = vtkPolyData()
        pts = vtkPoints()
        pts.SetData(numpy_to_vtk(np.ascontiguousarray(points, dtype=np.float64), deep=True))
        self.poly.SetPoints(pts)
        if polys is not None:
            self.poly.SetPolys(polys)
        if lines is not None:
            self.poly.SetLines(lines)
        self.xyz = vtk_to_numpy(pts.GetData())  # a view: writing it moves the points

    def set(self, points: np.ndarray) -> None:
        if np.array_equal(self.xyz, points):
            return  # unchanged (the entry while the needle is pushed): nothing to upload again
        self.xyz[:] = points
        self.poly.GetPoints().Modified()
        self.poly.Modified()


class NeedleView:
    """The current needle: actors in `plotter`'s renderer (layer 0) and x-ray copies and the contact
    ring in `overlay_renderer` (layer 1, drawn over the anatomy, sharing the camera)."""

    def __init__(self, plotter, overlay_renderer):
        self.plotter = plotter
        self.overlay = overlay_renderer
        self.xray = False
        self._actors: dict[str, vtkActor] = {}
        self._ghosts: dict[str, vtkActor] = {}
        # shapes with a fixed number of points, written in place
        self._outline = _Shape(np.zeros((2, 3)), lines=_lines(1))
        self._tube_offsets, self._tube_along, _, cells = _tube_template()
        self._shaft = _Shape(np.zeros((2 * TUBE_SIDES, 3)), polys=cells)
        sphere = unit_sphere(1.0, resolution=SPHERE_RESOLUTION)
        self._unit_sphere = vtk_to_numpy(sphere.GetPoints().GetData()).astype(float)
        self._tip = _Shape(self._unit_sphere * theme.TIP_RADIUS_MM, polys=self._cells_of(sphere))
        self._entry = _Shape(self._unit_sphere * theme.ENTRY_HANDLE_RADIUS_MM, polys=self._cells_of(sphere))
        inner, outer = theme.CONTACT_RING_MM
        disc = vtkDiskSource()
        disc.SetInnerRadius(inner)
        disc.SetOuterRadius(outer)
        disc.SetCircumferentialResolution(RING_RESOLUTION)
        disc.Update()
        disc = disc.GetOutput()
        self._unit_disc = vtk_to_numpy(disc.GetPoints().GetData()).astype(float)  # in the plane z = 0
        self._ring = _Shape(self._unit_disc, polys=self._cells_of(disc))
        # shapes whose number of cells changes: points and cells replaced on each update
        self._ahead = vtkPolyData()
        self._closest = vtkPolyData()
        self._set_segments(self._ahead, np.zeros((0, 2, 3)))
        self._set_segments(self._closest, np.zeros((0, 2, 3)), np.zeros((0, 3), np.uint8))

        main = plotter.renderer
        self._add(main, "needle:outline", self._outline.poly, theme.NEEDLE_OUTLINE, line_width=OUTLINE_WIDTH_PX)
        self._add(main, "needle:shaft", self._shaft.poly, theme.NEEDLE_COLOUR)
        self._add(main, "needle:ahead", self._ahead, theme.AHEAD_COLOUR, line_width=LINE_WIDTH_PX)
        self._add(main, "needle:tip", self._tip.poly, theme.LEVEL_COLOUR["unknown"])
        self._add(main, "needle:entry", self._entry.poly, theme.ENTRY_HANDLE_COLOUR)
        closest = self._add(main, "needle:closest", self._closest, theme.LEVEL_COLOUR["unknown"],
                            line_width=LINE_WIDTH_PX)
        mapper = closest.GetMapper()
        mapper.ScalarVisibilityOn()
        mapper.SetScalarModeToUseCellData()
        mapper.SetColorModeToDirectScalars()
        ring = self._add(overlay_renderer, "contact:ring", self._ring.poly, theme.CONTACT_COLOUR)
        ring.GetProperty().LightingOff()
        for name in GHOSTED:
            source = self._actors[name]
            ghost = vtkActor()
            ghost.SetMapper(source.GetMapper())  # the same geometry: moved with the needle, for free
            ghost.GetProperty().DeepCopy(source.GetProperty())
            ghost.GetProperty().SetOpacity(theme.XRAY_OPACITY)
            ghost.PickableOff()
            ghost.VisibilityOff()
            overlay_renderer.AddActor(ghost)
            self._ghosts[name] = ghost
        for actor in self._actors.values():
            actor.VisibilityOff()  # nothing shows before the first needle

    # ----- construction helpers ---------------------------------------------------------------------
    @staticmethod
    def _cells_of(mesh) -> vtkCellArray:
        cells = vtkCellArray()
        cells.DeepCopy(mesh.GetPolys())
        return cells

    def _add(self, renderer, name: str, poly, colour: str, line_width: float | None = None) -> vtkActor:
        """An actor drawn like pyvista's `add_mesh(color=...)` (flat, diffuse 1, no specular)."""
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(poly)
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.SetColor(*theme.rgb(colour))
        prop.SetInterpolationToFlat()
        prop.SetAmbient(0.0)
        prop.SetDiffuse(1.0)
        prop.SetSpecular(0.0)
        if line_width is not None:
            prop.SetLineWidth(line_width)
        actor.PickableOff()
        renderer.AddActor(actor)
        self._actors[name] = actor
        return actor

    @staticmethod
    def _set_segments(poly: vtkPolyData, segments: np.ndarray, colours: np.ndarray | None = None) -> None:
        """Replace `poly`'s points and cells with line `segments` (n, 2, 3), coloured per cell."""
        n = len(segments)
        pts = vtkPoints()
        pts.SetData(numpy_to_vtk(np.ascontiguousarray(segments.reshape(2 * n, 3), dtype=np.float64), deep=True))
        poly.SetPoints(pts)
        poly.SetLines(_lines(n))
        if colours is not None:
            scalars = numpy_to_vtk(np.ascontiguousarray(colours, dtype=np.uint8), deep=True)
            scalars.SetName("level_rgb")
            poly.GetCellData().SetScalars(scalars)
        poly.Modified()

    # ----- public -----------------------------------------------------------------------------------
    def actors(self) -> dict[str, vtkActor]:
        """Name -> vtk actor: "needle:outline", "needle:shaft", "needle:ahead", "needle:tip",
        "needle:entry", "needle:closest", "contact:ring", and the x-ray copies "xray:needle:…"."""
        return {**self._actors, **{f"xray:{name}": g for name, g in self._ghosts.items()}}

    def polydata(self, name: str) -> vtkPolyData:
        """The geometry drawn by actor `name` (shared by its x-ray copy)."""
        return self.actors()[name].GetMapper().GetInput()

    def set_xray(self, on: bool) -> None:
        """Show or hide the faint copies of the needle over the tissue (no render)."""
        self.xray = bool(on)
        for name, ghost in self._ghosts.items():
            ghost.SetVisibility(self.xray and bool(self._actors[name].GetVisibility()))

    def update(self, needle, report, xray: bool) -> None:
        """Show `needle` (the report's effective needle) coloured by `report`. Sets points, colours and
        visibilities only; the caller renders."""
        a = self._actors
        entry, tip = np.asarray(needle.entry_lps, float), np.asarray(needle.tip_lps, float)
        e1, e2, d = _basis(needle.direction)
        inserted = needle.depth_mm > 0.0
        if inserted:
            self._outline.set(np.stack([entry, tip]))
            r = theme.SHAFT_RADIUS_MM
            radial = r * (self._tube_offsets[:, :1] * e1 + self._tube_offsets[:, 1:] * e2)
            self._shaft.set(np.where(self._tube_along[:, None] > 0.5, tip, entry) + radial)
        a["needle:outline"].SetVisibility(inserted)
        a["needle:shaft"].SetVisibility(inserted)
        # the length still ahead of the tip, dashed
        ahead = needle.length_mm - needle.depth_mm
        if ahead > AHEAD_MIN_MM:
            on, off = theme.DASH_MM
            starts = np.arange(0.0, ahead, on + off)
            ends = np.minimum(starts + on, ahead)
            self._set_segments(self._ahead, tip + np.stack([starts, ends], axis=1)[:, :, None] * d)
        a["needle:ahead"].SetVisibility(ahead > AHEAD_MIN_MM)
        self._tip.set(tip + theme.TIP_RADIUS_MM * self._unit_sphere)
        self._entry.set(entry + theme.ENTRY_HANDLE_RADIUS_MM * self._unit_sphere)
        colour = level_rgb(report.level)
        a["needle:tip"].GetProperty().SetColor(*colour)
        self._ghosts["needle:tip"].GetProperty().SetColor(*colour)
        a["needle:tip"].VisibilityOn()
        a["needle:entry"].VisibilityOn()
        # closest-point lines to danger structures nearer than CLOSEST_LINE_MM
        segments, colours = [], []
        for row in report.structures:
            p, q = row.closest_point_needle, row.closest_point_structure
            if row.shaft_distance_mm is None or row.shaft_distance_mm > theme.CLOSEST_LINE_MM or p is None:
                continue
            if q is None or np.allclose(p, q):
                continue
            segments.append((p, q))
            colours.append([round(255 * c) for c in level_rgb(row.level)])
        if segments:
            self._set_segments(self._closest, np.asarray(segments, float), np.asarray(colours))
        a["needle:closest"].SetVisibility(bool(segments))
        # the contact ring where the needle rests on bone, over everything
        stopped = bool(report.path.stopped_by)
        if stopped:
            self._ring.set(tip + self._unit_disc[:, :1] * e1 + self._unit_disc[:, 1:2] * e2)
        a["contact:ring"].SetVisibility(stopped)
        self.set_xray(xray)
