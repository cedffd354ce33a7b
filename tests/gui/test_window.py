"""The main window driven like a user: click the skin, change depth with keys, read the panel."""
import gc
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from needlesafe.app import readout
from needlesafe.app.qt.main_window import MainWindow
from needlesafe.app.theme import LEVEL_COLOUR
from needlesafe.geometry.clearance import ClearanceEngine
from needlesafe.geometry.placement import skin_entry
from needlesafe.geometry.report import format_mm
from needlesafe.meshes.resolve import load_pack

pytestmark = pytest.mark.gui


def dispose(win):
    """Delete a closed window now, in order, rather than whenever the garbage collector gets to it
    during a later test."""
    win.deleteLater()
    QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)


def forget_shells(win=None):
    """Prepared packs keep their danger shells between windows: forget them, to compute anew."""
    from needlesafe.app.packs import _PREPARED

    for prepared in _PREPARED.values():
        prepared.views.pop("shells", None)
    if win is not None:
        win.scene_view.remove_top("shell:")
        win.scene_view.shells = {}  # as a pack without shells yet


def panel_rows(win):
    t = win.panel.table
    return {t.item(i, 0).text(): [t.item(i, j).text() for j in range(1, 4)] for i in range(t.rowCount())}


def world_to_display(win, point):
    ren = win.plotter.renderer
    ren.SetWorldPoint(*point, 1.0)
    ren.WorldToDisplay()
    x, y, _ = ren.GetDisplayPoint()
    return int(round(x)), int(round(y))


def click_display(qtbot, win, x, y):
    """A left click at VTK display pixel (x, y) (origin bottom-left), sent as a Qt mouse click."""
    widget = win.plotter.interactor
    ratio = widget.devicePixelRatioF()
    pos = QtCore.QPoint(int(x / ratio), int(widget.height() - 1 - y / ratio))
    with qtbot.waitSignal(win.needle_changed, timeout=3000):
        qtbot.mouseClick(widget, QtCore.Qt.LeftButton, pos=pos)


def test_click_skin_then_keys_match_engine(window, qtbot, tmp_path):
    win = window
    win.set_camera("posterior")
    # click the skin right above the sciatic nerve, halfway between trochanter and ischial tuberosity
    target = skin_entry(win.scene, (-106.0, 0.0, -22.0))
    x, y = world_to_display(win, target)
    click_display(qtbot, win, x, y)
    n = win.needle
    assert np.linalg.norm(n.entry_lps - target) < 3.0
    assert n.direction[1] < -0.9  # into the body along the inward skin normal
    rows = panel_rows(win)
    assert rows["sciatic_nerve"][2] in ("SAFE", "CAUTION")
    # a longer needle from the preset list, then push it in with + (1 mm) and Shift++ (5 mm)
    win.preset.setCurrentText("0.30x75")
    assert win.needle.length_mm == 75.0
    start = win.needle.depth_mm
    qtbot.keyClick(win, QtCore.Qt.Key_Plus)
    assert win.needle.depth_mm == pytest.approx(start + 1.0)
    nerve_at = next(h.depth_mm for h in win.report.path.first_hits if h.name == "sciatic_nerve")
    presses = int(np.ceil((nerve_at + 2.0 - win.needle.depth_mm) / 5.0))
    for _ in range(presses):
        qtbot.keyClick(win, QtCore.Qt.Key_Plus, QtCore.Qt.ShiftModifier)
    assert win.needle.depth_mm == pytest.approx(start + 1.0 + 5.0 * presses)
    # the panel shows the engine's numbers for exactly this needle
    rep = ClearanceEngine(load_pack("default")).report(win.needle)
    row = rep.structure("sciatic_nerve")
    shown = panel_rows(win)["sciatic_nerve"]
    assert shown[2] == row.level.upper() == "CONTACT"
    assert float(shown[0]) == pytest.approx(np.floor(row.shaft_distance_mm * 100) / 100)
    assert win.panel.overall.text() == "Overall: CONTACT"
    # back out with - until safe again: the status colour changes
    for _ in range(presses):
        qtbot.keyClick(win, QtCore.Qt.Key_Minus, QtCore.Qt.ShiftModifier)
    assert panel_rows(win)["sciatic_nerve"][2] in ("SAFE", "CAUTION")
    assert win.panel.table.item(0, 3).background().color().name().upper() in (
        LEVEL_COLOUR["safe"], LEVEL_COLOUR["caution"]
    )


