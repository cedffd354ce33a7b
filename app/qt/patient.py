"""The patient responds (issue: events): what the window shows when the engine's events happen.

- the Patient panel: the patient's words for the latest event (`readout.patient_words`) and every
  event along the pass (`readout.event_lines`);
- in the 3D view: a nerve within its margin or touched is lit, and its course distal to the needle
  (where the patient feels it, geometry.nerves `distal_direction`) glows through the tissue; a
  twitch makes the target muscle jump;
  a punctured vessel grows a translucent haematoma (geometry.events `haematoma_radius_mm`, real time);
- after a scored attempt (the debrief): a pleura puncture opens the pneumothorax timeline, and the
  triage question that matches the attempt's most serious event is asked (app/triage.py);
- sound, off by default (View ▸ Sound on events): the system bell on a nerve or puncture event.

The events themselves are the session's (`Session.events`, `events_changed`); nothing here decides.
"""
from __future__ import annotations

import time

import numpy as np
from PySide6 import QtCore, QtWidgets
from vtkmodules.vtkFiltersSources import vtkSphereSource

from needlesafe.geometry.events import PNEUMOTHORAX_ADVICE, PNEUMOTHORAX_TIMELINE, haematoma_radius_mm
from needlesafe.geometry.nerves import distal_direction, distal_faces

from .. import readout, theme
from ..display import vtk_polydata

NERVE_EVENTS = ("nerve_margin", "nerve_contact")
SOUND_EVENTS = ("nerve_margin", "nerve_contact", "vessel_puncture", "pleura_puncture", "danger_contact")
TWITCH_STEPS = (1.035, 1.0, 1.025, 1.0)  # scale of the muscle at each step of a twitch
TWITCH_STEP_MS = 70
HAEMATOMA_TICK_MS = 500  # the haematoma's radius is redrawn this often while it grows
COURSE_MOVE_MM = 2.0  # a lit course is drawn again when the point the needle reaches moves this far


class PatientPanel(QtWidgets.QWidget):
    """The patient's words and the events along the pass."""

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        self.speech = QtWidgets.QLabel("")
        self.speech.setObjectName("speech")
        self.speech.setWordWrap(True)
        self.speech.setTextFormat(QtCore.Qt.PlainText)
        font = self.speech.font()
        font.setPointSize(font.pointSize() + 2)
        font.setItalic(True)
        self.speech.setFont(font)
        # the words are never squeezed; the list of events scrolls
        self.speech.setSizePolicy(QtWidgets.QSizePolicy.Preferred, QtWidgets.QSizePolicy.Minimum)
        self.speech.setMinimumHeight(3 * self.speech.fontMetrics().lineSpacing() + 6)  # the longest: 3 lines
        self.speech.setAlignment(QtCore.Qt.AlignTop | QtCore.Qt.AlignLeft)
        self.events = QtWidgets.QPlainTextEdit(readout.event_lines([])[0])
        self.events.setObjectName("events")
        self.events.setReadOnly(True)
        self.events.setFrameShape(QtWidgets.QFrame.NoFrame)
        layout.addWidget(self.speech)
        layout.addWidget(self.events, 1)

    def show_events(self, events) -> None:
        text = "\n".join(readout.event_lines(events))
        if text != self.events.toPlainText():  # a move with the same events costs no repaint
            self.events.setPlainText(text)

    def say(self, new) -> str:
        """Show what the patient says (or what you notice) for the most recent of `new` events that has
        words; returns the text shown ("" when none)."""
        for e in reversed(list(new)):
            text = readout.patient_words(e) or readout.NOTICED.get(e.kind)
            if text:
                self.speech.setText(text)
                return text
        return ""

    def clear(self) -> None:
        self.speech.setText("")
        self.show_events([])


