"""The "Do not needle here…" dialog: the reason list a student picks from when declining to needle (the
scoring is the session's, `Session.decline`; the reasons are exercises.DECLINE_REASONS)."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from ..exercises import DECLINE_REASONS


class DeclineDialog(QtWidgets.QDialog):
    """One radio button per decline reason; OK is enabled once a reason is chosen. `reason()` is the
    chosen reason's id (None before a choice)."""

    def __init__(self, title: str, parent=None):
        super().__init__(parent)
        self.setObjectName("decline_dialog")
        self.setWindowTitle("Do not needle here")
        layout = QtWidgets.QVBoxLayout(self)
        intro = QtWidgets.QLabel(f"{title}\n\nWhy is it not safe to needle this patient here?")
        intro.setTextFormat(QtCore.Qt.PlainText)  # exercise strings are text, never markup
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.group = QtWidgets.QButtonGroup(self)
        self.buttons: dict[str, QtWidgets.QRadioButton] = {}
        for rid, label in DECLINE_REASONS.items():
            b = QtWidgets.QRadioButton(label)
            b.setObjectName(f"decline_{rid}")
            self.group.addButton(b)
            self.buttons[rid] = b
            layout.addWidget(b)
        self.box = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        self.box.button(QtWidgets.QDialogButtonBox.Ok).setText("Decline with this reason")
        self.box.button(QtWidgets.QDialogButtonBox.Ok).setEnabled(False)
        self.box.accepted.connect(self.accept)
        self.box.rejected.connect(self.reject)
        self.group.buttonToggled.connect(
            lambda *_: self.box.button(QtWidgets.QDialogButtonBox.Ok).setEnabled(self.reason() is not None))
        layout.addWidget(self.box)

    def reason(self) -> str | None:
        return next((rid for rid, b in self.buttons.items() if b.isChecked()), None)

    def choose(self, rid: str) -> None:
        """Pick reason `rid` (what a click on its radio button does)."""
        self.buttons[rid].setChecked(True)
