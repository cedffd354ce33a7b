"""The NeedleSafe desktop window: the pack in 3D, a needle placed with the mouse, live clearance."""
from __future__ import annotations

import html
import os
import sys
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_API", "pyside6")

import pyvista as pv  # noqa: E402
from pyvistaqt import QtInteractor  # noqa: E402
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

import pyqtgraph as pg  # noqa: E402

from needlesafe.geometry.clearance import ClearanceEngine  # noqa: E402
from needlesafe.geometry.report import format_mm as _mm  # noqa: E402
from needlesafe.geometry.needle import PRESETS, Needle, NeedleError  # noqa: E402
from needlesafe.geometry.placement import aim, initial_needle, skin_entry, tilt  # noqa: E402
from needlesafe.meshes.builtin import is_builtin, parse_name  # noqa: E402
from needlesafe.meshes.pack import find_packs, load_pack  # noqa: E402
from needlesafe.meshes.envelope import offset_surface  # noqa: E402
from needlesafe.meshes.types import ROLES, PackError  # noqa: E402

from .cli import DISCLAIMER  # noqa: E402
from .render import VIEWS, to_polydata  # noqa: E402
from .report_html import clearance_scale, off_scale_at  # noqa: E402
from .exercises import (  # noqa: E402
    ExerciseError,
    append_attempt,
    attempt_record,
    attempts_csv,
    builtin_exercises,
    load_exercise,
    log_path,
    read_attempts,
    score_attempt,
    summary,
)
from .scenario import Scenario, ScenarioError, load_scenario, save_scenario  # noqa: E402

# Okabe-Ito colour-blind-safe palette; every status is also written as text.
STATUS_COLOUR = {
    "safe": "#009E73",
    "caution": "#F0E442",
    "danger": "#E69F00",
    "contact": "#D55E00",
    "unknown": "#D55E00",
}
SKIN_OPACITY = 0.35
CLOSEST_LINE_MM = 20.0  # closest-point lines are drawn for danger structures nearer than this
NEEDLE_COLOUR = "#404040"
XRAY_OPACITY = 0.35  # the needle seen through tissue
TRIGGER_POINT_COLOUR = "#56B4E9"  # sky blue: a target, not a danger
TARGET_COLOUR = "#E69F00"
CONTACT_COLOUR = "#000000"  # the ring where the needle rests on bone
LANDMARK_COLOUR = "#F0F0F0"
SHELL_OPACITY = 0.22
CAMERA_BUTTONS = ("posterior", "anterior", "lateral", "superior", "reset")
PACK_CACHE_SIZE = 4  # prepared packs (scene, engine, actors) kept for quick switches

QUICK_GUIDE = """<h3>Quick guide</h3>
<ol>
<li><b>Click the skin</b> where you want to insert: the needle's entry moves there, pointing straight in.</li>
<li><b>Aim</b>: click a muscle or a blue trigger-point marker (Ctrl+click aims at whatever lies under the
skin), or tilt with the arrow keys (Shift: 5 degrees). Drag the blue entry handle to slide over the skin.</li>
<li><b>Push</b> with + and - (Shift: 5 mm) or the Depth slider. The needle stops at bone, as it would in
a patient ("firm stop").</li>
<li>Read the <b>Clearance</b> panel: every danger structure's distance, the safe depth, what lies ahead.
UNKNOWN means the model cannot tell: treat it as danger.</li>
</ol>
<p>Hover over a structure to see its name. View ▸ Show landmarks names the bony landmarks.
Exercises ▸ opens a guided exercise; F11 is presentation mode.</p>"""
FIRST_HINT = ("First time? 1. Click the skin to place the needle. 2. Click a muscle or a blue marker to aim. "
              "3. Press + to push. Help ▸ Quick guide says more.")


def pack_key(source) -> str:
    """One name per pack: 'gluteal:average' for a built-in (whatever alias opened it), else the
    folder's resolved path."""
    if is_builtin(source) and not Path(str(source)).exists():
        region, hab = parse_name(str(source))
        return f"{region}:{hab}"
    return str(Path(source).resolve())


@dataclass
class PreparedPack:
    """Everything the window needs to show a pack, made before it replaces the open one."""

    key: str
    scene: object
    engine: ClearanceEngine
    polys: dict  # structure name -> PolyData with point normals
    start: Needle  # the first needle (50 mm) for this pack
    stamp: object = None
    shells: dict = None  # danger shells, once computed


_PREPARED: OrderedDict = OrderedDict()


def _stamp(key: str):
    """What makes a cached folder pack stale: the folder's and its manifest's modification times."""
    if ":" in key and not Path(key).exists():
        return None
    try:
        folder = Path(key)
        return tuple(p.stat().st_mtime_ns for p in [folder, *sorted(folder.glob("*.json"))] if p.exists())
    except OSError:
        return None


def prepare_pack(source) -> PreparedPack:
    """Load, validate and index a pack (cached: the last few packs open again at once). Raises
    PackError; nothing of the window is touched."""
    try:
        key = pack_key(source)
    except (OSError, ValueError) as exc:
        raise PackError(f"{source}: {exc}") from exc
    stamp = _stamp(key)
    hit = _PREPARED.get(key)
    if hit is not None and hit.stamp == stamp:
        _PREPARED.move_to_end(key)
        return hit
    scene = load_pack(source)
    engine = ClearanceEngine(scene)
    polys = {}
    for s in scene.structures:
        poly = to_polydata(s.vertices, s.faces)
        polys[s.name] = poly.compute_normals(cell_normals=False, split_vertices=False, auto_orient_normals=False)
    prepared = PreparedPack(key, scene, engine, polys, initial_needle(scene, 50.0, 0.30), stamp)
    _PREPARED[key] = prepared
    while len(_PREPARED) > PACK_CACHE_SIZE:
        _PREPARED.popitem(last=False)
    return prepared

ABOUT = f"""<h3>NeedleSafe</h3>
<p>A dry-needling safety trainer. <b>{DISCLAIMER}</b> Distances come from the anatomy pack shown,
which is a model, not the patient in front of you.</p>
<p>Built-in regions are generated by NeedleSafe's own code from published dimensions.
Imported atlases keep their own licences: Z-Anatomy (Gauthier Kervyn, CC BY-SA 4.0) and BodyParts3D
(The Database Center for Life Science, CC BY-SA 2.1 JP / CC BY 4.0).</p>"""


class busy:
    """A wait cursor while a pack is prepared or switched (nestable)."""

    def __enter__(self):
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.WaitCursor)
        return self

    def __exit__(self, *exc):
        QtWidgets.QApplication.restoreOverrideCursor()
        return False


def as_plain_html(text: str) -> str:
    """`text` as rich text that shows exactly those characters (Qt would read '<b>' in a pack or
    file name as markup in a dialog or a tooltip)."""
    return "<p>" + html.escape(str(text), quote=False).replace("\n", "<br>") + "</p>"


def _same_region(a: str, b: str) -> bool:
    """Are packs `a` and `b` built-in habitus of one region ('gluteal' and 'gluteal:lean')?"""
    try:
        return is_builtin(a) and is_builtin(b) and parse_name(a)[0] == parse_name(b)[0]
    except PackError:
        return False


