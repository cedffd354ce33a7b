"""Exercises in the window: start one (target marked, camera facing it), check an attempt (score,
feedback, the student's log), review a log and replay an attempt. The rules are the session's."""
from __future__ import annotations

from PySide6 import QtWidgets

from needlesafe.meshes.errors import NeedleSafeError

from ..attempt_log import read_logs
from ..metrics import metrics_line
from . import dialogs
from .patient import debrief
from .review import ReviewDialog


class ExerciseFlow:
    def __init__(self, window):
        self.win = window
        self.dialog = None  # the review dialog, while open
        self.debrief = (None, None)  # (pneumothorax timeline, triage question) of the last check
        window.exercise_panel.check.clicked.connect(self.check)
        window.exercise_panel.decline.clicked.connect(self.ask_decline)
        self.decline_dialog = None  # the "Do not needle here" reason list, while open

    def start(self, path, pack=None) -> bool:
        """Open an exercise on its pack, mark its target and face it; a bad file or pack gives a dialog."""
        if not self.win.attempt("Cannot start the exercise", self.win.session.start_exercise, path, pack):
            return False
        self.win.scene_view.set_camera(self.win.session.exercise_camera())
        self.win.statusBar().showMessage(f"Exercise: {self.win.exercise.title}. The needle starts on the skin over the "
                                     "target; aim and push.", 8000)
        self.win.redraw()
        return True

    def _student(self) -> str:
        """The student's name from the panel, else asked for ("" when none is given)."""
        student = self.win.exercise_panel.student.text().strip()
        if not student:
            student, ok = QtWidgets.QInputDialog.getText(self.win, "Student", "Your name, for the attempt log:")
            student = student.strip() if ok else ""
            if student:
                self.win.exercise_panel.student.setText(student)
        return student

    def check(self):
        """Score the current needle, show the feedback and append the attempt to the student's log."""
        if self.win.exercise is None:
            return None
        student = self._student()
        if not student:
            return None
        score = self.win.session.score()
        self.win.exercise_panel.show_score(score)
        line = metrics_line(self.win.session.last_metrics)  # the grading metrics, under the feedback
        if line:
            self.win.exercise_panel.result.append(dialogs.as_plain_html(line))
        try:
            path = self.win.session.log_attempt(student, score)
            self.win.statusBar().showMessage(f"Attempt saved to {path}", 5000)
        except dialogs.USER_ERRORS as exc:
            self.win.error(f"The attempt was scored but could not be saved:\n{exc}")
        self.debrief = debrief(self.win, student)  # what followed, and what to do afterwards
        return score

    def ask_decline(self):
        """Open the reason list (window-modal, non-blocking); choosing a reason declines with it."""
        if self.win.exercise is None:
            return None
        from .decline import DeclineDialog

        dlg = DeclineDialog(self.win.exercise.title, self.win)
        dlg.accepted.connect(lambda: self.decline(dlg.reason()))
        self.decline_dialog = dlg
        dlg.open()
        return dlg

    def decline(self, reason):
        """Decline to needle for `reason`: score it, show the feedback, log it like an attempt."""
        if self.win.exercise is None or reason is None:
            return None
        student = self._student()
        if not student:
            return None
        try:
            score = self.win.session.decline(reason)
        except dialogs.USER_ERRORS as exc:
            self.win.error(f"Cannot decline:\n{exc}")
            return None
        self.win.exercise_panel.show_score(score)
        try:
            path = self.win.session.log_attempt(student, score)
            self.win.statusBar().showMessage(f"Decline saved to {path}", 5000)
        except dialogs.USER_ERRORS as exc:
            self.win.error(f"The decline was scored but could not be saved:\n{exc}")
        return score

    def review(self, path):
        """Open an attempt log, or a class folder of logs, in the review dialog (non-modal); returns
        the dialog or None."""
        try:
            attempts, answers, problems = read_logs(path)
        except NeedleSafeError as exc:
            self.win.error(f"Cannot open the attempt log:\n{exc}")
            return None
        self.dialog = ReviewDialog(attempts, problems, self.win, answers=answers, source=path)
        self.dialog.replay.connect(self.replay)
        self.dialog.show()
        return self.dialog

    def replay(self, record: dict) -> bool:
        """Show an attempt's needle on its pack; a record that cannot be replayed changes nothing."""
        if not self.win.attempt("This attempt cannot be replayed", self.win.session.replay, record):
            return False
        self.win.face(self.win.needle.tip_lps, self.win.needle.entry_lps)
        return True