class PatientView:
    """The events drawn in the window; subscribes to the session."""

    def __init__(self, win, panel: PatientPanel):
        self.win, self.panel = win, panel
        self.lit: dict = {}  # nerve name -> its own colour, while lit
        self.courses: dict = {}  # nerve name -> the point (3,) its lit distal course starts from
        self.sound = False  # off by default
        self.beeps = 0  # bells rung (read by tests: a display server may have no sound)
        self.haematomas: dict = {}  # vessel name -> (sphere source, start time s)
        self.timer = QtCore.QTimer(win)
        self.timer.setInterval(HAEMATOMA_TICK_MS)
        self.timer.timeout.connect(self._grow)
        s = win.session
        s.scene_changed.connect(self.reset)
        s.needle_changed.connect(self.on_needle)
        s.events_changed.connect(self.on_new)

    def reset(self, _prepared=None) -> None:
        self.timer.stop()
        self.lit, self.haematomas, self.courses = {}, {}, {}
        self.win.scene_view.remove_top("haematoma:")
        self.win.scene_view.remove_top("course:")
        self.panel.clear()

    def on_needle(self, _report) -> None:
        events = self.win.session.events
        self.panel.show_events(events)
        reached = {}
        for e in events:  # the deepest nerve event of each nerve says where the needle reaches it
            if e.kind in NERVE_EVENTS and e.structure:
                reached[e.structure] = e.structure_point or e.point
        self._light(set(reached))
        self._courses(reached)

    def set_sound(self, on: bool) -> None:
        self.sound = bool(on)

    def on_new(self, new) -> None:
        if self.sound and any(e.kind in SOUND_EVENTS for e in new):
            QtWidgets.QApplication.beep()
            self.beeps += 1
        text = self.panel.say(new)
        if any(readout.patient_words(e) for e in new):  # the patient speaks: the status bar says it too
            self.win.statusBar().showMessage(text, 6000)
        for e in new:
            if e.kind == "twitch" and e.structure:
                self.twitch(e.structure)
            elif e.kind == "vessel_puncture" and e.structure and e.structure not in self.haematomas:
                self.bleed(e.structure, e.structure_point or e.point)

    # ----- the 3D view -------------------------------------------------------------------------------
    def _light(self, names: set) -> None:
        actors = self.win.scene_view.actors
        for name in [n for n in self.lit if n not in names]:
            if name in actors:
                prop = actors[name].GetProperty()
                prop.SetColor(*self.lit[name])
                prop.SetAmbient(0.0)
            del self.lit[name]
        for name in names - set(self.lit):
            if name in actors:
                prop = actors[name].GetProperty()
                self.lit[name] = prop.GetColor()
                prop.SetColor(*theme.rgb(theme.NERVE_LIT_COLOUR))
                prop.SetAmbient(0.6)  # glows: lit whichever side the light comes from

    def _courses(self, reached: dict) -> None:
        """Each lit nerve's course distal to where the needle reaches it, glowing in the overlay
        (drawn over the tissue), from {nerve name: point (3,) or None}."""
        view = self.win.scene_view
        for name in [n for n in self.courses if n not in reached]:
            view.remove_top(f"course:{name}", prefix=False)
            del self.courses[name]
        for name, point in reached.items():
            old = self.courses.get(name)
            if point is None or (old is not None and np.linalg.norm(np.subtract(point, old)) < COURSE_MOVE_MM):
                continue
            direction = distal_direction(name)
            s = self.win.session.scene.structure(name)
            keep = np.ones(len(s.faces), bool) if direction is None else distal_faces(
                s.vertices, s.faces, point, direction)
            if not keep.any():
                continue
            actor = view.top_actor(vtk_polydata(s.vertices, s.faces[keep]), theme.NERVE_COURSE_COLOUR,
                                   f"course:{name}", opacity=theme.NERVE_COURSE_OPACITY)
            actor.GetProperty().SetAmbient(0.7)  # glows: lit whichever side the light comes from
            self.courses[name] = np.asarray(point, float)

    def course_faces(self, name: str) -> int:
        """Triangles of `name`'s lit distal course (0 when it is not lit)."""
        actor = self.win.scene_view.top.get(f"course:{name}")
        return 0 if actor is None else int(actor.GetMapper().GetInput().GetNumberOfCells())

    def twitch(self, muscle: str) -> None:
        """A local twitch: the muscle jumps (a few frames of scaling about its centre)."""
        actor = self.win.scene_view.actors.get(muscle)
        if actor is None:
            return
        b = actor.GetBounds()
        actor.SetOrigin((b[0] + b[1]) / 2, (b[2] + b[3]) / 2, (b[4] + b[5]) / 2)
        for k, scale in enumerate(TWITCH_STEPS):
            QtCore.QTimer.singleShot(TWITCH_STEP_MS * (k + 1), self.win, lambda s=scale: self._scale(actor, s))

    def _scale(self, actor, scale: float) -> None:
        actor.SetScale(scale, scale, scale)
        self.win.redraw()

    def bleed(self, vessel: str, point) -> None:
        """A haematoma at the puncture: a translucent sphere growing with time (teaching model)."""
        if point is None:
            return
        src = vtkSphereSource()
        src.SetCenter(*np.asarray(point, float))
        src.SetThetaResolution(24)
        src.SetPhiResolution(16)
        src.SetRadius(max(haematoma_radius_mm(0.5), 0.5))
        src.Update()
        self.win.scene_view.top_actor(src.GetOutput(), theme.HAEMATOMA_COLOUR, f"haematoma:{vessel}",
                                      opacity=theme.HAEMATOMA_OPACITY)
        self.haematomas[vessel] = (src, time.monotonic())
        self.timer.start()
        self.win.redraw()

    def _grow(self) -> None:
        now = time.monotonic()
        for src, t0 in self.haematomas.values():
            src.SetRadius(max(haematoma_radius_mm(now - t0), 0.5))
            src.Update()
        self.win.redraw()

    def triage(self):
        """Triage mode: the next post-procedure case (in turn), asked in a dialog; returns it."""
        from ..triage import load_cases

        if not getattr(self, "_cases", None):
            self._cases, self._next = load_cases(), 0
        case = self._cases[self._next % len(self._cases)]
        self._next += 1
        self.dialog = TriageDialog(case, self.win.exercise_panel.student.text().strip(), self.win)
        self.dialog.show()
        return self.dialog

    def haematoma_radius(self, vessel: str) -> float | None:
        """The drawn radius (mm) of the haematoma at `vessel`, or None."""
        item = self.haematomas.get(vessel)
        return None if item is None else float(item[0].GetRadius())