def test_arrow_keys_tilt_one_degree(window, qtbot):
    d0 = window.needle.direction
    qtbot.keyClick(window, QtCore.Qt.Key_Left)
    ang = np.degrees(np.arccos(np.clip(d0 @ window.needle.direction, -1, 1)))
    assert ang == pytest.approx(1.0, abs=1e-6)
    qtbot.keyClick(window, QtCore.Qt.Key_Up, QtCore.Qt.ShiftModifier)
    ang = np.degrees(np.arccos(np.clip(d0 @ window.needle.direction, -1, 1)))
    assert 4.0 < ang < 6.0


def test_screenshot_is_not_blank(window, tmp_path):
    win = window
    win.set_camera("posterior")
    path = win.export_image(tmp_path / "view.png")
    win.grab().save(str(tmp_path / "window.png"))
    import imageio.v3 as iio

    img = iio.imread(path)[..., :3].astype(int)
    assert img.std() > 20  # not a flat (black or empty) frame
    # gluteus maximus shows red through the translucent skin where it projects
    c = win.scene.structure("gluteus_maximus").vertices.mean(axis=0)
    x, y = world_to_display(win, c)
    h = img.shape[0]
    r, g, b = img[h - 1 - y, x + 12]  # beside its trigger-point marker, drawn on top
    assert r > g + 40 and r > b + 40


def test_bad_pack_gives_a_dialog(window, monkeypatch, tmp_path):
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    (tmp_path / "pack.json").write_text("{broken")
    assert window.open_pack(tmp_path) is False
    assert shown and "JSON" in shown[0]
    assert window.scene.name == "gluteal-average"  # the open pack is kept


def test_region_and_habitus_switch(window, qtbot, tmp_path):
    """Pick another region and habitus from the toolbar, as a user would."""
    window.region.setCurrentIndex(window.region.findData("shoulder"))
    window.region.activated.emit(window.region.currentIndex())
    window.habitus.setCurrentText("high")
    window.habitus.activated.emit(window.habitus.currentIndex())
    assert window.scene.name == "shoulder-high"
    names = {r.name for r in window.report.structures}
    assert {"brachial_plexus", "pleura", "subclavian_artery"} <= names
    shot = Path(os.environ.get("NEEDLESAFE_SCREENSHOTS", tmp_path)) / "window-shoulder-high.png"
    window.grab().save(str(shot))
    import imageio.v3 as iio

    assert iio.imread(shot)[..., :3].std() > 20


def test_clearance_plot_follows_the_needle(window, qtbot):
    curves = window.panel.curves
    assert curves, "no curve in the clearance-versus-depth plot"
    name, item = next(iter(curves.items()))
    x, y = item.getData()
    assert x[0] == 0.0 and x[-1] == pytest.approx(window.needle.length_mm)
    assert np.all(np.diff(y) <= 1e-9)
    # the plotted clearance at the current depth is never above the panel's exact number
    row = window.report.structure(name)
    at = np.interp(window.needle.depth_mm, x, y)
    assert at >= row.shaft_distance_mm - 0.5 and at <= row.shaft_distance_mm + 1.0
    qtbot.keyClick(window, QtCore.Qt.Key_Plus, QtCore.Qt.ShiftModifier)
    assert window.panel.curves  # redrawn for the new needle


def test_layers_hide_and_fade(window, qtbot):
    root = window.layers.invisibleRootItem()
    skin_group = next(root.child(i) for i in range(root.childCount()) if root.child(i).text(0) == "skin")
    skin_group.setCheckState(0, QtCore.Qt.Unchecked)  # as a click on the checkbox does
    assert not window.scene_view.actors["skin"].GetVisibility()
    skin_group.setCheckState(0, QtCore.Qt.Checked)
    assert window.scene_view.actors["skin"].GetVisibility()
    item = skin_group.child(0)
    slider = window.layers.itemWidget(item, 1)
    slider.setValue(80)
    assert window.scene_view.actors["skin"].GetProperty().GetOpacity() == pytest.approx(0.8)


