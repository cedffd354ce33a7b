"""The review dialog on a class folder, in the real window: metrics per attempt, learning curves,
the class table with common mistakes, triage answers, the gradebook export; a screenshot of each tab."""
import csv
import io
import json
import os
from pathlib import Path

from PySide6 import QtWidgets

from ..app.test_gradebook import ANN, BO


def class_folder(tmp_path) -> Path:
    d = tmp_path / "class"
    d.mkdir()
    ann = ANN + [json.loads(json.dumps(ANN[0]))]  # a fourth attempt: 4 points on Ann's curve
    (d / "Ann.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ann))
    triage = {"kind": "triage", "student": "Bo", "case": "tingling-fourth-fifth-fingers", "answer": "reassure",
              "correct_action": "refer", "score": {"score": 0, "passed": False, "verdict": "under-triaged",
                                                   "feedback": []}}
    (d / "Bo.jsonl").write_text(json.dumps(BO[0]) + "\n{damaged\n" + json.dumps(triage) + "\n")
    return d


def test_review_a_class_folder(window, qtbot, tmp_path):
    shots = Path(os.environ.get("NEEDLESAFE_SCREENSHOTS", tmp_path))
    dlg = window.exercises.review(class_folder(tmp_path))
    qtbot.addWidget(dlg)
    qtbot.waitExposed(dlg)
    assert dlg.is_class and dlg.tabs.currentIndex() == dlg.class_tab
    # the class: one row per student and exercise, with the common mistakes
    ct = dlg.class_table
    assert ct.rowCount() == 2
    rows = [[ct.item(i, j).text() for j in range(ct.columnCount())] for i in range(2)]
    assert rows[0][:6] == ["Ann", "gluteal-piriformis", "4", "75 %", "100", "85"]
    assert "nerve contact (1×)" in rows[0][7] and rows[1][0] == "Bo" and "Target missed" in rows[1][7]
    dlg.grab().save(str(shots / "review_class.png"))
    # attempts with their metrics; Bo's damaged line is reported
    t = dlg.table
    assert t.rowCount() == 5
    header = [t.horizontalHeaderItem(j).text() for j in range(t.columnCount())]
    row = {h: t.item(1, j).text() for j, h in enumerate(header)}
    assert row["redirections"] == "3" and row["depth error (mm)"] == "+6.00" and row["first pass"] == "no"
    assert row["closest approach (mm)"] == "3.25 sciatic_nerve" and row["events"] == "nerve contact ×1"
    assert any("line 2" in w.text() for w in dlg.findChildren(QtWidgets.QLabel))
    dlg.tabs.setCurrentIndex(0)
    dlg.grab().save(str(shots / "review_attempts.png"))
    # learning curves, made when first shown: 4 scores for Ann, 3 times (the old record has none)
    assert dlg.score_plot is None
    dlg.show_curves("Ann", "gluteal-piriformis", "time_s")
    xs, ys = dlg.score_curve.getData()
    assert list(xs) == [1, 2, 3, 4] and list(ys) == [100, 50, 90, 100]
    xs, ys = dlg.metric_curve.getData()
    assert list(xs) == [1, 2, 4] and list(ys) == [12.0, 30.5, 12.0]
    dlg.show_curves("Bo", "shoulder-upper-trapezius", "depth_error_mm")
    assert len(dlg.score_curve.getData()[0]) == 1 and list(dlg.metric_curve.getData()[1]) == [1.0]
    dlg.show_curves("Ann", "gluteal-piriformis", "redirections")
    qtbot.wait(50)
    dlg.grab().save(str(shots / "review.png"))
    dlg.grab().save("/tmp/review.png")
    # triage answers
    tt = dlg.triage_table
    assert tt.rowCount() == 1 and tt.item(0, 3).text() == "reassure" and tt.item(0, 6).text() == "under-triaged"
    dlg.tabs.setCurrentIndex(3)
    dlg.grab().save(str(shots / "review_triage.png"))
    # the gradebook
    assert dlg.export_gradebook(tmp_path / "grades.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "grades.csv").read_text())))
    assert [r["row_type"] for r in rows].count("exercise") == 2 and len(rows) == 7
    dlg.close()


def test_review_a_single_log_keeps_its_table(window, qtbot, tmp_path):
    log = tmp_path / "Ann.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in ANN))
    dlg = window.exercises.review(log)
    qtbot.addWidget(dlg)
    assert not dlg.is_class and dlg.tabs.currentIndex() == 0 and dlg.table.rowCount() == 3
    assert "3 attempts, 2 passed" in dlg.summary.text() and dlg.class_table.rowCount() == 1
    dlg.close()


def test_a_checked_attempt_shows_and_logs_its_metrics(window, qtbot, tmp_path, monkeypatch):
    from needlesafe.app.attempt_log import log_path, read_attempts
    from needlesafe.app.exercises import builtin_exercises

    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    path = next(p for p in builtin_exercises() if p.stem == "gluteal-piriformis")
    assert window.exercises.start(path)
    start = window.needle
    window.session.set_depth(20.0)
    window.exercise_panel.student.setText("Cy")
    window.exercises.check()
    text = window.exercise_panel.result.toPlainText()
    assert "Metrics: not a first pass, 0 redirection(s)" in text and "path in tissue 20.00 mm" in text
    rec = read_attempts(log_path("Cy"))[0][0]
    assert rec["metrics"]["path_mm"] == 20.0 and rec["metrics"]["redirections"] == 0
    assert rec["metrics"]["depth_error_mm"] < 0 and start.depth_mm == 0.0
