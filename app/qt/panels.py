"""The window's panels: the clearance readout (table, sentences, plot), the exercise panel, the layers
tree and the compare table. Each shows what the session holds; every number comes from a report and
every sentence from `readout`."""
from __future__ import annotations

import html

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from needlesafe.geometry.report import format_mm as _mm
from needlesafe.meshes.types import ROLES

from .. import readout
from ..report_html import clearance_scale, off_scale_at
from ..theme import BONE_LABEL_COLOUR, BONE_LINE_COLOUR, LEVEL_COLOUR, MUTED_TEXT, PALETTE


class ClearancePanel(QtWidgets.QWidget):
    """Read-only view of a ClearanceReport: one row per critical structure, safe depth, bracketing."""

    PALETTE = PALETTE  # plot curves, in order

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
        self.table.setHorizontalHeaderLabels(list(readout.STRUCTURE_HEADERS))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.Stretch)
        self.fit_columns()
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        layout.addWidget(self.table, 1)
        self.needle_label = QtWidgets.QLabel("")
        self.safe_depth = QtWidgets.QLabel("")
        self.published = QtWidgets.QLabel("")  # what real patients measure at this site (anatomy_facts.md)
        self.published.setStyleSheet(f"color: {MUTED_TEXT};")
        self.bracketing = QtWidgets.QLabel("")
        self.path = QtWidgets.QLabel("")
        for w in (self.needle_label, self.safe_depth, self.published, self.bracketing, self.path):
            w.setTextFormat(QtCore.Qt.PlainText)  # pack strings are shown as they are, never as markup
            w.setWordWrap(True)
            # the table and the plot give way when the dock is short; the sentences never do
            w.setSizePolicy(QtWidgets.QSizePolicy.Preferred, QtWidgets.QSizePolicy.Minimum)
            layout.addWidget(w)
        self.path.setMinimumHeight(2 * self.path.fontMetrics().lineSpacing() + 4)  # the longest, often 2 lines
        # the plot (pyqtgraph, 0.3 s to import) is made with the first profile, after the first frame
        self._plot = None
        self._plot_slot = QtWidgets.QWidget()
        self._plot_slot.setMinimumHeight(200)
        layout.addWidget(self._plot_slot, 1)
        # the legend is a line under the plot, never over its curves
        self.legend = QtWidgets.QLabel("")
        self.legend.setObjectName("plot_legend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(QtCore.Qt.RichText)
        self.legend.setSizePolicy(QtWidgets.QSizePolicy.Preferred, QtWidgets.QSizePolicy.Minimum)
        layout.addWidget(self.legend)
        self.report = None
        self.curves = {}

    def fit_columns(self) -> None:
        """Fixed widths that fit the widest cell each number column can hold, in the table's font
        (again when the font changes): resizing to the contents would measure every row again on
        every needle move (3 ms a move with 18 structures)."""
        header = self.table.horizontalHeader()
        metrics = QtGui.QFontMetrics(self.table.font())
        for col, text in zip((1, 2, 3), ("shaft mm", "tip mm", "UNKNOWN"), strict=True):
            width = max(metrics.horizontalAdvance(text), metrics.horizontalAdvance("0000.00"))
            header.setSectionResizeMode(col, QtWidgets.QHeaderView.Fixed)
            header.resizeSection(col, width + 18)

    @property
    def plot(self):
        """The clearance-against-depth plot (a pyqtgraph `PlotWidget`), made on first use."""
        if self._plot is None:
            self._make_plot()
        return self._plot

    def _make_plot(self) -> None:
        import pyqtgraph as pg

        layout = self.layout()
        self._plot = pg.PlotWidget(background="w")
        self.plot.setObjectName("clearance_plot")
        self.plot.setLabel("bottom", "insertion depth", units="mm")
        self.plot.setLabel("left", "clearance", units="mm")
        self.plot.setMinimumHeight(200)
        layout.replaceWidget(self._plot_slot, self._plot)
        self._plot_slot.deleteLater()
        self._shown_curves, self._ranges, self._top = None, None, 1.0
        self._mark_at = [None] * len(self.PALETTE)
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
        self._safe_line = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(LEVEL_COLOUR["safe"], style=QtCore.Qt.DotLine))
        # where the needle's line enters a bone: the needle cannot go deeper (a firm stop)
        self._bone_line = pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen(BONE_LINE_COLOUR, width=3),
                                          label="bone", labelOpts={"position": 0.9, "color": BONE_LABEL_COLOUR})
        self.plot.addItem(self._depth_line)
        self.plot.addItem(self._safe_line)
        self.plot.addItem(self._bone_line)

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
        if self._plot is None:
            self._make_plot()
        if curves is not self._shown_curves:  # a new line; a move along the same line moves the marks only
            self._shown_curves = curves
            self._draw_curves(depths, curves, report)
        n = report.needle
        self._depth_line.setValue(n.depth_mm)
        safe = report.path.safe_depth_mm
        self._safe_line.setVisible(safe is not None)
        bone = report.path.bone_stop_mm
        self._bone_line.setVisible(bone is not None)
        if bone is not None:
            self._bone_line.setValue(bone)
        if safe is not None:
            self._safe_line.setValue(safe)
        ranges = (n.length_mm, self._top)
        if ranges != self._ranges:
            self._ranges = ranges
            self.plot.setXRange(0, n.length_mm, padding=0.02)
            self.plot.setYRange(0, self._top, padding=0.05)

    def _draw_curves(self, depths, curves: dict, report) -> None:
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
                    at = (float(depths[off_scale_at(y, top)]), float(top))
                    if self._mark_at[k] != at:
                        self._mark_at[k] = at
                        self._marks[k].setData([at[0]], [at[1]])
                    self._marks[k].setVisible(True)
                    mark = f"&nbsp;(▲&nbsp;up&nbsp;to&nbsp;{_mm(off_names[r.name][0], 0)}&nbsp;mm)"
                elif self._marks[k].isVisible():
                    self._marks[k].setVisible(False)  # hidden, not emptied: nothing to paint or reset
                entries.append(f"<span style='color:{self.PALETTE[k]}'>■■</span>&nbsp;{html.escape(r.name)}{mark}")
            elif curve.isVisible():
                curve.setData([], [])
                self._marks[k].setVisible(False)
            if curve.isVisible() != (k < len(rows)):
                curve.setVisible(k < len(rows))
                margin.setVisible(k < len(rows))
        self._top = top
        self.off_scale = off
        self._text(self.legend, " &nbsp; ".join(entries))

    @staticmethod
    def _text(label, text: str) -> None:
        """Set a label's text only when it changes: each set lays the panel out again."""
        if label.text() != text:
            label.setText(text)

    @staticmethod
    def _style(widget, sheet: str) -> None:
        """Set a style sheet only when it changes: each set re-polishes the widget."""
        if widget.styleSheet() != sheet:
            widget.setStyleSheet(sheet)

    def show_preparing(self) -> None:
        """No report yet (a cold start draws the anatomy before the engine is ready): UNKNOWN, in
        the danger colour, never an empty or safe-looking panel."""
        self.report = None
        self.table.setRowCount(0)
        self.overall.setText(readout.PREPARING)
        self._style(self.overall, f"background:{LEVEL_COLOUR['unknown']}; color:black; padding:4px;")
        for w in (self.needle_label, self.safe_depth, self.published, self.bracketing, self.path):
            w.setText("")

    def show_report(self, report, scene=None) -> None:
        """The report's level, table and sentences; with `scene`, the published depths at its site."""
        self.show_level(report)
        self.show_details(report, scene)

    def show_level(self, report) -> None:
        """The overall level in its colour (a drag shows it every frame, see `Readouts`)."""
        self._text(self.overall, readout.overall_sentence(report))
        self._style(self.overall, f"background:{LEVEL_COLOUR[report.level]}; color:black; padding:4px;")

    def show_details(self, report, scene=None) -> None:
        """The report's table and sentences; with `scene`, the published depths at its site."""
        self.report = report
        rows = readout.rows_by_danger(report)
        self.table.setRowCount(len(rows))  # the cells that change are repainted once, in one pass
        for i, r in enumerate(rows):
            for j, text in enumerate(readout.structure_cells(r)):
                item = self.table.item(i, j)
                if item is None:  # made once per row; a move only changes texts and colours
                    item = QtWidgets.QTableWidgetItem(text)
                    if j == 3:
                        item.setForeground(QtGui.QColor("black"))
                    if j in (1, 2):
                        item.setTextAlignment(QtCore.Qt.AlignRight | QtCore.Qt.AlignVCenter)
                    self.table.setItem(i, j, item)
                elif item.text() != text:
                    item.setText(text)
                if j == 3 and item.data(QtCore.Qt.UserRole) != r.level:
                    item.setData(QtCore.Qt.UserRole, r.level)
                    item.setBackground(QtGui.QColor(LEVEL_COLOUR[r.level]))
        lvl = report.level
        self._text(self.needle_label, readout.needle_sentence(report))
        self._text(self.safe_depth, readout.safe_depth_sentence(report))
        published = readout.published_sentence(report, scene)
        self._text(self.published, published)
        self.published.setVisible(bool(published))
        if lvl == "unknown" or report.path.safe_depth_mm is None:
            self._style(self.safe_depth, f"background:{LEVEL_COLOUR['unknown']}; color:black; padding:2px;")
        else:
            self._style(self.safe_depth, "")
        self._text(self.bracketing, readout.bracketing_sentence(report))
        self._text(self.path, readout.path_sentence(report))


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
        self.source.setStyleSheet(f"color: {MUTED_TEXT}; font-size: 9pt;")
        self.benchmark = QtWidgets.QLabel("")  # a published figure the exercise rests on, with its source
        self.benchmark.setWordWrap(True)
        for w in (self.title, self.teaching, self.benchmark, self.source):
            w.setTextFormat(QtCore.Qt.PlainText)  # exercise strings are text, never markup
            w.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
            # the text takes the width it is given and wraps to it (never wider than the dock)
            w.setSizePolicy(QtWidgets.QSizePolicy.Ignored, QtWidgets.QSizePolicy.Preferred)
        self.student = QtWidgets.QLineEdit()
        self.student.setPlaceholderText("student name")
        self.check = QtWidgets.QPushButton("Check attempt")
        self.decline = QtWidgets.QPushButton("Do not needle here…")
        self.decline.setToolTip("Decline to needle this patient here, and say why")
        self.result = QtWidgets.QTextBrowser()
        self.result.setMinimumHeight(160)
        # the teaching text scrolls when the dock is short: it is never cut off
        text = QtWidgets.QWidget()
        text_layout = QtWidgets.QVBoxLayout(text)
        text_layout.setContentsMargins(0, 0, 0, 0)
        for w in (self.title, self.teaching, self.benchmark, self.source):
            text_layout.addWidget(w)
        text_layout.addStretch(1)
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setObjectName("exercise_text")
        self.scroll.setWidgetResizable(True)
        self.scroll.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        self.scroll.setFrameShape(QtWidgets.QFrame.NoFrame)
        self.scroll.setWidget(text)
        layout.addWidget(self.scroll, 2)
        layout.addWidget(self.student)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.check, 1)
        buttons.addWidget(self.decline, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.result, 1)

    def show_exercise(self, ex):
        self.title.setText(ex.title)
        # a decline exercise's teaching gives its answer away: it is shown once the student has answered
        self._teaching_after = ex.teaching if getattr(ex, "decline_expected", False) else ""
        self.teaching.setText("Assess the site before you needle: the teaching for it follows your answer."
                              if self._teaching_after else ex.teaching)
        self.source.setText(f"Source: {ex.source}" if ex.source else "")
        bench = getattr(ex, "benchmark", "")
        self.benchmark.setText(f"Published benchmark: {bench}" if bench else "")
        self.benchmark.setVisible(bool(bench))
        self.result.setPlainText(
            f"Target: {ex.target_name} (within {ex.tolerance_mm:.0f} mm). "
            f"Needle {ex.needle_gauge_mm:.2f} × {ex.needle_length_mm:.0f} mm. "
            "Needle it, or, if it is not safe here, press Do not needle here… and say why."
        )

    def show_score(self, score):
        verdict = "PASSED" if score.passed else "NOT PASSED"
        if getattr(score, "declined", None):
            verdict += ": declined to needle"
        colour = LEVEL_COLOUR["safe"] if score.passed else LEVEL_COLOUR["danger"]
        items = "".join(f"<li>{html.escape(line)}</li>" for line in score.feedback)
        if getattr(self, "_teaching_after", ""):
            self.teaching.setText(self._teaching_after)
        self.result.setHtml(
            f"<p style='background:{colour}; color:black; padding:4px'><b>{score.score}/100 — {verdict}</b></p>"
            f"<ul>{items}</ul>"
        )


