"""The live needle plane in a real window: hidden until asked for (it costs nothing then), the same
sections the command line's `needlesafe slice` cuts, the ultrasound look, and turning the plane."""
from __future__ import annotations

import numpy as np
import pytest

from needlesafe.app.readout import structure_label
from needlesafe.geometry.needle import Needle
from needlesafe.geometry.slice import cross_sections, needle_plane

from .test_flows import shots

pytestmark = pytest.mark.gui

MISTAKE = Needle((-88.0, 81.1, 42.0), (0.0, -1.0, 0.0), 70.0, 75.0, 0.30)  # gluteus medius mistake, to the sciatic


def test_needle_plane_live_matches_the_cut_and_turns(window, qtbot, tmp_path):
    win = window
    win.session.set_needle(MISTAKE)
    view = win.plane_view
    assert not win.plane_dock.isVisible() and view.slice is None  # nothing computed while hidden
    win.plane_action.trigger()
    qtbot.waitUntil(lambda: view.slice is not None, timeout=5000)
    names = {s.name for s in view.slice.sections}
    assert {"sciatic_nerve", "gluteus_maximus", "skin"} <= names
    # the same cut as geometry.slice (what `needlesafe slice` draws), for the effective needle
    expected = cross_sections(win.scene, needle_plane(win.report.needle, 0.0), view.window.extent_mm)
    mine = {s.name: s for s in view.slice.sections}
    for s in expected.sections:
        assert len(mine[s.name].loops) == len(s.loops)
        for a, b in zip(mine[s.name].loops, s.loops, strict=True):
            assert np.allclose(a, b)
    # the nerve lies across the needle's line at the depth the engine says the needle meets it
    nerve = mine["sciatic_nerve"].loops[0]
    hit = next(h.depth_mm for h in win.report.path.first_hits if h.name == "sciatic_nerve")
    assert nerve[:, 0].min() <= hit + 0.5 and nerve[:, 1].min() < 0.0 < nerve[:, 1].max()
    img = win.grab().toImage()
    assert len({img.pixelColor(x, y).name() for x in range(900, 1270, 15) for y in range(200, 740, 15)}) > 6
    win.grab().save(str(shots(tmp_path) / "needle-plane.png"))
    # the ultrasound look: a greyscale image the size of the drawing area
    view.us_box.setChecked(True)
    area = view._area()
    assert view._image is not None and view._image.shape == (area.height(), area.width())
    assert view._image.std() > 10
    win.grab().save(str(shots(tmp_path) / "needle-plane-ultrasound.png"))
    # turned a quarter about the needle: the plane's across-direction turns with it
    v0 = view.plane.v.copy()
    view.turn.setValue(90)
    assert abs(float(v0 @ view.plane.v)) < 1e-9 and np.allclose(view.plane.u, win.report.needle.direction)
    assert structure_label("sciatic_nerve")  # the names the view writes are the readout's


def test_needle_plane_follows_the_needle_and_the_pack(window, qtbot):
    win = window
    win.show_plane(True)
    win.session.set_needle(MISTAKE)
    qtbot.waitUntil(lambda: win.plane_view.slice is not None, timeout=5000)
    first = win.plane_view.slice
    win.session.set_depth(20.0)
    win.session.set_depth(25.0)  # moves in quick succession: the plane catches up with the last one
    qtbot.waitUntil(lambda: win.plane_view.slice is not first and not win.plane_view._stale, timeout=3000)
    assert win.plane_view.report.needle.depth_mm == pytest.approx(25.0)
    win.open_pack("shoulder")
    assert win.plane_view._scene is win.scene
    qtbot.waitUntil(lambda: not win.plane_view._stale, timeout=3000)
    assert win.plane_view.report is win.report
    assert any(s.name == "skin" for s in win.plane_view.slice.sections)
    win.show_plane(False)
    assert not win.plane_dock.isVisible()
