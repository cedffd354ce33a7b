"""The 3D view's widget: VTK draws straight into a native child window, through VTK alone.

pyvistaqt's `QtInteractor` (0.13) is a `QOpenGLWidget`: VTK renders into a framebuffer object and Qt
then composes the whole top-level window through OpenGL on every frame. Under a software renderer
that composition costs 12-15 ms a frame at 1280x800 (bench/app.py). VTK's own
`QVTKRenderWindowInteractor`, with its default `QWidget` base, gives VTK a native window instead: a
frame is one VTK render and nothing else.

`NativePlotter` is that widget with the part of pyvista's plotter API the window uses (`add_mesh`,
`remove_actor`, `actors`, `camera_position`, `add_point_labels`, `add_axes`, `screenshot`,
`scalar_bars` ...), written on VTK directly: importing pyvista's plotting package costs about a
second and 110 MB (it imports matplotlib's pyplot), which the first frame does not need. Only the
safety map's colour scale reads a matplotlib colour map, when a map is first drawn.

Qt cannot read a native OpenGL window's pixels back (`QWidget.grab` shows it black): `grab_view`
returns the view as VTK drew it, and `composite_grab` pastes it into a grab of the whole window.
"""
from __future__ import annotations

import os

import numpy as np
import vtkmodules.vtkRenderingFreeType  # noqa: F401 - text (labels, scalar bar)
import vtkmodules.vtkRenderingOpenGL2  # noqa: F401 - the OpenGL render window
from PySide6 import QtGui, QtWidgets
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.util.numpy_support import vtk_to_numpy
from vtkmodules.vtkCommonColor import vtkNamedColors
from vtkmodules.vtkCommonCore import vtkLookupTable, vtkPoints, vtkStringArray
from vtkmodules.vtkCommonDataModel import vtkPolyData
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAxesActor, vtkScalarBarActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkActor2D,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkRenderWindow,
    vtkWindowToImageFilter,
)
from vtkmodules.vtkRenderingLabel import vtkLabelPlacementMapper, vtkPointSetToLabelHierarchy

from ..theme import rgb

#: Qt platforms where VTK draws into the widget's native window
NATIVE_PLATFORMS = ("xcb", "windows", "cocoa")
BACKGROUND = "white"
SPECULAR_POWER = 100.0  # as pyvista draws a mesh with `specular`


def colour3(colour) -> tuple[float, float, float]:
    """(r, g, b) in 0..1 of a colour name ("white"), "#rrggbb" or a 3-sequence in 0..1."""
    if isinstance(colour, str):
        if colour.startswith("#"):
            return rgb(colour)
        c = vtkNamedColors().GetColor3d(colour)
        return (c.GetRed(), c.GetGreen(), c.GetBlue())
    r, g, b = (float(x) for x in colour)
    return (r, g, b)


