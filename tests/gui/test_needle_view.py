"""NeedleView: the needle's actors are made once and moved in place (no add/remove per update)."""
from types import SimpleNamespace

import numpy as np
import pytest
from vtkmodules.util.numpy_support import vtk_to_numpy

from needlesafe.app import theme
from needlesafe.app.qt.needle_view import NeedleView, level_rgb
from needlesafe.app.theme import rgb
from needlesafe.geometry.needle import Needle

pytestmark = pytest.mark.gui

NAMES = ("needle:shaft", "needle:tip", "needle:entry", "needle:ahead", "needle:outline", "contact:ring")


@pytest.fixture
def view(qtbot):
    """A NeedleView in a bare QtInteractor (with an overlay layer, as the window has) in a shown window."""
    from PySide6 import QtWidgets
    from pyvistaqt import QtInteractor
    from vtkmodules.vtkRenderingCore import vtkRenderer

    win = QtWidgets.QMainWindow()
    plotter = QtInteractor(win, auto_update=False)
    win.setCentralWidget(plotter.interactor)
    overlay = vtkRenderer()
    overlay.SetLayer(1)
    overlay.InteractiveOff()
    plotter.ren_win.SetNumberOfLayers(2)
    plotter.ren_win.AddRenderer(overlay)
    win.resize(400, 300)
    win.show()
    qtbot.waitExposed(win)
    nv = NeedleView(plotter, overlay)
    yield SimpleNamespace(nv=nv, plotter=plotter, overlay=overlay, win=win)
    plotter.close()
    win.close()
    win.deleteLater()


def row(name, level, p, q, distance):
    return SimpleNamespace(name=name, level=level, shaft_distance_mm=distance,
                           closest_point_needle=None if p is None else np.asarray(p, float),
                           closest_point_structure=None if q is None else np.asarray(q, float))


def report(level="safe", rows=(), stopped_by=None):
    return SimpleNamespace(level=level, structures=list(rows), path=SimpleNamespace(stopped_by=stopped_by))


def points(nv, name) -> np.ndarray:
    return vtk_to_numpy(nv.polydata(name).GetPoints().GetData()).copy()


def colour_of(actor):
    return tuple(round(c, 4) for c in actor.GetProperty().GetColor())


def same_colour(a, hex_colour):
    return np.allclose(a, rgb(hex_colour), atol=1e-3)


NEEDLE = Needle(np.array([10.0, 20.0, 30.0]), np.array([0.0, -1.0, 0.0]), 25.0, 50.0, 0.30)


def test_geometry_follows_the_needle(view):
    nv = view.nv
    nv.update(NEEDLE, report("caution"), xray=False)
    tip, entry = NEEDLE.tip_lps, NEEDLE.entry_lps
    assert np.allclose(tip, [10.0, -5.0, 30.0])
    # the tip sphere is centred on the tip with the theme's radius; the handle on the entry
    t = points(nv, "needle:tip")
    assert np.allclose(t.mean(axis=0), tip, atol=1e-6)
    assert np.allclose(np.linalg.norm(t - tip, axis=1), theme.TIP_RADIUS_MM, atol=1e-6)
    e = points(nv, "needle:entry")
    assert np.allclose(e.mean(axis=0), entry, atol=1e-6)
    assert np.allclose(np.linalg.norm(e - entry, axis=1), theme.ENTRY_HANDLE_RADIUS_MM, atol=1e-6)
    # the outline runs from entry to tip; the shaft is a tube of the theme's radius around it
    assert np.allclose(points(nv, "needle:outline"), [entry, tip])
    s = points(nv, "needle:shaft")
    d = NEEDLE.direction
    along = (s - entry) @ d
    assert sorted(set(np.round(along, 6))) == [0.0, 25.0]
    radial = (s - entry) - along[:, None] * d
    assert np.allclose(np.linalg.norm(radial, axis=1), theme.SHAFT_RADIUS_MM)
    # the dashed line ahead: 2 mm on, 2 mm off, from the tip to the needle's end
    a = points(nv, "needle:ahead").reshape(-1, 2, 3)
    starts, ends = (a[:, 0] - tip) @ d, (a[:, 1] - tip) @ d
    assert starts[0] == pytest.approx(0.0) and ends.max() == pytest.approx(25.0)
    assert np.allclose(np.diff(starts), sum(theme.DASH_MM))
    assert np.all(ends - starts <= theme.DASH_MM[0] + 1e-9)
    # moved: the same polydata, new points
    moved = Needle(np.array([0.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]), 10.0, 50.0, 0.30)
    before = nv.polydata("needle:tip")
    nv.update(moved, report("safe"), xray=False)
    assert nv.polydata("needle:tip") is before
    assert np.allclose(points(nv, "needle:tip").mean(axis=0), [10.0, 0.0, 0.0], atol=1e-6)
    assert np.allclose(points(nv, "needle:outline"), [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]])
    for name in ("needle:outline", "needle:shaft", "needle:ahead", "needle:tip", "needle:entry"):
        assert nv.actors()[name].GetVisibility(), name