class ClearancePanel(QtWidgets.QWidget):
    """Read-only view of a ClearanceReport: one row per critical structure, safe depth, bracketing."""

    PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")  # plot curves

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        self.overall = QtWidgets.QLabel("")
        self.overall.setObjectName("overall")
        f = self.overall.font()
        f.setPointSize(f.pointSize() + 3)
        f.setBold(True)
        self.overall.setFont(f)
        layout.addWidget(self.overall)
        self.table = QtWidgets.QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["structure", "shaft mm", "tip mm", "status"])
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.Stretch)
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QtWidgets.QHeaderView.ResizeToContents)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        layout.addWidget(self.table, 1)
        self.needle_label = QtWidgets.QLabel("")
        self.safe_depth = QtWidgets.QLabel("")
        self.bracketing = QtWidgets.QLabel("")
        self.path = QtWidgets.QLabel("")
        for w in (self.needle_label, self.safe_depth, self.bracketing, self.path):
            w.setTextFormat(QtCore.Qt.PlainText)  # pack strings are shown as they are, never as markup
            w.setWordWrap(True)
            # the table and the plot give way when the dock is short; the sentences never do
            w.setSizePolicy(QtWidgets.QSizePolicy.Preferred, QtWidgets.QSizePolicy.Minimum)
            layout.addWidget(w)
        self.path.setMinimumHeight(2 * self.path.fontMetrics().lineSpacing() + 4)  # the longest, often 2 lines
        self.plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("clearance_plot")
        self.plot.setLabel("bottom", "insertion depth", units="mm")
        self.plot.setLabel("left", "clearance", units="mm")
        self.plot.setMinimumHeight(200)
        layout.addWidget(self.plot, 1)
        # the legend is a line under the plot, never over its curves
        self.legend = QtWidgets.QLabel("")
        self.legend.setObjectName("plot_legend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(QtCore.Qt.RichText)
        self.legend.setSizePolicy(QtWidgets.QSizePolicy.Preferred, QtWidgets.QSizePolicy.Minimum)
        layout.addWidget(self.legend)
        self._marks = []  # a triangle at the top edge where a curve goes off scale
        for colour in self.PALETTE:
            mark = pg.ScatterPlotItem([], [], symbol="t1", size=12, brush=pg.mkBrush(colour), pen=pg.mkPen("#000000"))
            self.plot.addItem(mark, ignoreBounds=True)
            self._marks.append(mark)
        # the plot's items are made once and then only moved: one curve and one margin line per
        # palette colour, the current depth and the safe depth
        self._slots = []
        for colour in self.PALETTE:
            curve = self.plot.plot([], [], pen=pg.mkPen(colour, width=2))
            margin = pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen(colour, style=QtCore.Qt.DashLine))
            self.plot.addItem(margin)
            self._slots.append((curve, margin))
        self._depth_line = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#000000", width=2))
        self._safe_line = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#009E73", style=QtCore.Qt.DotLine))
        self.plot.addItem(self._depth_line)
        self.plot.addItem(self._safe_line)
        self.report = None
        self.curves = {}

    def set_plot_text(self, points=None) -> None:
        """The plot's tick and axis-label text at `points` (None: the default size)."""
        font = QtGui.QFont(self.font())
        if points:
            font.setPointSize(int(points))
        for side in ("bottom", "left"):
            axis = self.plot.getAxis(side)
            axis.setStyle(tickFont=font)
            axis.label.setFont(font)

    def show_profile(self, depths, curves: dict, report) -> None:
        """Clearance against depth for the nearest critical structures, their margins, the current
        depth and the safe depth."""
        slots = self._slots
        rows = sorted(
            (r for r in report.structures if r.name in curves),
            key=lambda r: float(np.min(curves[r.name])),
        )[: len(slots)]
        self.curves = {}
        top, off = clearance_scale(depths, curves, rows)
        off_names = {name: (hi, lo) for name, hi, lo in off}
        entries = []
        for k, (curve, margin) in enumerate(slots):
            if k < len(rows):
                r = rows[k]
                y = curves[r.name]
                curve.setData(depths, y)
                margin.setValue(r.margin_mm)
                self.curves[r.name] = curve
                mark = ""
                if r.name in off_names:  # off scale: a triangle where it leaves, its real top in the legend
                    self._marks[k].setData([depths[off_scale_at(y, top)]], [top])
                    mark = f"&nbsp;(▲&nbsp;up&nbsp;to&nbsp;{_mm(off_names[r.name][0], 0)}&nbsp;mm)"
                else:
                    self._marks[k].setData([], [])
                entries.append(f"<span style='color:{self.PALETTE[k]}'>■■</span>&nbsp;{html.escape(r.name)}{mark}")
            else:
                curve.setData([], [])
                self._marks[k].setData([], [])
            curve.setVisible(k < len(rows))
            margin.setVisible(k < len(rows))
        n = report.needle
        self._depth_line.setValue(n.depth_mm)
        safe = report.path.safe_depth_mm
        self._safe_line.setVisible(safe is not None)
        if safe is not None:
            self._safe_line.setValue(safe)
        self.plot.setXRange(0, n.length_mm, padding=0.02)
        self.plot.setYRange(0, top, padding=0.05)
        self.off_scale = off
        self.legend.setText(" &nbsp; ".join(entries))

    def show_report(self, report) -> None:
        self.report = report
        rows = sorted(report.structures, key=lambda r: (r.shaft_distance_mm is not None, r.shaft_distance_mm or 0.0))
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            colour = QtGui.QColor(STATUS_COLOUR[r.level])
            cells = [r.name, _mm(r.shaft_distance_mm), _mm(r.tip_distance_mm), r.level.upper()]
            for j, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if j == 3:
                    item.setBackground(colour)
                    item.setForeground(QtGui.QColor("black"))
                if j in (1, 2):
                    item.setTextAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
                self.table.setItem(i, j, item)
        lvl = report.level
        self.overall.setText(f"Overall: {lvl.upper()}")
        self.overall.setStyleSheet(f"background:{STATUS_COLOUR[lvl]}; color:black; padding:4px;")
        n = report.needle
        p = report.path
        stop = p.stopped_by
        rests = (f" — firm stop: resting on the {stop['name'].replace('_', ' ')} at {_mm(stop['depth_mm'], 1)} mm"
                 if stop else "")
        self.needle_label.setText(
            f"Needle {n.gauge_mm:.2f} × {n.length_mm:g} mm, inserted {n.depth_mm:.1f} mm{rests}"
        )
        if lvl == "unknown":
            why = "; ".join(report.errors) or "the model cannot tell what lies at the tip"
            self.safe_depth.setText(f"UNKNOWN — treat as danger: {why}")
            self.safe_depth.setStyleSheet(f"background:{STATUS_COLOUR['unknown']}; color:black; padding:2px;")
        elif p.safe_depth_mm is None:
            self.safe_depth.setText("Safe depth: UNKNOWN — treat as danger")
            self.safe_depth.setStyleSheet(f"background:{STATUS_COLOUR['unknown']}; color:black; padding:2px;")
        else:
            self.safe_depth.setStyleSheet("")
            lim = f" (limited by {p.limiting_structure})" if p.limiting_structure else " (whole needle)"
            self.safe_depth.setText(f"Safe depth: {_mm(p.safe_depth_mm)} mm{lim}")
        self.bracketing.setText(f"Bracketing: {p.bracketing.message or p.bracketing.verdict}")
        hits = ", ".join(f"{h.name} {_mm(h.depth_mm, 1)}" for h in p.first_hits) or "nothing"
        self.path.setText(f"Along the path (mm): {hits}")


