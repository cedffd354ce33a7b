"""An atlas region in the window: the region list groups regions by body area, names the atlas
region on screen, and its habitus switch keeps the atlas body."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui


@pytest.fixture
def atlas_window(qtbot, atlas_data, monkeypatch):
    import gc

    from needlesafe.app.qt.main_window import MainWindow

    from .test_window import dispose

    monkeypatch.setenv("NEEDLESAFE_DATA", str(atlas_data))
    win = MainWindow("atlas:gluteal")
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    dispose(win)
    del win
    gc.collect()


def test_atlas_region_in_the_toolbar(atlas_window, tmp_path):
    win = atlas_window
    assert win.scene.name == "atlas:gluteal:average"
    assert not win.atlas_banner.isVisible()  # the atlas is here: nothing to offer
    box = win.region
    assert box.currentData() == "atlas:gluteal"
    assert box.currentText().strip() == "Gluteal region (right)"
    assert win.habitus.isEnabled() and win.habitus.currentText() == "average"
    entries = [(box.itemText(i).strip(), box.itemData(i)) for i in range(box.count())]
    headers = [text for text, data in entries if data is None and text]
    assert "Hip and pelvis" in headers
    keys = [data for _t, data in entries if data]
    assert keys.index("atlas:gluteal") < keys.index("gluteal")  # real anatomy first in its area
    assert ("gluteal (schematic)", "gluteal") in entries
    # the whole name fits in the box
    assert box.width() >= box.sizeHint().width()
    # every structure's name is readable in the Layers panel: wrapped, never cut off
    from PySide6 import QtWidgets

    from .test_flows import assert_label_fits

    win.layers.expandAll()
    QtWidgets.QApplication.processEvents()
    root = win.layers.invisibleRootItem()
    labels = []
    for i in range(root.childCount()):
        for k in range(root.child(i).childCount()):
            item = root.child(i).child(k)
            assert_label_fits(win.layers, item)
            labels.append(item.text(0))
    assert "posterior femoral cutaneous nerve (right)" in labels
    assert not win.layers.horizontalScrollBar().isVisible()
    win.habitus.setCurrentText("lean")
    win.habitus.activated.emit(win.habitus.currentIndex())
    assert win.scene.name == "atlas:gluteal:lean" and box.currentData() == "atlas:gluteal"
    win.set_camera("posterior")
    shot = Path(os.environ.get("NEEDLESAFE_SCREENSHOTS", tmp_path)) / "window-atlas-gluteal.png"
    win.grab().save(str(shot))
    assert shot.stat().st_size > 10_000