def test_danger_shells_are_computed_off_the_gui_thread(window, qtbot):
    window.shells_action.trigger()
    qtbot.waitUntil(lambda: bool(window.scene_view.shells), timeout=20000)
    for s in window.scene.critical:
        assert window.scene_view.top[f"shell:{s.name}"].GetVisibility()
    window.shells_action.trigger()
    assert not any(window.scene_view.top[f"shell:{s.name}"].GetVisibility() for s in window.scene.critical)


def test_needle_updates_keep_reference_counts(window, qtbot):
    """A student moves the needle thousands of times in a session. Each update redraws the panel,
    the plot and the 3D view; none may drop references to None, True or False: a binding that drops
    them (PySide6 6.12.0 does, on every Python override of a Qt virtual) makes CPython 3.11 abort
    after a few hundred updates. (From Python 3.12 these objects are immortal and the counts fixed.)"""
    import sys

    def counts():
        gc.collect()
        return np.array([sys.getrefcount(None), sys.getrefcount(True), sys.getrefcount(False)])

    for k in range(5):  # warm up: first-time caches
        window.tilt_needle("horizontal", 1.0 if k % 2 else -1.0)
        QtWidgets.QApplication.processEvents()
    before = counts()
    for k in range(60):
        window.tilt_needle("horizontal", 1.0 if k % 2 else -1.0)
        QtWidgets.QApplication.processEvents()
    drift = counts() - before
    assert np.all(drift > -300), f"reference counts of None, True, False fell by {(-drift).tolist()}"


def test_moving_the_needle_and_switching_regions_leak_nothing(window, qtbot):
    """Everything the window makes per update or per pack is reused or let go: 300 needle moves add
    no actor and leave the Python heap flat; region round trips leave no widget wrappers behind
    (the layer sliders used to leak 41 per round trip)."""
    from PySide6 import QtWidgets as W

    win = window

    def objects(kind=None):
        gc.collect()
        QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.DeferredDelete)
        gc.collect()
        return sum(1 for o in gc.get_objects() if kind is None or isinstance(o, kind))

    def actor_count():
        return win.plotter.renderer.GetActors().GetNumberOfItems() + win.scene_view.overlay.GetActors(
        ).GetNumberOfItems()

    for k in range(20):  # warm up: first-time caches
        win.tilt_needle("horizontal", 1.0 if k % 2 else -1.0)
    actors, heap = actor_count(), objects()
    for k in range(300):
        win.tilt_needle("horizontal", 1.0 if k % 2 else -1.0)
        win.session.set_depth(10.0 + (k % 40))
        if k % 50 == 0:
            QtWidgets.QApplication.processEvents()
    assert actor_count() == actors
    grown = objects() - heap
    assert grown < 2000, f"{grown} Python objects more after 600 needle updates"

    def round_trip():
        for region in ("shoulder", "gluteal"):
            win.region.setCurrentIndex(win.region.findData(region))
            win.region.activated.emit(win.region.currentIndex())
            QtWidgets.QApplication.processEvents()

    round_trip()  # both packs prepared and cached
    sliders = objects(W.QSlider)
    for _ in range(3):
        round_trip()
    assert objects(W.QSlider) <= sliders, "slider wrappers left behind by region switches"


def test_the_needle_shows_through_tissue(window, tmp_path):
    """The faint top-layer copy darkens the needle's path, and only there; the View menu turns it off."""
    import imageio.v3 as iio

    win = window
    win.session.set_depth(40.0)
    win.set_camera("lateral")
    on = iio.imread(win.export_image(tmp_path / "on.png"))[..., :3].astype(int)
    win.xray_action.setChecked(False)
    off = iio.imread(win.export_image(tmp_path / "off.png"))[..., :3].astype(int)
    win.xray_action.setChecked(True)
    n, h = win.needle, on.shape[0]
    darker = 0
    for f in np.linspace(0.2, 0.9, 8):
        x, y = world_to_display(win, n.entry_lps + f * n.depth_mm * n.direction)
        r, c = h - 1 - y, x
        darker += int(on[r, c].sum() < 0.85 * off[r, c].sum())  # relative: in a dark muscle's shadow too
    assert darker >= 6, "the needle's path is not drawn over the tissue"
    changed = np.abs(on - off).sum(axis=2) > 0
    assert 0 < changed.sum() < 0.01 * changed.size  # a thin line, not a veil over the view
    assert not changed[:60, :60].any()