class NativePlotter(QVTKRenderWindowInteractor):
    """A native-window 3D view with the plotter calls the window makes. `interactor` is the widget
    itself; `update()` schedules one paint, which renders once."""

    def __init__(self, parent=None, multi_samples: int = 0):
        super().__init__(parent=parent, rw=vtkRenderWindow())
        self.interactor = self
        self.ren_win = self.GetRenderWindow()
        self.ren_win.SetMultiSamples(int(multi_samples))
        self.renderer = vtkRenderer()
        self.ren_win.AddRenderer(self.renderer)
        self.iren = self.ren_win.GetInteractor()
        self.iren.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self.iren.Initialize()
        self._actors: dict = {}
        self.scalar_bars: dict = {}  # title -> vtkScalarBarActor
        self._bars_of: dict = {}  # actor name -> scalar bar title
        self._axes = None
        self._closed = False
        self.set_background(BACKGROUND)

    # ----- the scene ---------------------------------------------------------------------------------
    @property
    def actors(self) -> dict:
        """Actors added by name (a copy)."""
        return dict(self._actors)

    @property
    def camera(self):
        return self.renderer.GetActiveCamera()

    @property
    def camera_position(self) -> list:
        """[position, focal point, view up], each (3,) in mm."""
        c = self.camera
        return [tuple(c.GetPosition()), tuple(c.GetFocalPoint()), tuple(c.GetViewUp())]

    @camera_position.setter
    def camera_position(self, placement) -> None:
        pos, focal, up = placement
        c = self.camera
        c.SetPosition(*pos)
        c.SetFocalPoint(*focal)
        c.SetViewUp(*up)
        self.renderer.ResetCameraClippingRange()

    def reset_camera_clipping_range(self) -> None:
        self.renderer.ResetCameraClippingRange()

    @property
    def background_color(self) -> tuple[float, float, float]:
        return tuple(self.renderer.GetBackground())  # type: ignore[return-value]

    def set_background(self, colour) -> None:
        self.renderer.SetBackground(*colour3(colour))

    @property
    def window_size(self) -> tuple[int, int]:
        return tuple(self.ren_win.GetSize())  # type: ignore[return-value]

    def add_mesh(self, mesh, color="white", opacity: float = 1.0, smooth_shading: bool = False, name=None,
                 pickable: bool = True, specular: float = 0.0, render: bool = False, line_width=None,
                 scalars=None, cmap=None, clim=None, nan_color=None, scalar_bar_args=None):
        """Add a vtkPolyData as an actor (replacing the actor of the same `name`); with `scalars`, the
        point array of that name coloured through `cmap` over `clim`, NaN in `nan_color`, with a
        scalar bar (`scalar_bar_args`: pyvista's keys title, color, n_labels, fmt, vertical,
        position_x, position_y, width, height, title_font_size, label_font_size, nan_annotation)."""
        name = name or f"actor:{id(mesh)}"
        self.remove_actor(name)
        data = mesh
        if smooth_shading and mesh.GetPointData().GetNormals() is None:
            normals = vtkPolyDataNormals()
            normals.SetInputData(mesh)
            normals.SplittingOff()
            normals.Update()
            data = normals.GetOutput()
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(data)
        actor = vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.SetColor(*colour3(color))
        prop.SetOpacity(float(opacity))
        prop.SetAmbient(0.0)
        prop.SetDiffuse(1.0)
        prop.SetSpecular(float(specular))
        prop.SetSpecularPower(SPECULAR_POWER)
        if smooth_shading:
            prop.SetInterpolationToGouraud()
        else:
            prop.SetInterpolationToFlat()
        if line_width is not None:
            prop.SetLineWidth(float(line_width))
        if scalars is None:
            mapper.ScalarVisibilityOff()
        else:
            self._colour_by(mapper, name, scalars, cmap, clim, nan_color, scalar_bar_args or {})
        actor.SetPickable(bool(pickable))
        self.renderer.AddActor(actor)
        self._actors[name] = actor
        if render:
            self.render()
        return actor

    def _colour_by(self, mapper, name, scalars, cmap, clim, nan_color, bar_args) -> None:
        # imported here: a colour scale is only drawn with a safety map, long after the first frame
        from matplotlib import colormaps

        values = mapper.GetInput().GetPointData().GetArray(scalars)
        if values is None:
            raise ValueError(f"no point array '{scalars}' to colour by")
        lo, hi = clim if clim is not None else values.GetRange()
        table = colormaps[cmap or "viridis"].resampled(256)(np.linspace(0.0, 1.0, 256))
        lut = vtkLookupTable()
        lut.SetNumberOfTableValues(256)
        for i, (r, g, b, a) in enumerate(table):
            lut.SetTableValue(i, r, g, b, a)
        lut.SetRange(lo, hi)
        if nan_color is not None:
            lut.SetNanColor(*colour3(nan_color), 1.0)
        lut.Build()
        mapper.SetLookupTable(lut)
        mapper.SetScalarModeToUsePointFieldData()
        mapper.SelectColorArray(scalars)
        mapper.SetScalarRange(lo, hi)
        mapper.SetUseLookupTableScalarRange(False)
        mapper.ScalarVisibilityOn()
        title = bar_args.get("title", scalars)
        bar = vtkScalarBarActor()
        bar.SetLookupTable(lut)
        bar.SetTitle(title)
        bar.SetNumberOfLabels(int(bar_args.get("n_labels", 5)))
        bar.SetLabelFormat(bar_args.get("fmt", "%.2f"))
        bar.SetOrientationToVertical() if bar_args.get("vertical", True) else bar.SetOrientationToHorizontal()
        bar.SetPosition(bar_args.get("position_x", 0.85), bar_args.get("position_y", 0.1))
        bar.SetWidth(bar_args.get("width", 0.08))
        bar.SetHeight(bar_args.get("height", 0.6))
        bar.UnconstrainedFontSizeOn()
        text = colour3(bar_args.get("color", "black"))
        for prop, size in ((bar.GetTitleTextProperty(), bar_args.get("title_font_size", 14)),
                           (bar.GetLabelTextProperty(), bar_args.get("label_font_size", 12)),
                           (bar.GetAnnotationTextProperty(), bar_args.get("label_font_size", 12))):
            prop.SetColor(*text)
            prop.SetFontSize(int(size))
            prop.ShadowOff()
            prop.ItalicOff()
        bar.SetDrawNanAnnotation(bool(bar_args.get("nan_annotation", False)))
        self.renderer.AddActor(bar)
        self.scalar_bars[title] = bar
        self._bars_of[name] = title

    def remove_actor(self, name, render: bool = False) -> bool:
        """Remove the actor `name` (and its scalar bar); False when there is none."""
        actor = self._actors.pop(name, None)
        if actor is None:
            return False
        self.renderer.RemoveActor(actor)
        title = self._bars_of.pop(name, None)
        if title is not None:
            self.renderer.RemoveActor(self.scalar_bars.pop(title, None))
        if render:
            self.render()
        return True

    def add_point_labels(self, points, labels, name=None, font_size: int = 14, text_color="black",
                         shape_color="white", shape_opacity: float = 1.0, point_size=None, always_visible=True,
                         show_points=False, render: bool = False):
        """Text labels at `points` (n, 3) mm on rounded boxes, drawn over everything when
        `always_visible` (point_size and show_points are accepted for pyvista's signature)."""
        name = name or "labels"
        self.remove_actor(name)
        pts = vtkPoints()
        for p in np.asarray(points, float).reshape(-1, 3):
            pts.InsertNextPoint(*p)
        text = vtkStringArray()
        text.SetName("labels")
        for label in labels:
            text.InsertNextValue(str(label))
        poly = vtkPolyData()
        poly.SetPoints(pts)
        poly.GetPointData().AddArray(text)
        hierarchy = vtkPointSetToLabelHierarchy()
        hierarchy.SetInputData(poly)
        hierarchy.SetLabelArrayName("labels")
        prop = hierarchy.GetTextProperty()
        prop.SetFontSize(int(font_size))
        prop.SetColor(*colour3(text_color))
        prop.ShadowOff()
        mapper = vtkLabelPlacementMapper()
        mapper.SetInputConnection(hierarchy.GetOutputPort())
        mapper.SetShapeToRoundedRect()
        mapper.SetBackgroundColor(*colour3(shape_color))
        mapper.SetBackgroundOpacity(float(shape_opacity))
        mapper.SetMargin(3)
        if always_visible:
            mapper.PlaceAllLabelsOn()
            mapper.UseDepthBufferOff()
        actor = vtkActor2D()
        actor.SetMapper(mapper)
        self.renderer.AddActor(actor)
        self._actors[name] = actor
        if render:
            self.render()
        return actor

    def add_axes(self) -> None:
        """The small x/y/z axes in the lower left corner."""
        axes = vtkOrientationMarkerWidget()
        axes.SetOrientationMarker(vtkAxesActor())
        axes.SetInteractor(self.iren)
        axes.SetCurrentRenderer(self.renderer)
        axes.SetViewport(0.0, 0.0, 0.2, 0.2)
        axes.SetEnabled(1)
        axes.InteractiveOff()
        self._axes = axes

    # ----- drawing ------------------------------------------------------------------------------------
    def render(self) -> None:
        """Render now (one VTK render into the native window)."""
        if not self._closed and self.isVisible():
            self.ren_win.Render()

    def paintEvent(self, ev):  # noqa: N802 - Qt's name
        if not self._closed:
            super().paintEvent(ev)

    def keyPressEvent(self, ev):  # noqa: N802 - the window's keys, never VTK's ('e' quits, 'w' wireframes)
        QtWidgets.QWidget.keyPressEvent(self, ev)

    def keyReleaseEvent(self, ev):  # noqa: N802
        QtWidgets.QWidget.keyReleaseEvent(self, ev)

    def screenshot(self, filename=None, transparent_background: bool = False, return_img: bool = True):
        """The view as an (h, w, 3) uint8 array, rendered now; written to `filename` (PNG) when given."""
        self.ren_win.Render()
        grab = vtkWindowToImageFilter()
        grab.SetInput(self.ren_win)
        grab.FixBoundaryOn()
        grab.ShouldRerenderOff()
        grab.SetInputBufferTypeToRGB()
        grab.ReadFrontBufferOn()
        grab.Update()
        img = grab.GetOutput()
        w, h, _ = img.GetDimensions()
        rgb = vtk_to_numpy(img.GetPointData().GetScalars()).reshape(h, w, 3)[::-1].copy()
        if filename is not None:
            QtGui.QImage(rgb.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).save(str(filename))
        return rgb if return_img else None

    def grab_view(self) -> QtGui.QImage:
        """The view as VTK draws it (rendered now), as a QImage of the widget's size."""
        rgb = np.ascontiguousarray(self.screenshot())
        h, w = rgb.shape[:2]
        out = QtGui.QImage(rgb.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).copy()
        out.setDevicePixelRatio(self.devicePixelRatioF())
        return out

    def close(self) -> None:
        """Release the render window, then the widget."""
        if self._closed:
            return
        self._closed = True
        if self._axes is not None:
            self._axes.EnabledOff()
            self._axes = None
        self.renderer.RemoveAllViewProps()
        self._actors.clear()
        self.ren_win.Finalize()
        QVTKRenderWindowInteractor.close(self)


