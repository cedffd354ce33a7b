"""The needle plane, live (issue: teaching): the plane through the needle as an ultrasound probe held
along it would show it, redrawn as the needle moves while its dock is open.

Sections come from `geometry.slice.Slicer` (made once per pack, when the view is first shown) and are
drawn with QPainter: each structure's section filled in its colour and named, the danger margin of a
critical structure as a band of its margin's width around it, a depth ruler from the skin, the needle
to its tip and the engine's safe depth. "Ultrasound look" draws the same slice as
`app.ultrasound.ultrasound_image` (speckle, bright bone with its shadow, a bright pleural line).
The command line's `needlesafe slice` draws the same plane (app/slice_picture.py).
"""
from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from needlesafe.geometry.report import format_mm
from needlesafe.geometry.slice import Slicer, needle_plane, polygon_area

from .. import readout, theme
from ..ultrasound import sections_in_order, ultrasound_image, window_for

MARGIN_ALPHA = 90  # 0..255: the danger margin band under a critical structure's section
RULER_STEP_MM = 10.0
#: While the needle moves, the plane is cut at most this often (the first move at once, the last one
#: always): on the largest atlas region a cut and its picture take about 20 ms a move.
MIN_INTERVAL_MS = 100


class PlaneView(QtWidgets.QWidget):
    """The live needle plane: `show_needle(scene, report)` redraws it; `angle` turns the plane about
    the needle (degrees), `ultrasound` switches the look."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setMinimumSize(320, 260)
        self.angle_deg = 0.0
        self.ultrasound = False
        self._slicer = None
        self._scene = None
        self.slice = None  # the PlaneSlice drawn last
        self.window = None  # its SliceWindow
        self.report = None
        self._image = None  # the ultrasound look, (h, w) uint8, when on

        controls = QtWidgets.QHBoxLayout()
        controls.addWidget(QtWidgets.QLabel("Turn"))
        self.turn = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.turn.setRange(-90, 90)
        self.turn.setToolTip("Turn the plane about the needle (degrees), as a probe turned on the skin")
        self.turn.valueChanged.connect(self.set_angle)
        controls.addWidget(self.turn, 1)
        self.us_box = QtWidgets.QCheckBox("Ultrasound look")
        self.us_box.toggled.connect(self.set_ultrasound)
        controls.addWidget(self.us_box)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addStretch(1)
        self.plane = None
        self._cooldown = QtCore.QTimer(self)
        self._cooldown.setSingleShot(True)
        self._cooldown.setInterval(MIN_INTERVAL_MS)
        self._cooldown.timeout.connect(self._catch_up)
        self._stale = False

    # ----- state -----------------------------------------------------------------------------------
    def set_angle(self, degrees) -> None:
        self.angle_deg = float(degrees)
        self._recompute()

    def set_ultrasound(self, on: bool) -> None:
        self.ultrasound = bool(on)
        self._recompute()

    def show_needle(self, scene, report) -> None:
        """Cut `scene` along `report.needle` (the effective needle) and redraw."""
        if scene is not self._scene:
            self._scene, self._slicer = scene, None
        self.report = report
        if self._cooldown.isActive():  # drawn moments ago: the latest needle is drawn when it ends
            self._stale = True
            return
        self._recompute()
        if self.isVisible():
            self._cooldown.start()

    def _catch_up(self) -> None:
        if self._stale:
            self._stale = False
            self._recompute()
            if self.isVisible():  # the next move waits its turn too: one cut per interval
                self._cooldown.start()

    def _area(self) -> QtCore.QRect:
        top = self.layout().itemAt(0).geometry().bottom() + 4
        return QtCore.QRect(4, top, max(self.width() - 8, 10), max(self.height() - top - 4, 10))

    def _recompute(self) -> None:
        if self.report is None or self._scene is None or not self.isVisible():
            return
        if self._slicer is None:
            self._slicer = Slicer(self._scene)
        n = self.report.needle
        area = self._area()
        self.window = window_for(n, area.width() / max(area.height(), 1))
        plane = needle_plane(n, self.angle_deg)
        self.plane = plane
        self.slice = self._slicer.cross_sections(plane, self.window.extent_mm)
        self._image = None
        if self.ultrasound:
            self._image = ultrasound_image(self.slice, self.window, (area.height(), area.width()),
                                           needle_depth_mm=n.depth_mm)
        self.update()

    def showEvent(self, ev):  # noqa: N802 - Qt's name
        super().showEvent(ev)
        self._recompute()

    def resizeEvent(self, ev):  # noqa: N802
        super().resizeEvent(ev)
        self._recompute()

    # ----- drawing ---------------------------------------------------------------------------------
    def _xy(self, q: np.ndarray, area: QtCore.QRect) -> np.ndarray:
        """(k, 2) (depth, lateral) mm -> (k, 2) widget pixels: depth down, +lateral on the left."""
        w = self.window
        x = area.left() + (w.half_width - q[:, 1]) / (2 * w.half_width) * area.width()
        y = area.top() + (q[:, 0] - w.top) / (w.bottom - w.top) * area.height()
        return np.stack([x, y], axis=1)

    def _path(self, loops, area, closed: bool = True) -> QtGui.QPainterPath:
        """One path of every (k, 2) plane-mm loop (closed) or chain (`closed=False`), built in one
        pass (pyqtgraph's `arrayToQPath` writes the points through a buffer, not a call each)."""
        from pyqtgraph import arrayToQPath

        loops = [q for q in loops if len(q)]
        if not loops:
            return QtGui.QPainterPath()
        parts = [np.vstack([q, q[:1]]) if closed else q for q in loops]
        connect = np.ones(sum(len(q) for q in parts), dtype=bool)
        connect[np.cumsum([len(q) for q in parts]) - 1] = False  # the last point of each starts no line
        xy = self._xy(np.concatenate(parts), area)
        path = arrayToQPath(xy[:, 0], xy[:, 1], connect=connect)
        path.setFillRule(QtCore.Qt.OddEvenFill)
        return path

    def paintEvent(self, ev):  # noqa: N802
        p = QtGui.QPainter(self)
        try:
            area = self._area()
            p.fillRect(area, QtGui.QColor("black" if self.ultrasound else "#f4f4f4"))
            if self.slice is None or self.window is None or self.report is None:
                p.drawText(area, QtCore.Qt.AlignCenter, "The needle plane shows here once a needle is placed.")
                return
            p.setClipRect(area)
            p.setRenderHint(QtGui.QPainter.Antialiasing, True)
            if self._image is not None:
                h, w = self._image.shape
                img = QtGui.QImage(np.ascontiguousarray(self._image).data, w, h, w, QtGui.QImage.Format_Grayscale8)
                p.drawImage(area.topLeft(), img)
            else:
                self._draw_sections(p, area)
            self._draw_needle(p, area)
            self._draw_ruler(p, area)
        finally:
            p.end()

    def _draw_sections(self, p: QtGui.QPainter, area) -> None:
        px_per_mm = area.height() / (self.window.bottom - self.window.top)
        sections = sections_in_order(self.slice)
        for sec in sections:  # the margins first, under every fill
            if sec.critical and sec.margin_mm > 0 and sec.loops:
                colour = QtGui.QColor(sec.colour)
                colour.setAlpha(MARGIN_ALPHA)
                p.setPen(QtGui.QPen(colour, 2 * sec.margin_mm * px_per_mm, QtCore.Qt.SolidLine, QtCore.Qt.RoundCap,
                                    QtCore.Qt.RoundJoin))
                p.setBrush(QtCore.Qt.NoBrush)
                p.drawPath(self._path(sec.loops, area))
        for sec in sections:
            colour = QtGui.QColor(sec.colour)
            p.setPen(QtGui.QPen(colour.darker(140), 1))
            if sec.loops:
                p.setBrush(colour)
                p.drawPath(self._path(sec.loops, area))
            p.setBrush(QtCore.Qt.NoBrush)
            p.setPen(QtGui.QPen(colour.darker(140), 1.5, QtCore.Qt.DashLine))
            if sec.open_chains:  # an open mesh: drawn as it is, never closed
                p.drawPath(self._path(sec.open_chains, area, closed=False))
        p.setPen(QtGui.QColor("black"))
        for sec in sections:
            if sec.role == "skin" or not sec.loops:
                continue
            loop = max(sec.loops, key=lambda lp: abs(polygon_area(lp)))
            if abs(polygon_area(loop)) * px_per_mm**2 < 300:
                continue  # too small on screen to name
            x, y = self._xy(loop.mean(axis=0)[None, :], area)[0]
            name = readout.structure_label(sec.name)
            width = p.fontMetrics().horizontalAdvance(name)
            x = min(max(x + 3, area.left() + 34), area.right() - width - 2)  # never cut at an edge
            p.drawText(QtCore.QPointF(x, y), name)

    def _draw_needle(self, p: QtGui.QPainter, area) -> None:
        n = self.report.needle
        top, tip = self._xy(np.array([[0.0, 0.0], [n.depth_mm, 0.0]]), area)
        p.setPen(QtGui.QPen(QtGui.QColor("white" if self.ultrasound else theme.NEEDLE_COLOUR), 2))
        p.drawLine(QtCore.QPointF(*top), QtCore.QPointF(*tip))
        p.setBrush(QtGui.QColor(theme.LEVEL_COLOUR[self.report.level]))
        p.setPen(QtGui.QPen(QtGui.QColor("black"), 1))
        p.drawEllipse(QtCore.QPointF(*tip), 4, 4)
        safe = self.report.path.safe_depth_mm
        if safe is not None:
            a, b = self._xy(np.array([[safe, -6.0], [safe, 6.0]]), area)
            p.setPen(QtGui.QPen(QtGui.QColor(theme.LEVEL_COLOUR["safe"]), 3))
            p.drawLine(QtCore.QPointF(*a), QtCore.QPointF(*b))
            p.drawText(QtCore.QPointF(max(a[0], b[0]) + 4, a[1] + 4), f"safe depth {format_mm(safe)} mm")

    def _draw_ruler(self, p: QtGui.QPainter, area) -> None:
        p.setPen(QtGui.QColor("white" if self.ultrasound else "#333333"))
        w = self.window
        d = 0.0
        while d <= w.bottom:
            y = self._xy(np.array([[d, 0.0]]), area)[0][1]
            p.drawLine(QtCore.QPointF(area.left(), y), QtCore.QPointF(area.left() + 8, y))
            p.drawText(QtCore.QPointF(area.left() + 10, y + 4), f"{d:.0f}")
            d += RULER_STEP_MM
        left, right = self.plane.side_names()
        p.drawText(area.adjusted(40, 2, -4, -2), QtCore.Qt.AlignTop | QtCore.Qt.AlignLeft, f"◂ {left}")
        p.drawText(area.adjusted(4, 2, -4, -2), QtCore.Qt.AlignTop | QtCore.Qt.AlignRight, f"{right} ▸")