class MainWindow(QtWidgets.QMainWindow):
    """Main window over one pack. Every number shown comes from `ClearanceEngine.report`."""

    needle_changed = QtCore.Signal(object)

    def __init__(self, pack="default", multi_samples: int = 0):
        super().__init__()
        self.setWindowTitle("NeedleSafe")
        self.resize(1280, 800)
        # no auto-update timer: the view repaints when something changes, not five times a second
        self.plotter = QtInteractor(self, multi_samples=multi_samples, auto_update=False)
        self.setCentralWidget(self.plotter.interactor)
        # a second layer, drawn over the anatomy, shows the needle faintly where tissue hides it
        from vtkmodules.vtkRenderingCore import vtkRenderer

        self._xray = vtkRenderer()
        self._xray.SetLayer(1)
        self._xray.InteractiveOff()
        self.plotter.ren_win.SetNumberOfLayers(2)
        self.plotter.ren_win.AddRenderer(self._xray)
        main, xray = self.plotter.renderer, self._xray  # the layers share one camera, whatever renders
        main.AddObserver("StartEvent", lambda *_: xray.SetActiveCamera(main.GetActiveCamera()))
        self.panel = ClearancePanel(self)
        dock = QtWidgets.QDockWidget("Clearance", self)
        dock.setObjectName("clearance_dock")
        dock.setWidget(self.panel)
        dock.setMinimumWidth(380)
        self.addDockWidget(QtCore.Qt.RightDockWidgetArea, dock)
        self.layers = QtWidgets.QTreeWidget(self)
        self.layers.setHeaderLabels(["structure", "opacity"])
        self.layers.itemChanged.connect(self._on_layer_changed)
        ldock = QtWidgets.QDockWidget("Layers", self)
        ldock.setObjectName("layers_dock")
        ldock.setWidget(self.layers)
        self.addDockWidget(QtCore.Qt.LeftDockWidgetArea, ldock)
        self.exercise_panel = ExercisePanel(self)
        self.exercise_dock = QtWidgets.QDockWidget("Exercise", self)
        self.exercise_dock.setObjectName("exercise_dock")
        self.exercise_dock.setWidget(self.exercise_panel)
        self.addDockWidget(QtCore.Qt.LeftDockWidgetArea, self.exercise_dock)
        self.tabifyDockWidget(ldock, self.exercise_dock)
        ldock.setMaximumWidth(420)
        self.exercise_dock.setMaximumWidth(420)
        self.exercise_dock.hide()
        self.exercise_panel.check.clicked.connect(self.check_attempt)
        self.compare = QtWidgets.QTableWidget(0, 5, self)
        self.compare.setHorizontalHeaderLabels(["needle", "status", "nearest danger", "safe depth mm", "bracketing"])
        self.compare.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.compare.verticalHeader().setVisible(False)
        self.compare.horizontalHeader().setStretchLastSection(True)
        self.compare_dock = QtWidgets.QDockWidget("Compare needles", self)
        self.compare_dock.setObjectName("compare_dock")
        self.compare_dock.setWidget(self.compare)
        self.addDockWidget(QtCore.Qt.BottomDockWidgetArea, self.compare_dock)
        self.compare_dock.hide()
        self._shells = {}
        self._shell_worker = None
        self._closing = False
        self.pinned = []  # needles kept on screen to compare with the current one
        self.last_score = None
        self._presentation = None
        self.exercise = None
        self.redirections = 0
        self._ref_direction = None
        self._maps = {}  # (pack, mode) -> SafetyMap
        self._map_worker = None
        self.safety_map = None
        self._dragging = False
        self.settings = QtCore.QSettings("NeedleSafe", "NeedleSafe")
        self.statusBar().setSizeGripEnabled(False)  # made now: the 3D view keeps its size on the first message
        self._build_controls()
        self._build_menus()
        self._build_shortcuts()
        # the 3D view gets most of the width; the readout and the layers keep what they need
        self.resizeDocks([dock, ldock], [430, 280], QtCore.Qt.Horizontal)
        self._actors = {}
        self._markers = {}
        self._needle_actors = []
        self._top_props = {}
        self._ghosts = []
        self._dragged = False
        self._hover_pos = None
        self.hover_text = ""
        self._hover = QtCore.QTimer(self)
        self._hover.setSingleShot(True)
        self._hover.setInterval(300)
        self._hover.timeout.connect(self._show_hover)
        self.plotter.interactor.setMouseTracking(True)
        self.exercise_path = None
        self.scene = None
        self.engine = None
        self.needle = None
        self.report = None
        self._press_pos = None
        self.plotter.interactor.installEventFilter(self)
        if not self.open_pack(pack) and pack != "default":
            self.open_pack("default")
        self._first_start_hint()

    # ----- building -------------------------------------------------------------------------
    def _build_controls(self):
        bar = QtWidgets.QToolBar("Needle", self)
        bar.setObjectName("needle_toolbar")
        self.addToolBar(QtCore.Qt.TopToolBarArea, bar)
        bar.addWidget(QtWidgets.QLabel(" Needle "))
        self.preset = QtWidgets.QComboBox()
        self.preset.addItems(list(PRESETS))
        self.preset.setCurrentText("0.30x50")
        self.preset.currentTextChanged.connect(self._on_preset)
        bar.addWidget(self.preset)
        bar.addWidget(QtWidgets.QLabel("  Depth "))
        self.depth_slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
        self.depth_slider.setMinimumWidth(240)
        self.depth_slider.valueChanged.connect(self._on_slider)
        bar.addWidget(self.depth_slider)
        self.depth_label = QtWidgets.QLabel("")
        bar.addWidget(self.depth_label)
        bar.addSeparator()
        for name in CAMERA_BUTTONS:
            act = bar.addAction(name.capitalize())
            act.triggered.connect(lambda _=False, n=name: self.set_camera(n))
        # a second row: region, overlays and instructor tools
        self.addToolBarBreak(QtCore.Qt.TopToolBarArea)
        bar = QtWidgets.QToolBar("Region and tools", self)
        bar.setObjectName("tools_toolbar")
        self.addToolBar(QtCore.Qt.TopToolBarArea, bar)
        bar.addWidget(QtWidgets.QLabel(" Region "))
        self.region = QtWidgets.QComboBox()
        self.region.setToolTip("Built-in regions, then packs found in the user's pack folder")
        self.region.addItems(["gluteal", "shoulder"])
        for folder in find_packs():
            self.region.addItem(folder.name, str(folder))
        bar.addWidget(self.region)
        bar.addWidget(QtWidgets.QLabel(" Habitus "))
        self.habitus = QtWidgets.QComboBox()
        self.habitus.addItems(["lean", "average", "high"])
        self.habitus.setCurrentText("average")
        bar.addWidget(self.habitus)
        self.region.activated.connect(self._on_region)
        self.habitus.activated.connect(self._on_region)
        bar.addSeparator()
        self.shells_action = bar.addAction("Danger shells")
        self.shells_action.setCheckable(True)
        self.shells_action.setToolTip("Translucent surfaces at each danger structure's clearance margin")
        self.shells_action.toggled.connect(self.show_shells)
        bar.addSeparator()
        self.map_action = bar.addAction("Safety map")
        self.map_action.setCheckable(True)
        self.map_action.setToolTip("Heat map on the skin: the deepest safe insertion from every point")
        self.map_action.toggled.connect(self.show_safety_map)
        self.map_mode = QtWidgets.QComboBox()
        self.map_mode.addItems(["skin normal", "needle direction"])
        self.map_mode.setToolTip("Direction of the needle at every skin point of the map")
        self.map_mode.activated.connect(lambda _i: self.map_action.isChecked() and self.show_safety_map(True))
        bar.addWidget(self.map_mode)
        bar.addSeparator()
        self.pin_action = bar.addAction("Pin needle")
        self.pin_action.setToolTip("Keep this needle on screen, with its own readout, to compare with the next")
        self.pin_action.triggered.connect(self.pin_needle)
        self.unpin_action = bar.addAction("Clear pins")
        self.unpin_action.triggered.connect(self.clear_pins)
        self.present_action = bar.addAction("Presentation")
        self.present_action.setCheckable(True)
        self.present_action.setShortcut(QtGui.QKeySequence("F11"))
        self.present_action.setToolTip("Full screen, large high-contrast readout, other panels hidden (F11)")
        self.present_action.toggled.connect(self.set_presentation)

    def _build_menus(self):
        m = self.menuBar().addMenu("&File")
        a = m.addAction("Open pack…")
        a.triggered.connect(self._open_pack_dialog)
        self.recent_menu = m.addMenu("Recent packs")
        self._fill_recent()
        m.addSeparator()
        a = m.addAction("Open scenario…")
        a.triggered.connect(self._open_scenario_dialog)
        a = m.addAction("Save scenario…")
        a.triggered.connect(self._save_scenario_dialog)
        m.addSeparator()
        a = m.addAction("Export image…")
        a.triggered.connect(self._export_dialog)
        a = m.addAction("Export report…")
        a.triggered.connect(self._report_dialog)
        m.addSeparator()
        a = m.addAction("Quit")
        a.triggered.connect(self.close)
        v = self.menuBar().addMenu("&View")
        self.hide_skin = v.addAction("Hide skin")
        self.hide_skin.setShortcut(QtGui.QKeySequence("Alt+S"))
        self.hide_skin.setCheckable(True)
        self.hide_skin.toggled.connect(lambda on: self._set_role_visible("skin", not on))
        self.hide_muscle = v.addAction("Hide muscles")
        self.hide_muscle.setShortcut(QtGui.QKeySequence("Alt+M"))
        self.hide_muscle.setCheckable(True)
        self.hide_muscle.toggled.connect(lambda on: self._set_role_visible("muscle", not on))
        self.xray_action = v.addAction("Show the needle through tissue")
        self.xray_action.setCheckable(True)
        self.xray_action.setChecked(True)
        self.xray_action.toggled.connect(self._set_xray)
        self.landmarks_action = v.addAction("Show landmarks")
        self.landmarks_action.setCheckable(True)
        self.landmarks_action.setToolTip("Bony landmarks as white dots with their names")
        self.landmarks_action.toggled.connect(lambda _on: (self._draw_landmarks(), self._repaint()))
        e = self.menuBar().addMenu("&Exercises")
        for path in builtin_exercises():
            try:
                title = load_exercise(path).title
            except ExerciseError:
                continue
            a = e.addAction(title.replace("&", "&&"))  # shown as written, never a shortcut marker
            a.triggered.connect(lambda _=False, p=path: self.start_exercise(p))
        e.addSeparator()
        a = e.addAction("Open exercise file…")
        a.triggered.connect(self._open_exercise_dialog)
        a = e.addAction("Review attempts…")
        a.triggered.connect(self._review_dialog)
        h = self.menuBar().addMenu("&Help")
        a = h.addAction("Quick guide")
        a.setShortcut(QtGui.QKeySequence("F1"))
        a.triggered.connect(self.quick_guide)
        a = h.addAction("About NeedleSafe")
        a.triggered.connect(lambda: QtWidgets.QMessageBox.about(self, "About NeedleSafe", ABOUT))

    # ----- pack and scene ---------------------------------------------------------------------
    def open_pack(self, pack) -> bool:
        """Load a pack (folder or built-in name); on failure show a dialog and keep the current one."""
        prepared = self._prepare(pack)
        if prepared is None:
            return False
        gauge, length = self._preset_needle()
        start = prepared.start
        self._install(prepared, Needle(start.entry_lps, start.direction, min(15.0, length), length, gauge))
        self.set_camera("reset")
        return True

    def _prepare(self, pack):
        """The prepared pack, or None after an error dialog (the window unchanged)."""
        with busy():
            try:
                return prepare_pack(pack)
            except (PackError, NeedleError, OSError, ValueError) as exc:
                self.error(f"Cannot open pack:\n{exc}")
                return None

    def _install(self, prepared: PreparedPack, needle: Needle, exercise=None):
        """Replace the open pack with `prepared` (already validated) and show `needle` on it."""
        with busy():
            self._install_scene(prepared)
            self.exercise = exercise  # an exercise belongs to the pack it was started on
            if exercise is None:
                self.exercise_dock.hide()
            self.pinned = []  # the compare table follows with the first needle below
            self._pin_reports = []
            self.compare_dock.hide()
            self._draw_pins()
            self.set_needle(needle)
            self._sync_controls()

    def _install_scene(self, prepared: PreparedPack):
        scene = prepared.scene
        self.scene, self.engine, self.pack_source = scene, prepared.engine, prepared.key
        self.plotter.clear()  # also removes the lights: put the light kit back
        self.plotter.enable_lightkit()
        self._xray.RemoveAllViewProps()
        self._actors = {}
        self._needle_actors = []
        self._top_props = {}
        self._ghosts = []
        for s in scene.structures:
            opacity = SKIN_OPACITY if s.role == "skin" else 1.0
            actor = self.plotter.add_mesh(
                prepared.polys[s.name], color=s.colour, opacity=opacity, smooth_shading=False,
                name=f"structure:{s.name}", pickable=True, specular=0.2, render=False,
            )
            actor.GetProperty().SetInterpolationToGouraud()  # the point normals made once per pack
            self._actors[s.name] = actor
        self._markers = {}
        for tp in scene.trigger_points:  # targets are drawn in the top layer: always visible
            actor = self._top_actor(pv.Sphere(radius=3.0, center=tp.point), TRIGGER_POINT_COLOUR, f"trigger:{tp.name}")
            actor.PickableOn()
            self._markers[tp.name] = (actor, tp)
        self.plotter.add_axes()
        self.setWindowTitle(f"NeedleSafe — {scene.name}")
        self._remember_pack(self.pack_source)
        self._fill_layers()
        self._prepared = prepared
        self._shells = {}
        if prepared.shells is not None:  # made once per pack: a switch back draws them at once
            self._draw_shells(prepared.shells)
        elif self.shells_action.isChecked():
            self.show_shells(True)
        self.safety_map = None
        self._draw_landmarks()

    def _top_actor(self, mesh, colour, name, opacity=1.0):
        """An actor in the top render layer (drawn over the anatomy), kept under `name`."""
        from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

        old = self._top_props.pop(name, None)
        if old is not None:
            self._xray.RemoveActor(old)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(mesh)
        actor = vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.SetColor(*QtGui.QColor(colour).getRgbF()[:3])
        prop.SetOpacity(opacity)
        actor.PickableOff()
        self._xray.AddActor(actor)
        self._top_props[name] = actor
        return actor

    def _remove_top(self, prefix: str):
        for name in [n for n in self._top_props if n.startswith(prefix)]:
            self._xray.RemoveActor(self._top_props.pop(name))

    def _sync_controls(self):
        """The region, habitus and needle boxes show the open pack and needle, whatever opened them."""
        for box in (self.region, self.habitus, self.preset):
            box.blockSignals(True)
        try:
            key = self.pack_source
            if is_builtin(key) and not Path(key).exists():
                region, hab = parse_name(key)
                self.region.setCurrentIndex(self.region.findText(region))
                self.habitus.setCurrentText(hab)
                self.habitus.setEnabled(True)
            else:
                k = self.region.findData(key)
                if k < 0:
                    name = Path(key).name
                    if self.region.findText(name) >= 0:  # e.g. an imported atlas called "shoulder"
                        name = f"{name} (folder)"
                    self.region.addItem(name, key)
                    self.region.setItemData(self.region.count() - 1, key, QtCore.Qt.ToolTipRole)
                    k = self.region.count() - 1
                self.region.setCurrentIndex(k)
                self.habitus.setEnabled(False)
            n = self.needle
            text = f"{n.gauge_mm:.2f}x{n.length_mm:g}"
            if self.preset.findText(text) < 0:
                self.preset.addItem(text)
            self.preset.setCurrentText(text)
        finally:
            for box in (self.region, self.habitus, self.preset):
                box.blockSignals(False)

    def _preset_needle(self, text=None) -> tuple[float, float]:
        """(gauge, length) mm of a needle box entry ('0.30x50')."""
        text = text or self.preset.currentText()
        if text in PRESETS:
            return PRESETS[text]
        gauge, _, length = text.partition("x")
        return float(gauge), float(length)

    # ----- layers ------------------------------------------------------------------------------
    def _fill_layers(self):
        self.layers.blockSignals(True)
        self.layers.clear()
        for role in ROLES:
            members = [s for s in self.scene.structures if s.role == role]
            if not members:
                continue
            parent = QtWidgets.QTreeWidgetItem(self.layers, [role, ""])
            parent.setFlags(parent.flags() | QtCore.Qt.ItemIsUserCheckable | QtCore.Qt.ItemIsAutoTristate)
            parent.setCheckState(0, QtCore.Qt.Checked)
            for s in members:
                item = QtWidgets.QTreeWidgetItem(parent, [s.name, ""])
                item.setData(0, QtCore.Qt.UserRole, s.name)
                item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
                item.setCheckState(0, QtCore.Qt.Checked)
                slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
                slider.setFixedWidth(64)
                slider.setRange(0, 100)
                slider.setValue(int(round(100 * self._actors[s.name].GetProperty().GetOpacity())))
                slider.valueChanged.connect(lambda v, n=s.name: self.set_opacity(n, v / 100.0))
                self.layers.setItemWidget(item, 1, slider)
            parent.setExpanded(role in ("nerve", "pleura", "vessel"))
        self.layers.blockSignals(False)
        self.layers.header().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeToContents)
        self.layers.header().setStretchLastSection(True)
        self.layers.setColumnWidth(1, 70)

    def _on_layer_changed(self, item, column):
        name = item.data(0, QtCore.Qt.UserRole)
        if name:
            self._actors[name].SetVisibility(item.checkState(0) == QtCore.Qt.Checked)
            self._repaint()

    def set_opacity(self, name: str, opacity: float):
        self._actors[name].GetProperty().SetOpacity(opacity)
        self._repaint()

    # ----- danger shells -------------------------------------------------------------------------
    def show_shells(self, on: bool):
        """Show (computing once per pack, off the GUI thread) or hide the margin shells. They are
        drawn in the top layer, faint, so they show through the muscle around them."""
        for name in list(self._shells):
            actor = self._top_props.get(f"shell:{name}")
            if actor is not None:
                actor.SetVisibility(on)
        if on and not self._shells and self._shell_worker is None:
            self.statusBar().showMessage("Computing danger shells…", 10000)
            crit = [(s.name, s.vertices, s.faces, s.margin_mm) for s in self.scene.critical]
            self._shell_worker = ShellWorker(crit, self.pack_source, self)
            self._shell_worker.done.connect(self._add_shells)
            self._shell_worker.start()
        self._repaint()

    def _add_shells(self, shells: dict):
        worker, self._shell_worker = self._shell_worker, None
        if worker is not None:
            worker.wait()
        if worker is None or worker.source != self.pack_source:
            # the pack (or only its habitus, with the same names) changed meanwhile: start again
            if self.shells_action.isChecked() and not self._closing:
                self.show_shells(True)
            return
        self._prepared.shells = shells
        self._draw_shells(shells)
        self.statusBar().showMessage(f"Danger shells: {len(shells)} structures", 3000)
        self._repaint()

    def _draw_shells(self, shells: dict):
        self._remove_top("shell:")
        self._shells = shells
        for name, (v, f) in shells.items():
            colour = self.scene.structure(name).colour
            actor = self._top_actor(to_polydata(v, f), colour, f"shell:{name}", opacity=SHELL_OPACITY)
            actor.SetVisibility(self.shells_action.isChecked())

    # ----- safety map ----------------------------------------------------------------------------
    def _map_key(self):
        if self.map_mode.currentIndex() == 0:
            return (self.pack_source, "normal")
        d = np.round(self.needle.direction, 4)
        return (self.pack_source, tuple(float(x) for x in d))

    def show_safety_map(self, on: bool):
        """Show the safety map (computed off the GUI thread with a progress dialog, cached per pack
        and direction mode), or hide it and bring the skin back."""
        for name in ("safety_map", "safety_map:outline"):
            if name in self.plotter.actors:
                self.plotter.remove_actor(name, render=False)
        if not on:
            self.safety_map = None
            self._set_role_visible("skin", not self.hide_skin.isChecked())
            return
        key = self._map_key()
        if key in self._maps:
            self._draw_map(self._maps[key])
            return
        if self._map_worker is not None:
            return
        direction = "normal" if key[1] == "normal" else np.array(key[1])
        self._map_worker = MapWorker(self.engine, direction, self.needle.gauge_mm, self)
        self._map_progress = QtWidgets.QProgressDialog("Computing the safety map…", "Cancel", 0, 100, self)
        self._map_progress.setWindowTitle("Safety map")
        self._map_progress.setMinimumDuration(0)
        self._map_progress.canceled.connect(self._map_worker.cancel)
        self._map_worker.progress.connect(self._map_progress.setValue)
        self._map_worker.finished_map.connect(lambda smap, k=key: self._map_done(k, smap))
        self._map_worker.failed.connect(self._map_failed)
        self._map_progress.show()
        self._map_worker.start()

    def _map_done(self, key, smap):
        self._finish_map_worker()
        if self._closing or key[0] != self.pack_source:
            return  # the pack changed meanwhile
        self._maps[key] = smap
        if self.map_action.isChecked():
            self._draw_map(smap)

    def _map_failed(self, message: str):
        self._finish_map_worker()
        if self._closing:
            return
        self.map_action.blockSignals(True)
        self.map_action.setChecked(False)
        self.map_action.blockSignals(False)
        if message:
            self.error(f"The safety map could not be computed:\n{message}")
        else:
            self.statusBar().showMessage("Safety map cancelled", 3000)

    def _finish_map_worker(self):
        worker, self._map_worker = self._map_worker, None
        if worker is not None:
            worker.wait()
        if getattr(self, "_map_progress", None) is not None:
            self._map_progress.reset()
            self._map_progress.hide()

    def _draw_map(self, smap):
        from .render import add_safety_map
        from .safety_export import map_polydata

        self.safety_map = smap
        for s in self.scene.structures:  # the map replaces the skin
            if s.role == "skin":
                self._actors[s.name].SetVisibility(False)
        add_safety_map(self.plotter, map_polydata(self.scene, smap), self.needle.length_mm, smap.max_depth_mm)
        danger = int(smap.danger_zone(self.needle.length_mm).sum())
        unknown = int(np.count_nonzero(smap.not_modelled))
        self.statusBar().showMessage(
            f"Safety map: {danger:,} of {len(smap.points):,} skin points are unsafe for a "
            f"{self.needle.length_mm:.0f} mm needle (outlined); {unknown:,} not modelled (grey)", 8000,
        )
        self._repaint()

    # ----- comparing needles, presentation, report -----------------------------------------------
    PIN_COLOURS = ["#0072B2", "#CC79A7", "#009E73", "#E69F00", "#56B4E9"]

    def pin_needle(self):
        """Keep the current needle on screen (its own colour and readout) to compare with the next."""
        self.pinned.append(self.needle)
        self._draw_pins()
        self._update_compare()
        self.compare_dock.show()

    def clear_pins(self):
        self.pinned = []
        self._draw_pins()
        self._update_compare()
        self.compare_dock.hide()  # the Compare dock is there only with pins

    def _draw_pins(self):
        for name in [n for n in self.plotter.actors if n.startswith("pin:")]:
            self.plotter.remove_actor(name, render=False)
        for k, n in enumerate(self.pinned):
            colour = self.PIN_COLOURS[k % len(self.PIN_COLOURS)]
            if n.depth_mm > 0:
                self.plotter.add_mesh(pv.Line(n.entry_lps, n.tip_lps).tube(radius=0.6), color=colour,
                                      name=f"pin:{k}:shaft", pickable=False, render=False)
            self.plotter.add_mesh(pv.Sphere(radius=1.5, center=n.entry_lps), color=colour, name=f"pin:{k}:entry",
                                  pickable=False, render=False)
        self._repaint()

    def _update_compare(self):
        if self.engine is None or self.needle is None:
            return
        # a pinned needle never moves: its report is computed once, not on every update
        cache = getattr(self, "_pin_reports", [])
        if len(cache) > len(self.pinned) or any(a is not b for (a, _), b in zip(cache, self.pinned)):
            cache = []
        cache += [(n, self.engine.report(n)) for n in self.pinned[len(cache):]]
        self._pin_reports = cache
        needles = [("current", self.needle, self.report)] + [
            (f"pin {k + 1}", n, rep) for k, (n, rep) in enumerate(cache)
        ]
        self.compare.setRowCount(len(needles))
        for i, (label, n, rep) in enumerate(needles):
            rows = [r for r in rep.structures if r.shaft_distance_mm is not None]
            near = min(rows, key=lambda r: r.shaft_distance_mm) if rows else None
            cells = [
                f"{label}: {n.gauge_mm:.2f}×{n.length_mm:.0f}, {n.depth_mm:.1f} mm in",
                rep.level.upper(),
                f"{near.name} {_mm(near.shaft_distance_mm)} mm" if near else "unknown",
                _mm(rep.path.safe_depth_mm),
                rep.path.bracketing.message or rep.path.bracketing.verdict,
            ]
            for j, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if j == 1:
                    item.setBackground(QtGui.QColor(STATUS_COLOUR[rep.level]))
                    item.setForeground(QtGui.QColor("black"))
                self.compare.setItem(i, j, item)
        self.compare.resizeColumnsToContents()

    def set_presentation(self, on: bool):
        """Full screen with a large, high-contrast clearance readout; every other panel hidden."""
        docks = [d for d in self.findChildren(QtWidgets.QDockWidget) if d.objectName() != "clearance_dock"]
        if on:
            self._presentation = {d: d.isVisible() for d in docks}
            self._presentation["font"] = self.panel.font()
            self._presentation["overall_font"] = self.panel.overall.font()
            self._presentation["background"] = self.plotter.background_color
            for d in docks:
                d.hide()
            big = QtGui.QFont(self.panel.font())
            big.setPointSize(max(16, big.pointSize() * 2))
            self.panel.setFont(big)
            self.panel.table.setFont(big)
            banner = QtGui.QFont(self.panel.overall.font())
            banner.setPointSize(big.pointSize() + 6)
            self.panel.overall.setFont(banner)
            self.panel.table.resizeRowsToContents()
            self.panel.set_plot_text(big.pointSize() - 4)
            key = QtGui.QFont(self._presentation["font"])
            key.setPointSize(max(10, key.pointSize()))  # set explicitly, or the large panel font is inherited
            self.panel.legend.setFont(key)  # the key stays small: the table and the plot get the room
            # the larger text must still fit a 1280 x 800 screen: the plot gives up some height
            self.panel.plot.setMinimumHeight(110)
            self.plotter.set_background("black")
            # structure names are never cut: the name column fits them and the readout takes half the screen
            self.panel.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeToContents)
            self._presentation["geometry"] = self.geometry()
            screen = self.screen().geometry() if self.screen() else self.geometry()
            self.setGeometry(screen)  # also without a window manager to honour the full-screen state
            self.showFullScreen()
            self._fit_presentation_dock(screen.width())
        elif self._presentation:
            state, self._presentation = self._presentation, None
            geometry = state.pop("geometry")
            self.panel.setFont(state.pop("font"))
            self.panel.overall.setFont(state.pop("overall_font"))
            self.panel.table.setFont(self.panel.font())
            self.panel.legend.setFont(self.panel.font())
            self.panel.set_plot_text(None)
            self.panel.plot.setMinimumHeight(200)
            self.panel.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.Stretch)
            self.resizeDocks([self.findChild(QtWidgets.QDockWidget, "clearance_dock")], [430], QtCore.Qt.Horizontal)
            self.plotter.set_background(state.pop("background"))
            for d, visible in state.items():
                d.setVisible(visible and (d is not self.compare_dock or bool(self.pinned)))
            self.showNormal()
            self.setGeometry(geometry)
        self._repaint()

    def _fit_presentation_dock(self, screen_width: int):
        """The readout gets the width its table needs (every name whole, the status column in
        view), between 45 % and 65 % of the screen."""
        t = self.panel.table
        t.resizeColumnsToContents()
        need = sum(t.columnWidth(c) for c in range(t.columnCount())) + t.verticalScrollBar().sizeHint().width() + 60
        width = int(min(max(need, 0.45 * screen_width), 0.65 * screen_width))
        self.resizeDocks([self.findChild(QtWidgets.QDockWidget, "clearance_dock")], [width], QtCore.Qt.Horizontal)

    def export_report(self, path) -> bool:
        """An HTML report of the current needle (and pinned ones, and the last exercise score):
        the view, the clearance tables and the clearance-versus-depth plots."""
        import tempfile

        from needlesafe.meshes.io import atomic_write_text

        from .report_html import build_report, section_for

        score = self.last_score.to_dict() if self.last_score is not None else None
        sections = [section_for(self.engine, "Current needle", self.needle, score)] + [
            section_for(self.engine, f"Pinned needle {k}", n) for k, n in enumerate(self.pinned, start=1)
        ]
        with tempfile.TemporaryDirectory() as tmp:
            png = self.export_image(Path(tmp) / "view.png")
            image = png.read_bytes() if png is not None else None
        title = f"NeedleSafe report: {self.exercise.title}" if self.exercise else f"NeedleSafe report: {self.scene.name}"
        try:
            atomic_write_text(Path(path), build_report(title, self.scene.name, sections, image))
        except OSError as exc:
            self.error(f"Could not write the report:\n{exc}")
            return False
        self.statusBar().showMessage(f"Report written to {path}", 5000)
        return True

    def _report_dialog(self):
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export report", "report.html", "HTML (*.html)")
        if path:
            self.export_report(path)

    # ----- exercises -----------------------------------------------------------------------------
    def start_exercise(self, path, pack=None) -> bool:
        """Open the exercise's pack (or `pack`, the same region in another habitus) and needle, mark
        its target, face it with the camera and show the teaching text. A bad file or pack gives a
        dialog and changes nothing."""
        from needlesafe.meshes.io import read_json

        try:
            data = read_json(path, 1 << 20, error=ExerciseError, what="exercise")
            if not isinstance(data, dict):
                raise ExerciseError(f"{path}: an exercise file holds one JSON object")
            own = data.get("pack", "")
            if not isinstance(own, str) or not own:
                raise ExerciseError(f"{path}: 'pack' must name a pack")
            if pack is not None and not _same_region(own, pack):
                raise ExerciseError(f"{path}: this exercise is on '{own}', not '{pack}'")
            try:
                prepared = prepare_pack(pack or own)
            except PackError as exc:
                raise ExerciseError(f"{path}: its pack '{pack or own}' cannot be opened: {exc}") from exc
            ex = load_exercise(path, prepared.scene)
            start = self._exercise_start(prepared, ex)
        except (ExerciseError, NeedleError, ValueError, OSError, RecursionError) as exc:
            self.error(f"Cannot start the exercise:\n{exc}")
            return False
        self._install(prepared, start, exercise=ex)
        self.exercise_path = Path(path)
        self.redirections = 0
        self._ref_direction = None
        self._top_actor(pv.Sphere(radius=max(2.0, ex.tolerance_mm / 2), center=ex.target_point), TARGET_COLOUR,
                        "exercise:target", opacity=0.45)
        self.exercise_panel.show_exercise(ex)
        self.exercise_dock.show()
        self.exercise_dock.raise_()
        self.face(ex.target_point, start.entry_lps)
        self.statusBar().showMessage(
            f"Exercise: {ex.title}. The needle starts on the skin over the target; aim and push.", 8000)
        return True

    def _exercise_start(self, prepared: PreparedPack, ex) -> Needle:
        """The exercise's first needle: on the skin nearest its target, pointing at it, not inserted."""
        scene, target = prepared.scene, np.asarray(ex.target_point, float)
        skins = [s for s in scene.structures if s.role == "skin"]
        entry = None
        if skins:
            v = np.concatenate([s.vertices for s in skins])
            out = v[np.argmin(np.linalg.norm(v - target, axis=1))] - target
            if np.linalg.norm(out) > 1e-6:
                entry = skin_entry(scene, target, from_direction=out / np.linalg.norm(out))
        if entry is None:
            entry = prepared.start.entry_lps
        return Needle(entry, aim(entry, target), 0.0, ex.needle_length_mm, ex.needle_gauge_mm)

    def face(self, target, eye_side) -> None:
        """Point the camera at `target` from the side of `eye_side` (e.g. the entry on the skin)."""
        target = np.asarray(target, float)
        out = np.asarray(eye_side, float) - target
        out = out / (np.linalg.norm(out) or 1.0)
        lo, hi = self.scene.bounds()
        r = float(np.linalg.norm(hi - lo))
        up = (0.0, 0.0, 1.0) if abs(out[2]) < 0.8 else (0.0, 1.0, 0.0)
        self.plotter.camera_position = [tuple(target + 1.2 * r * out), tuple(target), up]
        self.plotter.reset_camera_clipping_range()
        self._repaint()

    def check_attempt(self):
        """Score the current needle, show the feedback and append the attempt to the student's log."""
        if self.exercise is None:
            return None
        student = self.exercise_panel.student.text().strip()
        if not student:
            student, ok = QtWidgets.QInputDialog.getText(self, "Student", "Your name, for the attempt log:")
            if not ok or not student.strip():
                return None
            self.exercise_panel.student.setText(student.strip())
        score = score_attempt(self.exercise, self.report, self.redirections)
        self.last_score = score
        self.exercise_panel.show_score(score)
        try:
            path = log_path(student)
            append_attempt(path, attempt_record(student, self.exercise, self.report, score))
            self.statusBar().showMessage(f"Attempt saved to {path}", 5000)
        except (ExerciseError, OSError) as exc:
            self.error(f"The attempt was scored but could not be saved:\n{exc}")
        self.redirections = 0
        self._ref_direction = None
        return score

    def _open_exercise_dialog(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open exercise", "", "Exercise (*.json)")
        if path:
            self.start_exercise(path)

    def _review_dialog(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Review attempts", "", "Attempt log (*.jsonl)")
        if path:
            self.review_attempts(path)

    def review_attempts(self, path):
        """Open an attempt log in the review dialog (non-modal); returns the dialog or None."""
        try:
            attempts, problems = read_attempts(path)
        except ExerciseError as exc:
            self.error(f"Cannot open the attempt log:\n{exc}")
            return None
        dlg = ReviewDialog(attempts, problems, self)
        dlg.replay.connect(self.replay_attempt)
        dlg.show()
        self._review = dlg
        return dlg

    def replay_attempt(self, record: dict) -> bool:
        """Show an attempt's needle on its pack; a record that cannot be replayed changes nothing."""
        try:
            pack = record.get("pack", "")
            if not isinstance(pack, str) or not pack:
                raise NeedleError("the attempt names no pack")
            needle = Needle.from_dict(record["needle"])
        except (NeedleError, KeyError, TypeError, ValueError, AttributeError) as exc:
            self.error(f"This attempt cannot be replayed:\n{exc}")
            return False
        prepared = self._prepare(pack)
        if prepared is None:
            return False
        if prepared.key == self.pack_source and self.exercise is not None:
            exercise = self.exercise  # replaying on the exercise's own pack keeps the exercise
        else:
            exercise = None
        self._install(prepared, needle, exercise=exercise)
        self.face(needle.tip_lps, needle.entry_lps)
        return True

    # ----- recent packs and scenarios -----------------------------------------------------------
    def _remember_pack(self, source: str):
        recent = [p for p in (self.settings.value("recent_packs") or []) if p != source]
        self.settings.setValue("recent_packs", [source] + recent[:7])
        self._fill_recent()

    def _fill_recent(self):
        self.recent_menu.clear()
        for source in self.settings.value("recent_packs") or []:
            a = self.recent_menu.addAction(str(source).replace("&", "&&"))
            a.triggered.connect(lambda _=False, p=source: self.open_pack(p))

    def scenario(self) -> Scenario:
        cam = self.plotter.camera
        camera = {
            "position": list(cam.GetPosition()),
            "focal_point": list(cam.GetFocalPoint()),
            "view_up": list(cam.GetViewUp()),
        }
        return Scenario(self.pack_source, [self.needle] + list(self.pinned), camera)

    def save_scenario(self, path) -> bool:
        try:
            save_scenario(self.scenario(), path)
        except (OSError, ValueError) as exc:
            self.error(f"Could not save the scenario:\n{exc}")
            return False
        self.statusBar().showMessage(f"Saved {path}", 3000)
        return True

    def open_scenario(self, path) -> bool:
        """Load a scenario; a bad file gives a dialog and changes nothing."""
        try:
            sc = load_scenario(path)
        except ScenarioError as exc:
            self.error(f"Cannot open the scenario:\n{exc}")
            return False
        prepared = self._prepare(sc.pack)
        if prepared is None:
            return False
        self._install(prepared, sc.needles[0])
        self.pinned = list(sc.needles[1:])
        self._draw_pins()
        self._update_compare()
        self.compare_dock.setVisible(bool(self.pinned) and self._presentation is None)
        if sc.camera:
            self.plotter.camera_position = [sc.camera["position"], sc.camera["focal_point"], sc.camera["view_up"]]
            self.plotter.reset_camera_clipping_range()
        else:
            self.set_camera("reset")
        self._repaint()
        return True

    def _open_scenario_dialog(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open scenario", "", "Scenario (*.json)")
        if path:
            self.open_scenario(path)

    def _save_scenario_dialog(self):
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save scenario", "scenario.json", "Scenario (*.json)")
        if path:
            self.save_scenario(path)

    def _on_region(self, _index=None):
        """Open the region (with the habitus) or the imported pack chosen in the toolbar. During an
        exercise, another habitus of the exercise's region keeps the exercise on that habitus."""
        folder = self.region.currentData()
        if folder:
            ok = self.open_pack(folder)
        else:
            name = f"{self.region.currentText()}:{self.habitus.currentText()}"
            ex = self.exercise
            if ex is not None and getattr(self, "exercise_path", None) and _same_region(ex.pack, name):
                ok = self.start_exercise(self.exercise_path, pack=name)
            else:
                ok = self.open_pack(name)
        if not ok:
            self._sync_controls()  # the boxes go back to the pack still open

    def _set_role_visible(self, role, visible):
        for s in self.scene.structures:
            if s.role == role:
                self._actors[s.name].SetVisibility(visible)
        self._repaint()

    def set_camera(self, view: str):
        """Camera presets in the LPS frame (one table with the renders): posterior looks from +y,
        anterior from -y, lateral from patient right (-x); reset is the oblique overview."""
        if self.scene is None:
            return
        lo, hi = self.scene.bounds()
        c = (lo + hi) / 2
        r = float(np.linalg.norm(hi - lo))
        pos, up = VIEWS["oblique" if view == "reset" else view]
        self.plotter.camera_position = [tuple(c + 1.6 * r * np.asarray(pos, float)), tuple(c), up]
        self.plotter.reset_camera_clipping_range()
        self._repaint()

    # ----- needle -------------------------------------------------------------------------------
    def set_needle(self, needle: Needle) -> None:
        """Make `needle` current: recompute the report, update the panel and the 3D needle. A needle
        cannot pass through bone: it stops at the first bone along its line (the report's effective
        needle), and the status line says so, as the practitioner's hand would feel it."""
        report = self.engine.report(needle)
        needle = report.needle  # the effective needle: its depth clamped at the bone contact
        if self.exercise is not None and needle.depth_mm > 2.0:
            if self._ref_direction is None:
                self._ref_direction = needle.direction
            elif np.degrees(np.arccos(np.clip(needle.direction @ self._ref_direction, -1.0, 1.0))) > 5.0:
                self.redirections += 1  # a change of angle of more than 5 degrees with the needle in
                self._ref_direction = needle.direction
        self.needle = needle
        self.report = report
        self.panel.show_report(report)
        depths, curves = self.engine.profile(needle)
        self.panel.show_profile(depths, curves, report)
        self.depth_slider.blockSignals(True)
        self.depth_slider.setRange(0, int(round(needle.length_mm * 10)))
        self.depth_slider.setValue(int(round(needle.depth_mm * 10)))
        self.depth_slider.blockSignals(False)
        stop = report.path.stopped_by
        self.depth_label.setText(f" {needle.depth_mm:.1f} / {needle.length_mm:g} mm " + ("(bone) " if stop else ""))
        if stop:
            self.statusBar().showMessage(f"firm stop: {stop['name'].replace('_', ' ')}", 5000)
        self._draw_needle()
        self._update_compare()
        self.needle_changed.emit(self.report)

    def _draw_needle(self):
        # every actor is replaced without rendering; one render at the end
        for name in self._needle_actors:
            self.plotter.remove_actor(name, render=False)
        self._needle_actors = []
        n = self.needle
        shaft = pv.Line(n.entry_lps, n.tip_lps) if n.depth_mm > 0 else None
        if shaft is not None:
            # a dark outline line (5 px, whatever the zoom) under the steel tube: never thinner than 3 px
            self.plotter.add_mesh(shaft, color="#000000", line_width=5, name="needle:outline", pickable=False,
                                  render=False)
            self._needle_actors.append("needle:outline")
            self.plotter.add_mesh(shaft.tube(radius=0.6), color=NEEDLE_COLOUR, name="needle:shaft", pickable=False,
                                  render=False)
            self._needle_actors.append("needle:shaft")
        # remaining length ahead of the tip as a dashed line (2 mm on, 2 mm off)
        ahead = n.length_mm - n.depth_mm
        if ahead > 0.5:
            starts = np.arange(0.0, ahead, 4.0)
            pts = []
            lines = []
            for k, s0 in enumerate(starts):
                pts.append(n.tip_lps + s0 * n.direction)
                pts.append(n.tip_lps + min(s0 + 2.0, ahead) * n.direction)
                lines += [2, 2 * k, 2 * k + 1]
            dashed = pv.PolyData(np.array(pts), lines=np.array(lines))
            self.plotter.add_mesh(dashed, color="#202020", line_width=3, name="needle:ahead", pickable=False,
                                  render=False)
            self._needle_actors.append("needle:ahead")
        tip = pv.Sphere(radius=1.0, center=n.tip_lps)
        self.plotter.add_mesh(tip, color=STATUS_COLOUR[self.report.level], name="needle:tip", pickable=False,
                              render=False)
        self._needle_actors.append("needle:tip")
        handle = pv.Sphere(radius=2.0, center=n.entry_lps)
        self.plotter.add_mesh(handle, color="#0072B2", name="needle:entry", pickable=False,
                              render=False)
        self._needle_actors.append("needle:entry")
        # closest-point lines to danger structures within 20 mm
        for r in self.report.structures:
            if r.shaft_distance_mm is None or r.shaft_distance_mm > CLOSEST_LINE_MM or r.closest_point_needle is None:
                continue
            if np.allclose(r.closest_point_needle, r.closest_point_structure):
                continue
            name = f"needle:closest:{r.name}"
            line = pv.Line(r.closest_point_needle, r.closest_point_structure)
            self.plotter.add_mesh(line, color=STATUS_COLOUR[r.level], line_width=3, name=name, pickable=False,
                                  render=False)
            self._needle_actors.append(name)
        self._draw_xray()
        self._remove_top("contact")
        if self.report.path.stopped_by:  # a ring on the bone where the needle rests, over everything
            ring = pv.Disc(center=n.tip_lps, inner=1.6, outer=3.2, normal=n.direction, c_res=32)
            self._top_actor(ring, CONTACT_COLOUR, "contact:ring").GetProperty().LightingOff()
        self._repaint()

    def _draw_xray(self):
        """Faint copies of the needle's actors in the top layer, so the shaft, the tip and the path
        ahead show through the muscle they run in (the solid needle still shows true depth)."""
        from vtkmodules.vtkRenderingCore import vtkActor

        for ghost in getattr(self, "_ghosts", []):
            self._xray.RemoveActor(ghost)
        self._ghosts = []
        for name in self._needle_actors:
            actor = self.plotter.actors.get(name)
            if actor is None or name == "needle:entry":
                continue
            ghost = vtkActor()
            ghost.SetMapper(actor.GetMapper())
            ghost.GetProperty().DeepCopy(actor.GetProperty())
            ghost.GetProperty().SetOpacity(XRAY_OPACITY)
            ghost.PickableOff()
            ghost.SetVisibility(self.xray_action.isChecked())
            self._xray.AddActor(ghost)
            self._ghosts.append(ghost)

    def _set_xray(self, on: bool):
        for ghost in getattr(self, "_ghosts", []):
            ghost.SetVisibility(bool(on))
        self._repaint()

    def set_depth(self, depth_mm: float):
        depth = min(max(0.0, depth_mm), self.needle.length_mm)
        self.set_needle(self.needle.at_depth(depth))

    def _on_slider(self, value):
        """While the slider is dragged only the latest value is applied, once the queue is empty."""
        if not self.depth_slider.isSliderDown():
            self.set_depth(value / 10.0)
            return
        pending = getattr(self, "_slider_pending", None)
        self._slider_pending = value
        if pending is None:
            QtCore.QTimer.singleShot(0, self._apply_slider)

    def _apply_slider(self):
        value, self._slider_pending = getattr(self, "_slider_pending", None), None
        if value is not None:
            self.set_depth(value / 10.0)

    def _on_preset(self, text):
        gauge, length = self._preset_needle(text)
        n = self.needle
        self.set_needle(Needle(n.entry_lps, n.direction, min(n.depth_mm, length), length, gauge))
        if self.safety_map is not None:
            self._draw_map(self.safety_map)  # the danger zone depends on the needle's length

    def tilt_needle(self, screen_axis: str, degrees: float):
        """Tilt about the camera's up ('horizontal' keys) or right ('vertical' keys) axis."""
        cam = self.plotter.camera
        up = np.asarray(cam.GetViewUp(), float)
        view = np.asarray(cam.GetFocalPoint(), float) - np.asarray(cam.GetPosition(), float)
        right = np.cross(view, up)
        axis = up if screen_axis == "horizontal" else right
        n = self.needle
        self.set_needle(Needle(n.entry_lps, tilt(n.direction, axis, degrees), n.depth_mm, n.length_mm, n.gauge_mm))

    def _build_shortcuts(self):
        """Keys work wherever the focus is in the window: arrows tilt 1 degree, +/- change the depth
        by 1 mm; with Shift, 5 times as much."""
        keys = [
            ("+", lambda k: self.set_depth(self.needle.depth_mm + k)),
            ("=", lambda k: self.set_depth(self.needle.depth_mm + k)),
            ("-", lambda k: self.set_depth(self.needle.depth_mm - k)),
            ("Left", lambda k: self.tilt_needle("horizontal", -k)),
            ("Right", lambda k: self.tilt_needle("horizontal", k)),
            ("Up", lambda k: self.tilt_needle("vertical", k)),
            ("Down", lambda k: self.tilt_needle("vertical", -k)),
        ]
        self._shortcuts = []
        for key, fn in keys:
            for prefix, step in (("", 1.0), ("Shift+", 5.0)):
                sc = QtGui.QShortcut(QtGui.QKeySequence(prefix + key), self)
                sc.setContext(QtCore.Qt.WindowShortcut)
                sc.activated.connect(lambda fn=fn, step=step: fn(step))
                self._shortcuts.append(sc)

    # ----- mouse picking: a click (no drag) on skin sets the entry, on anything else aims -------
    def eventFilter(self, obj, event):  # noqa: N802 - Qt override
        """A left click without a drag picks (Ctrl: through the skin); a drag still rotates the
        camera (VTK gets every event); a press on the entry handle drags it; hovering names."""
        if obj is self.plotter.interactor:
            et = event.type()
            if et == QtCore.QEvent.MouseButtonPress and event.button() == QtCore.Qt.LeftButton:
                self._press_pos = event.position().toPoint()
                self._hover.stop()
                if self._near_entry_handle(obj, self._press_pos):
                    self._dragging = True
                    self._dragged = False
                    return True  # the handle is being dragged: the camera stays still
            elif et == QtCore.QEvent.MouseMove and self._dragging:
                pos = event.position().toPoint()
                if self._dragged or (pos - self._press_pos).manhattanLength() > 3:
                    self._dragged = True
                    self._drag_to(obj, pos)
                return True
            elif et == QtCore.QEvent.MouseButtonRelease and self._dragging:
                self._dragging = False
                pos = event.position().toPoint()
                if self._dragged:
                    self._drag_to(obj, pos)  # end exactly where the mouse let go
                else:  # a click on the handle: whatever lies under it (a marker, the skin) is picked
                    self._click_later(obj, pos, event.modifiers())
                self._press_pos = None
                return True
            elif et == QtCore.QEvent.MouseButtonRelease and event.button() == QtCore.Qt.LeftButton:
                pos = event.position().toPoint()
                if self._press_pos is not None and (pos - self._press_pos).manhattanLength() <= 3:
                    self._click_later(obj, pos, event.modifiers())
                self._press_pos = None
            elif et == QtCore.QEvent.MouseMove and not event.buttons():
                self._hover_pos = (obj, event.position().toPoint())
                self._hover.start()
            elif et == QtCore.QEvent.Leave:
                self._hover.stop()
        return super().eventFilter(obj, event)

    def _click_later(self, widget, pos, modifiers):
        x, y = self._display_xy(widget, pos)
        through = bool(modifiers & QtCore.Qt.ControlModifier)
        QtCore.QTimer.singleShot(0, lambda: self.click_at(x, y, through_skin=through))

    def _show_hover(self):
        """Name the structure under a resting mouse (a tooltip and the status bar)."""
        if self._hover_pos is None or self.scene is None or self._dragging:
            return
        widget, pos = self._hover_pos
        hit = self.pick(*self._display_xy(widget, pos))
        if hit is None:
            QtWidgets.QToolTip.hideText()
            return
        name = hit[0]
        if name.startswith("trigger:"):
            text = f"{name[8:]} trigger point (click to aim)"
        elif name.startswith("landmark:"):
            text = f"landmark: {name[9:]}"
        else:
            s = self.scene.structure(name)
            text = f"{name.replace('_', ' ')} ({s.role}{', danger structure' if s.critical else ''})"
        self.hover_text = text
        QtWidgets.QToolTip.showText(widget.mapToGlobal(pos), as_plain_html(text), widget)
        self.statusBar().showMessage(text, 3000)

    def _display_xy(self, widget, pos):
        ratio = widget.devicePixelRatioF()
        return int(round(pos.x() * ratio)), int(round((widget.height() - 1 - pos.y()) * ratio))

    def _near_entry_handle(self, widget, pos, pixels: float = 12.0) -> bool:
        ren = self.plotter.renderer
        ren.SetWorldPoint(*self.needle.entry_lps, 1.0)
        ren.WorldToDisplay()
        hx, hy, _ = ren.GetDisplayPoint()
        x, y = self._display_xy(widget, pos)
        return (hx - x) ** 2 + (hy - y) ** 2 <= (pixels * widget.devicePixelRatioF()) ** 2

    def _drag_to(self, widget, pos):
        """Slide the entry over the skin under the cursor, keeping direction and depth. Mouse moves
        are coalesced: only the latest position is applied once the event queue is empty, so a drag
        never queues up updates faster than they can be drawn."""
        pending = getattr(self, "_drag_pending", None)
        self._drag_pending = (widget, pos)
        if pending is None:
            QtCore.QTimer.singleShot(0, self._apply_drag)

    def _apply_drag(self):
        pending, self._drag_pending = getattr(self, "_drag_pending", None), None
        if pending is None:
            return
        widget, pos = pending
        hit = self.pick(*self._display_xy(widget, pos))
        if hit is None or hit[0] not in self._actors or self.scene.structure(hit[0]).role != "skin":
            return  # only the skin carries the entry (a marker or a muscle under the cursor does not)
        n = self.needle
        self.set_needle(Needle(hit[1], n.direction, n.depth_mm, n.length_mm, n.gauge_mm))

    def pick(self, x: int, y: int, through_skin: bool = False):
        """(structure name, point (3,), normal (3,)) under display pixel (x, y) (VTK origin bottom-left),
        or None. Markers in the top layer come first (they are drawn over everything); with
        `through_skin` the skin is passed through to what lies under it."""
        from vtkmodules.vtkRenderingCore import vtkCellPicker

        picker = vtkCellPicker()
        picker.SetTolerance(0.0005)
        if self._markers and picker.Pick(x, y, 0, self._xray):
            actor = picker.GetActor()
            for name, (a, tp) in self._markers.items():
                if a is actor:
                    return f"trigger:{name}", np.asarray(tp.point, float), np.array(picker.GetPickNormal())
        picker = vtkCellPicker()
        picker.SetTolerance(0.0005)
        if through_skin:
            picker.PickFromListOn()
            for name, a in self._actors.items():
                if self.scene.structure(name).role != "skin" and a.GetVisibility():
                    picker.AddPickList(a)
        if not picker.Pick(x, y, 0, self.plotter.renderer):
            return None
        actor = picker.GetActor()
        for name, a in self._actors.items():
            if a is actor:
                return name, np.array(picker.GetPickPosition()), np.array(picker.GetPickNormal())
        return None

    def click_at(self, x: int, y: int, through_skin: bool = False) -> None:
        hit = self.pick(x, y, through_skin)
        if hit is None:
            return
        if getattr(self, "hint", None) is not None:
            self._dismiss_hint()  # the first click on the body: the user has found the way in
        name, point, normal = hit
        n = self.needle
        try:
            if name.startswith("trigger:"):  # aim at the trigger point's centre
                self.set_needle(Needle(n.entry_lps, aim(n.entry_lps, point), n.depth_mm, n.length_mm, n.gauge_mm))
                self.statusBar().showMessage(f"Aiming at the {name[8:]} trigger point", 3000)
            elif self.scene.structure(name).role == "skin":
                inward = -normal / np.linalg.norm(normal)
                self.set_needle(Needle(point, inward, min(n.depth_mm, n.length_mm), n.length_mm, n.gauge_mm))
            else:
                self.set_needle(Needle(n.entry_lps, aim(n.entry_lps, point), n.depth_mm, n.length_mm, n.gauge_mm))
                self.statusBar().showMessage(f"Aiming at {name.replace('_', ' ')}", 3000)
        except NeedleError as exc:
            self.statusBar().showMessage(str(exc), 4000)

    # ----- landmarks, help ---------------------------------------------------------------------
    def _draw_landmarks(self):
        """Bony landmarks as white dots with their names (View ▸ Show landmarks), in the top layer."""
        self._remove_top("landmark:")
        for name in [n for n in self.plotter.actors if n.startswith("landmarks:")]:
            self.plotter.remove_actor(name, render=False)
        if self.scene is None or not self.landmarks_action.isChecked() or not self.scene.landmarks:
            return
        for lm in self.scene.landmarks:
            dot = self._top_actor(pv.Sphere(radius=2.0, center=lm.point), LANDMARK_COLOUR, f"landmark:{lm.name}")
            dot.GetProperty().SetEdgeVisibility(False)
        pts = np.array([lm.point for lm in self.scene.landmarks], float)
        self.plotter.add_point_labels(
            pts, [lm.name.replace("_", " ") for lm in self.scene.landmarks], name="landmarks:labels",
            font_size=14, text_color="black", shape_color="#FFFFE0", shape_opacity=0.8, point_size=1,
            always_visible=True, show_points=False, render=False,
        )

    def quick_guide(self):
        box = QtWidgets.QMessageBox(self)
        box.setWindowTitle("NeedleSafe — quick guide")
        box.setTextFormat(QtCore.Qt.RichText)
        box.setText(QUICK_GUIDE)
        box.setModal(False)
        box.show()
        self._guide = box
        return box

    def _first_start_hint(self):
        """On the first start, a line over the 3D view says what to do first; it goes with a click
        on it or on its button, and does not come back."""
        if self.settings.value("hint_seen", False, type=bool):
            self.hint = None
            return
        hint = QtWidgets.QFrame(self.plotter.interactor)
        hint.setObjectName("first_hint")
        hint.setStyleSheet("#first_hint {background: #FFFFE0; border: 1px solid #888; border-radius: 4px}")
        lay = QtWidgets.QHBoxLayout(hint)
        text = QtWidgets.QLabel(FIRST_HINT)
        text.setWordWrap(True)
        text.setTextFormat(QtCore.Qt.PlainText)
        lay.addWidget(text, 1)
        ok = QtWidgets.QPushButton("Got it")
        ok.clicked.connect(self._dismiss_hint)
        lay.addWidget(ok)
        hint.setFixedWidth(520)
        hint.move(12, 12)
        hint.show()
        self.hint = hint

    def _dismiss_hint(self):
        if getattr(self, "hint", None) is not None:
            self.hint.hide()
            self.hint.deleteLater()
            self.hint = None
        self.settings.setValue("hint_seen", True)

    # ----- files --------------------------------------------------------------------------------
    def _open_pack_dialog(self):
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open anatomy pack")
        if folder:
            self.open_pack(folder)

    def _export_dialog(self):
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export image", "needlesafe.png", "PNG (*.png)")
        if path:
            self.export_image(path)

    def export_image(self, path):
        """A PNG of the 3D view at `path` (written whole or not at all); None after an error dialog."""
        import tempfile

        path = Path(path)
        self.plotter.render()
        try:
            if path.is_dir():
                raise OSError(f"{path} is a folder")
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
            os.close(fd)
            try:
                self.plotter.screenshot(tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        except (OSError, ValueError) as exc:
            self.error(f"Could not write the image:\n{exc}")
            return None
        return path

    def _repaint(self) -> None:
        """Schedule one redraw of the 3D view (Qt coalesces several requests into one frame)."""
        self.plotter.update()

    def error(self, message: str) -> None:
        """A dialog; file names and pack strings in `message` are shown as text, never as markup."""
        QtWidgets.QMessageBox.critical(self, "NeedleSafe", as_plain_html(message))

    def stop_workers(self) -> None:
        """Cancel the safety map and wait for both worker threads: a QThread destroyed while it
        runs aborts the whole process, so none may outlive the window."""
        self._closing = True
        for worker in (self._map_worker, self._shell_worker):
            if worker is not None:
                worker.cancel()
        self._finish_map_worker()  # waits, hides the progress dialog
        worker, self._shell_worker = self._shell_worker, None
        if worker is not None:
            worker.wait()

    def closeEvent(self, event):  # noqa: N802 - Qt override
        self.stop_workers()
        self.plotter.close()
        super().closeEvent(event)


class ExercisePanel(QtWidgets.QWidget):
    """Exercise title, teaching text and source, the student's name, Check attempt, feedback."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        self.title = QtWidgets.QLabel("")
        f = self.title.font()
        f.setBold(True)
        f.setPointSize(f.pointSize() + 2)
        self.title.setFont(f)
        self.title.setWordWrap(True)
        self.teaching = QtWidgets.QLabel("")
        self.teaching.setWordWrap(True)
        self.source = QtWidgets.QLabel("")
        self.source.setWordWrap(True)
        self.source.setStyleSheet("color: #555555; font-size: 9pt;")
        for w in (self.title, self.teaching, self.source):
            w.setTextFormat(QtCore.Qt.PlainText)  # exercise strings are text, never markup
            w.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
            # the text takes the width it is given and wraps to it (never wider than the dock)
            w.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.student = QtWidgets.QLineEdit()
        self.student.setPlaceholderText("student name")
        self.check = QtWidgets.QPushButton("Check attempt")
        self.result = QtWidgets.QTextBrowser()
        self.result.setMinimumHeight(160)
        # the teaching text scrolls when the dock is short: it is never cut off
        text = QtWidgets.QWidget()
        text_layout = QtWidgets.QVBoxLayout(text)
        text_layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.title, self.teaching, self.source):
            text_layout.addWidget(w)
        text_layout.addStretch(1)
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setObjectName("exercise_text")
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        self.scroll.setFrameShape(QtWidgets.QFrame.NoFrame)
        self.scroll.setWidget(text)
        layout.addWidget(self.scroll, 2)
        for w in (self.student, self.check):
            layout.addWidget(w)
        layout.addWidget(self.result, 1)

    def show_exercise(self, ex):
        self.title.setText(ex.title)
        self.teaching.setText(ex.teaching)
        self.source.setText(f"Source: {ex.source}" if ex.source else "")
        self.result.setPlainText(
            f"Target: {ex.target_name} (within {ex.tolerance_mm:.0f} mm). "
            f"Needle {ex.needle_gauge_mm:.2f} × {ex.needle_length_mm:.0f} mm."
        )

    def show_score(self, score):
        verdict = "PASSED" if score.passed else "NOT PASSED"
        colour = STATUS_COLOUR["safe"] if score.passed else STATUS_COLOUR["danger"]
        import html

        items = "".join(f"<li>{html.escape(line)}</li>" for line in score.feedback)
        self.result.setHtml(
            f"<p style='background:{colour}; color:black; padding:4px'><b>{score.score}/100 — {verdict}</b></p>"
            f"<ul>{items}</ul>"
        )


class ReviewDialog(QtWidgets.QDialog):
    """An instructor's view of an attempt log: a table, a summary per exercise, replay, CSV export."""

    replay = QtCore.Signal(dict)

    def __init__(self, attempts, problems, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Review attempts")
        self.resize(900, 500)
        self.attempts = attempts
        layout = QtWidgets.QVBoxLayout(self)
        self.table = QtWidgets.QTableWidget(len(attempts), 6)
        self.table.setHorizontalHeaderLabels(["time", "student", "exercise", "score", "passed", "level"])
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        for i, a in enumerate(attempts):
            s = a["score"]
            for j, text in enumerate([a.get("time", ""), a.get("student", ""), a["exercise"], str(s["score"]),
                                      "yes" if s.get("passed") else "no", a.get("level", "")]):
                self.table.setItem(i, j, QtWidgets.QTableWidgetItem(text))
        self.table.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeToContents)
        layout.addWidget(self.table, 1)
        lines = [f"{ex}: {v['attempts']} attempts, {v['passed']} passed, best {v['best']}, mean {v['mean']:.0f}"
                 for ex, v in summary(attempts).items()]
        self.summary = QtWidgets.QLabel("\n".join(lines) or "no attempts")
        self.summary.setTextFormat(QtCore.Qt.PlainText)
        layout.addWidget(self.summary)
        if problems:
            warn = QtWidgets.QLabel(f"{len(problems)} damaged line(s) skipped: " + "; ".join(problems[:3]))
            warn.setTextFormat(QtCore.Qt.PlainText)
            warn.setWordWrap(True)
            warn.setStyleSheet("color: #D55E00;")
            layout.addWidget(warn)
        buttons = QtWidgets.QHBoxLayout()
        self.replay_button = QtWidgets.QPushButton("Replay in 3D")
        self.replay_button.clicked.connect(self._replay)
        self.export_button = QtWidgets.QPushButton("Export CSV…")
        self.export_button.clicked.connect(self._export_dialog)
        buttons.addWidget(self.replay_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

    def _replay(self):
        row = self.table.currentRow()
        if 0 <= row < len(self.attempts):
            self.replay.emit(self.attempts[row])

    def _export_dialog(self):
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export attempts", "attempts.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path) -> bool:
        from needlesafe.meshes.io import atomic_write_text

        try:
            if Path(path).is_dir():
                raise OSError(f"{path} is a folder")
            atomic_write_text(Path(path), attempts_csv(self.attempts))
        except OSError as exc:
            QtWidgets.QMessageBox.critical(self, "NeedleSafe", as_plain_html(f"Could not write the CSV file:\n{exc}"))
            return False
        return True


class MapWorker(QtCore.QThread):
    """Computes a safety map off the GUI thread, reporting progress; cancel() stops it between chunks."""

    progress = QtCore.Signal(int)
    finished_map = QtCore.Signal(object)
    failed = QtCore.Signal(str)  # "" when cancelled

    def __init__(self, engine, direction, gauge_mm, parent=None):
        super().__init__(parent)
        self.engine, self.direction, self.gauge_mm = engine, direction, gauge_mm
        self._cancel = False

    def cancel(self):
        self._cancel = True

    def run(self):
        from needlesafe.geometry.safety_map import compute_safety_map

        def report(fraction):
            self.progress.emit(int(100 * fraction))
            return not self._cancel

        try:
            smap = compute_safety_map(self.engine, self.direction, self.gauge_mm, progress=report)
        except InterruptedError:
            self.failed.emit("")
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user as a dialog, never a traceback
            self.failed.emit(str(exc))
            return
        self.finished_map.emit(smap)


class ShellWorker(QtCore.QThread):
    """Computes danger shells (margin offset surfaces) off the GUI thread."""

    done = QtCore.Signal(dict)

    def __init__(self, structures, source: str, parent=None):
        super().__init__(parent)
        self.structures, self.source = structures, source
        self._cancel = False

    def cancel(self):
        self._cancel = True

    def run(self):
        shells = {}
        for name, v, f, margin in self.structures:
            if self._cancel:
                return
            try:
                shells[name] = offset_surface(v, f, max(margin, 0.5))
            except Exception:  # noqa: BLE001 - a shell that cannot be built is just not drawn
                continue
        self.done.emit(shells)


def binding_warning(qt_version: str | None = None, python=None) -> str | None:
    """A warning when the installed PySide6 is one known to crash the window, else None.

    PySide6 6.12 drops a reference to None or True on every Python override of a Qt virtual; on
    Python < 3.12 (where those objects are not immortal) the window aborts after a few hundred
    needle moves. pyproject.toml excludes it; this catches an environment that installed it anyway.
    """
    import PySide6

    qt_version = qt_version or PySide6.__version__
    python = python or sys.version_info
    parts = tuple(int(x) for x in qt_version.split(".")[:2] if x.isdigit())
    if parts == (6, 12) and tuple(python[:2]) < (3, 12):
        return (f"PySide6 {qt_version} has a reference-counting bug that makes this window crash after a few "
                "hundred needle moves on Python < 3.12. Install another version: "
                "pip install 'PySide6-Essentials>=6.6,!=6.12.*'")
    return None


def run(pack="default") -> int:
    """Open the main window on `pack` and run the event loop."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    warning = binding_warning()
    if warning:
        print(f"needlesafe: warning: {warning}", file=sys.stderr)
        QtWidgets.QMessageBox.warning(None, "NeedleSafe", warning)
    # the first start compiles the engine and builds the region: say so instead of showing nothing
    pix = QtGui.QPixmap(520, 120)
    pix.fill(QtGui.QColor("#f4f1ea"))
    splash = QtWidgets.QSplashScreen(pix)
    splash.showMessage(
        f"NeedleSafe — {DISCLAIMER}\n\nOpening {pack} (the first start also prepares the engine)…",
        QtCore.Qt.AlignCenter, QtGui.QColor("black"),
    )
    splash.show()
    app.processEvents()
    win = MainWindow(pack)
    win.show()
    splash.finish(win)
    return app.exec()
