"""The 3D view's widget: VTK draws straight into a native child window.

pyvistaqt's `QtInteractor` (0.13) is a `QOpenGLWidget`: VTK renders into a framebuffer object and Qt
then composes the whole top-level window through OpenGL on every frame. Under a software renderer
that composition costs 12-15 ms a frame at 1280x800 (measured by bench/app.py). VTK's own
`QVTKRenderWindowInteractor` with its default `QWidget` base gives VTK a native window instead: a
frame is one VTK render and nothing else. This class is that widget with pyvista's plotter API
(`add_mesh`, `camera_position`, `screenshot`...) mixed in, as pyvistaqt mixes it into its widget.

Qt cannot read a native OpenGL window's pixels back (`QWidget.grab` shows it black): `grab_view`
returns the view as VTK drew it, and `composite_grab` pastes it into a grab of the whole window.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import numpy as np
import pyvista
from PySide6 import QtGui, QtWidgets
from pyvista.plotting import BasePlotter
from pyvista.plotting.render_window_interactor import RenderWindowInteractor
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor
from vtkmodules.vtkRenderingCore import vtkRenderWindow

#: Qt platforms where VTK draws into the widget's native window
NATIVE_PLATFORMS = ("xcb", "windows", "cocoa")


@contextmanager
def _no_base_plotter_init():
    """PySide6 continues the cooperative `__init__` chain past `QWidget` into `BasePlotter` with no
    arguments; silence that call, then call `BasePlotter.__init__` ourselves."""
    original = BasePlotter.__init__
    BasePlotter.__init__ = lambda self, *a, **k: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        BasePlotter.__init__ = original  # type: ignore[method-assign]


class NativeInteractor(QVTKRenderWindowInteractor, BasePlotter):
    """A pyvista plotter in a native-window Qt widget. `interactor` is the widget itself; `update()`
    schedules one paint, which renders once."""

    def __init__(self, parent=None, multi_samples: int = 0):
        with _no_base_plotter_init():
            QVTKRenderWindowInteractor.__init__(self, parent=parent, rw=vtkRenderWindow())
        BasePlotter.__init__(self)
        self.interactor = self
        self.ren_win = self.GetRenderWindow()
        self.ren_win.SetMultiSamples(int(multi_samples))
        for renderer in self.renderers:
            self.ren_win.AddRenderer(renderer)
        self.background_color = pyvista.global_theme.background
        self._off_screen = False
        self.iren = RenderWindowInteractor(self, interactor=self.ren_win.GetInteractor())
        self.iren.interactor.RemoveObservers("MouseMoveEvent")  # the window's own hover handles moves
        self.iren.initialize()
        self.enable_trackball_style()
        self._first_time = False  # BasePlotter: this plotter renders when asked
        self._closed_widget = False

    # --- pyvista's plotter calls -----------------------------------------------------------------
    def render(self) -> None:
        """Render now (one VTK render into the native window)."""
        if self._closed_widget or not self.isVisible():
            return
        self._rendered = True
        BasePlotter.render(self)

    def paintEvent(self, ev):  # noqa: N802 - Qt's name
        if self._closed_widget:
            return
        self._rendered = True
        super().paintEvent(ev)

    def close(self) -> None:
        """Release the render window, then the widget."""
        if self._closed_widget:
            return
        self._closed_widget = True
        BasePlotter.close(self)
        QVTKRenderWindowInteractor.close(self)

    # --- pictures of the view ----------------------------------------------------------------------
    def grab_view(self) -> QtGui.QImage:
        """The view as VTK draws it (rendered now), as a QImage of the widget's size."""
        rgb = np.ascontiguousarray(self.screenshot(None, transparent_background=False, return_img=True)[..., :3])
        h, w = rgb.shape[:2]
        out = QtGui.QImage(rgb.data, w, h, 3 * w, QtGui.QImage.Format_RGB888).copy()
        ratio = self.devicePixelRatioF()
        out.setDevicePixelRatio(ratio)
        return out


def composite_grab(window: QtWidgets.QWidget, view: NativeInteractor) -> QtGui.QPixmap:
    """`window.grab()` with the native 3D view's pixels painted where the view is."""
    pixmap = QtWidgets.QWidget.grab(window)
    if isinstance(view, NativeInteractor) and view.isVisible() and view.width() > 0 and view.height() > 0:
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
        return NativeInteractor(parent, multi_samples=multi_samples)
    from pyvistaqt import QtInteractor

    return QtInteractor(parent, multi_samples=multi_samples, auto_update=False)
