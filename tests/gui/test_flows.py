"""The window always shows the body it computes: the toolbar after every way of opening a pack,
needles that stop at bone, markers that always aim, and what a first-time user sees."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from needlesafe.app.qt.dialogs import FirstHint
from needlesafe.app.qt.main_window import MainWindow
from needlesafe.app.theme import CONTACT_COLOUR
from needlesafe.geometry.needle import Needle
from needlesafe.geometry.placement import skin_entry
from needlesafe.geometry.report import format_mm

from .test_window import click_display, dispose, world_to_display

pytestmark = pytest.mark.gui

# a needle from behind onto the hip bone's most posterior point (its line enters the bone)
BONE_DIR = np.array([0.0, -1.0, 0.0])


def bone_needle(scene, depth=0.0, length=75.0):
    v = scene.structure("hip_bone").vertices
    top = v[np.argmax(v[:, 1])] + np.array([0.0, 0.0, -3.0])
    return Needle(skin_entry(scene, top), BONE_DIR, depth, length, 0.30)


def toolbar(win):
    return win.region.currentData() or win.region.currentText(), win.habitus.currentText(), win.preset.currentText()


def shots(tmp_path) -> Path:
    return Path(os.environ.get("NEEDLESAFE_SCREENSHOTS", tmp_path))


def exercise_action(win, title):
    menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&Exercises")
    return next(a for a in menu.actions() if a.text() == title)


def test_toolbar_follows_exercise_habitus_scenario_and_replay(window, tmp_path, monkeypatch):
    win = window
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    # start on the shoulder, then open a gluteal exercise: the toolbar follows
    win.region.setCurrentIndex(win.region.findData("shoulder"))
    win.region.activated.emit(win.region.currentIndex())
    assert toolbar(win)[:2] == ("shoulder", "average") and win.scene.name == "shoulder-average"
    exercise_action(win, "Piriformis trigger point").trigger()
    assert win.exercise is not None and win.scene.name == "gluteal-average"
    assert toolbar(win) == ("gluteal", "average", "0.30x75")
    # the needle starts on the skin over the target, pointing at it, not inserted
    n, target = win.needle, win.exercise.target_point
    assert n.depth_mm == 0.0 and n.length_mm == 75.0
    assert (target - n.entry_lps) / np.linalg.norm(target - n.entry_lps) @ n.direction == pytest.approx(1.0)
    # the camera faces the target: it projects near the middle of the view
    x, y = world_to_display(win, target)
    w, h = win.plotter.window_size
    assert abs(x - w / 2) < 0.1 * w and abs(y - h / 2) < 0.1 * h
    # a leaner habitus during the exercise: the same exercise on gluteal-lean, never another region
    win.habitus.setCurrentText("lean")
    win.habitus.activated.emit(win.habitus.currentIndex())
    assert win.scene.name == "gluteal-lean" and win.exercise is not None
    assert win.exercise.title == "Piriformis trigger point" and win.exercise_dock.isVisible()
    assert toolbar(win) == ("gluteal", "lean", "0.30x75")
    QtWidgets.QApplication.processEvents()  # the layout settles, as it does before the next frame
    win.grab().save(str(shots(tmp_path) / "exercise-piriformis-lean.png"))
    text = win.exercise_panel.teaching
    assert text.mapTo(win.exercise_panel.scroll.viewport(), text.rect().topRight()).x() < \
        win.exercise_panel.scroll.viewport().width()
    # the Anterior view looks at the front of the body (from -y, the patient's front)
    bar = win.findChild(QtWidgets.QToolBar, "needle_toolbar")
    next(a for a in bar.actions() if a.text() == "Anterior").trigger()
    pos, focal, up = win.plotter.camera_position
    assert pos[1] < focal[1] and abs(pos[0] - focal[0]) < 1e-6 and up[2] == 1.0
    tp = next(t for t in win.scene.trigger_points if t.name == "piriformis")
    assert np.allclose(win.exercise.target_point, tp.point)  # the lean body's own target
    # a scenario saved on shoulder:high opens with the toolbar on shoulder / high and its needle
    win.region.setCurrentIndex(win.region.findData("shoulder"))
    win.habitus.setCurrentText("high")
    win.region.activated.emit(win.region.currentIndex())
    assert win.exercise is None and win.scene.name == "shoulder-high"
    win.preset.setCurrentText("0.30x40")
    path = tmp_path / "s.json"
    assert win.save_scenario(path)
    exercise_action(win, "Piriformis trigger point").trigger()
    assert win.open_scenario(path)
    assert win.scene.name == "shoulder-high" and toolbar(win) == ("shoulder", "high", "0.30x40")
    assert not win.compare_dock.isVisible()  # no pins, no Compare dock
    # a replayed attempt: its pack and its 50 mm needle, whatever the box said before
    win.preset.setCurrentText("0.30x75")
    record = {"pack": "gluteal:high", "needle": Needle((-60, 120, 60), BONE_DIR, 20.0, 50.0, 0.3).to_dict()}
    assert win.exercises.replay(record)
    assert win.scene.name == "gluteal-high" and toolbar(win) == ("gluteal", "high", "0.30x50")
    assert win.needle.length_mm == 50.0
    # a needle not in the presets is shown as it is
    record = {"pack": "gluteal", "needle": Needle((-60, 120, 60), BONE_DIR, 20.0, 65.0, 0.25).to_dict()}
    assert win.exercises.replay(record) and toolbar(win) == ("gluteal", "average", "0.25x65")
    # a damaged record, a bad exercise and a bad pack change nothing
    before = (win.scene, win.needle, toolbar(win))
    assert not win.exercises.replay({"pack": "shoulder", "needle": {"entry_lps": [0, 0]}})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "needlesafe-exercise", "version": 1, "id": "x", "title": "x",
                               "pack": "shoulder", "target": {"trigger_point": "nowhere"}}))
    assert not win.exercises.start(bad)
    assert not win.open_pack(tmp_path / "missing")
    assert (win.scene, win.needle, toolbar(win)) == before and len(shown) == 3
    assert not win.region.currentData() == "shoulder"


def test_gui_pack_argument_and_open_pack_folder(qtbot, tmp_path):
    from needlesafe.meshes.pack import write_pack
    from needlesafe.meshes.resolve import load_pack

    win = MainWindow("shoulder:high")
    win.show()
    qtbot.waitExposed(win)
    try:
        assert win.scene.name == "shoulder-high" and toolbar(win)[:2] == ("shoulder", "high")
        assert win.habitus.isEnabled()
        folder = tmp_path / "my-pack"
        write_pack(load_pack("gluteal:lean"), folder)
        assert win.open_pack(str(folder))
        assert win.region.currentText() == "my-pack" and not win.habitus.isEnabled()
        assert win.region.currentData() == str(folder.resolve())
        # and back to a built-in from the toolbar
        win.region.setCurrentIndex(win.region.findData("shoulder"))
        win.region.activated.emit(win.region.currentIndex())
        assert win.scene.name == "shoulder-high" and win.habitus.isEnabled()
    finally:
        win.close()
        dispose(win)


def test_needle_stops_at_bone_with_slider_keys_and_a_contact_ring(window, qtbot, tmp_path):
    win = window
    win.session.set_needle(bone_needle(win.scene, 5.0))
    stop, bone = win.engine.bone_stop(win.needle)
    assert bone == "hip_bone" and 10.0 < stop < 65.0
    win.depth_slider.setValue(700)  # 70 mm asked for, as a click on the slider does
    assert win.needle.depth_mm == pytest.approx(stop)
    assert win.depth_slider.value() == int(round(stop * 10))
    assert f"{format_mm(stop, 1)} / 75 mm" in win.depth_label.text()  # rounded toward danger
    assert win.statusBar().currentMessage() == "firm stop: hip bone"
    assert win.report.path.stopped_by["name"] == "hip_bone"
    assert "firm stop" in win.panel.needle_label.text()
    # keys push against the bone: the needle stays on it
    for _ in range(3):
        qtbot.keyClick(win, QtCore.Qt.Key_Plus, QtCore.Qt.ShiftModifier)
    assert win.needle.depth_mm == pytest.approx(stop)
    assert win.needle_view.actors()["contact:ring"].GetVisibility()
    # the contact ring shows where the needle rests, over the tissue
    win.face(win.needle.tip_lps, win.needle.entry_lps + np.array([-60.0, 0.0, 40.0]))
    import imageio.v3 as iio

    img = iio.imread(win.export_image(shots(tmp_path) / "bone-stop.png"))[..., :3].astype(int)
    x, y = world_to_display(win, win.needle.tip_lps)
    h = img.shape[0]
    patch = img[h - 1 - y - 12:h - 1 - y + 13, x - 12:x + 13]
    dark = (patch.sum(axis=2) < 3 * 60).sum()
    assert dark >= 20, "no contact ring at the bone contact"
    assert CONTACT_COLOUR == "#000000"  # the ring is drawn in it
    # backing out frees it again
    qtbot.keyClick(win, QtCore.Qt.Key_Minus, QtCore.Qt.ShiftModifier)
    assert win.needle.depth_mm == pytest.approx(stop - 5.0)
    assert win.report.path.stopped_by is None and not win.needle_view.actors()["contact:ring"].GetVisibility()
    # a scenario asking for 70 mm opens with the needle on the bone
    from needlesafe.app.scenario import Scenario, save_scenario

    path = tmp_path / "deep.json"
    save_scenario(Scenario("gluteal", [bone_needle(win.scene, 70.0)], None), path)
    assert win.open_scenario(path) and win.needle.depth_mm == pytest.approx(stop)
    # and so does a replayed attempt that asked for more
    record = {"pack": "gluteal", "needle": bone_needle(win.scene, 72.0).to_dict()}
    assert win.exercises.replay(record) and win.needle.depth_mm == pytest.approx(stop)
    assert win.statusBar().currentMessage() == "firm stop: hip bone"


def test_unknown_beyond_the_model_reads_as_danger(window):
    """A needle whose tip lies past where its line leaves the modelled body is UNKNOWN, shown as
    danger with the reason."""
    win = window
    win.region.setCurrentIndex(win.region.findData("shoulder"))
    win.habitus.setCurrentText("average")
    win.region.activated.emit(win.region.currentIndex())
    lo, hi = win.scene.bounds()
    found = None
    for z in np.linspace(lo[2] + 20, hi[2] - 20, 6):  # straight through the body from behind
        for x in np.linspace(lo[0] + 20, hi[0] - 20, 5):
            entry = skin_entry(win.scene, (x, 0.0, z))
            if entry is None:
                continue
            rep = win.engine.report(Needle(entry, (0.0, -1.0, 0.0), 100.0, 100.0, 0.30))
            if rep.level == "unknown" and rep.path.exit_mm is not None and rep.path.stopped_by is None:
                found = rep.needle
                break
        if found is not None:
            break
    assert found is not None, "no path leaves the shoulder model"
    win.session.set_needle(found)
    assert win.panel.overall.text() == "Overall: UNKNOWN"
    text = win.panel.safe_depth.text()
    assert text.startswith("UNKNOWN — treat as danger") and "modelled body" in text


def test_click_a_marker_behind_the_entry_handle_aims(window, qtbot):
    win = window
    win.set_camera("posterior")
    tp = next(t for t in win.scene.trigger_points if t.name == "gluteus medius")
    entry = skin_entry(win.scene, tp.point)
    win.session.set_needle(Needle(entry, (0.0, -1.0, 0.0), 0.0, 50.0, 0.30))
    win.set_camera("posterior")  # straight from behind: the handle covers the marker
    hx, hy = world_to_display(win, entry)
    mx, my = world_to_display(win, tp.point)
    assert win.interaction.near_entry_handle(QtCore.QPoint(
        mx, win.plotter.interactor.height() - 1 - my))  # a press here grabs the handle
    click_display(qtbot, win, mx, my)
    aimed = (tp.point - entry) / np.linalg.norm(tp.point - entry)
    assert aimed @ win.needle.direction == pytest.approx(1.0, abs=1e-9)
    assert np.allclose(win.needle.entry_lps, entry)
    assert "gluteus medius trigger point" in win.statusBar().currentMessage()


def test_ctrl_click_aims_through_the_skin_and_hover_names(window, qtbot):
    win = window
    win.set_camera("posterior")
    entry = win.needle.entry_lps
    muscle = win.scene.structure("gluteus_maximus")
    point = muscle.vertices[np.argmax(muscle.vertices[:, 1])]  # under the skin, seen from behind
    x, y = world_to_display(win, point + np.array([8.0, 0.0, 0.0]))
    widget = win.plotter.interactor
    ratio = widget.devicePixelRatioF()
    pos = QtCore.QPoint(int(x / ratio), int(widget.height() - 1 - y / ratio))
    assert win.scene_view.pick(x, y)[0] == "skin"
    with qtbot.waitSignal(win.needle_changed, timeout=3000):
        qtbot.mouseClick(widget, QtCore.Qt.LeftButton, QtCore.Qt.ControlModifier, pos=pos)
    assert np.allclose(win.needle.entry_lps, entry)  # aimed, not moved
    assert "gluteus maximus" in win.statusBar().currentMessage()
    # a resting mouse names what is under it
    qtbot.mouseMove(widget, pos)
    qtbot.waitUntil(lambda: win.hover_text.startswith("skin"), timeout=3000)


def test_first_start_hint_guide_and_landmarks(window, qtbot, tmp_path):
    win = window
    win.settings.remove("hint_seen")  # as on a first start (earlier tests may have clicked it away)
    if win.hint is None:
        win.hint = FirstHint.maybe(win.plotter.interactor, win.settings)
    assert win.hint is not None and win.hint.isVisible()
    assert "Click the skin" in win.hint.findChild(QtWidgets.QLabel).text()
    win.grab().save(str(shots(tmp_path) / "first-start.png"))
    box = win.quick_guide()
    assert "Click the skin" in box.text() and "Push" in box.text()
    box.close()
    win.dismiss_hint()
    assert win.settings.value("hint_seen", False, type=bool)
    win.landmarks_action.setChecked(True)
    names = {lm.name for lm in win.scene.landmarks}
    assert names and {f"landmark:{n}" for n in names} <= set(win.scene_view.top)
    assert any(n.startswith("landmarks:") for n in win.plotter.actors)
    win.set_camera("posterior")
    win.grab().save(str(shots(tmp_path) / "landmarks.png"))
    win.landmarks_action.setChecked(False)
    assert not any(n.startswith("landmarks:") for n in win.plotter.actors)


def test_plot_marks_off_scale_curves(window):
    """A nerve far away does not flatten the near one: the y-range follows the near curves and the
    far values are marked with their real figures (window and HTML report alike)."""
    win = window
    win.session.set_needle(bone_needle(win.scene, 10.0))
    panel = win.panel
    top = panel.plot.getViewBox().viewRange()[1][1]
    assert panel.off_scale, "expected a curve above the y-range on this needle"
    for name, hi, _lo in panel.off_scale:
        assert hi > top
        assert f"{name}&nbsp;(▲&nbsp;up&nbsp;to&nbsp;{int(hi)}&nbsp;mm)" in panel.legend.text()
    for name, curve in panel.curves.items():
        _, y = curve.getData()
        assert (np.max(y) > top) == any(o[0] == name for o in panel.off_scale)
    from needlesafe.app.report_html import profile_svg

    depths, curves = win.engine.profile(win.needle)
    svg = profile_svg(depths, curves, win.report)
    assert svg.count("off scale") >= 2 * len(panel.off_scale)  # an arrow (with a title) and a legend note each
    # the bone stop is drawn where the needle's line enters the hip bone, in both plots
    stop = win.report.path.bone_stop_mm
    assert stop is not None and panel._bone_line.isVisible() and panel._bone_line.value() == pytest.approx(stop)
    assert f"bone stop {format_mm(stop, 1)} mm" in svg


def test_presentation_keeps_structure_names_whole(window, qtbot, tmp_path):
    win = window
    win.region.setCurrentIndex(win.region.findData("shoulder"))
    win.region.activated.emit(win.region.currentIndex())
    win.present_action.trigger()
    qtbot.waitUntil(win.isFullScreen, timeout=3000)
    dock = win.findChild(QtWidgets.QDockWidget, "clearance_dock")
    qtbot.waitUntil(lambda: dock.width() >= 0.4 * win.width(), timeout=3000)
    qtbot.wait(200)
    win.grab().save(str(shots(tmp_path) / "presentation-shoulder.png"))
    t = win.panel.table
    fm = t.fontMetrics()
    for i in range(t.rowCount()):
        text = t.item(i, 0).text()
        assert fm.horizontalAdvance(text) <= t.columnWidth(0), f"'{text}' is cut off"
    assert win.panel.plot.getAxis("bottom").style["tickFont"].pointSize() > 12
    # the status column is in view too, without scrolling
    assert sum(t.columnWidth(c) for c in range(t.columnCount())) <= t.viewport().width()
    win.present_action.trigger()
    qtbot.waitUntil(lambda: not win.isFullScreen(), timeout=3000)


def test_danger_shells_show_with_the_default_layers(window, qtbot, tmp_path):
    """Shells sit inside muscle; drawn faint over the tissue they change a visible part of the view."""
    import imageio.v3 as iio

    win = window
    win.set_camera("posterior")
    off = iio.imread(win.export_image(tmp_path / "off.png"))[..., :3].astype(int)
    win.shells_action.trigger()
    qtbot.waitUntil(lambda: bool(win.scene_view.shells), timeout=30000)
    on = iio.imread(win.export_image(shots(tmp_path) / "shells-gluteal.png"))[..., :3].astype(int)
    changed = (np.abs(on - off).sum(axis=2) > 30).sum()
    assert changed > 3000, f"danger shells change only {changed} pixels"
    # switching away and back reuses the shells made for this pack
    shells = win.scene_view.shells
    win.region.setCurrentIndex(win.region.findData("shoulder"))
    win.region.activated.emit(win.region.currentIndex())
    win.region.setCurrentIndex(win.region.findData("gluteal"))
    win.region.activated.emit(win.region.currentIndex())
    assert win.scene_view.shells is shells  # no new computation for the gluteal shells


def test_safety_map_draws_not_modelled_skin_grey_with_a_legend_entry(window):
    import pyvista as pv

    from needlesafe.app.render import NOT_MODELLED_COLOUR, add_safety_map

    poly = pv.Sphere(radius=50.0)
    n = poly.n_points
    poly.point_data["safe_depth_mm"] = np.linspace(0.0, 100.0, n)
    poly.point_data["not_modelled"] = (np.arange(n) % 3 == 0).astype(np.uint8)
    add_safety_map(window.plotter, poly, 50.0, 100.0, name="test_map")
    actor = window.plotter.actors["test_map"]
    shown = np.asarray(actor.GetMapper().GetInput().GetPointData().GetArray("safe depth (mm)"))
    assert np.isnan(shown[::3]).all() and np.isfinite(shown[1::3]).all()
    lut = actor.GetMapper().GetLookupTable()
    assert hex_colour(lut.GetNanColor()[:3]) == NOT_MODELLED_COLOUR.upper()
    bar = window.plotter.scalar_bars["safe depth (mm)"]
    assert bar.GetDrawNanAnnotation() and bar.GetNanAnnotation() == "not modelled"
    assert bar.GetOrientation() == 1  # upright: the title above the bar, clear of the tick labels


def hex_colour(rgb) -> str:
    return "#" + "".join(f"{int(round(255 * c)):02X}" for c in rgb)


def test_exports_to_unwritable_paths_give_dialogs(window, tmp_path, monkeypatch):
    from needlesafe.app.qt.review import ReviewDialog

    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    assert window.export_image(tmp_path / "no" / "such" / "view.png") is None
    assert window.export_image(tmp_path) is None
    assert window.export_report(tmp_path) is False
    (tmp_path / "file").write_text("x")
    assert window.export_report(tmp_path / "file" / "r.html") is False
    dlg = ReviewDialog([], [], window)
    assert dlg.export_csv(tmp_path) is False
    dlg.close()
    assert len(shown) == 5 and all("Could not write" in m for m in shown)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing half-written


def test_exercise_and_pack_strings_are_plain_text(window, tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    assert not window.open_pack(str(tmp_path / "<b>bold</b>"))
    assert "<b>" not in shown[-1] and "&lt;b&gt;bold&lt;/b&gt;" in shown[-1]
    ex_file = tmp_path / "ex.json"
    ex_file.write_text(json.dumps({
        "format": "needlesafe-exercise", "version": 1, "id": "html", "title": "<b>bold</b> & <i>co</i>",
        "pack": "gluteal", "target": {"trigger_point": "gluteus medius", "tolerance_mm": 10},
        "needle": {"length_mm": 75, "gauge_mm": 0.30},
        "teaching": "<img src='x'> " + "A long teaching text that wraps over many lines. " * 30,
    }))
    if not window.exercises.start(ex_file):
        pytest.fail("the exercise did not open")
    panel = window.exercise_panel
    for label in (panel.title, panel.teaching, panel.source, window.panel.path, window.panel.needle_label):
        assert label.textFormat() == QtCore.Qt.PlainText
    assert panel.title.text() == "<b>bold</b> & <i>co</i>"
    # the long text scrolls inside its dock rather than being cut off
    QtWidgets.QApplication.processEvents()
    inner = panel.scroll.widget()
    assert inner.height() >= panel.teaching.heightForWidth(panel.teaching.width())
    assert panel.scroll.verticalScrollBar().maximum() > 0 or inner.height() <= panel.scroll.viewport().height()
    for label in (panel.title, panel.teaching, panel.source):  # no line runs past the dock's edge
        assert label.geometry().right() <= panel.scroll.viewport().width()


def test_switches_show_a_busy_cursor_and_layer_names_are_whole(window, monkeypatch):
    seen = []
    real = window.session.prepare

    def spy(source):
        cursor = QtWidgets.QApplication.overrideCursor()
        seen.append(cursor.shape() if cursor is not None else None)
        return real(source)

    monkeypatch.setattr(window.session, "prepare", spy)
    window.region.setCurrentIndex(window.region.findData("shoulder"))
    window.region.activated.emit(window.region.currentIndex())
    assert seen == [QtCore.Qt.WaitCursor]
    assert QtWidgets.QApplication.overrideCursor() is None  # and back to normal after
    tree = window.layers
    tree.expandAll()
    QtWidgets.QApplication.processEvents()
    root = tree.invisibleRootItem()
    for i in range(root.childCount()):
        group = root.child(i)
        for k in range(group.childCount()):
            item = group.child(k)
            assert_label_fits(tree, item)


def assert_label_fits(tree, item) -> None:
    """The item's name is shown whole: on one line, or wrapped within its row (never cut off)."""
    from PySide6 import QtCore

    fm = tree.fontMetrics()
    rect = tree.visualItemRect(item)
    width = tree.columnWidth(0) - (rect.x() + 24) - 4  # after the indent (rect.x) the check box, then a margin
    assert width > 0, item.text(0)
    words_fit = all(fm.horizontalAdvance(w) <= width for w in item.text(0).split())
    needed = fm.boundingRect(QtCore.QRect(0, 0, width, 10_000), QtCore.Qt.TextWordWrap, item.text(0)).height()
    assert words_fit and needed <= rect.height() + 2, (item.text(0), width, needed, rect.height())


