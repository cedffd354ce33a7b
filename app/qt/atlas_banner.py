"""The offer of real anatomy: a banner while the atlas is missing, its download off the GUI thread
(progress, cancel, an error dialog with the manual route), then the atlas region prepared and opened."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from needlesafe.meshes.atlas.fetch import atlas_present, fetch
from needlesafe.meshes.errors import Cancelled

from .. import readout
from ..packs import ATLAS_DEFAULT_PACK, prepare_pack
from . import dialogs
from .workers import Task


def _fetch(dest, mirror, progress):
    """`fetch` with the Task's `progress(fraction) -> keep going` as byte progress and cancel."""
    stop = [False]

    def on_bytes(done: int, total: int, _name: str) -> None:
        stop[0] = not progress(done / max(total, 1))

    return fetch(dest, mirror=mirror, progress=on_bytes, cancel=lambda: stop[0])


def _prepare(name, progress):
    if not progress(0.0):
        raise Cancelled("stopped")
    return prepare_pack(name)


class AtlasBanner(QtWidgets.QToolBar):
    """A non-modal bar over the view: the offer, Download and Not now. `dest` and `mirror` default
    to the user's atlas folder and the files' pinned URLs (tests point them at a local server)."""

    def __init__(self, win, dest=None, mirror=None):
        super().__init__("Realistic anatomy", win)
        self.win, self.dest, self.mirror = win, dest, mirror
        self.setObjectName("atlas_banner")
        self.setMovable(False)
        self.setFloatable(False)
        self.label = QtWidgets.QLabel(" " + readout.ATLAS_OFFER + "  ")
        self.addWidget(self.label)
        self.download_button = QtWidgets.QPushButton("Download")
        self.download_button.clicked.connect(self.download)
        self.addWidget(self.download_button)
        self.later_button = QtWidgets.QPushButton("Not now")
        self.later_button.clicked.connect(self.hide)
        self.addWidget(self.later_button)
        self.task: Task | None = None
        self.progress: QtWidgets.QProgressDialog | None = None

    @classmethod
    def install(cls, win, dest=None, mirror=None) -> AtlasBanner:
        """Put the banner under the toolbars; shown only while the atlas is not on this machine."""
        banner = cls(win, dest, mirror)
        win.addToolBarBreak(QtCore.Qt.TopToolBarArea)
        win.addToolBar(QtCore.Qt.TopToolBarArea, banner)
        banner.setVisible(not atlas_present(dest))
        return banner

    # ----- download -----------------------------------------------------------------------------------
    def download(self) -> None:
        """Fetch the eight files off the GUI thread with a progress dialog that can cancel."""
        if self.task is not None:
            return
        self._start(Task(_fetch, self.dest, self.mirror, parent=self),
                    "Downloading the Z-Anatomy atlas (13 MB)…", self._fetched)

    def _start(self, task: Task, text: str, done) -> None:
        self.task = task
        self.progress = QtWidgets.QProgressDialog(text, "Cancel", 0, 100, self.win)
        self.progress.setWindowTitle("NeedleSafe")
        self.progress.setWindowModality(QtCore.Qt.WindowModal)
        self.progress.setMinimumDuration(0)
        self.progress.canceled.connect(task.cancel)
        task.progress.connect(self.progress.setValue)
        task.done.connect(done)
        task.failed.connect(self._failed)
        task.cancelled.connect(self._cancelled)
        self.progress.show()
        task.start()

    def _finish(self) -> None:
        task, self.task = self.task, None
        if task is not None:
            task.wait()
            task.deleteLater()
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None

    def _fetched(self, _paths) -> None:
        self._finish()
        self.hide()
        self.win.statusBar().showMessage("Atlas downloaded and verified. Building the gluteal region…", 10000)
        # the first build converts the atlas and the region (a minute at most), off the GUI thread too
        self._start(Task(_prepare, ATLAS_DEFAULT_PACK, parent=self),
                    "Building the gluteal region from the atlas (first time only)…", self._prepared)
        if self.progress is not None:
            self.progress.setRange(0, 0)  # no fraction to show: a busy bar

    def _prepared(self, _prepared) -> None:
        self._finish()
        self.win.open_pack(ATLAS_DEFAULT_PACK)

    def _failed(self, message: str) -> None:
        self._finish()
        dialogs.error(self.win, message)

    def _cancelled(self) -> None:
        self._finish()
        self.win.statusBar().showMessage("Atlas download cancelled; the files already verified are kept.", 8000)

    def stop(self) -> None:
        """Cancel and wait for a running download (the window is closing)."""
        if self.task is not None:
            self.task.stop()
            self._finish()
