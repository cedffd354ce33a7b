"""The patient responds, in a real window: the Patient panel speaks, a nerve lights, a muscle
twitches, a haematoma grows, and after a scored attempt the debrief shows the pneumothorax timeline
and asks the matching triage question (logged with the attempt)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy

from needlesafe.app import readout, theme
from needlesafe.app.attempt_log import read_attempts
from needlesafe.app.exercise_check import mistake_needle
from needlesafe.app.exercises import builtin_exercises
from needlesafe.geometry.nerves import DISTAL_BEHIND_MM

from .test_flows import shots

pytestmark = pytest.mark.gui


def exercise(name):
    return next(p for p in builtin_exercises() if p.name == f"{name}.json")


def test_nerve_contact_speaks_lights_the_nerve_and_asks_triage(window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    win = window
    assert win.exercises.start(exercise("gluteal-gluteus-medius"))
    win.exercise_panel.student.setText("ann")
    nerve = win.scene_view.actors["sciatic_nerve"].GetProperty()
    own = nerve.GetColor()
    assert not win.sound_action.isChecked()  # sound is off by default
    win.sound_action.trigger()
    win.session.set_needle(mistake_needle(win.exercise, win.engine))
    assert win.patient.beeps == 1  # one bell for the events of one move
    win.sound_action.trigger()
    kinds = [e.kind for e in win.session.events]
    assert "nerve_contact" in kinds
    contact = next(e for e in win.session.events if e.kind == "nerve_contact")
    assert win.patient_panel.speech.text() == readout.patient_words(contact)
    assert "back of the thigh" in win.patient_panel.speech.text()
    assert readout.event_sentence(contact) in win.patient_panel.events.toPlainText()
    assert nerve.GetColor() == pytest.approx(theme.rgb(theme.NERVE_LIT_COLOUR))
    # its course down from where the needle reaches it (toward the thigh, where it is felt) glows
    course = win.scene_view.top["course:sciatic_nerve"].GetMapper().GetInput()
    assert 0 < course.GetNumberOfCells() < len(win.scene.structure("sciatic_nerve").faces)
    lowest_start = contact.structure_point[2] + DISTAL_BEHIND_MM
    cells = course.GetPolys()
    ids = vtk_to_numpy(cells.GetConnectivityArray()).reshape(-1, 3)
    pts = vtk_to_numpy(course.GetPoints().GetData())
    assert np.all(pts[ids].mean(axis=1)[:, 2] <= lowest_start + 1e-9)
    win.grab().save(str(shots(tmp_path) / "patient-nerve-contact.png"))
    # pulled back clear: the nerve is its own colour again, the pass's events shrink
    win.session.set_depth(5.0)
    assert nerve.GetColor() == pytest.approx(own)
    assert win.patient.course_faces("sciatic_nerve") == 0
    assert "nerve_contact" not in [e.kind for e in win.session.events]
    # the attempt still touched the nerve: it fails, and the debrief asks the sciatic case
    score = win.exercises.check()
    assert not score.passed and "nerve_contact" in score.harmed
    box, dialog = win.exercises.debrief
    assert box is None and dialog is not None and dialog.isVisible()
    assert dialog.case.id == "burning-pain-back-of-leg"
    result = dialog.answer("reassure")
    assert not result.correct and result.points == 0
    assert "Under" in dialog.result_label.text() or "under" in dialog.result_label.text()
    attempts, problems = read_attempts(tmp_path / "ann.jsonl")
    assert not problems and attempts[-1]["events"] and attempts[-1]["events"][0]["kind"] == "nerve_margin"
    triage, _ = read_attempts(tmp_path / "ann.jsonl", kind="triage")
    assert triage[-1]["case"] == "burning-pain-back-of-leg" and triage[-1]["answer"] == "reassure"
    dialog.close()


def test_pleura_puncture_opens_the_pneumothorax_timeline_and_a_twitch_shows(window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    win = window
    win.open_pack("shoulder:lean")
    assert win.exercises.start(exercise("shoulder-upper-trapezius"), pack="shoulder:lean")
    win.exercise_panel.student.setText("bo")
    needle = mistake_needle(win.exercise, win.engine)
    muscle = win.scene_view.actors[win.exercise.target_name] if win.exercise.target_name in win.scene_view.actors \
        else None
    win.session.set_needle(needle)
    kinds = [e.kind for e in win.session.events]
    assert kinds.index("twitch") < kinds.index("pleura_puncture")
    twitch = next(e for e in win.session.events if e.kind == "twitch")
    actor = win.scene_view.actors[twitch.structure]
    qtbot.waitUntil(lambda: actor.GetScale()[0] != 1.0, timeout=2000)  # it jumps ...
    qtbot.waitUntil(lambda: actor.GetScale()[0] == 1.0, timeout=2000)  # ... and settles
    assert muscle is None or muscle is actor
    # the patient feels nothing now: the panel says so
    assert win.patient_panel.speech.text() == readout.NOTICED["pleura_puncture"]
    win.exercises.check()
    box, dialog = win.exercises.debrief
    assert box is not None and box.isVisible() and "minutes to hours" in box.text()
    assert dialog is not None and dialog.case.event == "pleura_puncture"
    win.grab().save(str(shots(tmp_path) / "patient-pleura-debrief.png"))
    assert dialog.answer("emergency").correct
    box.close()
    dialog.close()


def test_a_vessel_puncture_grows_a_haematoma(window, monkeypatch):
    """The haematoma's drawn radius follows the teaching model with time (time is the test's)."""
    from needlesafe.app.qt import patient
    from needlesafe.geometry.events import HAEMATOMA_MAX_RADIUS_MM, haematoma_radius_mm

    win = window
    clock = [1000.0]
    monkeypatch.setattr(patient.time, "monotonic", lambda: clock[0])
    point = win.needle.tip_lps
    win.patient.bleed("test_vessel", point)
    assert "haematoma:test_vessel" in win.scene_view.top and win.patient.timer.isActive()
    clock[0] += 60.0
    win.patient._grow()
    r60 = win.patient.haematoma_radius("test_vessel")
    assert r60 == pytest.approx(haematoma_radius_mm(60.0))
    clock[0] += 600.0
    win.patient._grow()
    assert r60 < win.patient.haematoma_radius("test_vessel") <= HAEMATOMA_MAX_RADIUS_MM
    win.open_pack("gluteal:lean")  # another pack: the haematoma goes
    assert "haematoma:test_vessel" not in win.scene_view.top and not win.patient.timer.isActive()


def test_triage_mode_asks_each_case_in_turn(window, tmp_path, monkeypatch):
    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    win = window
    win.exercise_panel.student.setText("cy")
    first = win.patient.triage()
    second = win.patient.triage()
    assert first.case.id != second.case.id
    score = second.answer(second.case.answer)
    assert score.correct and score.points == 100
    line = json.loads((tmp_path / "cy.jsonl").read_text().splitlines()[-1])
    assert line["kind"] == "triage" and line["case"] == second.case.id
    first.close()
    second.close()