def composite_grab(window: QtWidgets.QWidget, view) -> QtGui.QPixmap:
    """`window.grab()` with the native 3D view's pixels painted where the view is."""
    pixmap = QtWidgets.QWidget.grab(window)
    if isinstance(view, NativePlotter) and view.isVisible() and view.width() > 0 and view.height() > 0:
        top_left = view.mapTo(window, view.rect().topLeft())
        painter = QtGui.QPainter(pixmap)
        try:
            painter.drawImage(top_left, view.grab_view())
            # the view's child widgets (hints) drawn over it, as the user sees them
            for child in view.findChildren(QtWidgets.QWidget):
                if child.isVisible() and child.parent() is view:
                    painter.drawPixmap(top_left + child.pos(), child.grab())
        finally:
            painter.end()
    return pixmap


def make_plotter(parent, multi_samples: int = 0):
    """The 3D view's plotter: the native-window widget where VTK can own a window (X11, Windows,
    macOS), pyvistaqt's `QtInteractor` elsewhere (Wayland, offscreen) or when the user asks for it
    with `NEEDLESAFE_VIEW=qopengl`."""
    platform = QtGui.QGuiApplication.platformName()
    if os.environ.get("NEEDLESAFE_VIEW", "").lower() != "qopengl" and platform in NATIVE_PLATFORMS:
        return NativePlotter(parent, multi_samples=multi_samples)
    from pyvistaqt import QtInteractor

    plotter = QtInteractor(parent, multi_samples=multi_samples, auto_update=False)
    plotter.set_background(BACKGROUND)
    return plotter
