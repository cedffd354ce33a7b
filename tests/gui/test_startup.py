"""The app's staged cold start: the anatomy is drawn (and the first frame rendered) before the
engine exists, the panel says UNKNOWN meanwhile, and `finish_start` opens the pack fully."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtWidgets

from needlesafe.app import readout
from needlesafe.app.packs import forget_prepared
from needlesafe.app.qt.vtk_widget import NativePlotter
from needlesafe.app.theme import LEVEL_COLOUR

from .test_window import dispose

pytestmark = pytest.mark.gui


@pytest.fixture
def staged(qtbot):
    from needlesafe.app.qt.startup import show_window

    forget_prepared()  # a pack prepared by an earlier test would already have its engine
    win = show_window("default")
    yield win
    win.close()
    dispose(win)


def test_first_frame_shows_the_anatomy_before_the_engine(staged, qtbot):
    win = staged
    prepared = win.session.prepare("default")
    assert not prepared.engine_ready  # nothing has asked for the engine yet
    assert win.session.engine is None and win.needle is None
    # the anatomy is drawn: every structure has an actor, the camera frames it
    assert set(win.scene_view.actors) == {s.name for s in prepared.scene.structures}
    img = win.grab().toImage()
    view = win.plotter
    assert isinstance(view, NativePlotter)
    corner = view.mapTo(win, view.rect().center())
    colours = {img.pixelColor(corner.x() + dx, corner.y() + dy).name() for dx in range(-40, 41, 10)
               for dy in range(-40, 41, 10)}
    assert len(colours) > 5  # tissue, not a flat background
    # never SAFE by default: the panel reads UNKNOWN in the danger colour until there is a report
    assert win.panel.overall.text() == readout.PREPARING
    assert LEVEL_COLOUR["unknown"].lower() in win.panel.overall.styleSheet().lower()
    assert win.panel.table.rowCount() == 0

    win.finish_start()
    assert prepared.engine_ready and win.session.engine is prepared.engine
    assert win.report is not None and win.panel.overall.text() == readout.overall_sentence(win.report)
    assert np.allclose(win.needle.entry_lps, prepared.start.entry_lps)
    assert win.panel.table.rowCount() == len(win.report.structures)


def test_a_pack_that_cannot_be_read_falls_back_to_the_default(qtbot, tmp_path, monkeypatch):
    from needlesafe.app.qt import dialogs
    from needlesafe.app.qt.startup import show_window

    shown = []
    monkeypatch.setattr(dialogs, "error", lambda parent, message: shown.append(message))
    win = show_window(str(tmp_path / "missing"))
    try:
        win.finish_start()
        assert shown and "missing" in shown[0]
        assert win.session.scene is not None and win.session.scene.name.startswith("gluteal")
        assert win.report is not None
    finally:
        win.close()
        dispose(win)
        QtWidgets.QApplication.processEvents()


def test_the_window_imports_no_engine_kernels_or_plot_library():
    """What the first frame does not need is imported after it: numba (the engine's kernels, with
    scipy), pyqtgraph (the clearance plot), pyvista and matplotlib (the 3D view is drawn with VTK
    alone). A fresh interpreter checks the window's imports."""
    import subprocess
    import sys

    code = ("import sys, needlesafe.app.qt.main_window, needlesafe.app.qt.startup; "
            "print(sorted(m for m in ('numba', 'scipy', 'pyqtgraph', 'trimesh', 'pyvista', 'matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