def test_depth_zero_shows_no_shaft(view):
    nv = view.nv
    nv.update(NEEDLE.at_depth(0.0), report("safe"), xray=True)
    acts = nv.actors()
    assert not acts["needle:shaft"].GetVisibility() and not acts["needle:outline"].GetVisibility()
    assert not acts["xray:needle:shaft"].GetVisibility()
    assert acts["needle:tip"].GetVisibility() and acts["needle:entry"].GetVisibility()
    # fully inserted: nothing ahead
    nv.update(NEEDLE.at_depth(50.0), report("safe"), xray=True)
    assert acts["needle:shaft"].GetVisibility() and not acts["needle:ahead"].GetVisibility()


def test_colours_follow_the_level(view):
    nv = view.nv
    acts = nv.actors()
    for level in ("safe", "caution", "danger", "contact", "unknown"):
        nv.update(NEEDLE, report(level), xray=True)
        assert same_colour(colour_of(acts["needle:tip"]), theme.LEVEL_COLOUR[level])
        assert same_colour(colour_of(acts["xray:needle:tip"]), theme.LEVEL_COLOUR[level])
    # a level the view does not know is drawn as danger, never as safe
    nv.update(NEEDLE, report("mystery"), xray=False)
    assert same_colour(colour_of(acts["needle:tip"]), theme.LEVEL_COLOUR["unknown"])
    assert level_rgb(None) == rgb(theme.LEVEL_COLOUR["unknown"])
    assert same_colour(colour_of(acts["needle:shaft"]), theme.NEEDLE_COLOUR)
    assert same_colour(colour_of(acts["needle:outline"]), theme.NEEDLE_OUTLINE)
    assert acts["needle:outline"].GetProperty().GetLineWidth() == 5
    assert same_colour(colour_of(acts["needle:entry"]), theme.ENTRY_HANDLE_COLOUR)


def test_closest_point_lines_per_row(view):
    nv = view.nv
    rows = [
        row("nerve", "danger", [0, 0, 0], [0, 5, 0], 5.0),
        row("artery", "caution", [0, 0, 1], [3, 0, 1], 12.0),
        row("far", "safe", [0, 0, 2], [30, 0, 2], 30.0),  # beyond CLOSEST_LINE_MM: no line
        row("touch", "contact", [0, 0, 3], [0, 0, 3], 0.0),  # degenerate: no line
        row("none", "unknown", None, None, None),
    ]
    nv.update(NEEDLE, report("danger", rows), xray=False)
    poly = nv.polydata("needle:closest")
    assert poly.GetNumberOfLines() == 2
    assert np.allclose(points(nv, "needle:closest"), [[0, 0, 0], [0, 5, 0], [0, 0, 1], [3, 0, 1]])
    colours = vtk_to_numpy(poly.GetCellData().GetScalars()) / 255.0
    assert np.allclose(colours[0], rgb(theme.LEVEL_COLOUR["danger"]), atol=0.003)
    assert np.allclose(colours[1], rgb(theme.LEVEL_COLOUR["caution"]), atol=0.003)
    assert nv.actors()["needle:closest"].GetVisibility()
    nv.update(NEEDLE, report("safe", rows[2:]), xray=False)
    assert not nv.actors()["needle:closest"].GetVisibility()


