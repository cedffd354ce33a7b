"""Worker threads of the window: the safety map and the danger shells, computed off the GUI thread."""
from __future__ import annotations

from PySide6 import QtCore

from needlesafe.meshes.envelope import offset_surface


class MapWorker(QtCore.QThread):
    """Computes a safety map off the GUI thread, reporting progress; cancel() stops it between chunks."""

    progress = QtCore.Signal(int)
    finished_map = QtCore.Signal(object)
    failed = QtCore.Signal(str)  # "" when cancelled

    def __init__(self, engine, direction, gauge_mm, parent=None):
        super().__init__(parent)
        self.engine, self.direction, self.gauge_mm = engine, direction, gauge_mm
        self._cancel = False

    def cancel(self):
        self._cancel = True

    def run(self):
        from needlesafe.geometry.safety_map import compute_safety_map
        from needlesafe.meshes.errors import Cancelled

        def report(fraction):
            self.progress.emit(int(100 * fraction))
            return not self._cancel

        try:
            smap = compute_safety_map(self.engine, self.direction, self.gauge_mm, progress=report)
        except Cancelled:
            self.failed.emit("")
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user as a dialog, never a traceback
            self.failed.emit(str(exc))
            return
        self.finished_map.emit(smap)


class ShellWorker(QtCore.QThread):
    """Computes danger shells (margin offset surfaces) off the GUI thread."""

    done = QtCore.Signal(dict)

    def __init__(self, structures, source: str, parent=None):
        super().__init__(parent)
        self.structures, self.source = structures, source
        self._cancel = False

    def cancel(self):
        self._cancel = True

    def run(self):
        shells = {}
        for name, v, f, margin in self.structures:
            if self._cancel:
                return
            try:
                shells[name] = offset_surface(v, f, max(margin, 0.5))
            except Exception:  # noqa: BLE001 - a shell that cannot be built is just not drawn
                continue
        self.done.emit(shells)
