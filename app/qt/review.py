"""The attempt review: an instructor's view of one student's log or of a class folder of logs.

Tabs: the attempts with their grading metrics (replay one in 3D, export CSV or the gradebook); the
learning curves of a student on an exercise (score and one chosen metric against the attempt
number, pyqtgraph, made when first shown); the class (per student and exercise: attempts, pass rate,
best, mean, common mistakes); the triage answers. The numbers come from app/attempt_log.py.
"""
from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from needlesafe.meshes.io import atomic_write_text

from ..attempt_log import (
    CURVE_METRICS,
    attempts_csv,
    common_mistakes,
    gradebook_csv,
    gradebook_rows,
    learning_curve,
    summary,
)
from ..theme import LEVEL_COLOUR

ATTEMPT_COLUMNS = ["when (UTC)", "student", "exercise", "score", "passed", "level", "first pass", "redirections",
                   "time (s)", "depth error (mm)", "angle error (°)", "path (mm)", "in margin (s)",
                   "deepest intrusion (mm)", "closest approach (mm)", "events"]
CLASS_COLUMNS = ["student", "exercise", "attempts", "pass rate", "best", "mean", "first-pass rate", "common mistakes"]
TRIAGE_COLUMNS = ["when (UTC)", "student", "case", "answered", "right answer", "score", "verdict"]


def short_time(iso: str) -> str:
    """'2026-11-25T01:00:00+00:00' as '2026-11-25 01:00' (the log's times are UTC)."""
    return iso[:16].replace("T", " ") if isinstance(iso, str) and len(iso) >= 16 and iso[10:11] == "T" else str(iso)


def _num(v, fmt="{:.2f}") -> str:
    return "" if v is None else fmt.format(v)


def attempt_cells(a: dict) -> list[str]:
    """The table row of one attempt: the score, then its metrics (blank where not recorded)."""
    s = a["score"]
    m = a.get("metrics") if isinstance(a.get("metrics"), dict) else {}
    near = m.get("near_misses") or {}
    closest = min(near.items(), key=lambda kv: kv[1]) if near else None
    events = m.get("events") or {}
    if not events and a.get("events"):
        for e in a["events"]:
            events[e["kind"]] = events.get(e["kind"], 0) + 1
    red = m.get("redirections", s.get("redirections"))
    return [short_time(a.get("time", "")), str(a.get("student", "")), a["exercise"], str(s["score"]),
            "yes" if s.get("passed") else "no",
            f"declined: {a['declined']}" if a.get("declined") else a.get("level", ""),
            "" if "first_pass" not in m else ("yes" if m["first_pass"] else "no"),
            "" if red is None else str(red), _num(m.get("time_s")), _num(m.get("depth_error_mm"), "{:+.2f}"),
            _num(m.get("angle_error_deg")), _num(m.get("path_mm")), _num(m.get("margin_time_s")),
            _num(m.get("deepest_intrusion_mm")), "" if closest is None else f"{closest[1]:.2f} {closest[0]}",
            ", ".join(f"{k.replace('_', ' ')} ×{v}" for k, v in sorted(events.items()))]


def _table(rows: list[list[str]], columns: list[str]) -> QtWidgets.QTableWidget:
    t = QtWidgets.QTableWidget(len(rows), len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
    t.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
    t.setWordWrap(False)
    for i, cells in enumerate(rows):
        for j, text in enumerate(cells):
            item = QtWidgets.QTableWidgetItem(text)
            item.setToolTip(text)
            t.setItem(i, j, item)
    t.horizontalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeToContents)
    t.verticalHeader().setVisible(False)
    return t