class TriageDialog(QtWidgets.QDialog):
    """A post-procedure triage question: the patient's report, the four actions, then the
    explanation; the answer goes to the student's log (when a name is given)."""

    answered = QtCore.Signal(object)  # TriageScore

    def __init__(self, case, student: str = "", parent=None):
        from ..triage import ACTION_TEXT

        super().__init__(parent)
        self.case, self.student, self.score = case, student, None
        self.setWindowTitle(f"Afterwards — {case.title}")
        layout = QtWidgets.QVBoxLayout(self)
        story = QtWidgets.QLabel(f"{case.when}, after {case.after}, the patient says:\n\n“{case.says}”\n\n"
                                 "What do you do?")
        story.setWordWrap(True)
        story.setTextFormat(QtCore.Qt.PlainText)
        layout.addWidget(story)
        self.buttons = {}
        for action, text in ACTION_TEXT.items():
            b = QtWidgets.QPushButton(text)
            b.clicked.connect(lambda _=False, a=action: self.answer(a))
            layout.addWidget(b)
            self.buttons[action] = b
        self.result_label = QtWidgets.QLabel("")
        self.result_label.setObjectName("triage_result")
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(QtCore.Qt.PlainText)
        layout.addWidget(self.result_label)
        self.resize(560, 420)

    def answer(self, action: str):
        """Score `action`, explain it, log it; returns the TriageScore."""
        from ..triage import log_triage, score_triage

        self.score = score_triage(self.case, action)
        for b in self.buttons.values():
            b.setEnabled(False)
        lines = [f"{self.score.verdict.capitalize()} ({self.score.points}/100)", *self.score.explanation]
        if self.student:
            try:
                log_triage(self.student, self.case, self.score)
            except (OSError, ValueError) as exc:
                lines.append(f"(Not saved to the log: {exc})")
        self.result_label.setText("\n".join(lines))
        self.answered.emit(self.score)
        return self.score


def pneumothorax_text() -> str:
    """The pneumothorax timeline shown after an attempt that punctured the pleura."""
    rows = "\n".join(f"• {when}: {what}" for when, what in PNEUMOTHORAX_TIMELINE)
    return f"The needle entered the pleura during this attempt.\n\nWhat may follow:\n{rows}\n\n{PNEUMOTHORAX_ADVICE}"


def debrief(win, student: str):
    """After a scored attempt: the pneumothorax timeline when the pleura was punctured, and the triage
    question matching the attempt's most serious event. Returns (timeline box or None, dialog or None)."""
    from ..triage import case_for_events, region_of_pack

    events = win.session.last_events
    box = None
    if any(e.kind == "pleura_puncture" for e in events):
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Warning, "Pneumothorax: what may follow",
                                    pneumothorax_text(), QtWidgets.QMessageBox.Ok, win)
        box.setModal(False)
        box.show()
    case = case_for_events(events, region_of_pack(win.session.pack_source or "")) if events else None
    dialog = None
    if case is not None:
        dialog = TriageDialog(case, student, win)
        dialog.show()
    return box, dialog