def test_a_crashing_binding_is_named_at_start():
    from needlesafe.app.qt.startup import binding_warning

    assert "6.12.0" in binding_warning("6.12.0", (3, 11, 7))
    assert binding_warning("6.12.0", (3, 12, 1)) is None  # None and True are immortal there
    assert binding_warning("6.11.3", (3, 11, 7)) is None
    assert binding_warning() is None  # what pyproject.toml installs


def test_shells_follow_a_region_switch_made_while_they_compute(window, qtbot):
    win = window
    forget_shells(win)
    win.shells_action.trigger()
    assert win.overlays.shell_task is not None
    win.region.setCurrentIndex(win.region.findData("shoulder"))
    win.region.activated.emit(win.region.currentIndex())
    qtbot.waitUntil(lambda: bool(win.scene_view.shells), timeout=30000)
    assert set(win.scene_view.shells) == {s.name for s in win.scene.critical}
    assert "brachial_plexus" in win.scene_view.shells
    # each shell lies around its own structure of the new region, not one of the old
    for s in win.scene.critical:
        v, _ = win.scene_view.shells[s.name]
        pad = max(s.margin_mm, 0.5) + 3.0
        assert np.all(v.min(axis=0) >= s.vertices.min(axis=0) - pad)
        assert np.all(v.max(axis=0) <= s.vertices.max(axis=0) + pad)
        centre = s.vertices.mean(axis=0)
        assert np.all(v.min(axis=0) < centre) and np.all(centre < v.max(axis=0))


def test_closing_while_workers_run_stops_them(qtbot):
    forget_shells()
    win = MainWindow("gluteal")
    win.show()
    qtbot.waitExposed(win)
    win.shells_action.trigger()
    win.map_action.trigger()
    threads = [win.overlays.shell_task, win.overlays.map_task]
    assert all(t is not None and t.isRunning() for t in threads)
    win.close()  # as a user closing the window mid-computation
    assert not any(t.isRunning() for t in threads)
    assert win.overlays.shell_task is None and win.overlays.map_task is None
    assert not win.overlays.progress.isVisible()
    qtbot.wait(200)  # late signals from the workers reach a closed window and change nothing
    assert win.scene_view.shells == {} and win.safety_map is None
    dispose(win)


