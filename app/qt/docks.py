"""The window's docked panels, made and placed in one place: the clearance readout (right), the layers
and the exercise (left, tabbed), the patient's responses (left, below them), the compare table
(bottom, shown with pins), the needle plane (right, tabbed with the clearance; hidden until asked for)."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from .panels import ClearancePanel, ComparePanel, ExercisePanel, LayersPanel
from .patient import PatientPanel
from .plane_view import PlaneView

LEFT, RIGHT, BOTTOM = QtCore.Qt.LeftDockWidgetArea, QtCore.Qt.RightDockWidgetArea, QtCore.Qt.BottomDockWidgetArea


def _dock(win, title, name, widget, area):
    dock = QtWidgets.QDockWidget(title, win)
    dock.setObjectName(name)
    dock.setWidget(widget)
    win.addDockWidget(area, dock)
    return dock


def build_docks(win) -> None:
    """Make the panels as window attributes (`panel`, `layers`, `exercise_panel`, `patient_panel`,
    `compare`) and their docks."""
    win.panel = ClearancePanel(win)
    clearance = _dock(win, "Clearance", "clearance_dock", win.panel, RIGHT)
    clearance.setMinimumWidth(380)
    win.layers = LayersPanel(win)
    win.layers.visibility.connect(lambda name, on: (win.scene_view.set_visible(name, on), win.redraw()))
    win.layers.opacity.connect(lambda name, v: (win.scene_view.set_opacity(name, v), win.redraw()))
    layers = _dock(win, "Layers", "layers_dock", win.layers, LEFT)
    win.patient_panel = PatientPanel(win)  # below the layers (two docks of one area stack up)
    win.patient_dock = _dock(win, "Patient", "patient_dock", win.patient_panel, LEFT)
    win.exercise_panel = ExercisePanel(win)
    win.exercise_dock = _dock(win, "Exercise", "exercise_dock", win.exercise_panel, LEFT)
    win.tabifyDockWidget(layers, win.exercise_dock)
    for d in (layers, win.exercise_dock, win.patient_dock):
        d.setMaximumWidth(420)
    win.exercise_dock.hide()
    win.compare = ComparePanel(win)
    win.compare_dock = _dock(win, "Compare needles", "compare_dock", win.compare, BOTTOM)
    win.compare_dock.hide()
    win.plane_view = PlaneView(win)  # the needle plane, live: View ▸ Show the needle plane
    win.plane_dock = _dock(win, "Needle plane", "plane_dock", win.plane_view, RIGHT)
    win.plane_dock.hide()

    def show_plane(on: bool) -> None:
        # tabbed with the clearance when first shown (tabbing a hidden dock leaves a stale tab bar)
        if on and not win.tabifiedDockWidgets(clearance):
            win.tabifyDockWidget(clearance, win.plane_dock)
        win.plane_dock.setVisible(bool(on))
        if on:
            win.plane_dock.raise_()

    win.show_plane = show_plane
    win.session.needle_changed.connect(lambda report: win.plane_view.show_needle(win.session.scene, report))
    win.resizeDocks([clearance, layers], [430, 280], QtCore.Qt.Horizontal)  # the 3D view gets the most
    win.resizeDocks([layers, win.patient_dock], [440, 240], QtCore.Qt.Vertical)