def test_contact_ring_only_at_a_bone_stop(view):
    nv = view.nv
    ring = nv.actors()["contact:ring"]
    assert view.overlay.HasViewProp(ring) and not view.plotter.renderer.HasViewProp(ring)
    nv.update(NEEDLE, report("contact", stopped_by={"name": "hip_bone"}), xray=False)
    assert ring.GetVisibility() and not ring.GetProperty().GetLighting()
    p = points(nv, "contact:ring")
    r = np.linalg.norm(p - NEEDLE.tip_lps, axis=1)
    inner, outer = theme.CONTACT_RING_MM
    assert r.min() == pytest.approx(inner) and r.max() == pytest.approx(outer)
    assert np.allclose((p - NEEDLE.tip_lps) @ NEEDLE.direction, 0.0, atol=1e-9)  # across the needle
    assert same_colour(colour_of(ring), theme.CONTACT_COLOUR)
    nv.update(NEEDLE, report("safe"), xray=False)
    assert not ring.GetVisibility()


def test_xray_copies_in_the_overlay(view):
    nv = view.nv
    acts = nv.actors()
    nv.update(NEEDLE, report("safe"), xray=False)
    ghosts = {k: v for k, v in acts.items() if k.startswith("xray:")}
    assert "xray:needle:entry" not in ghosts and "xray:needle:shaft" in ghosts
    for name, ghost in ghosts.items():
        assert view.overlay.HasViewProp(ghost) and not ghost.GetVisibility()
        assert ghost.GetProperty().GetOpacity() == pytest.approx(theme.XRAY_OPACITY)
        assert ghost.GetMapper() is acts[name.removeprefix("xray:")].GetMapper()  # same geometry
    nv.set_xray(True)
    assert acts["xray:needle:shaft"].GetVisibility() and acts["xray:needle:tip"].GetVisibility()
    assert not acts["xray:needle:closest"].GetVisibility()  # no closest lines shown: no copy either
    nv.set_xray(False)
    assert not any(g.GetVisibility() for g in ghosts.values())


def test_actor_count_constant_over_200_updates(view):
    nv, plotter, overlay = view.nv, view.plotter, view.overlay
    nv.update(NEEDLE, report("safe"), xray=True)
    plotter.render()
    counts = (plotter.renderer.GetViewProps().GetNumberOfItems(), overlay.GetViewProps().GetNumberOfItems())
    ids = {k: id(v) for k, v in nv.actors().items()}
    rng = np.random.default_rng(9)
    for k in range(200):
        direction = rng.normal(size=3)
        n = Needle(rng.uniform(-50, 50, 3), direction, float(k % 51), 50.0, 0.30)
        rows = [row("n", "danger", n.tip_lps, n.tip_lps + rng.uniform(1, 5, 3), 4.0)] * (k % 4)
        nv.update(n, report(("safe", "danger")[k % 2], rows, {"name": "bone"} if k % 3 == 0 else None), k % 2 == 0)
        if k % 50 == 0:
            plotter.render()
        assert (plotter.renderer.GetViewProps().GetNumberOfItems(),
                overlay.GetViewProps().GetNumberOfItems()) == counts
    assert {k: id(v) for k, v in nv.actors().items()} == ids
    assert set(NAMES) <= set(nv.actors())


def test_with_the_engine_at_a_bone_stop(view):
    """A real report: the needle pushed into the hip bone stops on it, with the ring at the tip."""
    from needlesafe.geometry.clearance import ClearanceEngine
    from needlesafe.geometry.placement import skin_entry

    try:
        from needlesafe.meshes.resolve import load_pack
    except ImportError:  # before the pack resolver split
        from needlesafe.meshes.pack import load_pack
    scene = load_pack("gluteal")
    engine = ClearanceEngine(scene)
    v = scene.structure("hip_bone").vertices
    top = v[np.argmax(v[:, 1])] + np.array([0.0, 0.0, -3.0])
    rep = engine.report(Needle(skin_entry(scene, top), np.array([0.0, -1.0, 0.0]), 70.0, 75.0, 0.30))
    assert rep.path.stopped_by
    view.nv.update(rep.needle, rep, xray=False)
    acts = view.nv.actors()
    assert acts["contact:ring"].GetVisibility()
    assert np.allclose(points(view.nv, "needle:tip").mean(axis=0), rep.needle.tip_lps, atol=1e-6)
    assert np.allclose(points(view.nv, "contact:ring").mean(axis=0), rep.needle.tip_lps, atol=1e-6)
    assert same_colour(colour_of(acts["needle:tip"]), theme.LEVEL_COLOUR.get(rep.level, theme.LEVEL_COLOUR["unknown"]))