def test_scenario_round_trip_and_bad_files(window, qtbot, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    path = tmp_path / "s.json"
    qtbot.keyClick(window, QtCore.Qt.Key_Left)
    saved = window.needle
    assert window.save_scenario(path)
    qtbot.keyClick(window, QtCore.Qt.Key_Plus, QtCore.Qt.ShiftModifier)
    assert window.open_scenario(path)
    assert np.allclose(window.needle.entry_lps, saved.entry_lps)
    assert np.allclose(window.needle.direction, saved.direction)
    assert window.needle.depth_mm == pytest.approx(saved.depth_mm)
    # corrupt, hostile and wrong files: a dialog each, the needle untouched
    for text in ['{"format": "needlesafe-scenario", "version": 1, "pack": "default", "needles": [{"entry_lps": '
                 '[0, 0], "direction": [0, 0, 1], "depth_mm": 1}]}',
                 "{not json", '{"format": "something", "needles": []}',
                 '{"format": "needlesafe-scenario", "version": 1, "pack": "nowhere/pack", "needles": '
                 '[{"entry_lps": [0, 0, 0], "direction": [0, 0, 1], "depth_mm": 1}]}']:
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        before = window.needle
        assert window.open_scenario(bad) is False
        assert window.needle is before
    assert len(shown) == 4 and "three numbers" in shown[0] and "JSON" in shown[1]
    # a failed save leaves the earlier file as it was
    original = path.read_bytes()
    import needlesafe.meshes.io as io

    monkeypatch.setattr(io.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    assert window.save_scenario(path) is False
    assert path.read_bytes() == original and "disk full" in shown[-1]


def test_drag_the_entry_handle(window, qtbot):
    win = window
    win.set_camera("posterior")
    cam_before = win.plotter.camera_position
    widget = win.plotter.interactor
    start = win.needle.entry_lps
    hx, hy = world_to_display(win, start)
    target = skin_entry(win.scene, start + np.array([25.0, 0.0, -20.0]))
    tx, ty = world_to_display(win, target)
    ratio = widget.devicePixelRatioF()

    def qpos(x, y):
        return QtCore.QPoint(int(x / ratio), int(widget.height() - 1 - y / ratio))

    qtbot.mousePress(widget, QtCore.Qt.LeftButton, pos=qpos(hx, hy))
    assert win.readouts.live  # the panel's table and plot refresh ten times a second while dragged
    for k in range(1, 6):
        x = hx + (tx - hx) * k / 5
        y = hy + (ty - hy) * k / 5
        ev = QtGui.QMouseEvent(QtCore.QEvent.MouseMove, QtCore.QPointF(qpos(x, y)), QtCore.QPointF(qpos(x, y)),
                               QtCore.Qt.NoButton, QtCore.Qt.LeftButton, QtCore.Qt.NoModifier)
        QtWidgets.QApplication.sendEvent(widget, ev)
    qtbot.mouseRelease(widget, QtCore.Qt.LeftButton, pos=qpos(tx, ty))
    qtbot.waitUntil(lambda: np.linalg.norm(win.needle.entry_lps - target) < 3.0, timeout=3000)
    assert not win.readouts.live and win.readouts.current and win.panel.report is win.report
    assert win.plotter.camera_position == cam_before  # the drag moved the needle, not the camera


def test_throttle_applies_the_first_and_the_last_value():
    from needlesafe.app.qt.workers import Throttle

    shown = []
    th = Throttle(shown.append, interval_ms=60_000)  # no second application within a minute
    for k in range(5):
        th.submit(k)
    assert shown == [0] and th.pending  # the first at once, the rest wait
    th.flush()
    assert shown == [0, 4] and not th.pending  # only the latest is applied
    th.now(7)
    assert shown == [0, 4, 7]


def test_readouts_during_a_drag_follow_and_catch_up(window, qtbot):
    """During a drag the level follows every update and the table at most ten times a second; the
    panel never shows an older report without the newer one waiting, and a drag's end shows it."""
    win = window
    base = win.needle
    win.readouts.set_live(True)
    for depth in (8.0, 12.0, 16.0, 20.0, 24.0):
        win.session.set_needle(base.at_depth(depth))
        assert win.panel.overall.text() == readout.overall_sentence(win.report)
        assert win.panel.report is win.report or not win.readouts.current
    qtbot.waitUntil(lambda: win.readouts.current, timeout=2000)  # the trailing refresh
    assert win.panel.report is win.report
    win.session.set_needle(base.at_depth(30.0))
    win.session.set_needle(base.at_depth(31.0))
    win.readouts.set_live(False)  # the mouse is released
    assert win.readouts.current and win.panel.report is win.report
    assert win.panel.safe_depth.text() == readout.safe_depth_sentence(win.report)
    win.session.set_needle(base.at_depth(10.0))  # a key press after the drag: at once
    assert win.panel.report is win.report


def test_click_a_muscle_to_aim(window, qtbot):
    win = window
    win.set_camera("posterior")
    win.hide_skin.trigger()  # peel the skin off, as a user would, to see the muscle
    target_struct = win.scene.structure("gluteus_maximus")
    target = target_struct.vertices[np.argmax(target_struct.vertices[:, 1])]  # its most posterior point
    entry = win.needle.entry_lps
    click_display(qtbot, win, *world_to_display(win, target))
    aimed = (target - entry) / np.linalg.norm(target - entry)
    assert np.degrees(np.arccos(np.clip(aimed @ win.needle.direction, -1, 1))) < 3.0
    assert np.allclose(win.needle.entry_lps, entry)  # aiming keeps the entry


@pytest.mark.parametrize("region, nerve", [("gluteal", "sciatic_nerve"), ("shoulder", "brachial_plexus")])
def test_screenshot_shows_the_nerve(window, qtbot, tmp_path, region, nerve):
    win = window
    win.region.setCurrentIndex(win.region.findData(region))
    win.region.activated.emit(win.region.currentIndex())
    win.hide_muscle.trigger()  # peel: skin stays, translucent
    win.set_camera("posterior")
    shot = Path(os.environ.get("NEEDLESAFE_SCREENSHOTS", tmp_path)) / f"window-{region}-nerve.png"
    win.export_image(shot)
    win.grab().save(str(shot.with_name(f"full-{region}.png")))
    import imageio.v3 as iio

    img = iio.imread(shot)[..., :3].astype(int)
    h, w = img.shape[:2]
    yellow = (img[..., 0] > 170) & (img[..., 1] > 140) & (img[..., 2] < 120) & (img[..., 0] - img[..., 2] > 80)
    pts = win.scene.structure(nerve).vertices[::20]
    hits = 0
    for p in pts:
        x, y = world_to_display(win, p)
        row, col = h - 1 - y, x
        if 2 <= row < h - 2 and 2 <= col < w - 2 and yellow[row - 2:row + 3, col - 2:col + 3].any():
            hits += 1
    assert hits >= 0.3 * len(pts), f"nerve colour found at only {hits} of {len(pts)} projected nerve points"


def test_click_a_trigger_point_marker_to_aim(window, qtbot):
    win = window
    win.set_camera("posterior")
    win.hide_skin.trigger()
    win.hide_muscle.trigger()  # markers stay visible when the muscles are peeled away
    tp = next(t for t in win.scene.trigger_points if t.name == "gluteus maximus")
    entry = win.needle.entry_lps
    click_display(qtbot, win, *world_to_display(win, tp.point))
    aimed = (tp.point - entry) / np.linalg.norm(tp.point - entry)
    assert aimed @ win.needle.direction == pytest.approx(1.0, abs=1e-9)
    assert "trigger point" in win.statusBar().currentMessage()


def test_safety_map_with_progress_and_cancel(window, qtbot, tmp_path):
    win = window
    # cancel at once: no map, the skin comes back, the window still answers
    win.map_action.trigger()
    win.overlays.progress.cancel()
    qtbot.waitUntil(lambda: win.overlays.map_task is None, timeout=30000)
    if win.safety_map is None:  # the cancel arrived before the last chunk
        assert not win.map_action.isChecked()
        assert win.scene_view.actors["skin"].GetVisibility()
        win.map_action.trigger()
    else:
        win.map_action.trigger()
        win.map_action.trigger()
    qtbot.waitUntil(lambda: win.safety_map is not None, timeout=30000)
    smap = win.safety_map
    assert "safety_map" in win.plotter.actors and not win.scene_view.actors["skin"].GetVisibility()
    # the map agrees with single checks at sampled skin points
    idx = np.random.default_rng(1).choice(len(smap.points), 10, replace=False)
    for i in idx:
        rep = win.engine.report(type(win.needle)(smap.points[i], smap.directions[i], 0.0, smap.max_depth_mm, 0.3))
        assert rep.path.safe_depth_mm == pytest.approx(smap.safe_depth_mm[i], abs=1e-3)
    win.set_camera("posterior")
    shot = Path(os.environ.get("NEEDLESAFE_SCREENSHOTS", tmp_path)) / "safety-map.png"
    win.export_image(shot)
    import imageio.v3 as iio

    img = iio.imread(shot)[..., :3].astype(int)
    red = (img[..., 0] > 150) & (img[..., 2] < 90)
    blue = (img[..., 2] > 120) & (img[..., 0] < 90)
    assert red.sum() > 200 and blue.sum() > 200  # shallow (danger) and deep (safe) zones both show
    # switching it off brings the skin back
    win.map_action.trigger()
    assert "safety_map" not in win.plotter.actors and win.scene_view.actors["skin"].GetVisibility()


def test_exercise_end_to_end_and_review(window, qtbot, tmp_path, monkeypatch):
    from needlesafe.app.attempt_log import log_path, read_attempts
    from needlesafe.app.exercises import builtin_exercises, score_attempt
    from needlesafe.geometry.placement import tilt

    from ..app.test_exercises import approaches

    monkeypatch.setenv("NEEDLESAFE_ATTEMPTS", str(tmp_path))
    win = window
    assert any(p.stem == "gluteal-gluteus-medius" for p in builtin_exercises())
    menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Exercises")
    action = next(a for a in menu.actions() if a.text() == "Gluteus medius with the ilium as a backstop")
    action.trigger()
    assert win.exercise is not None and win.exercise_dock.isVisible()
    assert "exercise:target" in win.scene_view.top  # drawn over the anatomy
    assert win.needle.length_mm == 75.0
    ex = win.exercise
    good = next(nd for nd in approaches(ex, win.engine) if score_attempt(ex, win.engine.report(nd)).passed)
    # a wrong angle with the needle in, then back to the good one: two redirections
    win.session.set_needle(good.at_depth(10.0))
    win.session.set_needle(type(good)(good.entry_lps, tilt(good.direction, (0, 0, 1), 12.0), 10.0, 75.0, 0.3))
    win.session.set_needle(good)
    assert win.redirections == 2  # away and back, both with the needle in
    win.exercise_panel.student.setText("Ana Lopez")
    qtbot.mouseClick(win.exercise_panel.check, QtCore.Qt.LeftButton)
    result = win.exercise_panel.result.toPlainText()
    assert "PASSED" in result and "90/100" not in result
    log = log_path("Ana Lopez")  # a readable slug and a hash: no other name shares this log
    assert log.parent == tmp_path and log.name.startswith("Ana_Lopez-")
    attempts, problems = read_attempts(log)
    assert len(attempts) == 1 and not problems
    rec = attempts[0]
    assert rec["exercise"] == "gluteal-gluteus-medius" and rec["student"] == "Ana Lopez"
    assert rec["score"]["passed"] and rec["score"]["redirections"] == 2
    # a second, failing attempt: the needle only half way
    win.session.set_needle(good.at_depth(good.depth_mm / 2))
    qtbot.mouseClick(win.exercise_panel.check, QtCore.Qt.LeftButton)
    assert "NOT PASSED" in win.exercise_panel.result.toPlainText()
    # the instructor opens the log, replays the first attempt and exports CSV
    dlg = win.exercises.review(log)
    qtbot.addWidget(dlg)
    assert dlg.table.rowCount() == 2 and "1 passed" in dlg.summary.text()
    win.session.set_needle(good.at_depth(1.0))
    dlg.table.selectRow(0)
    qtbot.mouseClick(dlg.replay_button, QtCore.Qt.LeftButton)
    assert win.needle.depth_mm == pytest.approx(good.depth_mm)
    dlg.export_csv(tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_text().count("\n") == 3
    shot = Path(os.environ.get("NEEDLESAFE_SCREENSHOTS", tmp_path)) / "exercise.png"
    win.grab().save(str(shot))


def test_hostile_log_and_exercise_files_give_dialogs(window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "needlesafe-exercise", "version": 1, "id": "x", "title": "x", "pack": "gluteal", '
                   '"target": {"trigger_point": "nowhere"}}')
    assert window.exercises.start(bad) is False and "no trigger point" in shown[-1]
    assert window.exercises.review(tmp_path / "missing.jsonl") is None and "not found" in shown[-1]
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"\x00\x01garbage\n[1,2]\n")
    dlg = window.exercises.review(junk)
    assert dlg is not None and dlg.table.rowCount() == 0
    dlg.close()


def test_compare_pinned_needles_presentation_and_report(window, qtbot, tmp_path):
    win = window
    safe = win.needle
    win.pin_action.trigger()
    assert win.compare_dock.isVisible() and len(win.pinned) == 1
    # a second, unsafe trajectory: straight onto the sciatic nerve
    target = skin_entry(win.scene, (-106.0, 0.0, -22.0))
    nerve_at = None
    win.session.set_needle(type(safe)(target, (0, -1, 0), 0.0, 75.0, 0.3))
    nerve_at = next(h.depth_mm for h in win.report.path.first_hits if h.name == "sciatic_nerve")
    win.session.set_depth(nerve_at + 1.0)
    assert win.compare.rowCount() == 2
    assert win.compare.item(0, 1).text() == "CONTACT"
    assert win.compare.item(1, 1).text() == win.engine.report(safe).level.upper()
    assert any(n.startswith("pin:0") for n in win.plotter.actors)
    # the scenario keeps both needles
    path = tmp_path / "two.json"
    assert win.save_scenario(path)
    win.session.clear_pins()
    assert win.compare.rowCount() == 1
    assert win.open_scenario(path) and len(win.pinned) == 1
    # presentation mode: full screen, only the clearance readout, large font; and back
    size = win.panel.font().pointSize()
    win.present_action.trigger()
    qtbot.wait(50)
    assert win.isFullScreen() and not win.compare_dock.isVisible() and not win.layers.isVisible()
    assert win.panel.font().pointSize() >= 2 * size or win.panel.font().pointSize() >= 16
    shot = Path(os.environ.get("NEEDLESAFE_SCREENSHOTS", tmp_path)) / "presentation.png"
    win.grab().save(str(shot))
    win.present_action.trigger()
    qtbot.wait(50)
    assert not win.isFullScreen() and win.compare_dock.isVisible() and win.panel.font().pointSize() == size
    # the HTML report carries the view, both needles' tables and plots
    report = tmp_path / "r.html"
    assert win.export_report(report)
    text = report.read_text()
    assert text.count("<svg") == 2 and "data:image/png;base64," in text and "sciatic_nerve" in text
    assert "not a clinical device" in text


def test_open_the_real_shoulder_atlas(window, real_packs, qtbot, tmp_path):
    """An imported Z-Anatomy region opens like a built-in one (skipped without ../shared)."""
    assert window.open_pack(str(real_packs["shoulder"]))
    assert window.scene.name == "shoulder"
    assert window.panel.table.rowCount() == len(window.scene.critical) == 21
    rep = window.engine.report(window.needle)
    shown = {window.panel.table.item(i, 0).text(): window.panel.table.item(i, 1).text()
             for i in range(window.panel.table.rowCount())}
    for row in rep.structures:
        assert shown[row.name] == format_mm(row.shaft_distance_mm)
    window.set_camera("posterior")
    import imageio.v3 as iio

    img = iio.imread(window.export_image(tmp_path / "atlas.png"))[..., :3]
    assert img.std() > 20


def test_depth_slider_drag_applies_the_latest_value(window, qtbot):
    win = window
    slider = win.depth_slider
    slider.setSliderDown(True)  # as while the user holds the handle
    for v in range(100, 300, 10):
        slider.setValue(v)
    slider.setSliderDown(False)
    qtbot.waitUntil(lambda: win.needle.depth_mm == pytest.approx(29.0), timeout=3000)
    assert win.report.needle.depth_mm == pytest.approx(29.0)
    slider.setValue(120)  # a click or a key on the slider applies at once
    assert win.needle.depth_mm == pytest.approx(12.0)


def test_panel_shows_the_published_range_at_gb21(window, qtbot):
    """Under the safe depth at GB21: the published skin-to-pleura range, the words `check` prints."""
    from tests.app.test_published import gb21_needle

    win = window
    assert win.open_pack("shoulder:average")
    assert not win.panel.published.isVisible() or win.panel.published.text()
    win.session.set_needle(gb21_needle(win.scene))
    qtbot.waitUntil(lambda: win.panel.published.isVisible())
    text = win.panel.published.text()
    assert text == readout.published_sentence(win.report, win.scene)
    assert "skin to pleura at GB21: 40–68 mm" in text
    assert win.panel.published.wordWrap()
