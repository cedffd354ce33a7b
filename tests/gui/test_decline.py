"""When not to needle, in the window: start a decline exercise, press "Do not needle here…", choose a
reason, see the score and the log; a needless decline fails. Screenshots: /tmp/decline*.png."""
import json
import os
from pathlib import Path

import pytest
from PySide6 import QtCore, QtWidgets

from needlesafe.app.attempt_log import read_attempts
from needlesafe.app.exercises import DECLINE_REASONS

from .test_flows import exercise_action

pytestmark = pytest.mark.gui


def shots() -> Path:
    return Path(os.environ.get("NEEDLESAFE_SCREENSHOTS", "/tmp"))


def test_decline_an_exercise_in_the_window(window, qtbot, tmp_path, monkeypatch):
    win = window
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    exercise_action(win, "Quadratus femoris, back of the muscle (lean patient)").trigger()
    assert win.exercise is not None and win.exercise.decline_expected and win.scene.name == "gluteal-lean"
    panel = win.exercise_panel
    assert panel.decline.isVisible() and panel.decline.text() == "Do not needle here…"
    assert panel.benchmark.isVisible() and "Hannah et al. 2023" in panel.benchmark.text()
    # the teaching would give the answer away: it follows the student's answer
    assert "follows your answer" in panel.teaching.text() and "Do not needle here…" in panel.result.toPlainText()
    QtWidgets.QApplication.processEvents()
    win.grab().save(str(shots() / "decline-start.png"))
    # beside Check, on the same row
    assert abs(panel.decline.geometry().center().y() - panel.check.geometry().center().y()) <= 2
    panel.student.setText("Ana")
    qtbot.mouseClick(panel.decline, QtCore.Qt.LeftButton)
    dlg = win.exercises.decline_dialog
    assert dlg is not None and dlg.isVisible()
    ok = dlg.box.button(QtWidgets.QDialogButtonBox.Ok)
    assert not ok.isEnabled()  # a reason first
    assert [b.text() for b in dlg.buttons.values()] == list(DECLINE_REASONS.values())
    qtbot.mouseClick(dlg.buttons["nerve_on_path"], QtCore.Qt.LeftButton)
    assert dlg.reason() == "nerve_on_path" and ok.isEnabled()
    QtWidgets.QApplication.processEvents()
    dlg.grab().save(str(shots() / "decline-dialog.png"))
    qtbot.mouseClick(ok, QtCore.Qt.LeftButton)
    assert not dlg.isVisible()
    score = win.session.last_score
    assert score.declined == "nerve_on_path" and score.passed and score.score == 100
    text = panel.result.toPlainText()
    assert "100/100 — PASSED: declined to needle" in text and "Correct: do not needle here" in text
    assert "Published benchmark: Medially placed piriformis needles" in text
    assert panel.teaching.text() == win.exercise.teaching
    attempts, problems = read_attempts(tmp_path / "Ana.jsonl")
    assert problems == [] and attempts[-1]["declined"] == "nerve_on_path"
    assert attempts[-1]["exercise"] == "gluteal-decline-sciatic"
    assert shown == []
    QtWidgets.QApplication.processEvents()
    win.grab().save(str(shots() / "decline.png"))


def test_a_needless_decline_fails_in_the_window(window, qtbot, tmp_path, monkeypatch):
    win = window
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    exercise_action(win, "Piriformis trigger point").trigger()
    assert win.exercise is not None and not win.exercise.decline_expected
    win.exercise_panel.student.setText("Bo")
    dlg = win.exercises.ask_decline()
    dlg.choose("nerve_on_path")
    dlg.accept()
    score = win.session.last_score
    assert score.score == 0 and not score.passed
    text = win.exercise_panel.result.toPlainText()
    assert "0/100 — NOT PASSED: declined to needle" in text and "can be needled safely" in text
    rec = read_attempts(tmp_path / "Bo.jsonl")[0][-1]
    assert rec["declined"] == "nerve_on_path" and rec["score"]["score"] == 0
    # cancelling the reason list scores nothing
    before = win.session.last_score
    win.exercises.ask_decline().reject()
    assert win.session.last_score is before and len(read_attempts(tmp_path / "Bo.jsonl")[0]) == 1
    win.exercise_panel.result.grab().save(str(shots() / "decline-needless.png"))
    json.dumps(score.to_dict(), allow_nan=False)
