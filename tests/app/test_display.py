"""Display meshes: decimated for drawing to a budget per role, close to the full surface, with normals."""
import numpy as np
import pytest
import pyvista as pv

from needlesafe.app import display
from needlesafe.app.display import (
    DISPLAY_TOLERANCE_MM,
    MIN_TRIANGLES,
    TRIANGLE_BUDGET,
    budget_for,
    tune_renderer,
    vtk_polydata,
)
from needlesafe.app.render import to_polydata


def display_mesh(*args, **kwargs):
    """`display.display_mesh` (plain VTK, as the window draws it) read through pyvista."""
    return pv.wrap(display.display_mesh(*args, **kwargs))


def test_vtk_shapes_match_pyvistas():
    """The window builds its meshes with VTK alone (no pyvista at start-up): exact vertices and faces,
    spheres and tubes of the asked size."""
    v = np.random.default_rng(0).random((6, 3))
    f = np.array([[0, 1, 2], [2, 3, 4], [3, 4, 5]])
    mine = pv.wrap(vtk_polydata(v, f))
    assert np.array_equal(mine.points, v) and np.array_equal(mine.regular_faces, f)
    ball = pv.wrap(display.sphere(2.0, (1, 2, 3)))
    assert ball.n_points == 842 and np.allclose(np.linalg.norm(ball.points - (1, 2, 3), axis=1), 2.0)
    t = pv.wrap(display.tube((0, 0, 0), (0, 0, 10), 1.5))
    assert t.n_cells == 20 and np.allclose(np.linalg.norm(t.points[:, :2], axis=1), 1.5)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Each test decimates into its own cache folder (never the user's)."""
    monkeypatch.setenv("NEEDLESAFE_CACHE", str(tmp_path / "cache"))


def _load(name):
    try:
        from needlesafe.meshes.resolve import load_pack
    except ImportError:  # before the pack resolver split
        from needlesafe.meshes.pack import load_pack
    return load_pack(name)


@pytest.fixture(scope="module")
def gluteal():
    return _load("gluteal")


def deviation(full, shown) -> float:
    """The largest distance (mm) from a vertex of `full` to the surface of `shown`."""
    return float(np.abs(full.compute_implicit_distance(shown)["implicit_distance"]).max())


def sphere(n_sub=6, radius=10.0):
    import pyvista as pv

    s = pv.Icosphere(radius=radius, nsub=n_sub)
    return np.asarray(s.points), s.regular_faces


def test_budget_rules():
    assert budget_for("skin", 130_000) == TRIANGLE_BUDGET["skin"]
    assert budget_for("nerve", 800) == 800  # under its budget: drawn as it is
    assert budget_for("no-such-role", 100_000) == 4000
    assert budget_for("skin", 100_000, max_triangles=10) == MIN_TRIANGLES  # never fewer
    assert budget_for("skin", 500, max_triangles=10) == 500


def test_triangle_counts_and_small_structures_untouched(gluteal):
    total_full = total_shown = 0
    for s in gluteal.structures:
        poly = display_mesh(s.vertices, s.faces, role=s.role)
        total_full += len(s.faces)
        total_shown += poly.n_cells
        assert poly.n_cells <= max(TRIANGLE_BUDGET[s.role], MIN_TRIANGLES) or poly.n_cells == len(s.faces)
        assert poly.is_all_triangles
        if len(s.faces) <= TRIANGLE_BUDGET[s.role]:  # nerves and small muscles: exactly the engine's mesh
            assert poly.n_cells == len(s.faces)
            assert np.array_equal(poly.points, s.vertices)
    skin = gluteal.structure("skin")
    assert len(skin.faces) > 100_000 and display_mesh(skin.vertices, skin.faces, role="skin").n_cells == 8000
    assert total_shown < 0.3 * total_full  # the picture draws under a third of the engine's triangles


@pytest.mark.parametrize("name", ["gluteal:average", "shoulder:average"])
def test_display_meshes_stay_on_the_full_surface(name):
    scene = _load(name)
    for s in scene.structures:
        shown = display_mesh(s.vertices, s.faces, role=s.role)
        full = to_polydata(s.vertices, s.faces)
        tol = DISPLAY_TOLERANCE_MM.get(s.role, DISPLAY_TOLERANCE_MM["default"])
        assert np.allclose(shown.bounds, full.bounds, atol=tol), s.name
        if shown.n_cells < len(s.faces):
            assert deviation(full, shown) <= tol, s.name


def test_normals_present_unit_and_outward():
    v, f = sphere()
    poly = display_mesh(v, f, role="skin", max_triangles=2000)
    assert 1000 <= poly.n_cells <= 2000 < len(f)
    n = poly.point_data.active_normals
    assert n is not None and n.shape == (poly.n_points, 3)
    assert np.allclose(np.linalg.norm(n, axis=1), 1.0)
    radial = poly.points / np.linalg.norm(poly.points, axis=1)[:, None]
    assert np.min(np.sum(n * radial, axis=1)) > 0.95  # an outward sphere keeps outward normals
    assert np.allclose(poly.bounds, [-10, 10, -10, 10, -10, 10], atol=0.2)


def test_cache_gives_the_same_mesh_and_survives_a_bad_file(tmp_path):
    v, f = sphere()
    first = display_mesh(v, f, max_triangles=1500)
    files = list((tmp_path / "cache" / "display").glob("*.npz"))
    assert len(files) == 1
    again = display_mesh(v, f, max_triangles=1500)
    assert np.array_equal(first.points, again.points) and np.array_equal(first.faces, again.faces)
    files[0].write_bytes(b"not a mesh")  # a damaged cache file is decimated anew, not trusted
    third = display_mesh(v, f, max_triangles=1500)
    assert np.array_equal(first.faces, third.faces)
    # another mesh (or budget) never reads this one's file
    other = display_mesh(v * 2.0, f, max_triangles=1500)
    assert other.bounds[1] == pytest.approx(20.0, abs=0.3)
    assert len(list((tmp_path / "cache" / "display").glob("*.npz"))) == 2
    no_cache = display_mesh(v, f, max_triangles=1200, cache=False)
    assert no_cache.n_cells <= 1200 and len(list((tmp_path / "cache" / "display").glob("*.npz"))) == 2


def test_tune_renderer_turns_off_costly_passes_and_keeps_two_lights():
    from types import SimpleNamespace

    from vtkmodules.vtkRenderingCore import vtkLightKit, vtkRenderer, vtkRenderWindow

    def plotter():
        ren, win = vtkRenderer(), vtkRenderWindow()
        ren.SetUseDepthPeeling(True)
        ren.SetUseFXAA(True)
        win.SetMultiSamples(8)
        vtkLightKit().AddLightsToRenderer(ren)
        return SimpleNamespace(renderer=ren, ren_win=win)

    def lights(p):
        ls = p.renderer.GetLights()
        return [ls.GetItemAsObject(i) for i in range(ls.GetNumberOfItems())]

    p = plotter()
    assert len(lights(p)) == 5
    tune_renderer(p)
    assert not p.renderer.GetUseDepthPeeling() and not p.renderer.GetUseFXAA() and p.ren_win.GetMultiSamples() == 0
    assert not p.renderer.GetUseOIT()
    key, head = lights(p)  # the kit's key light and a headlight
    assert key.LightTypeIsCameraLight() and key.GetIntensity() == pytest.approx(0.75)
    assert head.LightTypeIsHeadlight() and head.GetIntensity() == pytest.approx(0.5)
    p = plotter()
    tune_renderer(p, lights="kit")
    assert len(lights(p)) == 5 and not p.renderer.GetUseDepthPeeling()
    p = plotter()
    tune_renderer(p, lights="headlight")
    assert [light.LightTypeIsHeadlight() for light in lights(p)] == [True]
    with pytest.raises(ValueError):
        tune_renderer(plotter(), lights="disco")


def test_scene_budget_scales_all_but_nerves_and_vessels():
    from types import SimpleNamespace as S

    from needlesafe.app.display import KEEP_ROLES, MIN_SCALED, SCENE_TRIANGLES, budget_for, scene_budgets

    small = [S(name="skin", role="skin", n_triangles=100_000), S(name="nerve", role="nerve", n_triangles=3_000)]
    assert scene_budgets(small) == {"skin": budget_for("skin", 100_000), "nerve": 3_000}  # under the cap: unchanged
    big = [S(name=f"bone{i}", role="bone", n_triangles=20_000) for i in range(40)]
    big += [S(name="sciatic", role="nerve", n_triangles=9_000), S(name="artery", role="vessel", n_triangles=5_000)]
    b = scene_budgets(big)
    assert b["sciatic"] == budget_for("nerve", 9_000) and b["artery"] == budget_for("vessel", 5_000)
    assert all(s.role in KEEP_ROLES or MIN_SCALED <= b[s.name] < budget_for(s.role, s.n_triangles) for s in big)
    assert sum(b.values()) <= SCENE_TRIANGLES
