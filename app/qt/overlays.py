"""Danger shells and the safety map: computed off the GUI thread (one `Task` each), cached with the
pack (shells) or in the session (maps), drawn by the scene view."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from .. import readout
from ..packs import danger_shells
from .workers import Task


class Overlays(QtCore.QObject):
    """Owns the two background tasks of the window and what they produce."""

    def __init__(self, window):
        super().__init__(window)
        self.win = window
        self.shell_task: Task | None = None
        self.map_task: Task | None = None
        self.progress: QtWidgets.QProgressDialog | None = None
        self.closing = False

    @property
    def session(self):
        return self.win.session

    @property
    def view(self):
        return self.win.scene_view

    # ----- danger shells ----------------------------------------------------------------------------
    def on_scene(self, prepared) -> None:
        """A new pack: its shells when already made, else computed when the toggle is on."""
        shells = prepared.views.get("shells")
        if shells is not None:  # made once per pack: a switch back draws them at once
            self.view.draw_shells(shells, self.win.shells_action.isChecked())
        elif self.win.shells_action.isChecked():
            self.show_shells(True)

    def show_shells(self, on: bool) -> None:
        """Show (computing once per pack, off the GUI thread) or hide the margin shells, drawn faint
        in the overlay so they show through the muscle around them."""
        self.view.show_shells(on)
        if on and not self.view.shells and self.shell_task is None:
            self.win.statusBar().showMessage("Computing danger shells…", 10000)
            crit = [(s.name, s.vertices, s.faces, s.margin_mm) for s in self.session.scene.critical]
            self.shell_task = Task(danger_shells, crit, source=self.session.pack_source, parent=self)
            self.shell_task.done.connect(self._shells_done)
            self.shell_task.failed.connect(self._shells_done)
            self.shell_task.cancelled.connect(self._shells_done)
            self.shell_task.start()
        self.view.repaint()

    def _shells_done(self, shells=None) -> None:
        task, self.shell_task = self.shell_task, None
        if task is not None:
            task.wait()
        if self.closing or task is None or not isinstance(shells, dict):
            return
        if task.source != self.session.pack_source:
            # the pack (or only its habitus, with the same names) changed meanwhile: start again
            if self.win.shells_action.isChecked():
                self.show_shells(True)
            return
        self.session.prepared.views["shells"] = shells
        self.view.draw_shells(shells, self.win.shells_action.isChecked())
        self.win.statusBar().showMessage(f"Danger shells: {len(shells)} structures", 3000)
        self.view.repaint()

    # ----- safety map -------------------------------------------------------------------------------
    def show_map(self, on: bool) -> None:
        """Show the safety map (computed off the GUI thread with a progress dialog, cached per pack
        and direction mode), or hide it and bring the skin back."""
        self.view.remove_map(not self.win.hide_skin.isChecked())
        if not on:
            self.view.repaint()
            return
        key = self.session.map_key(self.win.map_mode.currentIndex() == 1)
        if key in self.session.maps:
            self._draw(self.session.maps[key])
            return
        if self.map_task is not None:
            return
        from needlesafe.geometry.safety_map import compute_safety_map  # numba: loaded when first asked

        task = Task(compute_safety_map, self.session.engine, self.session.map_direction(key),
                    self.session.needle.gauge_mm, source=key, parent=self)
        self.map_task = task
        if self.progress is None:  # one dialog for the window's life, not one per map
            self.progress = QtWidgets.QProgressDialog("Computing the safety map…", "Cancel", 0, 100, self.win)
            self.progress.setWindowTitle("Safety map")
            self.progress.setMinimumDuration(0)
            self.progress.canceled.connect(self._cancel_map)
        self.progress.reset()
        task.progress.connect(self.progress.setValue)
        task.done.connect(self._map_done)
        task.failed.connect(self._map_failed)
        task.cancelled.connect(lambda: self._map_failed(""))
        self.progress.show()
        task.start()

    def redraw_map(self) -> None:
        """The danger zone depends on the needle's length: redraw a shown map after a size change."""
        if self.view.safety_map is not None:
            self._draw(self.view.safety_map)

    def _cancel_map(self) -> None:
        if self.map_task is not None:
            self.map_task.cancel()

    def _finish_map_task(self) -> Task | None:
        task, self.map_task = self.map_task, None
        if task is not None:
            task.wait()
        if self.progress is not None:
            self.progress.reset()
            self.progress.hide()
        return task

    def _map_done(self, smap) -> None:
        task = self._finish_map_task()
        if self.closing or task is None or task.source[0] != self.session.pack_source:
            return  # the pack changed meanwhile
        self.session.maps[task.source] = smap
        if self.win.map_action.isChecked():
            self._draw(smap)

    def _map_failed(self, message: str) -> None:
        self._finish_map_task()
        if self.closing:
            return
        self.win.map_action.blockSignals(True)
        self.win.map_action.setChecked(False)
        self.win.map_action.blockSignals(False)
        if message:
            self.win.error(f"The safety map could not be computed:\n{message}")
        else:
            self.win.statusBar().showMessage("Safety map cancelled", 3000)

    def _draw(self, smap) -> None:
        length = self.session.needle.length_mm
        self.view.draw_map(smap, length)
        self.win.statusBar().showMessage(readout.map_summary(smap, length), 8000)
        self.view.repaint()

    def stop(self) -> None:
        """Cancel both tasks and wait for them: none may outlive the window."""
        self.closing = True
        for task in (self.map_task, self.shell_task):
            if task is not None:
                task.cancel()
        self._finish_map_task()
        task, self.shell_task = self.shell_task, None
        if task is not None:
            task.wait()