class ReviewDialog(QtWidgets.QDialog):
    """An instructor's view of attempt logs: attempts and metrics, learning curves, the class, triage."""

    replay = QtCore.Signal(dict)

    def __init__(self, attempts, problems, parent=None, answers=(), source=None):
        super().__init__(parent)
        self.attempts, self.answers = list(attempts), list(answers)
        self.is_class = source is not None and Path(source).is_dir()
        self.setWindowTitle(f"Review attempts — {Path(source).name}" if source else "Review attempts")
        self.resize(1100, 620)
        layout = QtWidgets.QVBoxLayout(self)
        self.tabs = QtWidgets.QTabWidget()
        layout.addWidget(self.tabs, 1)

        # attempts and their metrics
        page = QtWidgets.QWidget()
        lay = QtWidgets.QVBoxLayout(page)
        self.table = _table([attempt_cells(a) for a in self.attempts], ATTEMPT_COLUMNS)
        lay.addWidget(self.table, 1)
        lines = []
        students = sorted({str(a.get("student", "")) for a in self.attempts})
        for st in students:
            who = f"{st} · " if len(students) > 1 else ""
            mine = [a for a in self.attempts if str(a.get("student", "")) == st]
            lines += [f"{who}{ex}: {v['attempts']} attempts, {v['passed']} passed, best {v['best']}, "
                      f"mean {v['mean']:.0f}" for ex, v in summary(mine).items()]
        more = [f"… {len(lines) - 12} more (see the class tab)"] if len(lines) > 12 else []
        self.summary = QtWidgets.QLabel("\n".join(lines[:12] + more) or "no attempts")
        self.summary.setTextFormat(QtCore.Qt.PlainText)
        lay.addWidget(self.summary)
        buttons = QtWidgets.QHBoxLayout()
        self.replay_button = QtWidgets.QPushButton("Replay in 3D")
        self.replay_button.clicked.connect(self._replay)
        self.export_button = QtWidgets.QPushButton("Export CSV…")
        self.export_button.setToolTip("Every attempt, one row each")
        self.export_button.clicked.connect(lambda: self._save_dialog("attempts.csv", self.export_csv))
        self.gradebook_button = QtWidgets.QPushButton("Export gradebook…")
        self.gradebook_button.setToolTip("One row per student and exercise, then one per attempt, with the metrics")
        self.gradebook_button.clicked.connect(lambda: self._save_dialog("gradebook.csv", self.export_gradebook))
        for b in (self.replay_button, self.export_button, self.gradebook_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        self.tabs.addTab(page, f"Attempts ({len(self.attempts)})")

        # learning curves, made when first shown (pyqtgraph takes a moment to import)
        self.curves_page = QtWidgets.QWidget()
        self.curves_layout = QtWidgets.QVBoxLayout(self.curves_page)
        pick = QtWidgets.QHBoxLayout()
        self.student_box, self.exercise_box, self.metric_box = (QtWidgets.QComboBox() for _ in range(3))
        for label, box in (("Student", self.student_box), ("Exercise", self.exercise_box), ("Metric", self.metric_box)):
            pick.addWidget(QtWidgets.QLabel(label))
            pick.addWidget(box, 1)
        self.student_box.addItems(students)
        for key, label in CURVE_METRICS:
            self.metric_box.addItem(label, key)
        self.curves_layout.addLayout(pick)
        self.score_plot = self.metric_plot = self.score_curve = self.metric_curve = None
        self.student_box.currentIndexChanged.connect(self._fill_exercises)
        self.exercise_box.currentIndexChanged.connect(self.update_curves)
        self.metric_box.currentIndexChanged.connect(self.update_curves)
        self.curves_tab = self.tabs.addTab(self.curves_page, "Learning curves")
        self._fill_exercises()

        # the class: per student and exercise
        groups = [r for r in gradebook_rows(self.attempts) if r["row_type"] == "exercise"]
        rows = []
        for r in groups:
            recs = [a for a in self.attempts if str(a.get("student", "")) == r["student"]
                    and a["exercise"] == r["exercise"]]
            mistakes = "; ".join(f"{t} ({n}×)" for t, n in common_mistakes(recs, 2))
            rows.append([r["student"], r["exercise"], str(r["attempts"]), f"{100 * r['pass_rate']:.0f} %",
                         str(r["best"]), f"{r['mean']:.0f}",
                         "" if r["first_pass_rate"] == "" else f"{100 * r['first_pass_rate']:.0f} %", mistakes])
        self.class_table = _table(rows, CLASS_COLUMNS)
        self.class_table.horizontalHeader().setSectionResizeMode(len(CLASS_COLUMNS) - 1,
                                                                 QtWidgets.QHeaderView.Stretch)
        self.class_tab = self.tabs.addTab(self.class_table, "Class" if self.is_class else "By exercise")

        # triage answers
        tri = []
        for a in self.answers:
            s = a["score"]
            tri.append([short_time(a.get("time", "")), str(a.get("student", "")), a["case"], a["answer"],
                        a["correct_action"], str(s["score"]),
                        str(s.get("verdict", "correct" if s.get("passed") else "wrong"))])
        self.triage_table = _table(tri, TRIAGE_COLUMNS)
        self.tabs.addTab(self.triage_table, f"Triage ({len(self.answers)})")
        if self.is_class:
            self.tabs.setCurrentIndex(self.class_tab)
        self.tabs.currentChanged.connect(lambda i: self.update_curves() if i == self.curves_tab else None)

        if problems:
            warn = QtWidgets.QLabel(f"{len(problems)} damaged line(s) skipped: " + "; ".join(problems[:3]))
            warn.setTextFormat(QtCore.Qt.PlainText)
            warn.setWordWrap(True)
            warn.setStyleSheet(f"color: {LEVEL_COLOUR['danger']};")
            layout.addWidget(warn)

    # ----- learning curves ----------------------------------------------------------------------
    def _fill_exercises(self):
        st = self.student_box.currentText()
        seen = list(dict.fromkeys(a["exercise"] for a in self.attempts if str(a.get("student", "")) == st))
        self.exercise_box.blockSignals(True)
        self.exercise_box.clear()
        self.exercise_box.addItems(seen)
        self.exercise_box.blockSignals(False)
        self.update_curves()

    def _make_plots(self):
        import pyqtgraph as pg

        self.score_plot = pg.PlotWidget(background="w")
        self.metric_plot = pg.PlotWidget(background="w")
        for plot, label in ((self.score_plot, "score"), (self.metric_plot, "")):
            plot.setLabel("bottom", "attempt")
            plot.setLabel("left", label)
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setMouseEnabled(x=False, y=False)
            self.curves_layout.addWidget(plot, 1)
        self.score_plot.setYRange(0, 100)
        pen = pg.mkPen("#1f5fa8", width=2)
        self.score_curve = self.score_plot.plot([], [], pen=pen, symbol="o", symbolBrush="#1f5fa8", symbolSize=8)
        self.metric_curve = self.metric_plot.plot([], [], pen=pg.mkPen("#b35a00", width=2), symbol="s",
                                                  symbolBrush="#b35a00", symbolSize=8)

    def update_curves(self, *_):
        """Plot the chosen student's score and metric on the chosen exercise (only once the tab has
        been shown: the plots are made then)."""
        if self.score_plot is None:
            if self.tabs.currentIndex() != self.curves_tab:
                return
            self._make_plots()
        st, ex = self.student_box.currentText(), self.exercise_box.currentText()
        key = self.metric_box.currentData()
        xs, ys = learning_curve(self.attempts, st, ex, "score")
        self.score_curve.setData(xs, ys)
        self.metric_curve.setData(*learning_curve(self.attempts, st, ex, key))
        self.metric_plot.setLabel("left", self.metric_box.currentText())
        n = max(len(xs), 1)
        for plot in (self.score_plot, self.metric_plot):  # whole attempt numbers
            plot.getAxis("bottom").setTickSpacing(max(1, round(n / 10)), max(1, round(n / 10)))
            plot.setXRange(0.5, n + 0.5, padding=0)
        self.score_plot.setTitle(f"{st} · {ex}" if st else "no attempts", color="#222")

    def show_curves(self, student: str, exercise: str, metric: str = "time_s") -> None:
        """Open the curves tab on `student`, `exercise` and `metric` (a CURVE_METRICS key)."""
        self.tabs.setCurrentIndex(self.curves_tab)
        self.student_box.setCurrentText(student)
        self.exercise_box.setCurrentText(exercise)
        self.metric_box.setCurrentIndex(max(0, self.metric_box.findData(metric)))
        self.update_curves()

    # ----- replay and export --------------------------------------------------------------------
    def _replay(self):
        row = self.table.currentRow()
        if 0 <= row < len(self.attempts):
            self.replay.emit(self.attempts[row])

    def _save_dialog(self, name, save):
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export", name, "CSV (*.csv)")
        if path:
            save(path)

    def _write(self, path, text) -> bool:
        from .dialogs import error

        try:
            if Path(path).is_dir():
                raise OSError(f"{path} is a folder")
            atomic_write_text(Path(path), text)
        except OSError as exc:
            error(self, f"Could not write the CSV file:\n{exc}")
            return False
        return True

    def export_csv(self, path) -> bool:
        """Every attempt, one row each (app/attempt_log.py `attempts_csv`)."""
        return self._write(path, attempts_csv(self.attempts))

    def export_gradebook(self, path) -> bool:
        """The gradebook (app/attempt_log.py `gradebook_csv`)."""
        return self._write(path, gradebook_csv(self.attempts))