def test_the_needle_has_a_dark_outline_at_least_3_px_wide(window, tmp_path):
    import imageio.v3 as iio

    win = window
    win.set_camera("lateral")
    win.session.set_depth(30.0)
    n = win.needle
    win.xray_action.setChecked(False)
    img = iio.imread(win.export_image(shots(tmp_path) / "needle-lateral.png"))[..., :3].astype(int)
    h = img.shape[0]
    # outside the skin the shaft is drawn in full: measure across it just inside the entry
    x0, y0 = world_to_display(win, n.entry_lps + 1.0 * n.direction)
    x1, y1 = world_to_display(win, n.entry_lps + 10.0 * n.direction)
    ax = np.array([x1 - x0, y1 - y0], float)
    ax /= np.linalg.norm(ax)
    across = np.array([-ax[1], ax[0]])
    widths = []
    for f in (0.0, 0.5, 1.0):
        cx, cy = np.array([x0, y0]) + f * (np.array([x1, y1]) - np.array([x0, y0]))
        dark = [img[h - 1 - int(round(cy + t * across[1])), int(round(cx + t * across[0]))].sum() < 3 * 90
                for t in np.arange(-8, 9)]
        widths.append(sum(dark))
    assert max(widths) >= 3, f"needle only {widths} px wide"


def test_an_exercise_whose_target_lies_in_bone_is_refused(window, tmp_path, monkeypatch):
    """Every exercise file the window opens is checked: a target inside the hip bone gives a dialog
    naming the problem, and the open pack, needle and exercise stay as they were."""
    from needlesafe.app.exercises import builtin_exercises
    from needlesafe.geometry.safety_map import vertex_normals

    win = window
    shown = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "critical", lambda *a, **k: shown.append(a[2]))
    hip = win.scene.structure("hip_bone")
    inward = hip.vertices - 1.0 * vertex_normals(hip.vertices, hip.faces)
    in_bone = next(p for p in inward[::50] if win.engine.inside("hip_bone", p))
    data = json.loads(next(p for p in builtin_exercises() if p.stem == "gluteal-gluteus-medius").read_text())
    data["target"] = {"structure": "gluteus_medius", "point": [float(x) for x in in_bone], "tolerance_mm": 5}
    path = tmp_path / "bad-target.json"
    path.write_text(json.dumps(data))
    before = (toolbar(win), win.needle, win.exercise)
    assert not win.exercises.start(path)
    assert shown and "inside hip_bone" in shown[-1]
    assert (toolbar(win), win.needle, win.exercise) == before
