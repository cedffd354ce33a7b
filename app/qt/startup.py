"""Starting the app: the binding check, a splash while the region is prepared, the window drawn first
and the engine made after its first frame."""
from __future__ import annotations

import sys

from PySide6 import QtCore, QtGui, QtWidgets

from ..readout import DISCLAIMER
from ..theme import SPLASH_BACKGROUND


def binding_warning(qt_version: str | None = None, python=None) -> str | None:
    """A warning when the installed PySide6 is one known to crash the window, else None.

    PySide6 6.12 drops a reference to None or True on every Python override of a Qt virtual; on
    Python < 3.12 (where those objects are not immortal) the window aborts after a few hundred
    needle moves. pyproject.toml excludes it; this catches an environment that installed it anyway.
    """
    import PySide6

    qt_version = qt_version or PySide6.__version__
    python = python or sys.version_info
    parts = tuple(int(x) for x in qt_version.split(".")[:2] if x.isdigit())
    if parts == (6, 12) and tuple(python[:2]) < (3, 12):
        return (f"PySide6 {qt_version} has a reference-counting bug that makes this window crash after a few "
                "hundred needle moves on Python < 3.12. Install another version: "
                "pip install 'PySide6-Essentials>=6.6,!=6.12.*'")
    return None


def run(pack="default") -> int:
    """Open the main window on `pack` and run the event loop."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    warning = binding_warning()
    if warning:
        print(f"needlesafe: warning: {warning}", file=sys.stderr)
        QtWidgets.QMessageBox.warning(None, "NeedleSafe", warning)
    # the first start compiles the engine and builds the region: say so instead of showing nothing
    pix = QtGui.QPixmap(520, 120)
    pix.fill(QtGui.QColor(SPLASH_BACKGROUND))
    splash = QtWidgets.QSplashScreen(pix)
    splash.showMessage(
        f"NeedleSafe — {DISCLAIMER}\n\nOpening {pack} (the first start also prepares the engine"
        + ("; an atlas region is built once, up to a minute" if str(pack).startswith("atlas:") else "") + ")…",
        QtCore.Qt.AlignCenter, QtGui.QColor("black"),
    )
    splash.show()
    app.processEvents()
    win = show_window(pack, splash.finish)
    QtCore.QTimer.singleShot(0, win.finish_start)
    return app.exec()


def show_window(pack="default", shown=None):
    """A staged start: the window with `pack`'s anatomy drawn, its first frame rendered, before the
    engine exists; call `finish_start` on it next (from the event loop) to open the pack fully.
    `shown(window)` is called once the window is on screen."""
    from .main_window import MainWindow

    app = QtWidgets.QApplication.instance()
    win = MainWindow(pack, staged=True)
    win.show()
    if shown is not None:
        shown(win)
    app.processEvents()  # the window is mapped: the first frame can be drawn
    win.plotter.render()
    return win
