"""Mouse interaction with the 3D view: a click (no drag) on the skin sets the entry, on anything else
aims (Ctrl: through the skin); a press on the entry handle drags it over the skin; a resting mouse
names what lies under it. VTK still gets every other event, so a drag rotates the camera."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from needlesafe.meshes.errors import NeedleSafeError

from .. import readout
from .dialogs import as_plain_html
from .workers import Latest

CLICK_PIXELS = 3  # a press and release closer than this is a click, not a drag
HANDLE_PIXELS = 12.0  # a press this close to the entry handle grabs it


class Interaction(QtCore.QObject):
    """Event filter on the plotter's interactor widget; acts through the window's session."""

    def __init__(self, window):
        super().__init__(window)
        self.win = window
        self.widget = window.scene_view.plotter.interactor
        self.dragging = False
        self.dragged = False
        self.press_pos = None
        self.hover_pos = None
        self.hover_text = ""
        self.hover = QtCore.QTimer(self)
        self.hover.setSingleShot(True)
        self.hover.setInterval(300)
        self.hover.timeout.connect(self.show_hover)
        self.drag = Latest(self._apply_drag, self)  # mouse moves are coalesced: only the latest is drawn
        self.widget.setMouseTracking(True)
        self.widget.installEventFilter(self)

    def display_xy(self, pos) -> tuple[int, int]:
        """Display pixel (VTK origin bottom-left) of a widget position."""
        ratio = self.widget.devicePixelRatioF()
        return int(round(pos.x() * ratio)), int(round((self.widget.height() - 1 - pos.y()) * ratio))

    def near_entry_handle(self, pos, pixels: float = HANDLE_PIXELS) -> bool:
        hx, hy = self.win.scene_view.to_display(self.win.session.needle.entry_lps)
        x, y = self.display_xy(pos)
        return (hx - x) ** 2 + (hy - y) ** 2 <= (pixels * self.widget.devicePixelRatioF()) ** 2

    def eventFilter(self, obj, event):  # noqa: N802 - Qt override
        if obj is not self.widget:
            return False
        et = event.type()
        if et == QtCore.QEvent.MouseButtonPress and event.button() == QtCore.Qt.LeftButton:
            self.press_pos = event.position().toPoint()
            self.hover.stop()
            if self.near_entry_handle(self.press_pos):
                self.dragging, self.dragged = True, False
                self.win.readouts.set_live(True)
                return True  # the handle is being dragged: the camera stays still
        elif et == QtCore.QEvent.MouseMove and self.dragging:
            pos = event.position().toPoint()
            if self.dragged or (pos - self.press_pos).manhattanLength() > CLICK_PIXELS:
                self.dragged = True
                self.drag.submit(pos)
            return True
        elif et == QtCore.QEvent.MouseButtonRelease and self.dragging:
            self.dragging = False
            self.win.readouts.set_live(False)
            pos = event.position().toPoint()
            if self.dragged:
                self.drag.submit(pos)  # end exactly where the mouse let go
            else:  # a click on the handle: whatever lies under it (a marker, the skin) is picked
                self._click_later(pos, event.modifiers())
            self.press_pos = None
            return True
        elif et == QtCore.QEvent.MouseButtonRelease and event.button() == QtCore.Qt.LeftButton:
            pos = event.position().toPoint()
            if self.press_pos is not None and (pos - self.press_pos).manhattanLength() <= CLICK_PIXELS:
                self._click_later(pos, event.modifiers())
            self.press_pos = None
        elif et == QtCore.QEvent.MouseMove and not event.buttons():
            self.hover_pos = event.position().toPoint()
            self.hover.start()
        elif et == QtCore.QEvent.Leave:
            self.hover.stop()
        return False

    def _click_later(self, pos, modifiers) -> None:
        x, y = self.display_xy(pos)
        through = bool(modifiers & QtCore.Qt.ControlModifier)
        QtCore.QTimer.singleShot(0, self, lambda: self.click_at(x, y, through_skin=through))

    def click_at(self, x: int, y: int, through_skin: bool = False) -> None:
        """What a click at display pixel (x, y) does: on the skin, enter there pointing straight in;
        on a trigger point, aim at its centre; on anything else, aim at the point clicked."""
        hit = self.win.scene_view.pick(x, y, through_skin)
        if hit is None:
            return
        self.win.dismiss_hint()  # the first click on the body: the user has found the way in
        name, point, normal = hit
        session, status = self.win.session, self.win.statusBar()
        try:
            if name.startswith("trigger:"):
                session.aim_at(point)
                status.showMessage(f"Aiming at the {name[8:]} trigger point", 3000)
            elif session.scene.structure(name).role == "skin":
                session.enter_at(point, normal)
            else:
                session.aim_at(point)
                status.showMessage(f"Aiming at {name.replace('_', ' ')}", 3000)
        except NeedleSafeError as exc:
            status.showMessage(str(exc), 4000)

    def _apply_drag(self, pos) -> None:
        """Slide the entry over the skin under the cursor, keeping direction and depth."""
        hit = self.win.scene_view.pick(*self.display_xy(pos))
        session = self.win.session
        if hit is None or hit[0] not in self.win.scene_view.actors or session.scene.structure(hit[0]).role != "skin":
            return  # only the skin carries the entry (a marker or a muscle under the cursor does not)
        try:
            session.slide_entry(hit[1])
        except NeedleSafeError as exc:
            self.win.statusBar().showMessage(str(exc), 4000)

    def show_hover(self) -> None:
        """Name the structure under a resting mouse (a tooltip and the status bar)."""
        if self.hover_pos is None or self.win.session.scene is None or self.dragging:
            return
        pos = self.hover_pos
        hit = self.win.scene_view.pick(*self.display_xy(pos))
        if hit is None:
            QtWidgets.QToolTip.hideText()
            return
        text = readout.hover_text(self.win.session.scene, hit[0])
        self.hover_text = text
        QtWidgets.QToolTip.showText(self.widget.mapToGlobal(pos), as_plain_html(text), self.widget)
        self.win.statusBar().showMessage(text, 3000)