class _WrappedNames(QtWidgets.QStyledItemDelegate):
    """Rows as tall as their wrapped name: long atlas names wrap inside the dock, never cut off."""

    CHECK_BOX_PX = 28

    def __init__(self, tree):
        super().__init__(tree)
        self.tree = tree

    def sizeHint(self, option, index):  # noqa: N802 - Qt override
        size = super().sizeHint(option, index)
        depth = 1 if index.parent().isValid() else 0
        width = max(20, self.tree.columnWidth(0) - self.tree.indentation() * (depth + 1) - self.CHECK_BOX_PX)
        text = option.fontMetrics.boundingRect(QtCore.QRect(0, 0, width, 10_000), QtCore.Qt.TextWordWrap,
                                               str(index.data()))
        size.setHeight(max(size.height(), text.height() + 4))
        return size


class LayersPanel(QtWidgets.QTreeWidget):
    """Structures by role, each with a visibility check box and an opacity slider. Emits
    `visibility(name, on)` and `opacity(name, value 0-1)`."""

    visibility = QtCore.Signal(str, bool)
    opacity = QtCore.Signal(str, float)
    EXPANDED = ("nerve", "pleura", "vessel")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderLabels(["structure", "opacity"])
        self.setWordWrap(True)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarAlwaysOff)
        self.setItemDelegateForColumn(0, _WrappedNames(self))
        self.header().sectionResized.connect(lambda *_: self.scheduleDelayedItemsLayout())
        self.itemChanged.connect(self._on_item_changed)
        self._sliders: list[tuple[QtWidgets.QTreeWidgetItem, QtWidgets.QSlider]] = []

    def _drop_sliders(self) -> None:
        """Take the old sliders back from the tree and let them go: item widgets the tree deletes on
        its own leave their Python wrappers behind (41 per region switch)."""
        for item, slider in self._sliders:
            self.removeItemWidget(item, 1)
            slider.setParent(None)
            slider.deleteLater()
        self._sliders = []

    def fill(self, scene, opacities: dict) -> None:
        """One group per role present in `scene`; `opacities` maps structure name -> 0..1."""
        self.blockSignals(True)
        self._drop_sliders()
        self.clear()
        for role in ROLES:
            members = [s for s in scene.structures if s.role == role]
            if not members:
                continue
            parent = QtWidgets.QTreeWidgetItem(self, [role, ""])
            parent.setFlags(parent.flags() | QtCore.Qt.ItemIsUserCheckable | QtCore.Qt.ItemIsAutoTristate)
            parent.setCheckState(0, QtCore.Qt.Checked)
            for s in members:
                item = QtWidgets.QTreeWidgetItem(parent, [readout.structure_label(s.name), ""])
                item.setData(0, QtCore.Qt.UserRole, s.name)
                item.setToolTip(0, s.name)
                item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
                item.setCheckState(0, QtCore.Qt.Checked)
                slider = QtWidgets.QSlider(QtCore.Qt.Horizontal)
                slider.setObjectName(f"opacity:{s.name}")
                slider.setFixedWidth(64)
                slider.setRange(0, 100)
                slider.setValue(int(round(100 * opacities.get(s.name, 1.0))))
                slider.valueChanged.connect(self._on_slider)
                self.setItemWidget(item, 1, slider)
                self._sliders.append((item, slider))
            parent.setExpanded(role in self.EXPANDED)
        self.blockSignals(False)
        # long atlas names wrap inside the dock instead of running off its edge
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(0, QtWidgets.QHeaderView.Stretch)
        self.header().setSectionResizeMode(1, QtWidgets.QHeaderView.Fixed)
        self.setColumnWidth(1, 70)

    def _on_slider(self, value: int) -> None:
        name = self.sender().objectName().partition(":")[2]
        self.opacity.emit(name, value / 100.0)

    def _on_item_changed(self, item, _column) -> None:
        name = item.data(0, QtCore.Qt.UserRole)
        if name:
            self.visibility.emit(name, item.checkState(0) == QtCore.Qt.Checked)


class ComparePanel(QtWidgets.QTableWidget):
    """The current needle and the pinned ones side by side (`Session.compare_rows`)."""

    def __init__(self, parent=None):
        super().__init__(0, len(readout.COMPARE_HEADERS), parent)
        self.setHorizontalHeaderLabels(list(readout.COMPARE_HEADERS))
        self.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setStretchLastSection(True)

    def show_rows(self, rows) -> None:
        self.setRowCount(len(rows))
        for i, (level, cells) in enumerate(rows):
            for j, text in enumerate(cells):
                item = QtWidgets.QTableWidgetItem(text)
                if j == 1:
                    item.setBackground(QtGui.QColor(LEVEL_COLOUR[level]))
                    item.setForeground(QtGui.QColor("black"))
                self.setItem(i, j, item)
        self.resizeColumnsToContents()
